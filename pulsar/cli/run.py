"""`pulsar run MODEL`: run on inputs from .npy/.npz or on random inputs, summarise outputs."""
import numpy as np

from .. import dims
from ..api import load
from ..warming import compile_notice
from ..errors import OptionError
from .options import add_model_options, parse_bindings, parse_facts, parse_values

NAME = "run"
HELP = "run a model on given or random inputs and summarise its outputs"


def add_arguments(parser):
    add_model_options(parser)
    parser.add_argument("--inputs", metavar="FILE", help=".npz with one array per input name, "
                        "or .npy for a single-input model (default: random inputs)")
    parser.add_argument("--seed", type=int, default=0, help="seed for random inputs")
    parser.add_argument("--save", metavar="FILE.npz", help="save the outputs: .npz (by name), .npy "
                        "(one output) or .json")


def main(args) -> int:
    symbols = parse_bindings(args.set)
    model = load(args.model, inputs=parse_facts(args.input_fact), symbols=symbols,
                 values=parse_values(args.value))
    feeds = read_inputs(args.inputs, model) if args.inputs else random_inputs(model, args.seed)
    with compile_notice():          # says so if this run waits for a compile (tier kernels)
        outputs = model.run(feeds)
    for info, value in zip(model.outputs, outputs):
        print(summary(info.name, value))
    if args.save:
        save(args.save, {o.name: v for o, v in zip(model.outputs, outputs)})
    return 0


def save(path, named):
    """Write exactly `path`: .npz (arrays by name), .npy (a single output) or .json."""
    import json
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if suffix == "npz":
        with open(path, "wb") as f:          # a file object: np.savez would append .npz
            np.savez(f, **named)
    elif suffix == "npy":
        if len(named) != 1:
            raise OptionError(f"--save {path}: .npy holds one array, the model has "
                              f"{len(named)} outputs; use .npz or .json")
        with open(path, "wb") as f:
            np.save(f, next(iter(named.values())))
    elif suffix == "json":
        with open(path, "w") as f:
            json.dump({k: {"dtype": str(v.dtype), "shape": list(v.shape), "data": v.tolist()}
                       for k, v in named.items()}, f)
    else:
        raise OptionError(f"--save {path}: use a .npz, .npy or .json file name")
    print(f"saved {len(named)} output(s) to {path}")


def read_inputs(path, model) -> dict:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise OptionError(f"cannot read inputs from {path!r}: {e}") from e
    names = [i.name for i in model.inputs]
    if isinstance(data, np.ndarray):
        if len(names) != 1:
            raise OptionError(f"{path} holds one array but the model takes {len(names)} inputs "
                              f"({', '.join(names)}): use an .npz keyed by input name")
        return {names[0]: data}
    return {k: data[k] for k in data.files}


def random_inputs(model, seed) -> dict:
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in model.inputs:
        if info.shape is None:
            raise OptionError(f"input {info.name!r} has no declared shape: give one with "
                              f"-i {info.name}=f32[...] or pass --inputs")
        free = sorted(set().union(*(dims.symbols(d) for d in info.shape)))
        if free:
            batch = dims.symbols(info.shape[0]) if info.shape else set()
            example = " ".join(f"--set {s}={1 if s in batch else 16000}" for s in free)
            raise OptionError(f"input {info.name!r} has shape [{','.join(map(str, info.shape))}]: "
                              f"bind {', '.join(free)} for random inputs, e.g. {example}")
        feeds[info.name] = random_array(rng, info.dtype, info.shape)
    return feeds


def random_array(rng, dtype, shape):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind in "iu":
        return rng.integers(0, 10, size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    raise OptionError(f"cannot make random inputs of dtype {dtype}; pass --inputs")


def summary(name, value) -> str:
    value = np.asarray(value)
    head = f"{name}: {value.dtype}[{','.join(map(str, value.shape))}]"
    if value.size == 0 or value.dtype.kind not in "fiub":
        return head
    v = value.astype(np.float64)
    first = ", ".join(f"{x:.6g}" for x in v.reshape(-1)[:6])
    return (f"{head} min {np.nanmin(v):.6g} max {np.nanmax(v):.6g} mean {np.nanmean(v):.6g} "
            f"first [{first}{', ...' if v.size > 6 else ''}]")
