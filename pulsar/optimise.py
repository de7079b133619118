"""Optimisation passes over an analysed graph; each returns a new graph with the same outputs.

Passes run in order and the graph is re-analysed after the rewrites, so facts stay complete.
"""
from .analyse import analyse
from .graph import Graph


def optimise(graph: Graph, opsets: dict) -> Graph:
    for rewrite in PASSES:
        graph = rewrite(graph)
    inputs = {w: graph.facts[w] for w in graph.inputs}
    return analyse(graph, inputs, opsets)


def fold_constants(graph: Graph) -> Graph:
    """Drop nodes whose every output is already known: their values become constants."""
    g = graph.copy()
    g.nodes = [n for n in g.nodes if not all(
        (not w) or (g.facts.get(w) is not None and g.facts[w].is_const
                    and g.facts[w].value.dtype != object) for w in n.outputs)]
    return g


def remove_identities(graph: Graph) -> Graph:
    """Rewire readers of an Identity to its input.

    Identities producing a graph output, or a wire a subgraph reads by name, stay: renaming
    those would change the graph's interface or a subgraph body.
    """
    g = graph.copy()
    pinned = set(g.outputs) | {w for n in g.nodes for w in n.scope_inputs}
    rename, kept = {}, []
    for n in g.nodes:
        if n.op.onnx_name == "Identity" and n.inputs and n.inputs[0] and n.outputs[0] not in pinned:
            rename[n.outputs[0]] = rename.get(n.inputs[0], n.inputs[0])
            continue
        kept.append(n)
    for n in kept:
        n.inputs = [rename.get(w, w) for w in n.inputs]
    g.nodes = kept
    return g


def remove_dead_nodes(graph: Graph) -> Graph:
    """Keep only nodes that contribute to a graph output."""
    g = graph.copy()
    live = set(g.outputs)
    kept = []
    for n in reversed(g.nodes):
        if any(w in live for w in n.outputs if w):
            kept.append(n)
            live.update(w for w in list(n.inputs) + list(n.scope_inputs) if w)
    g.nodes = kept[::-1]
    g.facts = {w: f for w, f in g.facts.items() if w in live or w in g.inputs}
    return g


from .fusion import fold_batch_norms, fuse_activations  # noqa: E402  (fusion imports ops)
PASSES = [fold_constants, remove_identities, fold_batch_norms, fuse_activations, remove_dead_nodes]
