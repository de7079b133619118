"""Symbolic shape folding: random chains of shape ops on an input `[1, S]` or `[1, S, 32]`.

Each example builds an ONNX model with onnx.helper, loads it with pulsar, checks that every
fact is written in S alone (no fresh symbols), then runs pulsar and onnxruntime at a few
lengths: the facts evaluated at S must equal onnxruntime's shapes, and the values must agree.
The generator tracks shapes only to draw valid ops; onnxruntime is the oracle.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from pulsar import dims
from symbolic_check import LENGTHS, assert_matches_ort, untyped

S = dims.sym("S")
INT64_MAX, INT64_MIN = 2**63 - 1, -2**63
MAX_ELEMENTS = 200_000      # at the largest length; keeps Concat/Tile chains small



class Builder:
    """Accumulates nodes and initializers; `cur` is the wire the chain continues from."""

    def __init__(self, shape):
        self.nodes, self.inits, self.extra = [], [], []
        self.count = 0
        self.cur, self.shape = "x", tuple(shape)

    def name(self, prefix):
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, values, dtype=np.int64):
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
        return name

    def node(self, op, inputs, n_out=1, **attrs):
        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.name("n"), **attrs))
        return outs[0] if n_out == 1 else outs

    def shape_of(self, wire, start=None, end=None):
        attrs = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
        return self.node("Shape", [wire], **attrs)

    def dim_of(self, wire, axis):
        """A 1-element int64 tensor holding dim `axis` of `wire`, via Shape and Gather."""
        return self.node("Gather", [self.shape_of(wire), self.const([axis])], axis=0)

    def advance(self, wire, shape):
        self.cur, self.shape = wire, tuple(shape)

    def model(self, input_shape):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))
        outs = [untyped(w) for w in [self.cur] + self.extra]
        graph = helper.make_graph(self.nodes, "chain", [x], outs, self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _big(shape) -> bool:
    n = 1
    for d in shape:
        n *= dims.evaluate(d, {"S": max(LENGTHS)})
    return n > MAX_ELEMENTS


# --- steps: each draws its parameters and appends nodes; returns False if not applicable ---

def step_transpose(b, data):
    perm = data.draw(st.permutations(range(len(b.shape))))
    b.advance(b.node("Transpose", [b.cur], perm=list(perm)), [b.shape[p] for p in perm])


def step_unsqueeze(b, data):
    r = len(b.shape)
    if r >= 5:
        return False
    axis = data.draw(st.integers(-(r + 1), r))
    out = list(b.shape)
    out.insert(axis + r + 1 if axis < 0 else axis, 1)
    b.advance(b.node("Unsqueeze", [b.cur, b.const([axis])]), out)


def step_squeeze(b, data):
    ones = [i for i, d in enumerate(b.shape) if d == 1]
    if not ones or len(b.shape) == 1:
        return False
    axis = data.draw(st.sampled_from(ones))
    out = [d for i, d in enumerate(b.shape) if i != axis]
    b.advance(b.node("Squeeze", [b.cur, b.const([axis - len(b.shape)])]), out)


def step_flatten(b, data):
    axis = data.draw(st.integers(0, len(b.shape)))
    head, tail = _product(b.shape[:axis]), _product(b.shape[axis:])
    b.advance(b.node("Flatten", [b.cur], axis=axis), [head, tail])


def step_merge(b, data):
    """Reshape merging two adjacent axes, the target built by shape arithmetic."""
    r = len(b.shape)
    if r < 2:
        return False
    i = data.draw(st.integers(0, r - 2))
    shape = b.shape_of(b.cur)
    pair = b.node("Mul", [b.node("Slice", [shape, b.const([i]), b.const([i + 1])]),
                          b.node("Slice", [shape, b.const([i + 1]), b.const([i + 2])])])
    parts = [b.shape_of(b.cur, end=i), pair, b.shape_of(b.cur, start=i + 2)]
    target = b.node("Concat", parts, axis=0)
    out = b.shape[:i] + (b.shape[i] * b.shape[i + 1],) + b.shape[i + 2:]
    b.advance(b.node("Reshape", [b.cur, target]), out)


def step_reshape_hole(b, data):
    """Reshape to [0, ..., 0, -1]: the -1 must come out as an exact symbolic quotient."""
    keep = data.draw(st.integers(0, len(b.shape) - 1))
    target = b.const([0] * keep + [-1])
    b.advance(b.node("Reshape", [b.cur, target]), b.shape[:keep] + (_product(b.shape[keep:]),))


def step_unmerge(b, data):
    """Reshape splitting a concrete axis into two, or a k*S axis into [k, -1]."""
    options = [i for i, d in enumerate(b.shape) if _divisor(d)]
    if not options or len(b.shape) >= 5:
        return False
    i = data.draw(st.sampled_from(options))
    k = _divisor(b.shape[i])
    inner = dims.to_dim(b.shape[i] // k)
    middle = b.const([k, -1]) if isinstance(inner, dims.Dim) else b.const([k, inner])
    parts = [b.shape_of(b.cur, end=i), middle, b.shape_of(b.cur, start=i + 1)]
    target = b.node("Concat", parts, axis=0)
    b.advance(b.node("Reshape", [b.cur, target]), b.shape[:i] + (k, inner) + b.shape[i + 1:])


def step_slice(b, data):
    axis = _wide_axis(b, data)
    if axis is None:
        return False
    n = b.shape[axis]
    if isinstance(n, int):
        start, end = data.draw(st.integers(-n - 2, n + 2)), data.draw(st.integers(-n - 2, n + 2))
        step = data.draw(st.sampled_from([1, 2, -1, -2]))
        length = len(range(*slice(start, end, step).indices(n)))
        if length == 0:
            return False
        ends = b.const([end])
    else:
        if _low(n) < 8:
            return False
        start, end, step, length = _symbolic_slice(data, n)
        ends = b.dim_of(b.cur, axis) if end is None else b.const([end])
    wire = b.node("Slice", [b.cur, b.const([start]), ends, b.const([axis]), b.const([step])])
    b.advance(wire, b.shape[:axis] + (length,) + b.shape[axis + 1:])


def _symbolic_slice(data, n):
    """(start, end, step, length) with offsets within 3 of either end of an axis of symbolic
    length n, start before end in the step's direction; end None means "the dim, via Shape"."""
    if data.draw(st.booleans()):
        step = data.draw(st.sampled_from([1, 2]))
        start = data.draw(st.sampled_from([0, 1, 2, -3, -2]))
        end = data.draw(st.sampled_from([INT64_MAX, -1, None] + ([3] if start >= 0 else [])))
        s = start if start >= 0 else n + start
        e = n if end in (INT64_MAX, None) else n + end if end < 0 else end
        return start, end, step, (e - s + step - 1) // step
    step = data.draw(st.sampled_from([-1, -2]))
    start = data.draw(st.sampled_from([INT64_MAX, -1, -2]))
    end = data.draw(st.sampled_from([INT64_MIN, 0, 2]))
    s = n - 1 if start == INT64_MAX else n + start
    e = -1 if end == INT64_MIN else end
    return start, end, step, (s - e - step - 1) // (-step)


