"""RMSNormalization, CumProd, CausalConvWithState and DeformConv: ONNX conformance, symbolic
shapes against onnxruntime, streaming (chunked) runs of CausalConvWithState against one
whole-sequence depthwise Conv, DeformConv against Conv and onnx.reference, and errors."""
import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import pulsar
from conformance import cases_for, conformance_test
from reference import ort_run
from models import init, model, tensor
from pulsar import dims
from pulsar.errors import InferenceError

S = dims.sym("S")
FLOAT, INT64 = TensorProto.FLOAT, TensorProto.INT64
KNOWN_FAILING = {}


test_conformance = conformance_test(
    cases_for("RMSNormalization", "CumProd", "CausalConvWithState", "DeformConv"), KNOWN_FAILING)


def one_node(op, inputs, outputs, opset, inits=(), **attrs):
    """inputs: (name, elem, shape) triples, '' for a skipped optional input, or initializer
    names (given in `inits`)."""
    names = [i if isinstance(i, str) else i[0] for i in inputs]
    node = helper.make_node(op, names, list(outputs), **attrs)
    graph_inputs = [tensor(i[0], i[2], i[1]) for i in inputs if not isinstance(i, str)]
    return model([node], graph_inputs, [tensor(o, None) for o in outputs], inits, opset=opset)


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# --- RMSNormalization ----------------------------------------------------------------------

@pytest.mark.parametrize("axis,scale_shape", [(-1, [8]), (1, [1, 8]), (2, [8]), (0, [1, 1, 1])])
def test_rms_norm_over_a_symbolic_length(axis, scale_shape):
    rng = np.random.default_rng(abs(axis))
    scale = randn(rng, *scale_shape)
    m = one_node("RMSNormalization", [("x", FLOAT, [2, "S", 8]), "scale"], ["y"], 23,
                 [init("scale", scale)], axis=axis, epsilon=1e-3)
    loaded = pulsar.load(m)
    assert loaded.graph.facts["y"].shape == (2, S, 8)
    for s in (1, 5):
        x = randn(rng, 2, s, 8)
        np.testing.assert_allclose(loaded.run([x])[0], ort_run(m, {"x": x})[0],
                                   rtol=1e-5, atol=1e-6)


def test_rms_norm_output_takes_the_scale_dtype():
    scale = np.linspace(0.5, 1.5, 4)
    m = one_node("RMSNormalization", [("x", TensorProto.FLOAT16, [3, 4]), "scale"], ["y"], 23,
                 [init("scale", scale)])
    x = randn(np.random.default_rng(0), 3, 4).astype(np.float16)
    got = pulsar.load(m).run([x])[0]
    assert got.dtype == np.float64
    xf = x.astype(np.float64)
    normalized = (xf / np.sqrt((xf ** 2).mean(-1, keepdims=True) + 1e-5)).astype(np.float16)
    np.testing.assert_allclose(got, normalized.astype(np.float64) * scale, rtol=1e-6)


def test_rms_norm_scale_must_broadcast_to_x():
    m = one_node("RMSNormalization", [("x", FLOAT, [2, 3, 4]), ("scale", FLOAT, [3])], ["y"], 23)
    with pytest.raises(InferenceError, match="does not broadcast to X"):
        pulsar.load(m)


# --- CumProd -------------------------------------------------------------------------------

@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("axis", [1, -1, 0])
def test_cumprod_matches_onnxruntime(exclusive, reverse, axis):
    m = one_node("CumProd", [("x", FLOAT, ["S", 4]), "axis"], ["y"], 26,
                 [init("axis", np.array(axis, np.int64))], exclusive=exclusive, reverse=reverse)
    loaded = pulsar.load(m)
    assert loaded.graph.facts["y"].shape == (S, 4)
    rng = np.random.default_rng(exclusive + 2 * reverse)
    for s in (1, 3):
        x = rng.uniform(0.5, 1.5, (s, 4)).astype(np.float32)
        np.testing.assert_allclose(loaded.run([x])[0], ort_run(m, {"x": x})[0], rtol=1e-6)


def test_cumprod_integers_wrap_in_their_dtype():
    m = one_node("CumProd", [("x", TensorProto.INT32, [4]), "axis"], ["y"], 26,
                 [init("axis", np.array(0, np.int32))])
    x = np.array([65536, 65536, 3, 1], np.int32)
    got = pulsar.load(m).run([x])[0]
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ReferenceEvaluator(m).run(None, {"x": x})[0])


def test_cumprod_axis_out_of_range_is_rejected():
    m = one_node("CumProd", [("x", FLOAT, [2, 3]), "axis"], ["y"], 26,
                 [init("axis", np.array(2, np.int64))])
    with pytest.raises(InferenceError, match="axis 2 is out of range"):
        pulsar.load(m)


# --- CausalConvWithState -------------------------------------------------------------------

def causal_model(k=4, channels=3, activation="none", length="L"):
    return one_node("CausalConvWithState",
                    [("x", FLOAT, [2, channels, length]), ("w", FLOAT, [channels, 1, k]),
                     ("b", FLOAT, [channels]), ("past", FLOAT, [2, channels, k - 1])],
                    ["y", "state"], 27, activation=activation)


