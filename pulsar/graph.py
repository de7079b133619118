"""The graph IR: named wires, nodes holding ops, a fact per wire.

Wires are named as in ONNX ('' marks a missing optional input). Nodes are kept in topological
order. `scope_inputs` lists outer wires read by a node's subgraphs, so plans keep them alive.
"""
import os
from dataclasses import dataclass, field

from .errors import PulsarError


@dataclass
class Node:
    name: str
    op: object
    inputs: list
    outputs: list
    scope_inputs: list = field(default_factory=list)

    def __str__(self):
        return f"{self.name}: {self.op}"


@dataclass
class Graph:
    name: str
    inputs: list                    # wire names fed by the caller
    outputs: list                   # wire names returned
    nodes: list
    facts: dict = field(default_factory=dict)   # wire -> Fact; constants have a value
    outer_refs: list = field(default_factory=list)  # wires a subgraph reads from its parent
    symbols_assumed: list = field(default_factory=list)  # assertions like "S>=1" (text)
    folded: list = field(default_factory=list)   # load-time folding done (text, for dumps)

    def producers(self) -> dict:
        return {w: n for n in self.nodes for w in n.outputs if w}

    def consumers(self) -> dict:
        out = {}
        for n in self.nodes:
            for w in list(n.inputs) + list(n.scope_inputs):
                if w:
                    out.setdefault(w, []).append(n)
        return out

    def constants(self) -> dict:
        """Wires whose value is known and that no node produces (initializers, folded values)."""
        produced = self.producers()
        return {w: f.value for w, f in self.facts.items()
                if f is not None and f.value is not None and w not in produced and w not in self.inputs}

    def copy(self) -> "Graph":
        return Graph(self.name, list(self.inputs), list(self.outputs),
                     [Node(n.name, n.op, list(n.inputs), list(n.outputs), list(n.scope_inputs))
                      for n in self.nodes],
                     dict(self.facts), list(self.outer_refs), list(self.symbols_assumed),
                     list(self.folded))


def topological_order(nodes: list, available: set) -> list:
    """Nodes sorted so each runs after its producers (ONNX files are not always sorted)."""
    produced_by = {w: i for i, n in enumerate(nodes) for w in n.outputs if w}
    order, state = [], [0] * len(nodes)   # 0 new, 1 visiting, 2 done

    def visit(i):
        stack = [(i, iter(_deps(nodes[i])))]
        state[i] = 1
        while stack:
            j, deps = stack[-1]
            for w in deps:
                k = produced_by.get(w)
                if k is None or state[k] == 2:
                    continue
                if state[k] == 1:
                    raise PulsarError(f"graph has a cycle through wire {w!r} (node {nodes[k].name!r})")
                state[k] = 1
                stack.append((k, iter(_deps(nodes[k]))))
                break
            else:
                stack.pop()
                state[j] = 2
                order.append(nodes[j])

    for i in range(len(nodes)):
        if state[i] == 0:
            visit(i)
    return order


def _deps(node):
    return [w for w in list(node.inputs) + list(node.scope_inputs) if w]


def verify(graph: Graph) -> None:
    """Check the graph's invariants (run after every pass in tests): each wire read is defined
    before it is read, is written once, and has a fact; outputs exist."""
    defined = set(graph.inputs) | set(graph.outer_refs) | set(graph.constants())
    written = set()
    for node in graph.nodes:
        for w in list(node.inputs) + list(node.scope_inputs):
            if w and w not in defined:
                raise PulsarError(f"verify: node {node.name!r} reads {w!r} before it is defined")
        for w in node.outputs:
            if not w:
                continue
            if w in written or w in graph.inputs:
                raise PulsarError(f"verify: wire {w!r} is written twice (node {node.name!r})")
            written.add(w)
            defined.add(w)
            if graph.facts and w not in graph.facts:
                raise PulsarError(f"verify: wire {w!r} (node {node.name!r}) has no fact")
    for w in graph.outputs:
        if w not in defined:
            raise PulsarError(f"verify: graph output {w!r} is never produced")


def checked(graph: Graph, after: str) -> Graph:
    """`graph`, verified when PULSAR_VERIFY=1 (the test suite sets it): a rewrite that breaks
    an invariant is named where it does so, not by a later stage's failure."""
    if os.environ.get("PULSAR_VERIFY") == "1":
        try:
            verify(graph)
        except PulsarError as e:
            raise PulsarError(f"after pass {after}: {e}") from e
    return graph