def step_concat(b, data):
    axis = data.draw(st.integers(-len(b.shape), len(b.shape) - 1))
    out = list(b.shape)
    out[axis] = out[axis] * 2
    if _big(out):
        return False
    b.advance(b.node("Concat", [b.cur, b.cur], axis=axis), out)


def step_gather(b, data):
    r = len(b.shape)
    axis = data.draw(st.integers(0, r - 1))
    n = b.shape[axis]
    bound = n if isinstance(n, int) else min(_low(n), 4)
    if bound < 1:
        return False
    pick = st.integers(-bound, bound - 1)
    scalar = r > 1 and data.draw(st.booleans())
    indices = data.draw(pick) if scalar else data.draw(st.lists(pick, min_size=1, max_size=3))
    wire = b.node("Gather", [b.cur, b.const(indices)], axis=axis)
    middle = () if scalar else (len(indices),)
    b.advance(wire, b.shape[:axis] + middle + b.shape[axis + 1:])


def step_expand(b, data):
    """Expand a size-1 axis to the input's S, the target built from Shape pieces."""
    ones = [i for i, d in enumerate(b.shape) if d == 1]
    if not ones:
        return False
    axis = data.draw(st.sampled_from(ones))
    out = b.shape[:axis] + (S,) + b.shape[axis + 1:]
    if _big(out):
        return False
    pieces = [b.dim_of("x", 1) if i == axis else b.const([1]) for i in range(len(b.shape))]
    target = b.node("Concat", pieces, axis=0)
    b.advance(b.node("Expand", [b.cur, target]), out)


def step_fill(b, data):
    """cur + ConstantOfShape(Shape(cur)): same shape, built from a symbolic shape value."""
    ones = b.node("ConstantOfShape", [b.shape_of(b.cur)],
                  value=numpy_helper.from_array(np.array([1.0], dtype=np.float32)))
    b.advance(b.node("Add", [b.cur, ones]), b.shape)


def step_range(b, data):
    """An extra output Range(start, dim, delta) over a dim of cur."""
    axis = data.draw(st.integers(0, len(b.shape) - 1))
    start, delta = data.draw(st.integers(0, 2)), data.draw(st.integers(1, 3))
    limit = b.node("Squeeze", [b.dim_of(b.cur, axis), b.const([0])])
    b.extra.append(b.node("Range", [b.const(start), limit, b.const(delta)]))


def step_size(b, data):
    b.extra.append(b.node("Size", [b.cur]))


def step_split(b, data):
    axis = _wide_axis(b, data)
    if axis is None:
        return False
    n = b.shape[axis]
    first, second = b.node("Split", [b.cur], n_out=2, axis=axis, num_outputs=2)
    chunk = (n + 1) // 2
    b.extra.append(second)
    b.advance(first, b.shape[:axis] + (chunk,) + b.shape[axis + 1:])


