"""softmax / log_softmax / hardmax and layer / instance / batch norm kernels against onnxruntime
(one-node models, float32) and numpy float64 formulas."""
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from reference import ort_run

pytestmark = pytest.mark.usefixtures("compiled_kernels")   # the Numba kernels, not twins

try:
    from pulsar.kernels import norm, softmax
except ImportError:  # repo not installed: import the kernels package from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from kernels import norm, softmax

SETTINGS = settings(max_examples=25, deadline=None)
DTYPES = [np.float32, np.float64]


def run_ort(op, inputs, n_out=1, opset=17, **attrs):
    """Run a one-node float32 model; `inputs` is a list of arrays named in0, in1, ..."""
    names = [f"in{i}" for i in range(len(inputs))]
    outs = [f"out{i}" for i in range(n_out)]
    graph = helper.make_graph(
        [helper.make_node(op, names, outs, **attrs)], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape) for n, a in zip(names, inputs)],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return ort_run(model, {n: a.astype(np.float32) for n, a in zip(names, inputs)})


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_log_softmax(x):
    z = x - x.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def matrix(data, scale_max=100.0):
    rows, cols = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 13))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    scale = data.draw(st.sampled_from([0.1, 1.0, 10.0, scale_max]))
    return (rng.standard_normal((rows, cols)) * scale).astype(np.float32), rng


@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
@SETTINGS
@given(data=st.data())
def test_softmax_family(kind, data):
    x32, _ = matrix(data)
    kernel = {"softmax": softmax.softmax_rows, "log_softmax": softmax.log_softmax_rows}[kind]
    onnx_op = {"softmax": "Softmax", "log_softmax": "LogSoftmax"}[kind]
    ref64 = {"softmax": np_softmax, "log_softmax": np_log_softmax}[kind](x32.astype(np.float64))
    (ort32,) = run_ort(onnx_op, [x32], opset=13, axis=-1)
    for dtype in DTYPES:
        x = x32.astype(dtype)
        out = np.empty_like(x)
        kernel(x, out)
        scale = max(1.0, float(np.abs(ref64).max()))
        tol = 1e-6 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(out, ref64, rtol=tol, atol=tol * scale)
        if dtype == np.float32:
            np.testing.assert_allclose(out, ort32, rtol=1e-5, atol=1e-6 * scale)
        kernel(x, x)  # in place
        np.testing.assert_array_equal(x, out)


def test_softmax_is_stable_for_huge_logits():
    x = np.array([[1e4, 1e4 - 1.0, -1e4], [-3e38, -3e38, 0.0]], np.float32)
    out = np.empty_like(x)
    softmax.softmax_rows(x, out)
    np.testing.assert_allclose(out, np_softmax(x.astype(np.float64)), rtol=1e-6, atol=1e-30)
    softmax.log_softmax_rows(x, out)
    np.testing.assert_allclose(out, np_log_softmax(x.astype(np.float64)), rtol=1e-6)
    assert np.isfinite(out).all()


@SETTINGS
@given(data=st.data())
def test_hardmax_first_max_wins(data):
    x32, _ = matrix(data)
    x32 = np.round(x32)  # creates ties: ONNX picks the first occurrence
    (ort32,) = run_ort("Hardmax", [x32], opset=13, axis=-1)
    for dtype in DTYPES:
        x = x32.astype(dtype)
        out = np.full_like(x, 7)
        softmax.hardmax_rows(x, out)
        expect = np.zeros_like(x)
        expect[np.arange(x.shape[0]), x.argmax(-1)] = 1
        np.testing.assert_array_equal(out, expect)
        np.testing.assert_array_equal(out, ort32)
        softmax.hardmax_rows(x, x)
        np.testing.assert_array_equal(x, expect)


