"""TensorFlow's GRU cell, spelled out in Loop and Scan bodies, becomes one TFGRUCell node.

tf2onnx exports a TF GRUCell inside a Scan/Loop body as 12 nodes per step:
  g = Sigmoid(Gemm(Concat(x, h), Wg, bg)); r, u = Split(g)
  c = Tanh(Gemm(Concat(x, r * h), Wc, bc)); h' = u * h + (1 - u) * c
which is ONNX's GRU (z = u, linear_before_reset = 0). Replaced by one node per cell, a step
costs one kernel call instead of 12 NumPy dispatches; scan_to_gru.py then turns a Scan over
such cells into one GRU node.

The body an op runs is the fused copy kept in the op's cache ("body_graph", read by the ops'
`run_graphs`); analysis and the ONNX view keep the body as imported.
"""
from ..graph import Graph
from ..ops.recurrent import TFGRUCell

LOOPS = ("Loop", "Scan")


def fuse_tf_gru_cells_in_bodies(graph: Graph) -> Graph:
    """Give every Loop and Scan of `graph` its body with TF GRU cells fused. Constants are
    read from the body and from `graph`, which holds the outer wires its nodes read."""
    for node in graph.nodes:
        op = node.op
        if op.onnx_name in LOOPS and getattr(op, "body", None) is not None:
            op._cache["body_graph"] = fuse_tf_gru_cells(op.body, constants(op.body, graph))
            op._cache.pop("body", None)     # a plan of the body run before, unfused
    return graph


def constants(body: Graph, graph: Graph):
    """value_of(wire): the value of a constant of `body` or of the enclosing `graph`, or None."""
    def value_of(wire):
        fact = body.facts.get(wire) or graph.facts.get(wire)
        return None if fact is None or fact.value is None or fact.value.dtype == object \
            else fact.value
    return value_of


def fuse_tf_gru_cells(graph, value_of):
    """`graph` with each TF GRU cell pattern replaced by a TFGRUCell node (or `graph` itself).

    value_of(wire) gives a constant's value or None: the `1 - u` operand must be a known 1.
    Every intermediate wire must be read only inside the pattern.
    """
    readers, replaced = graph.consumers(), {}
    for node in graph.nodes:
        match = _match_cell(node, readers, value_of, set(graph.outputs))
        if match is not None:
            cell, inputs, output = match
            fused = type(node)(f"{node.name}.gru_cell", TFGRUCell(), inputs, [output])
            replaced.update({id(n): None for n in cell[:-1]})
            replaced[id(cell[-1])] = fused     # the last node: every input exists by then
    if not replaced:
        return graph
    g = graph.copy()
    g.nodes = [replaced.get(id(n), n) for n in graph.nodes if replaced.get(id(n), n) is not None]
    return g


def _match_cell(concat, readers, value_of, outputs):
    """(nodes, inputs, output) of the cell whose first node is `concat`, else None."""
    def only(wire, op_type):
        found = readers.get(wire, [])
        ok = len(found) == 1 and found[0].op.onnx_name == op_type and wire not in outputs
        return found[0] if ok else None

    if not _is(concat, "Concat", axis=1) or len(concat.inputs) != 2:
        return None
    x, h = concat.inputs
    gates = only(concat.outputs[0], "Gemm")
    sig = gates and _plain_gemm(gates) and only(gates.outputs[0], "Sigmoid")
    split = sig and only(sig.outputs[0], "Split")
    if not split or not _is(split, "Split", axis=1) or len(split.outputs) != 2 or \
            len(split.inputs) > 1 or getattr(split.op, "split", ()):
        return None
    r, u = split.outputs
    rh = only(r, "Mul")
    cat2 = rh and set(rh.inputs) == {r, h} and only(rh.outputs[0], "Concat")
    cand = cat2 and _is(cat2, "Concat", axis=1) and cat2.inputs == [x, rh.outputs[0]] and \
        only(cat2.outputs[0], "Gemm")
    tanh = cand and _plain_gemm(cand) and only(cand.outputs[0], "Tanh")
    u_readers = readers.get(u, [])
    if not tanh or len(u_readers) != 2 or u in outputs:
        return None
    sub = next((n for n in u_readers if n.op.onnx_name == "Sub" and n.inputs[1] == u), None)
    uh = next((n for n in u_readers if n.op.onnx_name == "Mul" and set(n.inputs) == {u, h}), None)
    one = value_of(sub.inputs[0]) if sub else None
    if uh is None or one is None or one.size != 1 or float(one.reshape(-1)[0]) != 1.0:
        return None
    mix = only(sub.outputs[0], "Mul")
    add = mix and set(mix.inputs) == {sub.outputs[0], tanh.outputs[0]} and \
        only(tanh.outputs[0], "Mul") is mix and only(mix.outputs[0], "Add")
    if not add or set(add.inputs) != {uh.outputs[0], mix.outputs[0]} or \
            only(uh.outputs[0], "Add") is not add:
        return None
    weights = [gates.inputs[1], gates.inputs[2], cand.inputs[1], cand.inputs[2]]
    if not _tf_gru_weights(*[value_of(w) for w in weights]):
        return None
    cell = [concat, gates, sig, split, rh, cat2, cand, tanh, sub, uh, mix, add]
    return cell, [x, h] + weights, add.outputs[0]


def _tf_gru_weights(wg, bg, wc, bc) -> bool:
    """Constant kernels [I+H, 2H], [I+H, H] and bias vectors [2H], [H]."""
    if any(v is None for v in (wg, bg, wc, bc)) or wc.ndim != 2:
        return False
    rows, hidden = wc.shape
    return wg.shape == (rows, 2 * hidden) and bg.shape == (2 * hidden,) and \
        bc.shape == (hidden,) and rows > hidden


def _is(node, op_type, axis):
    return node.op.onnx_name == op_type and getattr(node.op, "axis", None) in (axis, -1)


def _plain_gemm(node) -> bool:
    op = node.op
    return len(node.inputs) == 3 and all(node.inputs) and not op.transA and not op.transB \
        and op.alpha == 1.0 and op.beta == 1.0
