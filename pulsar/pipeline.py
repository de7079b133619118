"""The stages from an ONNX file to a runnable plan, in order; each maps one artefact to the next.

    load_graph      file -> graph, opsets          read_model, import_model (onnx_import.py)
    bind_values     graph -> graph                 inputs given a value become constants
    declare_inputs  graph -> input facts           overrides and symbol bindings
    analysed        graph, facts -> graph          analyse.py, then the passes (passes/)
    pulsed          graph -> pulsed graph          optional: the pulse transform (streaming/)
    plan            graph -> Plan                  planning.py: plan.py, compiled.py when it compiles
    stream_plan     pulsed graph -> StreamPlan     one session's plan, bound to its state

`pulsar.load` (api.py) runs load_graph to plan; `pulsar.streaming.pulse` takes a loaded
model's graph through pulsed (declaring a stream axis first when asked: streaming/declare.py),
and each of its sessions makes a stream_plan. The CLI's `dump --stage` stops after any of:
load, analyse, optimise (`build`).
"""
import numpy as np

from . import dims
from .analyse import analyse
from .errors import OptionError
from .fact import Fact, const, parse_fact
from .graph import checked
from .onnx_import import UnrankedFact, import_model, read_model
from .passes.optimise import fold_constants, optimise, remove_dead_nodes
from .plan import Plan
from .planning import build_plan
from .streaming.stream_plan import StreamPlan
from .streaming.transform import pulsify

STAGES = ("load", "analyse", "optimise")


def load_graph(source):
    """The imported graph and its opsets by domain (ops are looked up by opset)."""
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


def analysed(graph, facts: dict, opsets: dict, optimize=True):
    """`graph` with a fact for every wire, given its input facts, then optimised (unless
    `optimize` is False, to see or run the graph as imported)."""
    graph = analyse(graph, facts, opsets)
    return optimise(graph, opsets) if optimize else graph


def pulsed(graph, opsets: dict, pulse: int, symbol, inputs=None):
    """An analysed graph rewritten to take `pulse` frames of its stream inputs per run, with
    state carried between runs (streaming/transform.py); what the rewrite left constant is
    folded and what no output reads is dropped."""
    result = pulsify(graph, opsets, pulse, symbol, inputs)
    result.graph = checked(result.graph, "pulsify")
    for clean in (fold_constants, remove_dead_nodes):
        result.graph = checked(clean(result.graph), clean.__name__)
    return result


def plan(graph, opsets=None, compile=False, tier=None) -> Plan:
    """Slots and steps for running `graph` many times; with `compile`, runs of nodes become
    generated functions (compiled.py). With `opsets`, If/Loop/Scan bodies get optimised
    plans of their own (planning.py)."""
    return build_plan(graph, compile=compile, tier=tier, opsets=opsets)


def stream_plan(graph, compile=False, tier=None) -> StreamPlan:
    """A plan of a pulsed graph with state arrays of its own: one per session, so that
    sessions of one pulsed model never share state."""
    return StreamPlan(graph, compile=compile, tier=tier)


def build(source, inputs=None, symbols=None, stage="optimise", values=None):
    """The graph after `stage`, with its opsets."""
    if stage not in STAGES:
        raise OptionError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    graph, opsets = load_graph(source)
    graph = bind_values(graph, values)
    if stage == "load":
        return graph, opsets
    graph = analysed(graph, declare_inputs(graph, inputs, symbols), opsets,
                     optimize=stage == "optimise")
    return graph, opsets
