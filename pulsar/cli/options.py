"""Options shared by verbs: input fact overrides, symbol bindings, model loading."""
from ..errors import OptionError


def add_model_options(parser):
    parser.add_argument("model", help="path to an .onnx file")
    parser.add_argument("--set", metavar="SYM=VALUE", action="append", default=[],
                        help="bind a symbol, e.g. --set S=1760 (repeatable)")
    parser.add_argument("--input-fact", "-i", metavar="NAME=FACT", action="append", default=[],
                        help="override an input's fact, e.g. -i input_1=1,S,32,1 or "
                             "-i x=f32[1,S] (exporter annotations are often wrong)")
    parser.add_argument("--value", metavar="NAME=VALUE", action="append", default=[],
                        help="bind an input to a constant, e.g. --value sr=16000: it leaves "
                             "the inputs and folds (repeatable)")


def parse_bindings(items) -> dict:
    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise OptionError(f"--set expects SYM=VALUE, got {item!r}")
        try:
            out[name.strip()] = int(value)
        except ValueError:
            raise OptionError(f"--set {item!r}: the value must be a whole number of frames, "
                              f"e.g. --set {name.strip()}=16000") from None
        if out[name.strip()] < 0:
            raise OptionError(f"--set {item!r}: the value must not be negative")
    return out


def parse_facts(items) -> dict:
    out = {}
    for item in items:
        name, eq, spec = item.partition("=")
        if not eq or not name.strip():
            raise OptionError(f"--input-fact expects NAME=FACT, got {item!r}")
        out[name.strip()] = spec
    return out


def parse_values(items) -> dict:
    """`--value sr=16000` -> {'sr': 16000}; a comma list gives a vector (`--value k=1,2`)."""
    out = {}
    for item in items:
        name, eq, text = item.partition("=")
        if not eq or not name.strip() or not text.strip():
            raise OptionError(f"--value expects NAME=VALUE, got {item!r}")
        try:
            numbers = [float(t) if any(c in t for c in ".eE") else int(t)
                       for t in text.split(",")]
        except ValueError as e:
            raise OptionError(f"--value {item!r}: not a number: {e}") from e
        out[name.strip()] = numbers[0] if len(numbers) == 1 else numbers
    return out