def step_pad(b, data):
    axis = data.draw(st.integers(0, len(b.shape) - 1))
    before, after = data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))
    pads = [0] * (2 * len(b.shape))
    pads[axis], pads[len(b.shape) + axis] = before, after
    out = list(b.shape)
    out[axis] = out[axis] + before + after
    if _big(out):
        return False
    b.advance(b.node("Pad", [b.cur, b.const(pads)]), out)


def step_tile(b, data):
    reps = [data.draw(st.integers(1, 2)) for _ in b.shape]
    out = [d * r for d, r in zip(b.shape, reps)]
    if _big(out):
        return False
    b.advance(b.node("Tile", [b.cur, b.const(reps)]), out)


def step_shape_roundtrip(b, data):
    """Reshape to its own shape, the target passed through Unsqueeze and Reshape as data."""
    vector = b.node("Unsqueeze", [b.shape_of(b.cur), b.const([0])])
    target = b.node("Reshape", [vector, b.const([-1])])
    b.advance(b.node("Reshape", [b.cur, target]), b.shape)


STEPS = [step_transpose, step_unsqueeze, step_squeeze, step_flatten, step_merge,
         step_reshape_hole, step_unmerge, step_slice, step_concat, step_gather, step_expand,
         step_fill, step_range, step_size, step_split, step_pad, step_tile,
         step_shape_roundtrip]


def _product(shape):
    out = 1
    for d in shape:
        out = out * d
    return out


def _divisor(d):
    """A proper factor to split d by: the smallest one of a concrete d, k of a k*S-like d."""
    if isinstance(d, int):
        return next((k for k in range(2, d) if d % k == 0), None)
    return next((k for k in (2, 3, 32) if (d // k) * k == d), None)


def _wide_axis(b, data):
    """An axis longer than 1 (slicing or splitting a 1 is rarely interesting), or None."""
    wide = [i for i, d in enumerate(b.shape) if d != 1]
    return data.draw(st.sampled_from(wide)) if wide else None


def _low(d) -> int:
    """d at the smallest tested length (tracked dims never shrink as S grows)."""
    return dims.evaluate(d, {"S": min(LENGTHS)})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), input_shape=st.sampled_from([(1, "S"), (1, "S", 32)]))
def test_random_shape_chains(data, input_shape):
    tracked = tuple(S if d == "S" else d for d in input_shape)
    b = Builder(tracked)
    for _ in range(data.draw(st.integers(1, 6), label="steps")):
        step = data.draw(st.sampled_from(STEPS))
        step(b, data)
    model = b.model(input_shape)
    loaded = assert_matches_ort(model, {"x": (np.float32, input_shape)})
    assert loaded.outputs[0].shape == b.shape, model


def test_shape_gather_concat_reshape_folds():
    """The canonical chain: Shape -> Gather -> Concat -> Reshape of `[1, S, 32]`."""
    b = Builder((1, S, 32))
    s = b.dim_of("x", 1)
    target = b.node("Concat", [b.const([1]), s, b.const([32, 1])], axis=0)
    b.advance(b.node("Reshape", ["x", target]), (1, S, 32, 1))
    b.extra.append(target)
    loaded = assert_matches_ort(b.model((1, "S", 32)),
                                {"x": (np.float32, (1, "S", 32))})
    assert loaded.outputs[0].shape == (1, S, 32, 1)
    assert list(loaded.graph.facts[target].value) == [1, S, 32, 1]


def test_reshape_hole_is_exact_quotient():
    b = Builder((1, S, 32))
    flat = b.node("Reshape", ["x", b.const([1, -1])])
    b.advance(b.node("Reshape", [flat, b.const([1, -1, 32])]), (1, S, 32))
    b.extra.append(flat)
    loaded = assert_matches_ort(b.model((1, "S", 32)), {"x": (np.float32, (1, "S", 32))})
    assert loaded.outputs[1].shape == (1, 32 * S)
    assert loaded.outputs[0].shape == (1, S, 32)


@pytest.mark.parametrize("start,end,step,expected", [
    (0, -1, 1, S - 1), (1, INT64_MAX, 1, S - 1), (-3, INT64_MAX, 1, 3), (0, 3, 1, 3),
    (INT64_MAX, INT64_MIN, -1, S), (-1, 0, -1, S - 1), (0, INT64_MAX, 2, (S + 1) // 2),
])
def test_slice_of_symbolic_axis(start, end, step, expected):
    b = Builder((1, S))
    b.advance(b.node("Slice", ["x", b.const([start]), b.const([end]), b.const([1]),
                               b.const([step])]), (1, expected))
    loaded = assert_matches_ort(b.model((1, "S")), {"x": (np.float32, (1, "S"))})
    assert loaded.outputs[0].shape == (1, expected)


def test_range_over_symbolic_limit():
    b = Builder((1, S))
    limit = b.node("Squeeze", [b.dim_of("x", 1), b.const([0])])
    b.advance(b.node("Range", [b.const(1), limit, b.const(3)]), ((S + 1) // 3,))
    loaded = assert_matches_ort(b.model((1, "S")), {"x": (np.float32, (1, "S"))},
                                lengths=(1, 2, 3, 4, 10, 11, 12))
    assert loaded.outputs[0].shape == ((S - 1 + 2) // 3,)
