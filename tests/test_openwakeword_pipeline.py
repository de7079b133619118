"""openWakeWord's pipeline built from pulsar's streaming stages (streaming/wakeword.py) against
onnxruntime and against openWakeWord 0.6.0's own scores (shared/audio/README.md)."""
import math
import wave

import numpy as np
import pytest

import pulsar
from pulsar import streaming
from pulsar.streaming.wakeword import openwakeword, score_chunks
from shared_data import audio_dir, model_path, openwakeword_reference
from reference import ort_session

WAVS = ["stream_hey_jarvis_then_alexa", "tts_hey_jarvis_en-gb_130", "tts_alexa_en-us_160",
        "turn_on_the_office_lights_test_clip"]
CLASSIFIERS = {"hey_jarvis": "hey_jarvis_v0.1", "alexa": "alexa_v0.1"}


def read_wav(stem):
    path = audio_dir() / f"{stem}.wav"
    if not path.exists():
        pytest.skip(f"shared audio {path} not present")
    with wave.open(str(path), "rb") as f:
        assert (f.getframerate(), f.getsampwidth(), f.getnchannels()) == (16000, 2, 1)
        return np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16)


@pytest.fixture(scope="module")
def ww():
    paths = {name: model_path("openwakeword", f"{stem}.onnx") for name, stem in CLASSIFIERS.items()}
    return openwakeword(model_path("openwakeword", "melspectrogram.onnx"),
                        model_path("openwakeword", "embedding_model.onnx"), paths)


@pytest.fixture(scope="module")
def reference():
    return openwakeword_reference()


def stream_chunks(ww, samples):
    """Push whole chunks (as openWakeWord does), then flush; {name: {push index: score}}, the
    flush counting as the push after the last chunk."""
    s, n = ww.session(), len(samples) // ww.chunk
    emitted = {name: {} for name in ww.names}
    for t in range(n + 1):
        out = s.push(samples[t * ww.chunk:(t + 1) * ww.chunk]) if t < n else s.flush()
        for name, scores in out.items():
            assert len(scores) <= 1, "one score per chunk at most"
            if len(scores):
                emitted[name][t] = float(scores[0])
    return emitted


# -- the stages ---------------------------------------------------------------------------------
def test_the_mel_model_cannot_pulse_and_says_why():
    mel = pulsar.load(model_path("openwakeword", "melspectrogram.onnx"), symbols={"batch_size": 1})
    with pytest.raises(pulsar.PulseError, match=r"ReduceMax.*window mode"):
        streaming.pulse(mel, symbol="samples", pulse=1280)


def test_the_mel_window_stage_runs_the_model_on_each_window():
    path = model_path("openwakeword", "melspectrogram.onnx")
    samples = read_wav("tts_alexa_en-us_160")[:12800].astype(np.float32)
    wm = streaming.window(pulsar.load(path, symbols={"batch_size": 1}), size=1760, hop=1280)
    s = wm.session()
    got = np.concatenate([s.push(samples[None, i:i + 700])[0] for i in range(0, 12800, 700)], 2)
    ref = ort_session(path)
    expected = [ref.run(None, {"input": samples[None, e - 1760:e]})[0]
                for e in range(2560, 12801, 1280)]
    assert got.shape == (1, 1, 8 * len(expected), 32)
    np.testing.assert_allclose(got, np.concatenate(expected, 2), rtol=1e-4, atol=2e-3)


def test_the_pulsed_embedding_equals_window_recomputation():
    """Pulse 8 mel frames: embedding j is the model on mel frames [8j, 8j + 76)."""
    emb_path = model_path("openwakeword", "embedding_model.onnx")
    mel = ort_session(model_path("openwakeword", "melspectrogram.onnx"))
    samples = read_wav("tts_hey_jarvis_en-gb_130")[:32000].astype(np.float32)
    frames = mel.run(None, {"input": samples[None]})[0][0, 0] / 10 + 2      # [197, 32]
    frames = np.ascontiguousarray(frames[:, :, None][None])                 # [1, 197, 32, 1]
    emb = pulsar.load(emb_path, inputs={"input_1": "1,76,32,1"})
    pm = streaming.pulse(emb, input="input_1", axis=1, pulse=8)
    assert (pm.delay, pm.output_pulses) == ([9], [1])
    s = pm.session(skip_warmup=True)
    pieces = [s.push(frames[:, i:i + 13])[0] for i in range(0, frames.shape[1], 13)]
    got = np.concatenate(pieces + [s.flush()[0]], 1)
    ref = ort_session(emb_path)
    windows = range(0, frames.shape[1] - 76 + 1, 8)
    expected = np.concatenate([ref.run(None, {"input_1": frames[:, j:j + 76]})[0]
                               for j in windows], 1)
    assert got.shape == expected.shape == (1, len(windows), 1, 96)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


# -- the whole pipeline against openWakeWord ----------------------------------------------------
def test_the_pipeline_derives_openwakewords_numbers(ww):
    assert (ww.mel.size, ww.mel.hop, ww.mel_frames) == (1760, 1280, 8)
    assert (ww.embedding_window, ww.stride, ww.preroll, ww.embedding.delay) == (76, 8, 4, [9])
    assert [(c.size, c.hop) for c in ww.classifiers] == [(16, 1), (16, 1)]
    assert ww.latency == 1280     # one chunk: see streaming/wakeword.py


def test_float_audio_in_unit_range_scores_as_int16(ww, reference):
    """Floats in [-1, 1] are scaled by 32768: the same scores as the int16 samples."""
    samples = read_wav("tts_hey_jarvis_en-gb_130")
    as_int = stream_chunks(ww, samples)["hey_jarvis"]
    as_float = stream_chunks(ww, samples.astype(np.float32) / 32768)["hey_jarvis"]
    assert as_float.keys() == as_int.keys()
    np.testing.assert_allclose([as_float[t] for t in as_int], list(as_int.values()), atol=1e-5)
    assert max(as_float.values()) > 0.9


