"""Optimisation passes over an analysed graph; each returns a new graph with the same outputs.

Passes run in order and the graph is re-analysed after the rewrites, so facts stay complete.
With PULSAR_VERIFY=1 (the test suite sets it) `graph.verify` checks the graph after every pass,
so a pass that breaks an invariant is named where it does so, not by a later stage's failure.
"""
from ..analyse import analyse
from ..fact import DynamicFact
from ..graph import Graph, Node, checked
from ..ops.registry import lookup
from .branch_folding import fold_known_branches
from .conv_fusion import fold_batch_norms, fuse_activations, fuse_leaky_relu_floor
from .elementwise_fusion import fuse_elementwise
from .layernorm_fusion import fuse_layer_norms
from .scan_to_gru import scan_gru_cells_to_gru
from .tf_gru_cell import fuse_tf_gru_cells_in_bodies


def optimise(graph: Graph, opsets: dict, outer_facts: dict = None) -> Graph:
    """`outer_facts`: the facts a subgraph reads from its enclosing scopes."""
    graph = checked(fold_known_branches(graph, opsets, outer_facts), "fold_known_branches")
    # Passes read the facts of every wire a node touches: a subgraph's outer reads included.
    reads = {w for n in graph.nodes for w in list(n.inputs) + list(n.scope_inputs) if w}
    borrowed = {w: outer_facts[w] for w in reads
                if w in (outer_facts or {}) and w not in graph.facts}
    if borrowed:
        graph = graph.copy()
        graph.facts.update(borrowed)
    # Fusions read shapes; a wire whose rank depends on the branch taken has none to read.
    dynamic = any(isinstance(f, DynamicFact) for f in graph.facts.values())
    for rewrite in (PLAIN_PASSES if dynamic else PASSES):
        graph = checked(rewrite(graph), rewrite.__name__)
    for w in borrowed:
        graph.facts.pop(w, None)
    inputs = {w: graph.facts[w] for w in graph.inputs}
    return analyse(graph, inputs, opsets, outer_facts=outer_facts)


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
    live.update(w for n in kept for w in n.outputs)
    g.facts = {w: f for w, f in g.facts.items() if w in live or w in g.inputs}
    return g


def reshapes_to_transposes(graph: Graph) -> Graph:
    """A Reshape that only moves unit axes (tf2onnx's NHWC<->NCHW on a unit axis) is a Transpose.

    The Transpose is shape-generic, so the graph stays valid when an axis later becomes
    symbolic (an axis declared streaming): a Reshape's constant target would pin it.
    """
    g = graph.copy()
    for i, n in enumerate(g.nodes):
        if n.op.onnx_name != "Reshape" or not n.outputs[0] in g.facts:
            continue
        perm = unit_axis_permutation(g.facts[n.inputs[0]].shape, g.facts[n.outputs[0]].shape)
        if perm is not None and perm != list(range(len(perm))):
            g.nodes[i] = Node(n.name, lookup("", "Transpose", 13)(perm=tuple(perm)),
                              [n.inputs[0]], list(n.outputs))
    return g


def unit_axis_permutation(src, dst):
    """perm with dst == [src[p] for p in perm] when both hold the same non-unit dims in the
    same order (and as many unit dims), else None."""
    if len(src) != len(dst):
        return None
    big_src = [i for i, d in enumerate(src) if d != 1]
    big_dst = [i for i, d in enumerate(dst) if d != 1]
    if [src[i] for i in big_src] != [dst[i] for i in big_dst]:
        return None
    units = iter(i for i, d in enumerate(src) if d == 1)
    bigs = iter(big_src)
    return [next(bigs) if d != 1 else next(units) for d in dst]




PASSES = [fold_constants, remove_identities, fuse_tf_gru_cells_in_bodies, scan_gru_cells_to_gru,
          reshapes_to_transposes, fold_batch_norms, fuse_activations, fuse_leaky_relu_floor,
          fuse_layer_norms, fuse_elementwise, remove_dead_nodes]
PLAIN_PASSES = [fold_constants, remove_identities, fuse_tf_gru_cells_in_bodies,
                remove_dead_nodes]
