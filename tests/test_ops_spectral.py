"""Spectral ops: DFT, STFT, window generators, MelWeightMatrix.

Oracles: onnx's node tests, onnxruntime and onnx's ReferenceEvaluator. Symbolic facts are
written in S (the streamed axis) and evaluated at several lengths against real output shapes.
"""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import pulsar
from conformance import cases_for, conformance_test
from reference import ort_run
from pulsar import dims
from pulsar.errors import InferenceError

KNOWN_FAILING = {}
F32 = TensorProto.FLOAT


test_conformance = conformance_test(
    cases_for("DFT", "STFT", "HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix"), KNOWN_FAILING)


def one_node(op, inputs, inits=None, opset=17, n_out=1, order=None, **attrs):
    """inputs: [(name, elem type, shape)] fed at run time; inits: {name: array} constants;
    order: the node's input names ('' for a skipped optional input), default inputs + inits."""
    inits = inits or {}
    names = order if order is not None else [n for n, _, _ in inputs] + list(inits)
    node = helper.make_node(op, names, [f"y{i}" for i in range(n_out)], **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(f"y{i}", F32, None) for i in range(n_out)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def i64(v):
    return np.array(v, dtype=np.int64)


def evaluated(shape, **values):
    return tuple(dims.evaluate(d, values) for d in shape)


def test_stft_frame_count_is_symbolic():
    window = np.hanning(400).astype(np.float32)
    model = one_node("STFT", [("x", F32, [1, "S", 1])], {"step": i64(160), "w": window})
    loaded = pulsar.load(model)
    shape = loaded.outputs[0].shape
    assert shape == (1, (dims.sym("S") - 400) // 160 + 1, 201, 2)
    rng = np.random.default_rng(0)
    for s in (400, 559, 560, 1760):
        x = rng.standard_normal((1, s, 1)).astype(np.float32)
        got, want = loaded.run([x])[0], ort_run(model, {"x": x})[0]
        assert got.shape == want.shape == evaluated(shape, S=s)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_stft_frame_length_without_window_two_sided():
    model = one_node("STFT", [("x", F32, [2, "S", 2])], {"step": i64(8), "n": i64(16)},
                     order=["x", "step", "", "n"], onesided=0)
    loaded = pulsar.load(model)
    assert loaded.outputs[0].shape == (2, (dims.sym("S") - 16) // 8 + 1, 16, 2)
    x = np.random.default_rng(1).standard_normal((2, 100, 2)).astype(np.float32)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(loaded.run([x])[0], want, rtol=1e-4, atol=1e-4)


def test_stft_rejects_a_frame_longer_than_the_signal():
    model = one_node("STFT", [("x", F32, [1, 100, 1])], {"step": i64(10), "w": np.ones(200, np.float32)})
    with pytest.raises(InferenceError, match="frame length 200 exceeds the signal length 100"):
        pulsar.load(model)


def test_dft_onesided_length_is_symbolic():
    model = one_node("DFT", [("x", F32, [2, "S", 1])], {"axis": i64(1)}, opset=20,
                     order=["x", "", "axis"], onesided=1)
    loaded = pulsar.load(model)
    assert loaded.outputs[0].shape == (2, dims.sym("S") // 2 + 1, 2)
    for s in (7, 8):
        x = np.random.default_rng(s).standard_normal((2, s, 1)).astype(np.float32)
        got, want = loaded.run([x])[0], ort_run(model, {"x": x})[0]
        assert got.shape == want.shape == evaluated(loaded.outputs[0].shape, S=s)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("complex_input,inverse,onesided", [
    (False, 0, 0), (False, 0, 1), (True, 0, 0), (True, 1, 0), (False, 1, 0)])
@pytest.mark.parametrize("axis,length", [(1, None), (2, None), (1, 4), (2, 9)])
def test_dft_matches_onnxruntime(opset, complex_input, inverse, onesided, axis, length):
    x = np.random.default_rng(3).standard_normal((2, 6, 5, 2 if complex_input else 1)).astype(np.float32)
    inits = {"n": i64(length if length is not None else x.shape[axis])}
    attrs = dict(inverse=inverse, onesided=onesided)
    if opset == 20:
        inits["axis"] = i64(axis)
    else:
        attrs["axis"] = axis
    model = one_node("DFT", [("x", F32, list(x.shape))], inits, opset=opset, **attrs)
    got, want = pulsar.load(model).run([x])[0], ort_run(model, {"x": x})[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_inverse_onesided_dft_follows_the_onnx_reference():
    """irfft of bins that are not Hermitian-consistent differs between runtimes; the onnx
    node tests follow NumPy's irfft, and so does pulsar."""
    x = np.random.default_rng(4).standard_normal((1, 6, 3, 2)).astype(np.float32)
    model = one_node("DFT", [("x", F32, list(x.shape))], {"n": i64(9)}, opset=17, axis=1,
                     inverse=1, onesided=1)
    got = pulsar.load(model).run([x])[0]
    np.testing.assert_allclose(got, ReferenceEvaluator(model).run(None, {"x": x})[0], rtol=1e-5, atol=1e-6)
    assert got.shape == (1, 9, 3, 1)


def test_dft_axis_known_only_at_run_time_keeps_the_rank():
    model = one_node("DFT", [("x", F32, [1, 8, 4, 1]), ("axis", TensorProto.INT64, [])], opset=20,
                     order=["x", "", "axis"], onesided=1)
    loaded = pulsar.load(model)
    assert len(loaded.outputs[0].shape) == 4 and loaded.outputs[0].shape[-1] == 2
    x = np.random.default_rng(5).standard_normal((1, 8, 4, 1)).astype(np.float32)
    assert loaded.run([x, i64(2)])[0].shape == (1, 8, 3, 2)


def test_dft_rejects_the_complex_axis():
    model = one_node("DFT", [("x", F32, [1, 8, 1])], opset=17, axis=2)
    with pytest.raises(InferenceError, match="real/imaginary axis"):
        pulsar.load(model)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
@pytest.mark.parametrize("size", [2, 3, 10, 401])
def test_windows_match_onnxruntime(op, periodic, size):
    model = one_node(op, [], {"n": i64(size)}, periodic=periodic)
    loaded = pulsar.load(model)
    assert loaded.graph.facts["y0"].value is not None      # constant size: folded at analysis
    np.testing.assert_allclose(loaded.run([])[0], ort_run(model, {})[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
def test_symmetric_window_of_one_sample_is_one(op):
    """onnxruntime and onnx's reference give NaN (0/0); PyTorch and SciPy give [1]."""
    model = one_node(op, [], {"n": i64(1)}, periodic=0)
    np.testing.assert_array_equal(pulsar.load(model).run([])[0], [1.0])


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("shape", [[0], [2]])
def test_a_window_size_input_not_of_one_element_is_a_typed_error(op, shape):
    """A fed size tensor of rank 1 passes analysis; empty or longer, its run names the node
    (it was an IndexError, found by the fuzzer)."""
    node = helper.make_node(op, ["n"], ["y0"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("n", TensorProto.INT64, shape)],
                              [helper.make_tensor_value_info("y0", F32, None)])
    loaded = pulsar.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    with pytest.raises(InferenceError, match=f"{op}.*window size must be one integer"):
        loaded.run([np.full(shape, 4, np.int64)])


def test_window_size_from_a_symbolic_shape():
    shape = helper.make_node("Shape", ["x"], ["s"])
    pick = helper.make_node("Gather", ["s", "one"], ["n"])
    window = helper.make_node("HannWindow", ["n"], ["y0"], output_datatype=TensorProto.DOUBLE)
    graph = helper.make_graph([shape, pick, window], "g", [helper.make_tensor_value_info("x", F32, [1, "S"])],
                              [helper.make_tensor_value_info("y0", TensorProto.DOUBLE, None)],
                              [numpy_helper.from_array(i64(1), "one")])
    loaded = pulsar.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert loaded.outputs[0].shape == (dims.sym("S"),)
    assert loaded.outputs[0].dtype == np.float64
    assert loaded.run([np.zeros((1, 12), np.float32)])[0].shape == (12,)


@pytest.mark.parametrize("mels,length,rate,low,high", [
    (8, 16, 8192, 0.0, 4096.0), (40, 512, 16000, 20.0, 7600.0), (32, 400, 16000, 60.0, 3800.0)])
def test_mel_weight_matrix_matches_onnxruntime(mels, length, rate, low, high):
    inits = {"a": i64(mels), "b": i64(length), "c": i64(rate),
             "d": np.array(low, np.float32), "e": np.array(high, np.float32)}
    model = one_node("MelWeightMatrix", [], inits)
    loaded = pulsar.load(model)
    assert loaded.outputs[0].shape == (length // 2 + 1, mels)
    np.testing.assert_array_equal(loaded.run([])[0], ort_run(model, {})[0])
