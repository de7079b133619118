"""Normalisation, softmax, pooling and reductions in compiled plans, against onnxruntime.

Every case asserts that the targeted nodes ran compiled (not interpreted). Each distinct model
costs a Numba compilation on a cold cache (about 1 s per node), so the default tier runs one
small model with one op of each kind; the whole family in one model, the per-op sweeps over
shapes and attributes and the hey_jarvis classifier are slow-marked.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import pulsar
from models import one_node
from reference import ort_run
from shared_data import model_path

FLOAT = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE}
# every example compiles (~1 s): few examples, and no shrinking (it would compile hundreds)
SLOW_SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                         phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=[HealthCheck.too_slow])


def assert_compiled_like_ort(onnx_model, feeds, rtol=1e-5, atol=1e-6,
                             interpreted_ok=lambda node: False):
    """Run `onnx_model` compiled; every node but those `interpreted_ok(node)` accepts must
    have run compiled, and every output must match onnxruntime."""
    model = pulsar.load(onnx_model, compile=True)
    got = model.run(feeds)
    rows = model.plan_for(feeds).execution()
    stray = [(node.name, str(node.op)) for node, where in rows
             if where != "compiled" and not interpreted_ok(node)]
    assert not stray, f"interpreted: {stray}"
    wanted, by_ort = reference_outputs(onnx_model, feeds)
    for g, want in zip(got, wanted):
        assert g.shape == want.shape and (g.dtype == want.dtype or not by_ort)
        np.testing.assert_allclose(g, want, rtol=rtol, atol=atol)
    return rows


def reference_outputs(onnx_model, feeds):
    """(outputs, True) from onnxruntime, or (outputs, False) from onnx's ReferenceEvaluator
    where onnxruntime has no kernel for a dtype (float64 InstanceNormalization, Hardmax,
    AveragePool, GlobalAveragePool); the evaluator's LayerNormalization statistics come out
    float64 where ONNX's type rule says float32, so dtypes are only compared to onnxruntime's."""
    try:
        return ort_run(onnx_model, feeds), True
    except Exception as error:
        if "NOT_IMPLEMENTED" not in str(error):
            raise
    return ReferenceEvaluator(onnx_model).run(None, feeds), False


def const(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def family_model(shape, dtype, only=None):
    """One model applying every op of this family (or those whose first output is in `only`)
    to x (N, C, H, W): one compilation."""
    c, h, w = shape[1:]
    rng = np.random.default_rng(0)
    params = {f"bn{i}": (rng.random(c) + 0.5).astype(dtype) for i in range(4)}
    params.update(ln_scale=rng.standard_normal(w).astype(dtype),
                  ln_bias=rng.standard_normal(w).astype(dtype),
                  in_scale=rng.standard_normal(c).astype(dtype),
                  in_bias=rng.standard_normal(c).astype(dtype),
                  axes02=np.array([0, 2], np.int64), axes1=np.array([1], np.int64),
                  axes_last=np.array([-1], np.int64), no_axes=np.array([], np.int64))
    N = helper.make_node
    nodes = [
        N("LayerNormalization", ["x", "ln_scale", "ln_bias"], ["ln", "ln_mean", "ln_inv"]),
        N("LayerNormalization", ["x", "ln_scale"], ["ln1"], axis=2, epsilon=1e-3),
        N("BatchNormalization", ["x", "bn0", "bn1", "bn2", "bn3"], ["bn"], epsilon=1e-3),
        N("InstanceNormalization", ["x", "in_scale", "in_bias"], ["inorm"]),
        N("Softmax", ["x"], ["sm"], axis=1),
        N("Softmax", ["x"], ["sm_last"]),
        N("LogSoftmax", ["x"], ["lsm"], axis=2),
        N("Hardmax", ["x"], ["hm"], axis=-1),
        N("MaxPool", ["x"], ["mp_pairs"], kernel_shape=[2, 2], strides=[2, 2]),
        N("MaxPool", ["x"], ["mp"], kernel_shape=[3, 2], pads=[1, 0, 1, 1], strides=[2, 1]),
        N("MaxPool", ["x"], ["mp_whole"], kernel_shape=[h, w]),
        N("AveragePool", ["x"], ["ap"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
          count_include_pad=1, ceil_mode=1, strides=[2, 2]),
        N("AveragePool", ["x"], ["ap_whole"], kernel_shape=[h, w]),
        N("GlobalAveragePool", ["x"], ["gap"]),
        N("GlobalMaxPool", ["x"], ["gmp"]),
        N("ReduceSum", ["x", "axes02"], ["rsum"], keepdims=0),
        N("ReduceMean", ["x", "axes1"], ["rmean"]),
        N("ReduceMean", ["x"], ["rmean_all"], keepdims=0),
        N("ReduceMax", ["x", "axes_last"], ["rmax"]),
        N("ReduceMin", ["x", "axes02"], ["rmin"]),
        N("ReduceSum", ["x", "no_axes"], ["rnoop"], noop_with_empty_axes=1),
    ]
    nodes = [n for n in nodes if only is None or n.output[0] in only]
    elem = FLOAT[dtype]
    outs = [o for node in nodes for o in node.output]
    graph = helper.make_graph(nodes, "family", [helper.make_tensor_value_info("x", elem, shape)],
                              [helper.make_tensor_value_info(
                                  o, TensorProto.FLOAT if o.startswith("ln_") else elem, None)
                               for o in outs],
                              [const(k, v) for k, v in params.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_one_op_of_each_kind_compiles_and_matches_onnxruntime():
    """The default tier: a few nodes (a long generated function compiles slowly on a cold
    cache, ~1 s per node)."""
    shape = (2, 3, 6, 8)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    only = ("ln", "sm", "mp_pairs", "gap", "rmean")
    rows = assert_compiled_like_ort(family_model(shape, np.float32, only), {"x": x}, atol=1e-5)
    assert len(rows) == len(only)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_op_of_the_family_compiles_and_matches_onnxruntime(dtype):
    shape = (2, 3, 6, 8)
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    model = family_model(shape, dtype)
    rows = assert_compiled_like_ort(model, {"x": x}, atol=1e-5)
    assert len(rows) == len(model.graph.node) == 21


def run_one(op, x, inits=None, opset=18, rtol=1e-5, atol=1e-6, n_outputs=1, **attrs):
    model = one_node(op, [("x", FLOAT[x.dtype.type], list(x.shape))], inits,
                     out_types=(FLOAT[x.dtype.type],) * n_outputs, opset=opset, **attrs)
    assert_compiled_like_ort(model, {"x": x}, rtol=rtol, atol=atol)


shapes = st.lists(st.integers(1, 6), min_size=2, max_size=4).map(tuple)
dtypes = st.sampled_from([np.float32, np.float64])


def data(shape, dtype, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 3).astype(dtype)


@pytest.mark.slow
@SLOW_SETTINGS
@given(shape=shapes, dtype=dtypes, keepdims=st.sampled_from([0, 1]),
       op=st.sampled_from(["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"]),
       pick=st.lists(st.booleans(), min_size=4, max_size=4), opset=st.sampled_from([13, 18]))
def test_reductions(shape, dtype, keepdims, op, pick, opset):
    axes = [i for i, p in zip(range(len(shape)), pick) if p] or [-1]
    x = data(shape, dtype)
    if op == "ReduceSum" or opset == 18:
        run_one(op, x, {"axes": np.array(axes, np.int64)}, opset=opset, keepdims=keepdims)
    else:
        run_one(op, x, opset=opset, keepdims=keepdims, axes=axes)


@pytest.mark.slow
@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"])
@pytest.mark.parametrize("noop", [0, 1])
def test_reductions_without_axes(op, noop):
    run_one(op, data((3, 4, 5), np.float32), opset=18, keepdims=0, noop_with_empty_axes=noop)


@pytest.mark.slow
def test_long_float32_rows_sum_within_onnxruntime_tolerance():
    x = (np.random.default_rng(2).random((3, 20000)) + 100).astype(np.float32)
    run_one("ReduceMean", x, {"axes": np.array([1], np.int64)}, rtol=1e-6)
    run_one("ReduceSum", x, {"axes": np.array([1], np.int64)}, rtol=1e-6)


@pytest.mark.slow
@SLOW_SETTINGS
@given(shape=shapes, dtype=dtypes, op=st.sampled_from(["Softmax", "LogSoftmax", "Hardmax"]),
       axis=st.integers(-4, 3), opset=st.sampled_from([11, 13]))
def test_softmax_family(shape, dtype, op, axis, opset):
    axis = axis % len(shape)
    run_one(op, data(shape, dtype), opset=opset, axis=axis)


@pytest.mark.slow
@SLOW_SETTINGS
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=4).map(tuple), dtype=dtypes,
       axis=st.integers(0, 3), stats=st.booleans(), bias=st.booleans())
def test_layer_normalization(shape, dtype, axis, stats, bias):
    axis = axis % len(shape)
    rng = np.random.default_rng(3)
    inits = {"scale": rng.standard_normal(shape[axis:]).astype(dtype)}
    if bias:
        inits["bias"] = rng.standard_normal(shape[-1:]).astype(dtype)
    x = data(shape, dtype)
    model = one_node("LayerNormalization", [("x", FLOAT[dtype], list(shape))], inits,
                     out_types=(FLOAT[dtype],) + (TensorProto.FLOAT,) * (2 * stats),
                     opset=17, axis=axis)
    assert_compiled_like_ort(model, {"x": x}, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (1, 4, 3, 5, 2)])
def test_batch_and_instance_normalization(dtype, shape):
    rng = np.random.default_rng(4)
    c = shape[1]
    bn = {k: (rng.random(c) + 0.5).astype(dtype) for k in ("s", "b", "m", "v")}
    run_one("BatchNormalization", data(shape, dtype), bn, opset=15, epsilon=1e-2)
    if len(shape) >= 3:
        inorm = {k: rng.standard_normal(c).astype(dtype) for k in ("s", "b")}
        run_one("InstanceNormalization", data(shape, dtype), inorm, opset=6, rtol=1e-4, atol=1e-5)


windows = st.fixed_dictionaries({
    "k": st.lists(st.integers(1, 3), min_size=2, max_size=2),
    "s": st.lists(st.integers(1, 3), min_size=2, max_size=2),
    "p": st.lists(st.integers(0, 1), min_size=4, max_size=4),
    "d": st.lists(st.integers(1, 2), min_size=2, max_size=2),
    "ceil": st.sampled_from([0, 1]),
})


@pytest.mark.slow
@SLOW_SETTINGS
@given(w=windows, rank=st.sampled_from([1, 2]), dtype=dtypes, op=st.sampled_from(
    ["MaxPool", "AveragePool", "AveragePool_pad"]), hw=st.lists(st.integers(4, 9), min_size=2,
                                                                max_size=2))
def test_pools(w, rank, dtype, op, hw):
    k, s, d = w["k"][-rank:], w["s"][-rank:], w["d"][-rank:]
    pads = w["p"][:rank] + w["p"][2:2 + rank]
    pads = [min(p, kk - 1) for p, kk in zip(pads, k + k)]   # a pad must be smaller than the kernel
    attrs = dict(kernel_shape=k, strides=s, pads=pads, ceil_mode=w["ceil"])
    if op == "AveragePool_pad":
        op, attrs["count_include_pad"] = "AveragePool", 1
    if op == "MaxPool":
        attrs["dilations"] = d
    run_one(op, data((2, 3, *hw[-rank:]), dtype), opset=19, **attrs)


@pytest.mark.slow
@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", dict(kernel_shape=[2, 2, 2], strides=[1, 2, 1], pads=[0, 1, 0, 1, 0, 1])),
    ("AveragePool", dict(kernel_shape=[2, 3, 2], pads=[1, 1, 0, 0, 1, 1], count_include_pad=1)),
    ("MaxPool", dict(kernel_shape=[4, 5, 3])),                  # the whole window
    ("AveragePool", dict(kernel_shape=[4, 5, 3])),
    ("GlobalAveragePool", {}), ("GlobalMaxPool", {})])
def test_3d_and_global_pools(op, attrs):
    run_one(op, data((2, 3, 4, 5, 3), np.float32), opset=19, **attrs)


@pytest.mark.slow
def test_hey_jarvis_classifier_compiles_and_matches_onnxruntime():
    """Every node but the If (and the Cast to bool feeding it) runs compiled."""
    import onnx
    onnx_model = onnx.load(model_path("openwakeword", "hey_jarvis_v0.1.onnx"))
    model = pulsar.load(onnx_model, compile=True)
    assert sum(n.op.onnx_name == "LayerNormalization" for n in model.graph.nodes) == 2
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = rng.standard_normal((1, 16, 96)).astype(np.float32)
        assert_compiled_like_ort(onnx_model, {"x.1": x}, rtol=1e-4, atol=1e-5,
                                 interpreted_ok=_if_or_cast_to_bool)


def _if_or_cast_to_bool(node) -> bool:
    op = node.op
    return op.onnx_name == "If" or (op.onnx_name == "Cast" and op.to == TensorProto.BOOL)
