"""pulsar.audio.VAD against silero-vad's reference timestamps (shared/audio, produced by
silero-vad 6.2.3 on onnxruntime probabilities of silero_vad.onnx) and onnxruntime itself."""
import json

import numpy as np
import pytest

import pulsar
from pulsar import audio
from shared_data import audio_dir, model_path
from reference import ort_session

CLIPS = ["turn_on_the_office_lights_test_clip", "stream_hey_jarvis_then_alexa"]


@pytest.fixture(scope="module")
def vad():
    return audio.VAD(model_path("silero_vad", audio.DEFAULT_VAD_FILE))


@pytest.fixture(scope="module")
def reference():
    path = audio_dir() / "silero_reference_timestamps.json"
    if not path.exists():
        pytest.skip(f"{path} not present")
    return json.loads(path.read_text())["clips"]


def wav(stem):
    path = audio_dir() / f"{stem}.wav"
    if not path.exists():
        pytest.skip(f"shared audio {path} not present")
    return path


def ort_probabilities(x, rate, n_windows, file="silero_vad.onnx"):
    """silero's OnnxWrapper (default file): window + context, state carried."""
    s = ort_session(model_path("silero_vad", file))
    w, c = {16000: (512, 64), 8000: (256, 32)}[rate]
    state, context, out = np.zeros((2, 1, 128), np.float32), np.zeros(c, np.float32), []
    for i in range(n_windows):
        feed = np.concatenate([context, x[i * w:(i + 1) * w]])[None]
        p, state = s.run(None, {"input": feed, "state": state, "sr": np.array(rate, np.int64)})
        context = feed[0, -c:]
        out.append(float(p[0, 0]))
    return np.array(out)


@pytest.mark.parametrize("stem", CLIPS)
def test_speech_timestamps_equal_silero_reference(vad, reference, stem):
    """Exact: the file in use gives the default file's probabilities to ~1e-6, and no window
    lies that close to a threshold on these recordings."""
    assert vad.speech_timestamps(wav(stem)) == reference[stem]


def test_the_default_file_once_it_loads(reference):
    try:
        vad = audio.VAD(model_path("silero_vad", "silero_vad.onnx"))
        vad.probabilities(np.zeros(512, np.float32))
    except pulsar.InferenceError as e:
        pytest.skip(f"silero_vad.onnx does not load yet: {str(e)[:80]}")
    assert vad.speech_timestamps(wav(CLIPS[1])) == reference[CLIPS[1]]


def test_probabilities_match_onnxruntime_on_the_default_file(vad):
    x = audio.read_wav(wav(CLIPS[1])).astype(np.float32) / 32768
    got = vad.probabilities(x)
    assert len(got) == -(-len(x) // 512)
    np.testing.assert_allclose(got[:300], ort_probabilities(x, 16000, 300), atol=1e-5)


def test_8khz_uses_256_sample_windows_and_32_of_context(vad):
    """Against onnxruntime on the same file: at 8 kHz the op18 file's own probabilities differ
    from silero_vad.onnx's (by up to 0.24 on speech, under onnxruntime too)."""
    x = audio.read_wav(wav(CLIPS[1]))[::2].astype(np.float32) / 32768    # as if 8 kHz
    got = vad.probabilities(x, sampling_rate=8000)
    np.testing.assert_allclose(got[:300], ort_probabilities(x, 8000, 300, audio.DEFAULT_VAD_FILE),
                               atol=1e-5)


def test_int16_float_and_seconds(vad, reference):
    x = audio.read_wav(wav(CLIPS[1]))
    assert vad.speech_timestamps(x) == vad.speech_timestamps(x / 32768) == reference[CLIPS[1]]
    seconds = vad.speech_timestamps(x, return_seconds=True)
    assert seconds == [{"start": round(s["start"] / 16000, 1), "end": round(s["end"] / 16000, 1)}
                       for s in reference[CLIPS[1]]]


def test_a_48khz_signal_is_decimated_as_silero_does(vad, reference):
    x = np.repeat(audio.read_wav(wav(CLIPS[1])), 3)     # x[::3] gives the 16 kHz signal back
    assert vad.speech_timestamps(x, sampling_rate=48000) == [
        {k: 3 * v for k, v in s.items()} for s in reference[CLIPS[1]]]


def test_the_iterator_emits_the_reference_segments_as_events(vad, reference):
    """silero's VADIterator opens at the same window as get_speech_timestamps and closes at the
    same end when segments are far apart (pad < half the gap, none dropped as too short)."""
    x = audio.read_wav(wav(CLIPS[1]))
    it = vad.iterator()
    events = [e for i in range(0, len(x), 1000) for e in it.push(x[i:i + 1000])]
    starts = [e["start"] for e in events if "start" in e]
    ends = [e["end"] for e in events if "end" in e]
    ref = reference[CLIPS[1]]
    assert starts == [s["start"] for s in ref]
    assert ends == [s["end"] for s in ref[:len(ends)]] and len(ends) >= len(ref) - 1
    it.reset()
    assert it(x[:512].astype(np.float32) / 32768) == events[0] == {"start": 0}   # fresh again


@pytest.mark.parametrize("bad, kwargs, match", [
    (np.full(16000, 128, np.uint8), {}, "uint8"),
    (np.zeros(16000, np.int64), {}, "int64"),
    (np.zeros(16000, np.float32), {"sampling_rate": 44100}, "44100 Hz"),
    (np.full(16000, 2.0, np.float32), {}, r"\[-1, 1\]"),
])
def test_bad_audio_is_refused_with_a_typed_error(vad, bad, kwargs, match):
    with pytest.raises(pulsar.AudioError, match=match):
        vad.speech_timestamps(bad, **kwargs)


def test_a_file_at_another_rate_than_announced_is_refused(vad, tmp_path):
    import wave
    path = tmp_path / "8k.wav"
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(8000)
        f.writeframes(np.zeros(8000, np.int16).tobytes())
    with pytest.raises(pulsar.AudioError, match="sampling_rate=8000"):
        vad.speech_timestamps(path)
    assert vad.speech_timestamps(path, sampling_rate=8000) == []


def test_a_window_of_the_wrong_size_and_a_missing_file(vad, tmp_path):
    with pytest.raises(pulsar.AudioError, match="512 samples"):
        vad.iterator()(np.zeros(500, np.float32))
    with pytest.raises(pulsar.ModelLoadError, match="not found"):
        audio.VAD(tmp_path / "missing.onnx")
