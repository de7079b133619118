"""The stages from a file to a runnable plan, in order; each maps one artefact to the next.

    read_model -> import_model -> bind_values -> declare_inputs -> analyse -> optimise -> Plan
The CLI's `--stage` stops after any of: load, analyse, optimise.
"""
import numpy as np

from . import dims
from .analyse import analyse
from .errors import OptionError
from .fact import Fact, const, parse_fact
from .onnx_import import UnrankedFact, import_model, read_model
from .passes.optimise import optimise

STAGES = ("load", "analyse", "optimise")


def load_graph(source):
    model, base_dir = read_model(source)
    graph = import_model(model, base_dir)
    opsets = {o.domain if o.domain != "ai.onnx" else "": o.version for o in model.opset_import}
    return graph, opsets


def bind_values(graph, values=None):
    """Inputs given a value at load (`{'sr': 16000}`) become constants and leave the inputs,
    so analysis folds what they decide (a sample-rate `If` picks its branch)."""
    if not values:
        return graph
    g = graph.copy()
    for name, value in values.items():
        if name not in g.inputs:
            raise OptionError(f"cannot give input {name!r} a value: inputs are {', '.join(g.inputs)}")
        declared = g.facts.get(name)
        known = declared is not None and not isinstance(declared, UnrankedFact)
        try:
            array = np.asarray(value, dtype=declared.dtype if declared is not None else None)
        except (TypeError, ValueError) as e:
            raise OptionError(f"value for input {name!r} ({declared}): {e}") from e
        if known and array.shape != declared.shape:
            if array.size != 1 or any(d != 1 for d in declared.shape if isinstance(d, int)) \
                    or not declared.is_concrete:
                raise OptionError(f"value for input {name!r} has shape {list(array.shape)}, "
                                  f"the input is {declared}")
            array = array.reshape(declared.shape)
        g.inputs.remove(name)
        g.facts[name] = const(array)
        g.folded.append(f"input {name} bound to {_show(array)}")
    return g


def _show(array) -> str:
    return str(array.item()) if array.size == 1 else f"{array.dtype}{list(array.shape)}"


def declare_inputs(graph, inputs=None, symbols=None) -> dict:
    """Input facts after user overrides (`{'x': 'f32[1,S]'}`) and symbol bindings (`{'S': 1760}`)."""
    facts = {w: graph.facts.get(w) for w in graph.inputs}
    for name, spec in (inputs or {}).items():
        if name not in facts:
            raise OptionError(f"cannot override input {name!r}: inputs are {', '.join(graph.inputs)}")
        declared = facts[name]
        if isinstance(spec, Fact):
            facts[name] = spec
        else:
            facts[name] = parse_fact(str(spec), declared.dtype if declared is not None else None)
    if symbols:
        mapping = {k: dims.to_dim(v) for k, v in symbols.items()}
        known = set().union(*(dims.symbols(d) for f in facts.values() if f is not None
                              for d in f.shape))
        unknown = [k for k in mapping if k not in known]
        if unknown:
            raise OptionError(f"cannot bind {', '.join(unknown)}: input symbols are "
                              f"{', '.join(sorted(known)) or 'none'}")
        facts = {w: None if f is None else f.with_shape(dims.substitute(d, mapping) for d in f.shape)
                 for w, f in facts.items()}
    return facts


def build(source, inputs=None, symbols=None, stage="optimise", values=None):
    """The graph after `stage`, with its opsets."""
    if stage not in STAGES:
        raise OptionError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    graph, opsets = load_graph(source)
    graph = bind_values(graph, values)
    if stage == "load":
        return graph, opsets
    graph = analyse(graph, declare_inputs(graph, inputs, symbols), opsets)
    if stage == "analyse":
        return graph, opsets
    return optimise(graph, opsets), opsets