@SETTINGS
@given(data=st.data())
def test_layer_norm_with_mean_and_invstd(data):
    d = data.draw
    shape = (d(st.integers(1, 3)), d(st.integers(1, 4)), d(st.integers(1, 9)))
    axis = d(st.sampled_from([1, 2]))
    eps = d(st.sampled_from([1e-5, 1e-3]))
    rng = np.random.default_rng(d(st.integers(0, 2**32 - 1)))
    offset = d(st.sampled_from([0.0, 50.0]))  # large mean: the two-pass variance stays exact
    x32 = (rng.standard_normal(shape) * 3 + offset).astype(np.float32)
    s32 = rng.standard_normal(shape[axis:]).astype(np.float32)
    b32 = rng.standard_normal(shape[axis:]).astype(np.float32)
    y_ort, mean_ort, inv_ort = run_ort("LayerNormalization", [x32, s32, b32], n_out=3, axis=axis, epsilon=eps)
    rows = int(np.prod(shape[:axis]))
    x64 = x32.astype(np.float64).reshape(rows, -1)
    mean64 = x64.mean(-1)
    inv64 = 1 / np.sqrt(x64.var(-1) + eps)
    y64 = (x64 - mean64[:, None]) * inv64[:, None] * s32.ravel() + b32.ravel()
    for dtype in DTYPES:
        x = x32.astype(dtype).reshape(rows, -1)
        out, mean, inv = np.empty_like(x), np.empty(rows, dtype), np.empty(rows, dtype)
        norm.layer_norm_rows(x, s32.astype(dtype).ravel(), b32.astype(dtype).ravel(), out, eps, mean, inv)
        tol = 2e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(out, y64, rtol=tol, atol=tol * max(1.0, np.abs(y64).max()))
        np.testing.assert_allclose(mean, mean64, rtol=tol)
        np.testing.assert_allclose(inv, inv64, rtol=tol)
        if dtype == np.float32:
            # onnxruntime's float32 statistics lose ~|mean|/std digits; allow for that
            t = 1e-5 * (1 + offset)
            np.testing.assert_allclose(out, y_ort.reshape(rows, -1), rtol=t, atol=t)
            np.testing.assert_allclose(mean, mean_ort.ravel(), rtol=1e-5, atol=1e-6 * np.abs(x32).max())
            np.testing.assert_allclose(inv, inv_ort.ravel(), rtol=t)
        norm.layer_norm_rows(x, s32.astype(dtype).ravel(), b32.astype(dtype).ravel(), x, eps)  # in place
        np.testing.assert_array_equal(x, out)


@SETTINGS
@given(data=st.data())
def test_instance_and_batch_norm(data):
    d = data.draw
    N, C, D1, D2 = d(st.integers(1, 3)), d(st.integers(1, 4)), d(st.integers(1, 4)), d(st.integers(1, 5))
    eps = d(st.sampled_from([1e-5, 1e-2]))
    rng = np.random.default_rng(d(st.integers(0, 2**32 - 1)))
    x32 = (rng.standard_normal((N, C, D1, D2)) * 2 + 1).astype(np.float32)
    scale, bias, mean = (rng.standard_normal(C).astype(np.float32) for _ in range(3))
    var = rng.uniform(0.1, 3.0, C).astype(np.float32)
    (inst_ort,) = run_ort("InstanceNormalization", [x32, scale, bias], epsilon=eps)
    (bn_ort,) = run_ort("BatchNormalization", [x32, scale, bias, mean, var], epsilon=eps)
    x64 = x32.astype(np.float64).reshape(N, C, -1)
    c_ = (slice(None), None)
    inst64 = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + eps) * scale[c_] + bias[c_]
    bn64 = (x64 - mean[c_]) / np.sqrt(var[c_].astype(np.float64) + eps) * scale[c_] + bias[c_]
    for dtype in DTYPES:
        x = x32.astype(dtype).reshape(N, C, -1)
        args = [a.astype(dtype) for a in (scale, bias)]
        tol = 2e-6 if dtype == np.float32 else 1e-12
        out = np.empty_like(x)
        norm.instance_norm(x, *args, out, eps)
        np.testing.assert_allclose(out, inst64, rtol=tol, atol=tol * max(1.0, np.abs(inst64).max()))
        if dtype == np.float32:
            # onnxruntime's float32 mean is off by ~1 ulp of |x|; 1/std amplifies that (L = 1: 1/sqrt(eps))
            amp = np.abs(x32).max() * np.max(np.abs(scale)[None, :] / np.sqrt(x64.var(-1) + eps))
            np.testing.assert_allclose(out, inst_ort.reshape(N, C, -1), rtol=1e-5, atol=1e-5 + 1e-6 * amp)
        out2 = np.empty_like(x)
        norm.batch_norm_inference(x, *args, mean.astype(dtype), var.astype(dtype), out2, eps)
        np.testing.assert_allclose(out2, bn64, rtol=tol, atol=tol * max(1.0, np.abs(bn64).max()))
        if dtype == np.float32:
            np.testing.assert_allclose(out2, bn_ort.reshape(N, C, -1), rtol=1e-5, atol=1e-5)
        xa = x.copy()
        norm.batch_norm_inference(xa, *args, mean.astype(dtype), var.astype(dtype), xa, eps)  # in place
        np.testing.assert_array_equal(xa, out2)
