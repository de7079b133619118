"""Plans for the subgraphs of If/Loop/Scan nodes, optimised and compiled like the main graph.

PyTorch exports often put the real work inside a body (a verifier `If` in a wake-word
classifier, a network under a sample-rate switch whose condition is only known per call).
Run from the raw ONNX subgraph, every node of it would be interpreted. Here each subgraph is
analysed with the facts its node has in the final graph (re-running the node's own `infer`,
which analyses its bodies the way it needs: both branches, a loop body until its carried facts
settle), then optimised and planned with compilation, recursively. The plans belong to the
enclosing plan, not to the op, since ops are shared by every model built from one import.
"""
from .analyse import InferContext, SymbolTable, analyse
from .divergence import Diverges
from .errors import PulsarError
from .fact import DynamicFact
from .ops.control import ANALYSIS, RUN_STATE
from .passes.optimise import optimise
from .plan import Plan


class RecordingContext(InferContext):
    """An InferContext that keeps each subgraph analysis an op's `infer` asks for (the last
    one of a graph wins: a loop body's last round is its settled one)."""

    def __init__(self, node, opsets, facts):
        super().__init__(node, opsets, SymbolTable(), facts)
        self.analysed = {}

    def analyse_subgraph(self, graph, input_facts: list) -> list:
        inner = analyse(graph, dict(zip(graph.inputs, input_facts)), self.opsets,
                        self.symbols, outer_facts=self.outer_facts)
        self.analysed[id(graph)] = inner
        return [inner.facts[w] for w in inner.outputs]


def prepare(node, facts: dict, opsets: dict, compile: bool):
    """{id(subgraph): Plan} for a scoped node, given every fact visible to it; None when its
    facts cannot be trusted for every run (a wire whose rank depends on a branch) or the
    subgraphs cannot be analysed again on their own."""
    reads = [w for w in list(node.inputs) + list(node.scope_inputs) if w]
    if any(w not in facts or isinstance(facts[w], DynamicFact) for w in reads):
        return None
    ctx = RecordingContext(node, opsets, facts)
    try:
        node.op.infer([facts[w] if w else None for w in node.inputs], ctx)
    except Diverges:
        pass        # branches of different ranks: both were analysed before the choice
    except PulsarError:
        return None
    plans = {}
    for key, inner in ctx.analysed.items():
        if any(isinstance(f, DynamicFact) for f in inner.facts.values()):
            continue
        try:
            graph = optimise(inner, opsets, outer_facts=facts)
        except PulsarError:
            continue
        graph = with_outer_facts(graph, facts)
        plans[key] = Plan(graph, check_inputs=False, compile=compile, opsets=opsets,
                          outer_facts=facts)
    return plans or None


def run_state(op) -> dict:
    """What the op's last analysis left for its runs, copied (see ops/control.py ANALYSIS)."""
    cache = getattr(op, "_cache", {})
    return {ANALYSIS: {k: cache[k] for k in RUN_STATE if k in cache}}


def with_outer_facts(graph, facts: dict):
    """`graph` holding the facts of the outer wires it reads, so compiled code sees their
    shapes and the outer constants (weights) as constants; at run time the outer values still
    arrive through the scope."""
    reads = {w for n in graph.nodes for w in list(n.inputs) + list(n.scope_inputs) if w}
    reads |= set(graph.outputs)
    borrowed = {w: facts[w] for w in reads if w not in graph.facts and w in facts}
    g = graph.copy()
    g.facts.update(borrowed)
    g.outer_refs = [w for w in g.outer_refs if w in reads]   # optimisation may drop reads
    return g
