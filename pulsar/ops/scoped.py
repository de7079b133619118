"""The base of the control ops (If, Loop, Scan, SequenceMap) and the plans of their subgraphs.

Its own module because both the ops (control.py, loop.py) and the code that writes their
subgraphs inline (subgraph_emit.py, loop_emit.py) read it, and the ops call that code.
"""
from typing import ClassVar

from ..graph import Graph
from ..plan import Plan
from .base import Op

# The key, in the plans a Plan hands to `eval_prepared`, of what analysis left in an op's cache
# for run time (refused branches, reshapes), copied when the plan was built: ops are shared by
# every model built from one import, and a later analysis must not change an earlier plan.
ANALYSIS = "analysis"
RUN_STATE = ("refused", "reshape")


class ScopedOp(Op):
    """Base of the control ops: `eval_scoped(inputs, scope)` runs with the outer wires."""
    uses_scope: ClassVar[bool] = True

    def eval_scoped(self, *args):
        # pulsar.plan passes (inputs, scope) only when the node reads outer wires, and the
        # bare inputs otherwise; the streaming layer passes (inputs, None) without scope.
        if len(args) == 2 and isinstance(args[0], list) and \
                isinstance(args[1], (dict, type(None))):
            return self.run(args[0], args[1] or {})
        return self.run(list(args), {})

    def run_graphs(self) -> list:
        """The subgraphs `run` may execute (Loop/Scan: the body with recognised cells fused)."""
        return self.subgraphs()

    def eval_prepared(self, plans: dict, inputs: list, scope: dict):
        """As eval_scoped, with the enclosing plan's optimised subgraph plans
        ({id(subgraph): Plan, ANALYSIS: ...}, pulsar/planning.py)."""
        return self.run(inputs, scope or {}, plans)

    def run(self, inputs: list, scope: dict, plans: dict = None) -> list:
        raise NotImplementedError(type(self).__name__ + ".run")

    def run_state(self) -> dict:
        """What the op's last analysis left for its runs, copied, to hand to `eval_prepared`
        with the plans."""
        cache = getattr(self, "_cache", {})
        return {ANALYSIS: {k: cache[k] for k in RUN_STATE if k in cache}}


def subgraph_plan(op, name: str, graph: Graph, plans: dict = None) -> Plan:
    """The plan for one of the op's subgraphs: the enclosing plan's optimised one when it has
    one, else the op's cached plan of the ONNX subgraph (inputs are not re-checked per run)."""
    if plans is not None and id(graph) in plans:
        return plans[id(graph)]
    plan = op._cache.get(name)
    if plan is None:
        graph = graph.copy()   # untyped body inputs have no fact: not constants either
        graph.facts = {w: f for w, f in graph.facts.items() if f is not None}
        plan = op._cache[name] = Plan(graph, check_inputs=False)
    return plan
