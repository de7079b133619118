"""Data-movement ops (Concat, Slice, Split, Pad, Gather, Expand, Where, Tile) and the pulsed
plans' own ops (Delay, PulsePad) in compiled plans, against onnxruntime: single nodes over
random shapes and attributes, and random causal graphs streamed compiled, in random chunkings,
against the whole-signal output. Every test also checks that its nodes really ran compiled."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import TensorProto, helper

import pulsar
from pulsar import streaming
from models import init, model, one_node, tensor
from reference import ort_run
from streams import all_sizes_positive, causal_models, stream_through

# every example compiles a new generated function: few examples, no deadline
SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = {np.float32: TensorProto.FLOAT, np.int64: TensorProto.INT64}


def ints(*values):
    return np.array(values, np.int64)


def compiled_run(proto, feeds):
    """pulsar's compiled outputs for `feeds` (a dict); fails unless every node ran compiled."""
    m = pulsar.load(proto, compile=True)
    outs = m.run(feeds)
    rows = m.plan.execution()
    assert rows, "the optimiser left no node to compile"
    assert all(where == "compiled" for _, where in rows), rows
    return outs


def check_node(op, feeds, consts=None, n_out=1, opset=18, **attrs):
    """One `op` node on runtime `feeds` and constant `consts`, compiled, equals onnxruntime."""
    ins = [(k, DTYPES.get(v.dtype.type, TensorProto.BOOL), list(v.shape)) for k, v in feeds.items()]
    out_type = DTYPES[next(v for v in feeds.values() if v.dtype != bool).dtype.type]
    proto = one_node(op, ins, consts, out_types=(out_type,) * n_out, opset=opset, **attrs)
    got, want = compiled_run(proto, feeds), ort_run(proto, feeds)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@st.composite
def arrays(draw, rank=None, max_dim=5, dtype=None, min_dim=1):
    rank = draw(st.integers(1, 3)) if rank is None else rank
    shape = tuple(draw(st.integers(min_dim, max_dim)) for _ in range(rank))
    dtype = dtype or draw(st.sampled_from([np.float32, np.int64]))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    return (rng.standard_normal(shape) * 10).astype(dtype)


def test_layout_ops_in_one_compiled_plan():
    """A fixed chain of every op (one compilation: default tier): Pad (reflect), Slice with a
    negative step, Gather, Split, Concat, Tile, Expand, Where."""
    x = np.random.default_rng(1).standard_normal((2, 6, 3)).astype(np.float32)
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect"),
             helper.make_node("Slice", ["p", "st", "en", "ax", "sp"], ["s"]),
             helper.make_node("Gather", ["s", "idx"], ["g"], axis=2),
             helper.make_node("Split", ["g", "split"], ["a", "b"], axis=1),
             helper.make_node("Concat", ["b", "a", "b"], ["c"], axis=1),
             helper.make_node("Tile", ["c", "reps"], ["t"]),
             helper.make_node("Expand", ["t", "shape"], ["e"]),
             helper.make_node("Greater", ["e", "zero"], ["cond"]),
             helper.make_node("Where", ["cond", "e", "x0"], ["y"])]
    inits = [init("pads", ints(0, 2, 1, 0, 1, 1)), init("st", ints(-1, 0)),
             init("en", ints(-100, 4)), init("ax", ints(1, 2)), init("sp", ints(-2, 1)),
             init("idx", ints(3, 0, -1, 1)), init("split", ints(1, 4)), init("reps", ints(1, 1, 2)),
             init("shape", ints(3, 1, 1, 1)), init("zero", np.float32(0)),
             init("x0", np.float32(-7))]
    proto = model(nodes, [tensor("x", [2, 6, 3])], [tensor("y", None)], inits, opset=18)
    (got,), (want,) = compiled_run(proto, {"x": x}), ort_run(proto, {"x": x})
    np.testing.assert_array_equal(got, want)