def depthwise_conv(x, w, b, k):
    """The whole sequence through onnxruntime's Conv, zero-padded on the left by k - 1."""
    channels = x.shape[1]
    conv = one_node("Conv", [("x", FLOAT, list(x.shape)), ("w", FLOAT, list(w.shape)),
                             ("b", FLOAT, [channels])], ["y"], 13, group=channels,
                    pads=[k - 1, 0])
    return ort_run(conv, {"x": x, "w": w, "b": b})[0]


@pytest.mark.parametrize("k", [1, 2, 4])
def test_causal_conv_in_chunks_equals_one_depthwise_conv(k):
    loaded = pulsar.load(causal_model(k))
    length = dims.sym("L")
    assert loaded.graph.facts["y"].shape == (2, 3, length)
    assert loaded.graph.facts["state"].shape == (2, 3, k - 1)
    rng = np.random.default_rng(k)
    x, w, b = randn(rng, 2, 3, 9), randn(rng, 3, 1, k), randn(rng, 3)
    state, ys = np.zeros((2, 3, k - 1), np.float32), []
    for a, e in ((0, 1), (1, 3), (3, 3), (3, 9)):
        y, state = loaded.run({"x": x[:, :, a:e], "w": w, "b": b, "past": state})
        ys.append(y)
    np.testing.assert_allclose(np.concatenate(ys, axis=2), depthwise_conv(x, w, b, k),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(state, x[:, :, 9 - (k - 1):])


def test_causal_conv_silu_runs_like_the_reference():
    m = causal_model(activation="silu")
    rng = np.random.default_rng(7)
    feeds = {"x": randn(rng, 2, 3, 5), "w": randn(rng, 3, 1, 4), "b": randn(rng, 3),
             "past": randn(rng, 2, 3, 3)}
    want = ReferenceEvaluator(m).run(None, feeds)
    for got, expected in zip(pulsar.load(m).run(feeds), want):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("w_shape,message", [([3, 2, 4], r"weight must have shape \[3,1,4\]"),
                                             ([4, 1, 4], r"weight must have shape \[3,1,4\]")])
def test_causal_conv_weight_errors(w_shape, message):
    m = one_node("CausalConvWithState", [("x", FLOAT, [1, 3, 5]), ("w", FLOAT, w_shape)],
                 ["y", "state"], 27)
    with pytest.raises(InferenceError, match=message):
        pulsar.load(m)


# --- DeformConv ----------------------------------------------------------------------------

@pytest.mark.parametrize("x_shape,w_shape,attrs", [
    ([1, 4, 11], [6, 2, 3], {"group": 2, "strides": [2], "pads": [1, 2]}),
    ([2, 3, 7, 6], [4, 3, 3, 2], {"dilations": [2, 1], "pads": [1, 0, 2, 1]}),
    ([1, 2, 5, 4, 4], [2, 1, 2, 2, 2], {"group": 2, "strides": [1, 2, 1]}),
])
def test_deform_conv_without_offsets_is_a_conv(x_shape, w_shape, attrs):
    rng = np.random.default_rng(len(x_shape))
    x, w, b = randn(rng, *x_shape), randn(rng, *w_shape), randn(rng, w_shape[0])
    conv = one_node("Conv", [("x", FLOAT, x_shape), "w", "b"], ["y"], 13,
                    [init("w", w), init("b", b)], **attrs)
    want = ort_run(conv, {"x": x})[0]
    n = len(x_shape) - 2
    offset = np.zeros((x_shape[0], n * int(np.prod(w_shape[2:])), *want.shape[2:]), np.float32)
    deform = one_node("DeformConv", [("x", FLOAT, x_shape), "w", ("offset", FLOAT, offset.shape),
                                     "b"], ["y"], 22, [init("w", w), init("b", b)], **attrs)
    got = pulsar.load(deform).run({"x": x, "offset": offset})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_deform_conv_groups_offsets_and_mask_match_the_reference():
    rng = np.random.default_rng(11)
    shapes = {"x": [2, 4, 9, 8], "w": [6, 2, 3, 2], "offset": [2, 24, 4, 4], "b": [6],
              "mask": [2, 12, 4, 4]}
    m = one_node("DeformConv", [(name, FLOAT, shape) for name, shape in shapes.items()], ["y"],
                 19, group=2, offset_group=2, strides=[2, 2], dilations=[2, 1],
                 pads=[1, 0, 1, 1])
    feeds = {name: randn(rng, *shape) for name, shape in shapes.items()}
    feeds["offset"] *= 1.5                 # some taps land outside X: zeros there
    got = pulsar.load(m).run(feeds)[0]
    np.testing.assert_allclose(got, ReferenceEvaluator(m).run(None, feeds)[0],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, ort_run(m, feeds)[0], rtol=1e-5, atol=1e-5)


def test_deform_conv_offset_must_match_the_output_grid():
    m = one_node("DeformConv", [("x", FLOAT, [1, 1, 5, 5]), ("w", FLOAT, [1, 1, 2, 2]),
                                ("offset", FLOAT, [1, 8, 3, 3])], ["y"], 19)
    with pytest.raises(InferenceError, match=r"offset must have shape \[1,8,4,4\]"):
        pulsar.load(m)