def test_scores_come_out_when_the_stages_say(ww):
    samples = read_wav("tts_hey_jarvis_en-gb_130")
    emitted = stream_chunks(ww, samples)["hey_jarvis"]
    first = ww.samples_needed(1) // ww.chunk - 1
    assert min(emitted) == first
    n = len(samples) // ww.chunk
    assert sorted(emitted) == list(range(first, n + 1))    # then one per chunk, and the flush


def reference_warmup(ww):
    """Chunks whose openWakeWord score depends on its seeded buffers or forced zeros.

    openWakeWord's embedding for chunk c reads mel frames [8c - 76, 8c) counted from the first
    full-window chunk's frames; before ceil(76 / 8) = 10 chunks that window reaches into its
    buffer seeded with ones (and the short first chunk's frames). The classifier reads the
    newest 16 embeddings, so the first score built only from real audio is chunk 10 + 16 - 1 =
    25 (which also covers the seeded noise embeddings, < 16 chunks, and the 5 forced zeros).
    Our own first scores differ there too: pulsar pre-rolls silence where openWakeWord has ones.
    """
    return math.ceil(ww.embedding_window / ww.mel_frames) + ww.classifiers[0].size - 1


@pytest.mark.parametrize("stem", WAVS)
def test_the_pipeline_reproduces_openwakewords_scores(ww, reference, stem):
    assert_reproduces_reference(ww, reference, stem)


@pytest.mark.slow
def test_the_compiled_pipeline_reproduces_openwakewords_scores(reference, monkeypatch):
    """The same pipeline with compiled plans (the default outside the test suite)."""
    monkeypatch.setenv("PULSAR_TIER", "compiled")
    compiled = openwakeword(model_path("openwakeword", "melspectrogram.onnx"),
                            model_path("openwakeword", "embedding_model.onnx"),
                            {name: model_path("openwakeword", f"{stem}.onnx")
                             for name, stem in CLASSIFIERS.items()})
    session_plan = compiled.embedding.session().plan
    for plan in [compiled.mel.model.plan, session_plan] + [c.model.plan for c in compiled.classifiers]:
        interpreted = [n.op.onnx_name for n, where in plan.execution() if where == "interpreted"]
        assert interpreted in ([], ["If"]), interpreted   # a classifier's verifier branch
    assert_reproduces_reference(compiled, reference, WAVS[0])


def assert_reproduces_reference(ww, reference, stem):
    samples = read_wav(stem)
    emitted = stream_chunks(ww, samples)
    shift = ww.latency // ww.chunk          # pushes between a chunk and its score
    warm = reference_warmup(ww)
    assert warm == 25
    for name, model_stem in CLASSIFIERS.items():
        ref = reference[f"{stem}/{model_stem}"]
        assert len(ref) == len(samples) // ww.chunk
        compared = {t - shift: v for t, v in emitted[name].items() if t - shift >= warm}
        assert sorted(compared) == list(range(warm, len(ref)))     # every chunk after warm-up
        ours = np.array([compared[c] for c in sorted(compared)])
        theirs = ref[warm:]
        diff = float(np.max(np.abs(ours - theirs))) if len(ours) else 0.0
        print(f"{stem}/{model_stem}: {len(ours)} chunks after warm-up, max |diff| {diff:.2e}, "
              f"above 0.5 ours {[int(c) for c in np.nonzero(ours > 0.5)[0] + warm]} "
              f"reference {[int(c) for c in np.nonzero(theirs > 0.5)[0] + warm]}")
        assert diff < 1e-3
        np.testing.assert_array_equal(ours > 0.5, theirs > 0.5)


def test_score_chunks_aligns_scores_with_the_reference(ww, reference):
    samples = read_wav("stream_hey_jarvis_then_alexa")[:1280 * 140]
    scores = score_chunks(ww, samples)
    warm = reference_warmup(ww)
    ref = reference["stream_hey_jarvis_then_alexa/hey_jarvis_v0.1"][:140]
    assert np.isnan(scores["hey_jarvis"][:warm - 1]).all()
    np.testing.assert_allclose(scores["hey_jarvis"][warm:], ref[warm:], atol=1e-3)
    assert list(np.nonzero(scores["hey_jarvis"] > 0.5)[0]) == [120, 121, 122, 123]


def test_the_wakeword_session_resets_restores_and_rejects_bad_audio(ww):
    samples = read_wav("tts_hey_jarvis_en-gb_130")       # 37 chunks: scores from chunk 25 on

    def scores(session, start, stop, step):
        outs = [session.push(samples[i:min(i + step, stop)]) for i in range(start, stop, step)]
        return {name: np.concatenate([o[name] for o in outs]) for name in ww.names}

    s = ww.session()
    head = scores(s, 0, 20000, 1000)
    snap = s.snapshot()
    tail = scores(s, 20000, len(samples), 3000)
    with pytest.raises(pulsar.InputError, match="1-D"):
        s.push(samples[:2000].reshape(-1, 2))
    for bad in (samples[:1280].astype(np.uint8), samples[:1280].astype(np.int32),
                np.full(1280, 1000.0, np.float32)):          # int16 values held as floats
        with pytest.raises(pulsar.AudioError):
            s.push(bad)
    s.restore(snap)
    again = scores(s, 20000, len(samples), 700)
    s.reset()
    replay = scores(s, 0, len(samples), 1280)
    for name in ww.names:
        assert len(head[name]) == 0 and len(tail[name]) == 12
        np.testing.assert_array_equal(again[name], tail[name])
        np.testing.assert_array_equal(replay[name], tail[name])
