"""Declaring a stream on a model exported for a fixed window (e.g. 76 frames, or 25 frames of
10 MFCCs flattened to 250 values).

The fixed size is replaced by a symbol and the graph re-analysed. Reshapes with constant
targets would pin the old size, so the stream axis is first traced through the concrete graph:
a Reshape that keeps, splits or merges it gets -1 at the stream position of its target. When a
Reshape splits the declared axis (250 = 25 frames x 10), the symbol counts the outer frames and
the input axis becomes `10*T`.
"""
import numpy as np

from pulsar import dims
from pulsar.analyse import analyse
from pulsar.errors import PulseError
from pulsar.fact import const
from pulsar.ops.shape import Reshape, Unsqueeze


def declare_stream_axis(model, input, axis, symbol):
    """(analysed graph, symbol) with `input`'s `axis` streaming."""
    g = model.graph
    if input not in g.inputs:
        raise PulseError(f"no input named {input!r}; inputs are {', '.join(g.inputs)}")
    fact = g.facts[input]
    if axis is None or not -fact.rank <= axis < fact.rank:
        raise PulseError(f"input {input!r} ({fact}) has no axis {axis}")
    axis %= fact.rank
    dim = fact.shape[axis]
    if not isinstance(dim, int):
        return g, symbol or str(dim)
    symbol = symbol or "T"
    targets, factor = trace_reshapes(g, input, axis)
    graph = g.copy()
    for wire, target in targets.items():
        graph.facts[wire] = const(target)
    shape = list(fact.shape)
    shape[axis] = factor * dims.sym(symbol)
    facts = {w: g.facts[w] for w in g.inputs}
    facts[input] = fact.with_shape(shape)
    return analyse(graph, facts, model.opsets), symbol


def trace_reshapes(g, input, axis):
    """Follow the stream axis through the concrete graph; returns ({reshape target wire: target
    with -1 on the stream axis}, how many input values one outer frame takes)."""
    where = {input: axis}
    targets, factor = {}, None
    for node in g.nodes:
        streams = [(w, where[w]) for w in node.inputs if w in where]
        if not streams:
            continue
        w, a = streams[0]
        for out in node.outputs:
            if not out or out not in g.facts:
                continue
            in_shape, out_shape = g.facts[w].shape, g.facts[out].shape
            known = node.op.stream_axis(a, len(in_shape))
            if isinstance(node.op, Reshape) and len(node.inputs) > 1:
                j, split = _reshape_axis(in_shape, out_shape, a)
                if j is None:
                    break
                target = np.array(g.facts[node.inputs[1]].value, dtype=np.int64)
                target[target == -1] = [out_shape[k] for k in np.flatnonzero(target == -1)]
                target[j] = -1
                targets[node.inputs[1]] = target
                if split > 1 and factor is None:
                    factor = split
                where[out] = j
            elif known is not None:            # Transpose
                where[out] = known
            elif len(out_shape) == len(in_shape):
                where[out] = a
            elif len(out_shape) > len(in_shape) and not isinstance(node.op, Unsqueeze):
                where[out] = a + len(out_shape) - len(in_shape)
    return targets, factor or 1


def _reshape_axis(in_shape, out_shape, a):
    """(output axis carrying the stream, values of the input axis per output frame) or (None, 0)."""
    before = int(np.prod(in_shape[:a], dtype=np.int64))
    after_in = int(np.prod(in_shape[a + 1:], dtype=np.int64))
    for j in range(len(out_shape)):
        if int(np.prod(out_shape[:j], dtype=np.int64)) != before:
            continue
        after_out = int(np.prod(out_shape[j + 1:], dtype=np.int64))
        if out_shape[j] > 1 and after_out % after_in == 0:
            return j, after_out // after_in
    return None, 0
