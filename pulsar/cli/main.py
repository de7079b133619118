"""Entry point: dispatch to a verb; exit 1 for errors a user can fix, 3 for bugs."""
import argparse
import re
import sys
import traceback

from ..errors import PulsarError

USER_ERROR, BUG = 1, 3


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> Parser:
    from . import bench, demo, dump, profile, run, stream, vad, wakeword, warmup
    parser = Parser(prog="pulsar", description="Analyse, optimise and run ONNX models with "
                    "symbolic shapes; stream them chunk by chunk.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    verbs = parser.add_subparsers(dest="verb", parser_class=Parser)
    for module in (dump, run, stream, wakeword, vad, bench, profile, warmup, demo):
        sub = verbs.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.main)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        if args.version:
            from .. import __version__
            print(f"pulsar {__version__}")
            return 0
        if not getattr(args, "handler", None):
            build_parser().print_help()
            return USER_ERROR
        return args.handler(args) or 0
    except (PulsarError, UsageError) as e:
        print(f"pulsar: error: {one_line(e)}", file=sys.stderr)
        return USER_ERROR
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception:
        traceback.print_exc()
        print("pulsar: internal error (a bug in pulsar, not in your model): please report it "
              "with the traceback above", file=sys.stderr)
        return BUG


def one_line(error) -> str:
    return cli_hints("; ".join(line.strip() for line in str(error).splitlines() if line.strip()))


# Errors are written for the Python API; on the command line their hints read as flags.
_HINTS = [
    (re.compile(r"model\.bind\((\w+)=([^)]+)\) or pulsar\.load\(\.\.\., symbols=\{[^}]*\}\)"),
     r"--set \1=\2"),
    (re.compile(r"\(?model\.bind\((\w+)=([^)]+)\)\)?"), r"--set \1=\2"),
    (re.compile(r"inputs=\{'([^']+)': '([^']+)'\}"), r"-i \1=\2"),
    (re.compile(r"\(symbols=\{\.\.\.\}\)"), "(--set SYM=VALUE)"),
]


def cli_hints(text) -> str:
    for pattern, replacement in _HINTS:
        text = pattern.sub(replacement, text)
    return text


def entry():
    sys.exit(main())