@pytest.mark.slow
@SETTINGS
@given(x=arrays(), data=st.data())
def test_concat(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    feeds = {"x0": x}
    for i in range(1, data.draw(st.integers(1, 3))):
        shape = list(x.shape)
        shape[axis] = data.draw(st.integers(0, 4))
        feeds[f"x{i}"] = np.arange(np.prod(shape)).reshape(shape).astype(x.dtype)
    check_node("Concat", feeds, axis=axis)


@pytest.mark.slow
@SETTINGS
@given(x=arrays(max_dim=6), data=st.data())
def test_slice(x, data):
    axes = data.draw(st.permutations(range(x.ndim)))[:data.draw(st.integers(1, x.ndim))]
    bound = st.one_of(st.integers(-8, 8), st.sampled_from([2 ** 62, -2 ** 62]))
    consts = {"starts": ints(*(data.draw(bound) for _ in axes)),
              "ends": ints(*(data.draw(bound) for _ in axes)),
              "axes": ints(*(a - x.ndim if data.draw(st.booleans()) else a for a in axes)),
              "steps": ints(*(data.draw(st.sampled_from([-3, -2, -1, 1, 2, 3])) for _ in axes))}
    check_node("Slice", {"x": x}, consts)


@pytest.mark.slow
@SETTINGS
@given(x=arrays(), data=st.data())
def test_split(x, data):
    axis = data.draw(st.integers(0, x.ndim - 1))
    n = x.shape[axis]
    cuts = sorted(data.draw(st.lists(st.integers(0, n), min_size=1, max_size=3)))
    split = np.diff([0, *cuts, n])
    check_node("Split", {"x": x}, {"split": split.astype(np.int64)}, n_out=len(split), axis=axis)


@pytest.mark.slow
@SETTINGS
@given(x=arrays(min_dim=2), data=st.data())
def test_pad(x, data):
    mode = data.draw(st.sampled_from(["constant", "reflect", "edge"]))
    # onnxruntime reflects at most dim - 1 and crops only in constant mode
    low, high = (-1, 3) if mode == "constant" else (0, min(x.shape) - 1)
    pads = ints(*(data.draw(st.integers(low, high)) for _ in range(2 * x.ndim)))
    consts = {"pads": pads}
    if mode == "constant":
        consts["value"] = np.array(data.draw(st.integers(-3, 3)), x.dtype)
    check_node("Pad", {"x": x}, consts, mode=mode)


@pytest.mark.slow
@SETTINGS
@given(x=arrays(), data=st.data())
def test_gather(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    shape = data.draw(st.sampled_from([(), (1,), (3,), (2, 2)]))
    values = data.draw(st.lists(st.integers(-n, n - 1), min_size=int(np.prod(shape)),
                                max_size=int(np.prod(shape))))
    check_node("Gather", {"x": x}, {"indices": np.array(values, np.int64).reshape(shape)},
               axis=axis)


@pytest.mark.slow
@SETTINGS
@given(x=arrays(max_dim=3), data=st.data())
def test_expand_tile_where(x, data):
    ones = tuple(1 if data.draw(st.booleans()) else d for d in x.shape)
    small = x[tuple(slice(0, d) for d in ones)].copy()
    extra = data.draw(st.integers(0, 1))
    target = (2,) * extra + tuple(data.draw(st.integers(1, 3)) if d == 1 else d for d in ones)
    check_node("Expand", {"x": small}, {"shape": ints(*target)})
    reps = ints(*(data.draw(st.integers(0, 2)) for _ in x.shape))
    check_node("Tile", {"x": x}, {"repeats": reps})
    check_node("Where", {"cond": x > 0, "a": small, "b": -x})


def causal_model_and_signal(case, data):
    proto, channels, stride = case
    batch = pulsar.load(proto)
    lengths = [n for n in range(1, 80) if all_sizes_positive(batch, n)]
    if not lengths:
        return None
    n = data.draw(st.sampled_from(lengths), label="signal length")
    return proto, np.random.default_rng(n).standard_normal((1, channels, n)).astype(np.float32)


def assert_stream_ops_compiled(session):
    rows = [(n.name, where) for n, where in session.plan.execution()
            if n.op.onnx_name in ("Delay", "PulsePad")]
    assert all(where == "compiled" for _, where in rows), rows
    return len(rows)


@pytest.mark.slow
@SETTINGS
@given(case=causal_models(), data=st.data())
def test_random_causal_graphs_stream_compiled_like_onnxruntime(case, data):
    ready = causal_model_and_signal(case, data)
    if ready is None:
        return
    proto, x = ready
    pulse = case[2] * data.draw(st.integers(1, 3), label="pulse multiple")
    pm = streaming.pulse(pulsar.load(proto, compile=True), symbol="S", pulse=pulse)
    chunks = data.draw(st.lists(st.integers(1, 2 * pulse + 1), min_size=1, max_size=40))
    got = stream_through(pm, x, chunks, axis=2)
    assert_stream_ops_compiled(pm.session())
    (want,) = ort_run(proto, {"x": x})
    axis = pm.output_streams[0].axis
    got = np.take(got, range(pm.delay[0], got.shape[axis]), axis=axis)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def padded_conv_with_prefix():
    """x[1,2,S] -> Pad(2, 1) -> Conv(k=3) -> Concat(constant head of 2 frames, ...): a PulsePad
    with an end, a Delay and a PulsePad with a prefix."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"]),
             helper.make_node("Conv", ["p", "w"], ["c"], kernel_shape=[3]),
             helper.make_node("Concat", ["head", "c"], ["y"], axis=2)]
    inits = [init("pads", ints(0, 0, 2, 0, 0, 1)),
             init("w", rng.standard_normal((2, 2, 3)).astype(np.float32)),
             init("head", rng.standard_normal((1, 2, 2)).astype(np.float32))]
    return model(nodes, [tensor("x", [1, 2, "S"])], [tensor("y", None)], inits)


def test_compiled_session_snapshot_restore_reset():
    """The stream end that flush binds lives in PulsePad's state: a restored or reset session
    continues with a longer stream, and a stale end would pad its frames away."""
    proto = padded_conv_with_prefix()
    pm = streaming.pulse(pulsar.load(proto, compile=True), symbol="S", pulse=4)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, 23)).astype(np.float32)
    y = np.concatenate([x[:, :, :9], rng.standard_normal((1, 2, 22)).astype(np.float32)], axis=2)
    s = pm.session(pad_value=np.nan, skip_warmup=True)
    assert assert_stream_ops_compiled(s) >= 3
    assert {"Delay", "PulsePad"} <= {n.op.onnx_name for n, _ in s.plan.execution()}

    def finish(signal):
        return [s.push(signal[:, :, 9:14])[0], s.push(signal[:, :, 14:])[0], s.flush()[0]]

    head = [s.push(x[:, :, :5])[0], s.push(x[:, :, 5:9])[0]]
    snap = s.snapshot()
    for signal in (x, y):
        s.restore(snap)
        got = np.concatenate(head + finish(signal), axis=2)
        np.testing.assert_allclose(got, ort_run(proto, {"x": signal})[0], rtol=1e-5, atol=1e-5)
    s.reset()
    got = np.concatenate([s.push(x)[0], s.flush()[0]], axis=2)
    np.testing.assert_allclose(got, ort_run(proto, {"x": x})[0], rtol=1e-5, atol=1e-5)
