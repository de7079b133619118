"""Scan loops over one TensorFlow GRU cell become one ONNX GRU node.

tf2onnx exports a TF `dynamic_rnn` over a GRUCell as a Scan whose body is the 12-node cell
(fused to a TFGRUCell by tf_gru_cell.py) plus a step counter. Run as a Scan, every
time step is a body-plan run from Python; as a GRU the whole sequence is one kernel call, a
compiled plan can hold it, and the pulse transform streams it like any GRU.

Matched: one scan input iterated forward along axis 0 ([T, B, I]), the cell reading it and one
state ([B, H]), weights constant, any other state a counter nobody reads after the loop, and
scan outputs (if any) being the cell's new state, stacked forward along axis 0.
"""
import numpy as np

from ..fact import Fact, const
from ..graph import Graph, Node
from ..ops.recurrent import GRU, onnx_gru_weights
from ..ops.shape import Reshape


def scan_gru_cells_to_gru(graph: Graph) -> Graph:
    consts, readers = graph.constants(), graph.consumers()
    replaced = {}
    g = None
    for node in graph.nodes:
        match = _match(node, consts, readers, graph)
        if match is None:
            continue
        if g is None:
            g = graph.copy()
            names = _Names(g)
        replaced[id(node)] = _gru_nodes(names, node, *match)
    if g is None:
        return graph
    nodes = []
    for n in graph.nodes:
        nodes += replaced.get(id(n), [n])
    g.nodes = nodes
    return g


def _match(node, consts, readers, graph):
    """(layers, n_state, x_fact) or None; layers are (state index, weights, state fact) from
    the cell reading the scan input up the stack (tf's MultiRNNCell chains its cells)."""
    op = node.op
    attrs = ("num_scan_inputs", "scan_input_axes", "scan_input_directions", "scan_output_axes",
             "scan_output_directions")      # Scan from opset 9 (opset 8's has a batch axis)
    if op.onnx_name != "Scan" or not all(hasattr(op, a) for a in attrs) \
            or op.num_scan_inputs != 1:
        return None
    body = op._cache.get("body_graph")
    if body is None or any(op.scan_input_axes) or any(op.scan_input_directions) \
            or any(op.scan_output_axes) or any(op.scan_output_directions):
        return None
    n_state = len(node.inputs) - 1
    cells = {n.inputs[0]: n for n in body.nodes if n.op.onnx_name == "TFGRUCell"}
    layers, wire, used = [], body.inputs[n_state], []
    while wire in cells:
        cell = cells.pop(wire)
        if cell.inputs[1] not in body.inputs[:n_state]:
            return None
        k = body.inputs.index(cell.inputs[1])
        weights = [consts.get(w) for w in cell.inputs[2:]]
        h_fact = graph.facts.get(node.inputs[k])
        if body.outputs[k] != cell.outputs[0] or any(v is None for v in weights) \
                or h_fact is None or h_fact.rank != 2:
            return None
        layers.append((k, weights, h_fact))
        used.append(cell)
        wire = cell.outputs[0]
    copies = {n.outputs[0]: n.inputs[0] for n in body.nodes if n.op.onnx_name == "Identity"}
    if not layers or cells or any(copies.get(w, w) != wire for w in body.outputs[n_state:]):
        return None
    used += [n for n in body.nodes if n.op.onnx_name == "Identity" and n.inputs[0] == wire
             and n.outputs[0] in body.outputs[n_state:]]
    states = {k for k, _, _ in layers}
    for i in range(n_state):     # every other state must be dead after the loop (counters)
        if i not in states and (readers.get(node.outputs[i]) or node.outputs[i] in graph.outputs):
            return None
    private = {body.inputs[n_state]} | {c.outputs[0] for c in used}
    if any(w in private for n in body.nodes if n not in used for w in n.inputs):
        return None
    x_fact = graph.facts.get(node.inputs[n_state])
    if x_fact is None or x_fact.rank != 3:
        return None
    return layers, n_state, x_fact


def _gru_nodes(names, node, layers, n_state, x_fact):
    """One GRU per layer, each reading the previous layer's [T, B, H] sequence."""
    base = node.name or "scan"
    dtype = np.dtype(np.float64) if x_fact.dtype == np.float64 else np.dtype(np.float32)
    seq, size_in, nodes = node.inputs[n_state], x_fact.shape[2], []
    steps = x_fact.shape[0]
    for layer, (k, (wg, bg, wc, bc), h_fact) in enumerate(layers):
        stem = f"{base}.gru{layer}"
        hidden, batch = wc.shape[1], h_fact.shape[0]
        w, r, wb, rb = onnx_gru_weights(wg, bg, wc, bc, size_in, dtype)
        W = names.constant(f"{stem}.W", np.ascontiguousarray(w)[None])
        R = names.constant(f"{stem}.R", np.ascontiguousarray(r)[None])
        B = names.constant(f"{stem}.B", np.concatenate([wb, rb])[None])
        h0 = names.wire(f"{stem}.h0", Fact(h_fact.dtype, (1, batch, hidden)))
        y = names.wire(f"{stem}.Y", Fact(h_fact.dtype, (steps, 1, batch, hidden)))
        yh = names.wire(f"{stem}.Y_h", Fact(h_fact.dtype, (1, batch, hidden)))
        to_3d = names.constant(f"{stem}.h0_shape", np.array([1, -1, hidden], np.int64))
        to_2d = names.constant(f"{stem}.h_shape", np.array([-1, hidden], np.int64))
        nodes += [Node(f"{stem}.h0", Reshape(), [node.inputs[k], to_3d], [h0]),
                  Node(stem, GRU(hidden_size=hidden), [seq, W, R, B, "", h0], [y, yh])]
        if node.outputs[k]:
            nodes.append(Node(f"{stem}.h", Reshape(), [yh, to_2d], [node.outputs[k]]))
        last = layer == len(layers) - 1
        outs = [w for w in node.outputs[n_state:] if w] if last else []
        if not last or outs:
            seq_shape = names.constant(f"{stem}.y_shape", np.array([0, -1, hidden], np.int64))
            seq = outs[0] if outs else names.wire(f"{stem}.seq", Fact(h_fact.dtype, (steps, batch, hidden)))
            nodes.append(Node(f"{stem}.y", Reshape(), [y, seq_shape], [seq]))
            for extra in outs[1:]:
                nodes.append(Node(f"{stem}.{extra}", Reshape(), [y, seq_shape], [extra]))
        size_in = hidden
    return nodes


class _Names:
    """Fresh wire names for one graph: none that a fact or a node output already uses."""

    def __init__(self, g):
        self.g = g
        self.taken = set(g.facts) | {w for n in g.nodes for w in n.outputs}

    def wire(self, hint, fact=None) -> str:
        """A new wire; later passes read facts, so a computed wire gets its fact now."""
        name, i = hint, 1
        while name in self.taken:
            i += 1
            name = f"{hint}.{i}"
        self.taken.add(name)
        if fact is not None:
            self.g.facts[name] = fact
        return name

    def constant(self, hint, value) -> str:
        name = self.wire(hint)
        self.g.facts[name] = const(value)
        return name
