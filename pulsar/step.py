"""One step of a plan: a node's run function and the slots it reads, writes and frees.

Its own module because plan.py builds steps and compiled.py replaces runs of them by one
compiled step, which stands in for its nodes (`SegmentNode`) in dumps, profiles and
`Plan.execution`.
"""


class Step:
    __slots__ = ("node", "run", "ins", "outs", "frees", "scope", "prepared")

    def __init__(self, node, run, ins, outs, frees, scope, prepared=None):
        self.node, self.run, self.ins, self.outs, self.frees, self.scope = \
            node, run, ins, outs, frees, scope
        # a control node's optimised subgraph plans and the analysis it runs with, as given
        # to its `eval_prepared` ({id(subgraph): Plan, ANALYSIS: ...}, pulsar/planning.py);
        # None when it runs its subgraphs from their ONNX form
        self.prepared = prepared


class CompiledOp:
    """Stands in for a segment's op in dumps and profiles."""
    onnx_name = "Compiled"

    def __init__(self, nodes):
        self.nodes = nodes

    def __str__(self):
        return f"Compiled({len(self.nodes)} nodes)"


class SegmentNode:
    """Stands in for a segment's node: named after its first and last node."""

    def __init__(self, nodes):
        self.nodes = nodes
        first, last = nodes[0].name or "?", nodes[-1].name or "?"
        self.name = first if len(nodes) == 1 else f"{first}..{last}"
        self.op = CompiledOp(nodes)
        self.inputs, self.outputs, self.scope_inputs = [], [], []


def describe(steps) -> list:
    """(node, 'compiled' or 'interpreted') for every node, in plan order."""
    rows = []
    for step in steps:
        if isinstance(step.node, SegmentNode):
            rows += [(n, "compiled") for n in step.node.nodes]
        else:
            rows.append((step.node, "interpreted"))
    return rows
