"""Quantization ops: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearConv.

Oracles: onnx's node tests, onnxruntime, and onnx's ReferenceEvaluator for blocked quantization.
"""
import functools

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import pulsar
from conformance import cases_for, conformance_test
from reference import ort_run
from models import one_node as single_node
from pulsar import dims
from pulsar.errors import InferenceError

KNOWN_FAILING = {}


test_conformance = conformance_test(
    cases_for("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv"), KNOWN_FAILING)


one_node = functools.partial(single_node, opset=21)


RNG = np.random.default_rng(0)
X = (RNG.standard_normal((3, 4, 5)) * 3).astype(np.float32)
F32, U8, I8 = TensorProto.FLOAT, TensorProto.UINT8, TensorProto.INT8


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_per_axis_round_trip_matches_onnxruntime(axis):
    n = X.shape[axis]
    consts = {"s": RNG.uniform(0.01, 0.1, n).astype(np.float32),
              "z": RNG.integers(0, 255, n).astype(np.uint8)}
    quantize = one_node("QuantizeLinear", [("x", F32, list(X.shape))], consts, [U8], axis=axis)
    q = pulsar.load(quantize).run([X])[0]
    np.testing.assert_array_equal(q, ort_run(quantize, {"x": X})[0])
    dequantize = one_node("DequantizeLinear", [("q", U8, list(X.shape))], consts, [F32], axis=axis)
    np.testing.assert_allclose(pulsar.load(dequantize).run([q])[0], ort_run(dequantize, {"q": q})[0],
                               rtol=1e-6)


@pytest.mark.parametrize("axis,block", [(1, 2), (2, 3), (0, 2)])
def test_blocked_round_trip_matches_the_onnx_reference(axis, block):
    shape = list(X.shape)
    shape[axis] = -(-shape[axis] // block)
    consts = {"s": RNG.uniform(0.01, 0.1, shape).astype(np.float32),
              "z": RNG.integers(-100, 100, shape).astype(np.int8)}
    quantize = one_node("QuantizeLinear", [("x", F32, list(X.shape))], consts, [I8], axis=axis,
                        block_size=block)
    q = pulsar.load(quantize).run([X])[0]
    np.testing.assert_array_equal(q, ReferenceEvaluator(quantize).run(None, {"x": X})[0])
    dequantize = one_node("DequantizeLinear", [("q", I8, list(X.shape))], consts, [F32], axis=axis,
                          block_size=block)
    want = ReferenceEvaluator(dequantize).run(None, {"q": q})[0]
    np.testing.assert_allclose(pulsar.load(dequantize).run([q])[0], want, rtol=1e-6)


def test_quantized_shape_is_symbolic():
    model = one_node("QuantizeLinear", [("x", F32, [1, "S", 4])],
                     {"s": np.full(4, 0.1, np.float32), "z": np.zeros(4, np.int8)}, [I8], axis=2)
    loaded = pulsar.load(model)
    assert loaded.outputs[0].shape == (1, dims.sym("S"), 4)
    assert loaded.outputs[0].dtype == np.int8


def test_quantize_errors_name_the_inputs():
    mismatch = one_node("QuantizeLinear", [("x", F32, [2, 3])],
                        {"s": np.float32(0.1), "z": np.uint8(0)}, [I8], output_dtype=I8)
    with pytest.raises(InferenceError, match="output_dtype int8 differs from y_zero_point's dtype uint8"):
        pulsar.load(mismatch)
    bad_axis = one_node("QuantizeLinear", [("x", F32, [2, 3])], {"s": np.ones(2, np.float32)}, [U8])
    with pytest.raises(InferenceError, match=r"y_scale must be a scalar or 1-D of length x.shape\[1\] = 3"):
        pulsar.load(bad_axis)
    bad_block = one_node("QuantizeLinear", [("x", F32, [2, 6])], {"s": np.ones((2, 2), np.float32)}, [U8],
                         axis=1, block_size=2)
    with pytest.raises(InferenceError, match=r"y_scale must have shape \[2,3\]"):
        pulsar.load(bad_block)


def test_dynamic_quantize_matches_onnxruntime():
    model = one_node("DynamicQuantizeLinear", [("x", F32, list(X.shape))], {}, [U8, F32, U8], opset=11)
    for x in (X, np.abs(X), -np.abs(X), np.zeros_like(X)):
        got, want = pulsar.load(model).run([x]), ort_run(model, {"x": x})
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qlinearconv_matches_onnxruntime(dtype):
    info = np.iinfo(dtype)
    x = RNG.integers(info.min, info.max, (1, 4, 7, 6)).astype(dtype)
    w = RNG.integers(info.min if dtype == np.int8 else 0, info.max, (6, 2, 3, 3)).astype(dtype)
    consts = {"xs": np.float32(0.05), "xz": dtype(3), "w": w,
              "ws": RNG.uniform(0.001, 0.01, 6).astype(np.float32), "wz": np.zeros(6, dtype),
              "ys": np.float32(0.3), "yz": dtype(5), "b": RNG.integers(-500, 500, 6).astype(np.int32)}
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    model = one_node("QLinearConv", [("x", elem, list(x.shape))], consts, [elem], opset=10, group=2,
                     pads=[1, 0, 1, 2], strides=[2, 1])
    got = pulsar.load(model).run([x])[0]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, ort_run(model, {"x": x})[0])
