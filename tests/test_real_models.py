"""Real third-party audio models: pulsar against onnxruntime and against TensorFlow's outputs."""
import numpy as np
import pytest

import pulsar
from reference import ort_run
from shared_data import model_path


def assert_close_to_ort(path, feeds, atol=1e-4):
    model = pulsar.load(path)
    got = model.run(feeds)
    want = ort_run(path, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, atol=atol, rtol=1e-4)
    return model


@pytest.mark.parametrize("samples", [1760, 16000])
def test_melspectrogram_symbolic(samples):
    path = model_path("openwakeword", "melspectrogram.onnx")
    model = pulsar.load(path)
    (frames_fact,) = [o.shape for o in model.outputs]
    assert {str(d) for d in frames_fact} >= {"batch_size"}, frames_fact
    assert pulsar.dims.evaluate(frames_fact[2], {"samples": samples}) == (samples - 512) // 160 + 1
    x = (np.random.default_rng(0).standard_normal((1, samples)) * 1000).astype(np.float32)
    assert_close_to_ort(path, {"input": x})


def test_embedding_model():
    path = model_path("openwakeword", "embedding_model.onnx")
    x = np.random.default_rng(1).standard_normal((2, 76, 32, 1)).astype(np.float32)
    model = assert_close_to_ort(path, {"input_1": x})
    assert pulsar.dims.is_symbolic(model.inputs[0].shape[0])


@pytest.mark.parametrize("name", ["hey_jarvis_v0.1.onnx", "alexa_v0.1.onnx"])
def test_wakeword_classifiers(name):
    path = model_path("openwakeword", name)
    x = np.random.default_rng(2).standard_normal((1, 16, 96)).astype(np.float32)
    assert_close_to_ort(path, {pulsar.load(path).inputs[0].name: x})


@pytest.mark.parametrize("name", ["DS_CNN_S", "CNN_M", "CRNN_S", "GRU_S"])
def test_mlkws_against_tensorflow(name):
    path = model_path("mlkws", f"{name}.onnx")
    ref = np.load(model_path("mlkws", "tf_reference.npz"))
    model = pulsar.load(path)
    for clip in ("silence", "noise"):
        x = ref[f"{name}/{clip}/fingerprint"].astype(np.float32)
        (got,) = model.run([x.reshape(model.inputs[0].shape)])
        np.testing.assert_allclose(got, ref[f"{name}/{clip}/softmax"].reshape(got.shape), atol=1e-4)
        (want,) = ort_run(path, {model.inputs[0].name: x.reshape(model.inputs[0].shape)})
        np.testing.assert_allclose(got, want, atol=1e-5)
