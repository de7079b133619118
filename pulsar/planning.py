"""Building a plan: the optimised plans of its control nodes' subgraphs, then compiled segments.

`Plan` (plan.py) only runs steps; here a graph becomes one. Subgraph plans are built first, with
the facts of the enclosing graph, because the compiled segments may write them inline
(ops/subgraph_emit.py).

PyTorch exports often put the real work inside a body (a verifier `If` in a wake-word
classifier, a network under a sample-rate switch whose condition is only known per call).
Run from the raw ONNX subgraph, every node of it would be interpreted. Here each subgraph is
analysed with the facts its node has in the final graph (re-running the node's own `infer`,
which analyses its bodies the way it needs: both branches, a loop body until its carried facts
settle), then optimised and planned with compilation, recursively. The plans belong to the
enclosing plan, not to the op, since ops are shared by every model built from one import.
"""
from .analyse import InferContext, SymbolTable, analyse
from .compiled import compile_steps
from .divergence import Diverges
from .errors import PulsarError
from .fact import DynamicFact
from .passes.optimise import optimise
from .plan import Plan


def build_plan(graph, check_inputs=True, compile=False, tier=None, opsets=None,
               outer_facts=None) -> Plan:
    """A Plan of `graph`; with `compile`, runs of nodes become generated functions
    (compiled.py). With `opsets`, If/Loop/Scan bodies get optimised (and, with `compile`,
    compiled) plans of their own; `outer_facts` are the facts of the enclosing scopes when
    `graph` is itself a subgraph."""
    prepared = {}
    if opsets is not None:
        facts = {**(outer_facts or {}), **graph.facts}
        for node in graph.nodes:
            if node.op.uses_scope and node.op.subgraphs():
                state = node.op.run_state()     # before `prepare` analyses the node again
                prepared[id(node)] = (prepare(node, facts, opsets, compile), state)
    plan = Plan(graph, check_inputs=check_inputs, tier=tier, prepared=prepared)
    if compile:
        plan.use_steps(compile_steps(plan))
    return plan


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
        plans[key] = build_plan(graph, check_inputs=False, compile=compile, opsets=opsets,
                                outer_facts=facts)
    return plans or None


def with_outer_facts(graph, facts: dict):
    """`graph` holding the facts of the outer wires it reads, so compiled code sees their
    shapes and the outer constants (weights) as constants; at run time the outer values still
    arrive through the scope. The borrowed facts come in the order the nodes read them: the
    plan numbers its slots in that order, and compiled code must not differ between processes
    (its source names its cache entry)."""
    reads = dict.fromkeys(w for n in graph.nodes for w in list(n.inputs) + list(n.scope_inputs)
                          if w)
    reads.update(dict.fromkeys(graph.outputs))
    borrowed = {w: facts[w] for w in reads if w not in graph.facts and w in facts}
    g = graph.copy()
    g.facts.update(borrowed)
    g.outer_refs = [w for w in g.outer_refs if w in reads]   # optimisation may drop reads
    return g
