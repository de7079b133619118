"""Spelled-out layer normalisation (PyTorch exports: ReduceMean, Sub, Pow 2, ReduceMean, Add eps,
Sqrt, Div, then Mul scale and Add bias) becomes one LayerNormalization over the last axis: nine
nodes of small-array NumPy calls become one kernel call."""
import numpy as np

from ..fact import const
from ..graph import Graph, Node
from ..ops.registry import lookup


def fuse_layer_norms(graph: Graph) -> Graph:
    g = graph.copy()
    consts, readers = g.constants(), g.consumers()
    producer = g.producers()
    replaced, dropped = {}, set()
    for mean in g.nodes:
        match = _match(g, mean, consts, readers, producer)
        if match is None or any(id(n) in dropped for n in match["nodes"]):
            continue
        scale, bias = match["scale"], match["bias"]
        n = g.facts[match["x"]].shape[-1]
        dtype = g.facts[match["x"]].dtype
        scale = scale or _constant(g, f"{mean.name}.scale", np.ones(n, dtype))
        bias = bias or _constant(g, f"{mean.name}.bias", np.zeros(n, dtype))
        op = lookup("", "LayerNormalization", 17)(axis=-1, epsilon=match["eps"])
        replaced[id(mean)] = Node(mean.name, op, [match["x"], scale, bias], [match["out"]])
        dropped.update(id(node) for node in match["nodes"] if node is not mean)
    g.nodes = [replaced.get(id(n), n) for n in g.nodes if id(n) not in dropped]
    return g


def _match(g, mean, consts, readers, producer):
    """The pattern's pieces starting at the first ReduceMean, or None."""
    if mean.op.onnx_name != "ReduceMean" or not _last_axis_mean(g, mean):
        return None
    x = mean.inputs[0]
    sub = _only(readers, mean.outputs[0], "Sub", g)
    if sub is None or sub.inputs != [x, mean.outputs[0]]:
        return None
    d = sub.outputs[0]
    users = readers.get(d, [])
    if len(users) != 2 or d in g.outputs:
        return None
    pow_ = next((u for u in users if u.op.onnx_name == "Pow"), None)
    div = next((u for u in users if u.op.onnx_name == "Div"), None)
    if pow_ is None or div is None or pow_.inputs[0] != d or _scalar(consts, pow_.inputs[1]) != 2.0:
        return None
    mean2 = _only(readers, pow_.outputs[0], "ReduceMean", g)
    if mean2 is None or not _last_axis_mean(g, mean2):
        return None
    add = _only(readers, mean2.outputs[0], "Add", g)
    eps = _scalar(consts, add.inputs[1]) if add is not None else None
    sqrt = _only(readers, add.outputs[0], "Sqrt", g) if eps is not None else None
    if sqrt is None or div.inputs != [d, sqrt.outputs[0]] or \
            len(readers.get(sqrt.outputs[0], [])) != 1:
        return None
    nodes, out, scale, bias = [mean, sub, pow_, mean2, add, sqrt, div], div.outputs[0], None, None
    mul = _only(readers, out, "Mul", g)
    if mul is not None and _vector(g, consts, mul.inputs[1], g.facts[x].shape[-1]):
        nodes.append(mul)
        out, scale = mul.outputs[0], mul.inputs[1]
        add_b = _only(readers, out, "Add", g)
        if add_b is not None and _vector(g, consts, add_b.inputs[1], g.facts[x].shape[-1]):
            nodes.append(add_b)
            out, bias = add_b.outputs[0], add_b.inputs[1]
    return dict(nodes=nodes, x=x, out=out, eps=float(eps), scale=scale, bias=bias)


def _last_axis_mean(g, node) -> bool:
    src, dst = g.facts[node.inputs[0]].shape, g.facts[node.outputs[0]].shape
    return len(src) == len(dst) >= 1 and tuple(src[:-1]) == tuple(dst[:-1]) and dst[-1] == 1 \
        and isinstance(src[-1], int) and src[-1] > 1 and g.facts[node.inputs[0]].dtype.kind == "f"


def _only(readers, wire, op_type, g):
    users = readers.get(wire, [])
    if len(users) != 1 or wire in g.outputs or users[0].op.onnx_name != op_type:
        return None
    return users[0]


def _scalar(consts, wire):
    value = consts.get(wire)
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def _vector(g, consts, wire, n) -> bool:
    value = consts.get(wire)
    return value is not None and value.shape == (n,) and value.dtype == g.facts[wire].dtype


def _constant(g, hint, value) -> str:
    name, i = hint, 1
    while name in g.facts:
        i += 1
        name = f"{hint}.{i}"
    g.facts[name] = const(value)
    return name
