"""Options shared by verbs: input fact overrides, symbol bindings, model loading."""
from .. import dims
from ..errors import OptionError


def add_model_options(parser):
    parser.add_argument("model", help="path to an .onnx file")
    parser.add_argument("--set", metavar="SYM=VALUE", action="append", default=[],
                        help="bind a symbol, e.g. --set S=1760 (repeatable)")
    parser.add_argument("--input-fact", "-i", metavar="NAME=FACT", action="append", default=[],
                        help="override an input's fact, e.g. -i input_1=1,S,32,1 or "
                             "-i x=f32[1,S] (exporter annotations are often wrong)")


def parse_bindings(items) -> dict:
    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise OptionError(f"--set expects SYM=VALUE, got {item!r}")
        try:
            out[name.strip()] = dims.parse(value)
        except dims.DimError as e:
            raise OptionError(f"--set {item!r}: {e}") from e
    return out


def parse_facts(items) -> dict:
    out = {}
    for item in items:
        name, eq, spec = item.partition("=")
        if not eq or not name.strip():
            raise OptionError(f"--input-fact expects NAME=FACT, got {item!r}")
        out[name.strip()] = spec
    return out
