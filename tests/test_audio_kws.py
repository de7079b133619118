"""Keyword spotting: the MFCC front end and the whole chain (WAV -> MFCC -> ML-KWS model)
against TensorFlow 2.15 running ARM's frozen graphs (shared/audio/kws/tf_kws_reference.npz),
streaming against onnxruntime on the same windows."""
import numpy as np
import pytest

import pulsar
from pulsar import audio
from pulsar.audio.mfcc import mfcc
from shared_data import audio_dir, model_path
from reference import ort_session

WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
STRIDE = {"DS_CNN_S": 320, "CNN_M": 320, "CRNN_S": 320, "GRU_S": 640}


@pytest.fixture(scope="module")
def tf():
    path = audio_dir() / "kws" / "tf_kws_reference.npz"
    if not path.exists():
        pytest.skip(f"{path} not present")
    return np.load(path)


def word(w):
    path = audio_dir() / "kws" / f"{w}.wav"
    if not path.exists():
        pytest.skip(f"shared audio {path} not present")
    return audio.read_wav(path)


@pytest.mark.parametrize("stride", [320, 640])
def test_mfcc_equals_tensorflows(tf, stride):
    name = "GRU_S" if stride == 640 else "DS_CNN_S"
    for w in WORDS:
        x = word(w).astype(np.float32) / 32768          # DecodeWav's scale
        ref = tf[f"{name}/{w}/mfcc"][0]
        got = mfcc(x, stride=stride)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(STRIDE))
def test_a_one_second_clip_gets_tensorflows_softmax(tf, name):
    kws = audio.KeywordSpotter(model_path("mlkws", f"{name}.onnx"))
    assert kws.stride == STRIDE[name]
    worst = 0.0
    for w in WORDS:
        (only,) = kws.labels_over(word(w))
        ref = tf[f"{name}/{w}/softmax"][0]
        worst = max(worst, float(np.abs(only.probabilities - ref).max()))
        assert only.time == 1.0 and only.label == audio.LABELS[int(np.argmax(ref))]
    print(f"{name}: max |softmax - TF| over {len(WORDS)} words {worst:.1e}")
    assert worst < 1e-4


def test_streaming_windows_equal_onnxruntime_on_each_window():
    path = model_path("mlkws", "CRNN_S.onnx")
    x = np.concatenate([np.zeros(5000, np.int16), word("left"), np.zeros(7000, np.int16)])
    kws = audio.KeywordSpotter(path)
    got = [label for i in range(0, len(x), 999) for label in kws.push(x[i:i + 999])]
    sess = ort_session(path)
    feed = sess.get_inputs()[0].name
    f = x.astype(np.float32) / 32768
    assert len(got) == (len(x) - 16000) // (7 * 320) + 1
    for label in got:
        end = int(round(label.time * 16000))
        expected = sess.run(None, {feed: mfcc(f[end - 16000:end]).reshape(1, -1)})[0][0]
        np.testing.assert_allclose(label.probabilities, expected, atol=1e-5)
    assert "left" in [label.label for label in got]


def test_bad_audio_and_a_model_that_is_not_kws():
    kws = audio.KeywordSpotter(model_path("mlkws", "GRU_S.onnx"))
    with pytest.raises(pulsar.AudioError, match="uint8"):
        kws.push(np.zeros(1000, np.uint8))
    with pytest.raises(pulsar.InputError, match="MFCC"):
        audio.KeywordSpotter(model_path("openwakeword", "melspectrogram.onnx"))
