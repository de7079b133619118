"""An `If` whose condition is known at load time becomes its branch's own nodes.

PyTorch exports often wrap the whole network in an `If` (silero-vad switches on the sample
rate): left as an `If`, the network would run as a subgraph, node by node, on every call. Once
the condition is a constant (an input bound with `values=`, or a shape that became concrete),
the branch taken is inlined into the outer graph, where it is optimised and compiled like any
other node. Outer-scope reads need no rewriting: inside the branch they already name the outer
wires. A branch wire that clashes with an outer name is renamed, unless a subgraph nested in
the branch reads it by name (then the `If` stays; it still runs correctly).
"""
from ..analyse import analyse
from ..graph import Graph, Node
from ..ops.registry import lookup

MAX_ROUNDS = 8     # nested known Ifs: each round inlines one level, then re-analyses


def fold_known_branches(graph: Graph, opsets: dict, outer_facts: dict = None) -> Graph:
    """`graph` with every If of known condition inlined, re-analysed after each round."""
    inputs = {w: graph.facts[w] for w in graph.inputs}
    for _ in range(MAX_ROUNDS):
        inlined = inline_known_branches(graph)
        if inlined is graph:
            break
        graph = analyse(inlined, inputs, opsets, outer_facts=outer_facts)
    return graph


def inline_known_branches(graph: Graph) -> Graph:
    """One round: every If whose condition fact has a value is replaced by its branch."""
    g = graph.copy()
    names = set(g.inputs) | set(g.facts) | {w for n in g.nodes for w in n.outputs if w}
    nodes, changed = [], False
    for node in g.nodes:
        taken = _known_condition(g, node)
        new = None if taken is None else _inline(g, node, taken, names)
        if new is None:
            nodes.append(node)
            continue
        nodes += new
        changed = True
    if not changed:
        return graph
    g.nodes = nodes
    return g


def _known_condition(g: Graph, node):
    if node.op.onnx_name != "If" or not node.inputs or not node.inputs[0]:
        return None
    fact = g.facts.get(node.inputs[0])
    if fact is None or fact.value is None or fact.value.dtype == object or fact.value.size != 1:
        return None
    return bool(fact.value.reshape(-1)[0])


def _inline(g: Graph, node, taken: bool, names: set):
    branch = node.op.then_branch if taken else node.op.else_branch
    produced = [w for n in branch.nodes for w in n.outputs if w]
    consts = branch.constants()
    nested_reads = {w for n in branch.nodes for w in n.scope_inputs}
    rename = {}
    outputs = [(b, o) for b, o in zip(branch.outputs, node.outputs) if o]
    for b, o in outputs:
        if b in produced and branch.outputs.count(b) == 1 and b not in nested_reads:
            rename[b] = o
    for w in list(produced) + list(consts):
        if w not in rename and w in names:
            if w in nested_reads:
                return None
            rename[w] = _unique(f"{node.name}/{w}", names)
    names.update(rename.values())
    for w, value in consts.items():
        g.facts[rename.get(w, w)] = branch.facts[w]
    new = [Node(n.name, n.op, [rename.get(w, w) for w in n.inputs],
                [rename.get(w, w) for w in n.outputs], list(n.scope_inputs))
           for n in branch.nodes]
    identity = lookup("", "Identity", 16)
    for k, (b, o) in enumerate(outputs):
        if rename.get(b) != o:
            new.append(Node(f"{node.name}/output{k}", identity(), [rename.get(b, b)], [o]))
    label = "then" if taken else "else"
    g.folded.append(f"{node.name} (If): condition is {taken}, {label}_branch inlined "
                    f"({len(branch.nodes)} nodes)")
    return new


def _unique(name: str, names: set) -> str:
    k, candidate = 1, name
    while candidate in names:
        k += 1
        candidate = f"{name}.{k}"
    return candidate
