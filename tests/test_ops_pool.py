import numpy as np
import pytest
from onnx import TensorProto, helper

import pulsar
from reference import ort_run
from conformance import cases_for, conformance_test
from pulsar import dims
from pulsar.errors import InferenceError

KNOWN_FAILING = {}

OPS = ("MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool",
       "MaxUnpool", "RoiAlign")


test_conformance = conformance_test(cases_for(*OPS), KNOWN_FAILING)


def pool_model(op, x_shape, outputs=("y",), opset=19, **attrs):
    node = helper.make_node(op, ["x"], list(outputs), **attrs)
    types = [TensorProto.FLOAT, TensorProto.INT64]
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info(o, t, None) for o, t in zip(outputs, types)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])



CASES = [
    ("MaxPool", dict(kernel_shape=[3], strides=[2], pads=[1, 1], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[2], strides=[3], pads=[0, 1], ceil_mode=1)),   # last window in pad
    ("MaxPool", dict(kernel_shape=[3], strides=[2], auto_pad="SAME_UPPER")),
    ("MaxPool", dict(kernel_shape=[2], strides=[2], dilations=[2])),
    ("AveragePool", dict(kernel_shape=[4], strides=[3], pads=[2, 2], ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[3], strides=[2], pads=[1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3], strides=[2], auto_pad="SAME_LOWER")),
    ("LpPool", dict(kernel_shape=[3], strides=[2], pads=[1, 0], p=3)),
]


@pytest.mark.parametrize("op,attrs", CASES)
def test_symbolic_length_matches_onnxruntime(op, attrs):
    model = pool_model(op, [1, 3, "S"], **attrs)
    loaded = pulsar.load(model)
    out_len = loaded.graph.facts["y"].shape[2]
    assert dims.symbols(out_len) == {"S"}
    for s in range(5, 15):
        x = np.random.default_rng(s).standard_normal((1, 3, s)).astype(np.float32)
        expected = ort_run(model, {"x": x})[0]
        assert dims.evaluate(out_len, {"S": s}) == expected.shape[2], s
        np.testing.assert_allclose(loaded.run([x])[0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("storage_order", [0, 1])
def test_maxpool_indices_2d_match_onnxruntime(storage_order):
    model = pool_model("MaxPool", [2, 3, 7, 9], outputs=("y", "i"), kernel_shape=[3, 2],
                       strides=[2, 2], pads=[1, 0, 1, 1], storage_order=storage_order)
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 9)).astype(np.float32)
    for got, expected in zip(pulsar.load(model).run([x]), ort_run(model, {"x": x})):
        np.testing.assert_array_equal(got, expected)


def test_maxpool_3d_and_int8():
    model = pool_model("MaxPool", [1, 2, 5, 6, 7], kernel_shape=[2, 3, 2], strides=[1, 2, 2])
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 6, 7)).astype(np.float32)
    np.testing.assert_array_equal(pulsar.load(model).run([x])[0], ort_run(model, {"x": x})[0])
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info("x", TensorProto.INT8, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.INT8, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    xi = np.arange(-8, 8, dtype=np.int8).reshape(1, 1, 4, 4)
    got = pulsar.load(model).run([xi])[0]
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, ort_run(model, {"x": xi})[0])


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
def test_global_pools_have_symbolic_free_shapes(op):
    model = pool_model(op, ["N", 4, "S", 3])
    loaded = pulsar.load(model)
    assert loaded.graph.facts["y"].shape == (dims.sym("N"), 4, 1, 1)
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.run([x])[0], ort_run(model, {"x": x})[0], rtol=1e-5)


def test_missing_kernel_shape_is_a_clear_error():
    with pytest.raises(pulsar.ModelLoadError, match="required attribute 'kernel_shape'"):
        pulsar.load(pool_model("MaxPool", [1, 1, 8]))


def test_window_larger_than_input_is_a_clear_error():
    with pytest.raises(InferenceError, match="too small for the window"):
        pulsar.load(pool_model("AveragePool", [1, 1, 3], kernel_shape=[5]))


def test_indices_for_3d_pooling_fail_clearly():
    with pytest.raises(InferenceError, match="Indices output is supported for 1-D and 2-D"):
        pulsar.load(pool_model("MaxPool", [1, 1, 4, 4, 4], outputs=("y", "i"), kernel_shape=[2, 2, 2]))


@pytest.mark.parametrize("op,attrs", [
    ("AveragePool", dict(kernel_shape=[25, 5], strides=[2, 2])),        # DS-CNN's global pool
    ("AveragePool", dict(kernel_shape=[7, 3], count_include_pad=1)),
    ("MaxPool", dict(kernel_shape=[7, 3], strides=[3, 1])),
    ("AveragePool", dict(kernel_shape=[40])),                            # 1-D
])
def test_whole_input_window_matches_onnxruntime(op, attrs):
    """A window as large as the input runs as one flat reduction per channel."""
    spatial = [40] if len(attrs["kernel_shape"]) == 1 else list(attrs["kernel_shape"])
    x = np.random.default_rng(0).standard_normal([2, 5, *spatial]).astype(np.float32)
    x[1, 2].flat[3] = np.nan
    model = pool_model(op, list(x.shape), **attrs)
    loaded = pulsar.load(model)
    pool = loaded.graph.nodes[0].op
    np.testing.assert_allclose(loaded.run([x])[0], ort_run(model, {"x": x})[0], rtol=1e-5, atol=1e-6)
    assert pool.concrete_geometry(x.shape)[2]
