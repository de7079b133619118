import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import pulsar
from reference import ort_run
from conformance import cases_for, conformance_test
from pulsar import dims
from pulsar.errors import InferenceError

KNOWN_FAILING = {}


test_conformance = conformance_test(
    cases_for("Conv", "ConvTranspose", "ConvInteger"), KNOWN_FAILING)


def conv_model(op, x_shape, w, b=None, opset=13, **attrs):
    """One-node model: X (declared x_shape, may hold names) -> op(X, W[, B]) -> Y."""
    inits = [numpy_helper.from_array(w, "w")]
    ins = ["x", "w"]
    if b is not None:
        inits.append(numpy_helper.from_array(b, "b"))
        ins.append("b")
    node = helper.make_node(op, ins, ["y"], **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])



def weights(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


SYMBOLIC_CASES = [
    ("Conv", (4, 2, 512), dict(strides=[160])),                        # (S - 512) // 160 + 1
    ("Conv", (4, 2, 5), dict(auto_pad="SAME_UPPER", strides=[3])),
    ("Conv", (4, 2, 4), dict(auto_pad="SAME_LOWER", strides=[2])),
    ("Conv", (4, 2, 3), dict(auto_pad="VALID", strides=[2])),
    ("Conv", (6, 1, 3), dict(pads=[2, 1], group=2)),
    ("ConvTranspose", (2, 3, 4), dict(strides=[2], pads=[1, 0], output_padding=[1])),
    ("ConvTranspose", (2, 3, 3), dict(strides=[2], auto_pad="SAME_UPPER")),
]


@pytest.mark.parametrize("op,w_shape,attrs", SYMBOLIC_CASES)
def test_symbolic_length_matches_onnxruntime(op, w_shape, attrs):
    c_in = w_shape[0] if op == "ConvTranspose" else w_shape[1] * attrs.get("group", 1)
    model = conv_model(op, [1, c_in, "S"], weights(*w_shape), **attrs)
    loaded = pulsar.load(model)
    out_len = loaded.graph.facts["y"].shape[2]
    assert dims.symbols(out_len) == {"S"}
    for s in (512, 513, 700, 1001, 1760):
        x = weights(1, c_in, s, seed=s)
        expected = ort_run(model, {"x": x})[0]
        assert dims.evaluate(out_len, {"S": s}) == expected.shape[2]
        np.testing.assert_allclose(loaded.run([x])[0], expected, rtol=1e-4, atol=1e-4)


def test_strided_window_length_is_the_expected_formula():
    loaded = pulsar.load(conv_model("Conv", [1, 2, "S"], weights(4, 2, 512), strides=[160]))
    assert loaded.graph.facts["y"].shape == (1, 4, (dims.sym("S") - 512) // 160 + 1)


@pytest.mark.parametrize("attrs", [
    dict(pads=[1, 1, 1, 1]),
    dict(strides=[2, 2], pads=[3, 3, 3, 3]),
    dict(auto_pad="SAME_UPPER", strides=[2, 1]),
    dict(dilations=[2, 2], pads=[2, 2, 2, 2]),
    dict(group=4, pads=[1, 1, 1, 1]),
])
@pytest.mark.parametrize("channels", [8, 32])
def test_conv2d_matches_onnxruntime(attrs, channels):
    group = attrs.get("group", 1)
    k = 7 if "strides" in attrs and "pads" in attrs else 3
    w, b = weights(channels, channels // group, k, k), weights(channels, seed=1)
    model = conv_model("Conv", [1, channels, 20, 20], w, b, **attrs)
    x = weights(1, channels, 20, 20, seed=2)
    np.testing.assert_allclose(pulsar.load(model).run([x])[0], ort_run(model, {"x": x})[0],
                               rtol=1e-4, atol=1e-4)


def test_conv3d_matches_onnxruntime():
    model = conv_model("Conv", [2, 3, 5, 6, 7], weights(4, 3, 2, 3, 3), weights(4, seed=1),
                       pads=[1, 0, 1, 1, 0, 1], strides=[1, 2, 1])
    x = weights(2, 3, 5, 6, 7, seed=2)
    np.testing.assert_allclose(pulsar.load(model).run([x])[0], ort_run(model, {"x": x})[0],
                               rtol=1e-4, atol=1e-4)


def test_conv_float64_and_float16_keep_their_dtype():
    """float64 against onnxruntime; float16 (no onnxruntime kernel) against float32."""
    w, x = weights(3, 2, 3), weights(1, 2, 9, seed=1)
    expected = ort_run(conv_model("Conv", [1, 2, 9], w, pads=[1, 1]), {"x": x})[0]
    for dtype, tol in ((np.float64, 1e-6), (np.float16, 1e-2)):
        node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1])
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", elem, [1, 2, 9])],
                                  [helper.make_tensor_value_info("y", elem, None)],
                                  [numpy_helper.from_array(w.astype(dtype), "w")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        y = pulsar.load(model).run([x.astype(dtype)])[0]
        assert y.dtype == dtype
        np.testing.assert_allclose(y.astype(np.float32), expected, rtol=tol, atol=tol)


def test_channel_mismatch_is_a_clear_error():
    model = conv_model("Conv", [1, 3, 10], weights(4, 2, 3))
    with pytest.raises(InferenceError, match=r"input channels C=3 must equal W's second axis \(2\)"):
        pulsar.load(model)


def test_input_smaller_than_kernel_is_a_clear_error():
    model = conv_model("Conv", [1, 2, 4], weights(4, 2, 7))
    with pytest.raises(InferenceError, match="too small for the window"):
        pulsar.load(model)


def test_fusion_fields_are_not_onnx_attributes():
    model = conv_model("Conv", [1, 2, 8], weights(4, 2, 3), activation="Relu")
    with pytest.raises(pulsar.ModelLoadError, match="unknown attribute 'activation'"):
        pulsar.load(model)


def test_bad_bias_length_is_rejected_before_the_kernel():
    model = conv_model("Conv", [1, 2, 8], weights(4, 2, 3), weights(3))
    with pytest.raises(InferenceError, match="bias B must have shape"):
        pulsar.load(model)


def test_four_spatial_axes_fail_clearly():
    model = conv_model("Conv", [1, 1, 3, 3, 3, 3], weights(1, 1, 1, 1, 1, 1))
    with pytest.raises(InferenceError, match="1-D, 2-D and 3-D"):
        pulsar.load(model).run([weights(1, 1, 3, 3, 3, 3)])


def test_conv_transpose_3d_matches_onnxruntime():
    model = conv_model("ConvTranspose", [1, 4, 3, 4, 5], weights(4, 1, 2, 3, 2), weights(2, seed=3),
                       strides=[2, 1, 2], pads=[0, 1, 1, 1, 0, 0], group=2)
    x = weights(1, 4, 3, 4, 5, seed=2)
    np.testing.assert_allclose(pulsar.load(model).run([x])[0], ort_run(model, {"x": x})[0],
                               rtol=1e-4, atol=1e-4)


def test_model_is_reusable_across_symbol_values():
    """The run-time geometry is cached per input shape, so one op serves many lengths."""
    model = conv_model("Conv", [1, 2, "S"], weights(3, 2, 4), auto_pad="SAME_UPPER", strides=[2])
    loaded = pulsar.load(model)
    for s in (9, 10, 9, 33):
        x = weights(1, 2, s, seed=s)
        np.testing.assert_allclose(loaded.run([x])[0], ort_run(model, {"x": x})[0], rtol=1e-4, atol=1e-5)


def test_identical_filters_give_bit_identical_channels():
    """BLAS rounds rows by their place in a register block; pulsar computes a repeated filter
    once, so channels that onnxruntime makes equal stay exactly equal (Softmax-sensitive)."""
    w = np.repeat(weights(1, 16, 3, 3), 40, axis=0)
    w[5] = weights(16, 3, 3, seed=9)
    model = conv_model("Conv", [1, 16, 12, 12], w, np.zeros(40, np.float32), pads=[1, 1, 1, 1])
    x = weights(1, 16, 12, 12, seed=3) * 1000
    y = pulsar.load(model).run([x])[0]
    same = [c for c in range(40) if c != 5]
    assert all(np.array_equal(y[0, c], y[0, 0]) for c in same)
    np.testing.assert_allclose(y, ort_run(model, {"x": x})[0], rtol=1e-4, atol=1e-2)


# --- the fast 2-D paths (kernels.conv.choose_conv2d_algorithm) through the op ---------------

ALGORITHM_CASES = [
    # x shape, w shape, attrs, the algorithm the op picks
    ((1, 64, 25, 5), (64, 1, 3, 3), dict(pads=[1, 1, 1, 1], group=64), "flat"),        # DS-CNN dw
    ((2, 8, 9, 6), (16, 1, 3, 3), dict(pads=[2, 1, 0, 1], dilations=[2, 1], group=8), "flat"),
    ((1, 64, 25, 5), (64, 64, 1, 1), {}, "pointwise"),                                 # DS-CNN pw
    ((1, 1, 49, 10), (64, 1, 10, 4), dict(strides=[2, 2], pads=[4, 1, 5, 1]), "gather"),
    ((1, 64, 40, 7), (48, 64, 10, 4), dict(strides=[2, 1]), "gather"),                 # CNN_M
    ((1, 24, 36, 16), (24, 24, 1, 3), dict(pads=[0, 1, 0, 1]), "taps"),                # wake word
    ((1, 24, 36, 16), (24, 24, 3, 1), {}, "taps"),
    ((1, 32, 20, 20), (32, 32, 3, 3), dict(pads=[1, 1, 1, 1]), "taps"),                # ResNet-like
    ((1, 32, 20, 20), (32, 32, 3, 3), dict(pads=[0, 1, 2, 1]), "taps"),                # OW == W, OH != H
    ((1, 32, 20, 20), (32, 32, 3, 3), {}, "taps"),                                     # OW < W rows
    ((1, 16, 1, 300), (16, 16, 1, 5), dict(pads=[0, 2, 0, 2]), "taps"),                # 1-D as 2-D
    ((1, 1, 76, 32), (24, 1, 3, 3), dict(pads=[0, 1, 0, 1]), "im2col"),
]


@pytest.mark.parametrize("x_shape,w_shape,attrs,algorithm", ALGORITHM_CASES,
                         ids=[c[3] + str(i) for i, c in enumerate(ALGORITHM_CASES)])
@pytest.mark.parametrize("activation", ["", "LeakyRelu"])
def test_fast_paths_match_onnxruntime(x_shape, w_shape, attrs, algorithm, activation):
    """Each path the op picks for these model shapes, with and without a fused activation,
    against onnxruntime running Conv (+ LeakyRelu)."""
    w, b = weights(*w_shape), weights(w_shape[0], seed=1)
    model = conv_model("Conv", list(x_shape), w, b, **attrs)
    if activation:
        model.graph.node[0].output[0] = "c"
        model.graph.node.append(helper.make_node("LeakyRelu", ["c"], ["y"], alpha=0.2))
    x = weights(*x_shape, seed=2)
    loaded = pulsar.load(model)
    got = loaded.run([x])[0]
    np.testing.assert_allclose(got, ort_run(model, {"x": x})[0], rtol=1e-4, atol=1e-4)
    conv = next(n.op for n in loaded.graph.nodes if type(n.op).__name__ == "Conv")
    plan = conv._plan(x.shape, w.shape, x.dtype)
    assert plan.algorithm == algorithm
    assert not activation or conv.activation == "leaky_relu"        # fused, so the kernels ran it


def test_leaky_relu_max_activation_matches_onnxruntime():
    """The LeakyRelu + Max(scalar) activation (for fusion to use on openWakeWord's blocks)."""
    from pulsar.ops.conv import Conv
    w, b = weights(24, 24, 1, 3), weights(24, seed=1)
    x = weights(1, 24, 20, 16, seed=2)
    model = conv_model("Conv", list(x.shape), w, b, pads=[0, 1, 0, 1])
    model.graph.node[0].output[0] = "c"
    floor = numpy_helper.from_array(np.full((1, 1, 1, 1), -0.4, np.float32), "floor")
    model.graph.initializer.append(floor)
    model.graph.node.extend([helper.make_node("LeakyRelu", ["c"], ["l"], alpha=0.2),
                             helper.make_node("Max", ["l", "floor"], ["y"])])
    op = Conv(pads=(0, 1, 0, 1), activation="leaky_relu_max", alpha=float(np.float32(0.2)),
              beta=float(np.float32(-0.4)))
    np.testing.assert_allclose(op.eval(x, w, b)[0], ort_run(model, {"x": x})[0], rtol=1e-5, atol=1e-5)


def test_taps_path_handles_nan_and_inf_inputs_like_onnxruntime():
    """The flat shift zeroes wrapped plane columns: a non-finite input must only reach the
    outputs whose windows hold it, as in onnxruntime."""
    w, b = weights(16, 16, 1, 3), weights(16, seed=1)
    x = weights(1, 16, 20, 16, seed=2)
    x[0, 3, 5, 0], x[0, 7, 9, 15] = np.inf, np.nan
    model = conv_model("Conv", list(x.shape), w, b, pads=[0, 1, 0, 1])
    got, want = pulsar.load(model).run([x])[0], ort_run(model, {"x": x})[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_identical_filters_on_the_taps_path():
    """Repeated filters shrink the GEMM (one row per distinct filter) under every algorithm:
    the taps path sizes its scratch for all filters and must use only what it needs."""
    w = np.repeat(weights(1, 32, 3, 3), 40, axis=0)
    w[5] = weights(32, 3, 3, seed=9)
    b = np.full(40, 0.5, np.float32)
    model = conv_model("Conv", [1, 32, 20, 20], w, b, pads=[1, 1, 1, 1])
    x = weights(1, 32, 20, 20, seed=3)
    loaded = pulsar.load(model)
    y = loaded.run([x])[0]
    conv = loaded.graph.nodes[0].op
    assert conv._plan(x.shape, w.shape, x.dtype).algorithm == "taps"
    assert conv._cache["weights"].w.shape[0] == 2          # two distinct filters computed
    np.testing.assert_allclose(y, ort_run(model, {"x": x})[0], rtol=1e-4, atol=1e-4)
