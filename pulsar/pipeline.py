"""The stages from a file to a runnable plan, in order; each maps one artefact to the next.

    read_model -> import_model -> declare_inputs -> analyse -> optimise -> Plan
The CLI's `--stage` stops after any of: load, analyse, optimise.
"""
from . import dims
from .analyse import analyse
from .errors import OptionError
from .fact import Fact, parse_fact
from .onnx_import import import_model, read_model
from .optimise import optimise

STAGES = ("load", "analyse", "optimise")


def load_graph(source):
    model, base_dir = read_model(source)
    graph = import_model(model, base_dir)
    opsets = {o.domain if o.domain != "ai.onnx" else "": o.version for o in model.opset_import}
    return graph, opsets


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


def build(source, inputs=None, symbols=None, stage="optimise"):
    """The graph after `stage`, with its opsets."""
    if stage not in STAGES:
        raise OptionError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    graph, opsets = load_graph(source)
    if stage == "load":
        return graph, opsets
    graph = analyse(graph, declare_inputs(graph, inputs, symbols), opsets)
    if stage == "analyse":
        return graph, opsets
    return optimise(graph, opsets), opsets
