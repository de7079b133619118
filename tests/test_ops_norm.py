import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import pulsar
from reference import ort_run
from conformance import cases_for, conformance_test
from pulsar import dims
from pulsar.errors import InferenceError

KNOWN_FAILING = {}

OPS = ("BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization",
       "LRN", "MeanVarianceNormalization", "LpNormalization")


test_conformance = conformance_test(cases_for(*OPS), KNOWN_FAILING)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def norm_model(op, x_shape, params, outputs=("y",), opset=17, elem=TensorProto.FLOAT, **attrs):
    names = [f"p{i}" for i in range(len(params))]
    node = helper.make_node(op, ["x", *names], list(outputs), **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", elem, x_shape)],
        [helper.make_tensor_value_info(o, elem if i == 0 else TensorProto.FLOAT, None)
         for i, o in enumerate(outputs)],
        [numpy_helper.from_array(p, n) for p, n in zip(params, names)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])



def test_layer_norm_over_a_symbolic_length():
    model = norm_model("LayerNormalization", [2, "S", 8], [randn(8), randn(8, seed=1)],
                       outputs=("y", "mean", "inv"), epsilon=1e-3)
    loaded = pulsar.load(model)
    assert loaded.graph.facts["mean"].shape == (2, dims.sym("S"), 1)
    assert loaded.graph.facts["mean"].dtype == np.float32
    for s in (1, 7, 30):
        x = randn(2, s, 8, seed=s)
        for got, expected in zip(loaded.run([x]), ort_run(model, {"x": x})):
            assert got.shape == expected.shape and got.dtype == expected.dtype
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_layer_norm_broadcasts_a_short_scale():
    model = norm_model("LayerNormalization", [2, 3, 4], [randn(4), randn(1, seed=1)], axis=1)
    x = randn(2, 3, 4, seed=2)
    np.testing.assert_allclose(pulsar.load(model).run([x])[0], ort_run(model, {"x": x})[0],
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op,shape,params", [
    ("InstanceNormalization", (2, 3, 5, 4), [randn(3), randn(3, seed=1)]),
    ("BatchNormalization", (2, 3, 5), [randn(3), randn(3, seed=1), randn(3, seed=2),
                                       np.abs(randn(3, seed=3)) + 0.1]),
    ("LRN", (2, 6, 3, 3), []),
    ("MeanVarianceNormalization", (2, 3, 4, 4), []),
])
def test_against_onnxruntime_with_symbolic_batch(op, shape, params):
    attrs = {"size": 3} if op == "LRN" else {}
    model = norm_model(op, ["N", *shape[1:]], params, opset=13, **attrs)
    loaded = pulsar.load(model)
    assert loaded.graph.facts["y"].shape[0] == dims.sym("N")
    x = randn(*shape, seed=7)
    np.testing.assert_allclose(loaded.run([x])[0], ort_run(model, {"x": x})[0], rtol=1e-4, atol=1e-5)


def test_group_norm_18_takes_per_group_parameters():
    scale, bias = randn(2), randn(2, seed=1)
    model = norm_model("GroupNormalization", [2, 4, 3], [scale, bias], opset=18, num_groups=2)
    x = randn(2, 4, 3, seed=2)
    expected = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(pulsar.load(model).run([x])[0], expected, rtol=1e-4, atol=1e-5)


def test_batch_norm_float64():
    params = [randn(3).astype(np.float64) for _ in range(3)] + [np.ones(3)]
    model = norm_model("BatchNormalization", [2, 3, 4], params, opset=15, elem=TensorProto.DOUBLE)
    x = randn(2, 3, 4).astype(np.float64)
    got = pulsar.load(model).run([x])[0]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, ort_run(model, {"x": x})[0], rtol=1e-12)


def test_wrong_length_scale_is_a_clear_error():
    model = norm_model("InstanceNormalization", [1, 3, 5], [randn(4), randn(3)])
    with pytest.raises(InferenceError, match=r"scale must have shape \[3\]"):
        pulsar.load(model)


def test_group_count_must_divide_channels():
    model = norm_model("GroupNormalization", [1, 6, 5], [randn(6), randn(6)], opset=21, num_groups=4)
    with pytest.raises(InferenceError, match="multiple of num_groups=4"):
        pulsar.load(model)


def test_running_stat_outputs_need_training_mode():
    params = [randn(3), randn(3), randn(3), np.ones(3, np.float32)]
    model = norm_model("BatchNormalization", [2, 3], params, outputs=("y", "m", "v"), opset=15)
    with pytest.raises(InferenceError, match="training_mode=1"):
        pulsar.load(model)


def test_lrn_even_size_follows_the_onnx_formula():
    """onnxruntime rejects even sizes; the window is floor((size-1)/2) before, ceil after."""
    x = randn(1, 6, 2, 2)
    alpha, beta, bias, size = 0.01, 0.6, 1.5, 4
    expected = np.empty_like(x)
    for c in range(6):
        window = x[:, max(0, c - 1):min(6, c + 3)]
        expected[:, c] = x[:, c] / (bias + alpha / size * (window ** 2).sum(axis=1)) ** beta
    model = norm_model("LRN", [1, 6, 2, 2], [], opset=13, alpha=alpha, beta=beta, bias=bias, size=size)
    np.testing.assert_allclose(pulsar.load(model).run([x])[0], expected, rtol=1e-5)
