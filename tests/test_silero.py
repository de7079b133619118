"""The six silero-vad files as they ship: whole loads at both sample rates, and streams over
the shared speech recording in explicit-state mode, against onnxruntime driven the way
silero's own Python drives it (state in, state out, the last 64 (32) samples of each input
prepended to the next 512 (256)-sample chunk)."""
import wave

import numpy as np
import pytest

import pulsar
from pulsar import streaming
from shared_data import audio_dir, model_path
from reference import ort_session

CHUNK = {16000: (512, 64), 8000: (256, 32)}       # samples per call, context samples
# file -> (state {input: output}, takes sr, 16 kHz only). The 16 kHz-only files stream the
# 8 kHz signal in 16 kHz-sized chunks: any signal does for the comparison.
FILES = {
    "silero_vad.onnx": ({"state": "stateN"}, True, False),
    "silero_vad_op18_ifless.onnx": ({"state": "stateN"}, True, False),
    "silero_vad_16k_op15.onnx": ({"state": "stateN"}, True, True),
    "silero_vad_half.onnx": ({"state": "stateN"}, False, True),
    "silero_vad_openvino_16k.onnx": ({"state": "stateN"}, False, True),
    "silero_vad_16k_sequence.onnx": ({"h": "hn", "c": "cn"}, False, True),
}


def recording(rate: int) -> np.ndarray:
    path = audio_dir() / "turn_on_the_office_lights_test_clip.wav"
    if not path.exists():
        pytest.skip(f"shared audio {path} not present")
    with wave.open(str(path), "rb") as f:
        x = np.frombuffer(f.readframes(f.getnframes()), np.int16).astype(np.float32) / 32768
    if rate == 8000:     # a 5-tap low-pass, then every second sample
        x = np.convolve(x, np.array([1, 4, 6, 4, 1], np.float32) / 16, mode="same")[::2]
    return np.ascontiguousarray(x, dtype=np.float32)


def setup(name, rate):
    state, takes_sr, only_16k = FILES[name]
    chunk, context = CHUNK[16000 if only_16k else rate]
    sr = 16000 if only_16k else rate
    return state, ({"sr": sr} if takes_sr else {}), chunk, context


def ort_stream(path, signal, state, constants, chunk, context):
    """Per-chunk first outputs from onnxruntime, state looped and context prepended by hand."""
    session = ort_session(path)
    shapes = {i.name: [d if isinstance(d, int) else 1 for d in i.shape] for i in session.get_inputs()}
    states = {i: np.zeros(shapes[i], np.float32) for i in state}
    outputs = [o.name for o in session.get_outputs()]
    history, probs = np.zeros((1, context), np.float32), []
    for start in range(0, len(signal) - chunk + 1, chunk):
        x = np.concatenate([history, signal[None, start:start + chunk]], axis=1)
        feeds = {"input": x, **states, **{k: np.array(v, np.int64) for k, v in constants.items()}}
        outs = dict(zip(outputs, session.run(None, feeds)))
        states = {i: outs[o] for i, o in state.items()}
        history = x[:, -context:]
        probs.append(outs[outputs[0]].reshape(-1))
    return np.concatenate(probs)


def pulsar_stream(model, signal, state, constants, chunk, context):
    sm = streaming.stateful(model, state=state, constants=constants, context=context, chunk=chunk)
    session = sm.session()
    return sm, np.concatenate([session.push(signal[None, start:start + chunk])[0].reshape(-1)
                               for start in range(0, len(signal) - chunk + 1, chunk)])


@pytest.mark.parametrize("rate", [16000, 8000])
@pytest.mark.parametrize("name", list(FILES))
def test_silero_streams_equal_onnxruntime(name, rate):
    path = model_path("silero_vad", name)
    state, constants, chunk, context = setup(name, rate)
    signal = recording(rate)
    want = ort_stream(path, signal, state, constants, chunk, context)
    sm, got = pulsar_stream(pulsar.load(path), signal, state, constants, chunk, context)
    assert got.shape == want.shape == (len(signal) // chunk,)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)
    assert want.max() > 0.5 > want.min()          # the recording holds speech and silence
    text = sm.dump()
    assert f"# context: the last {context} samples" in text
    if constants:
        assert f"# folded: input sr bound to {constants['sr']}" in text
        assert " = If(" not in text                # the sample-rate switch is gone


@pytest.mark.parametrize("name", list(FILES))
@pytest.mark.parametrize("rate", [16000, 8000])
def test_silero_whole_model_loads_unbound_and_matches(name, rate):
    """No symbol or value bound: the decoder's rank-switching If and the sample-rate If stay,
    and run (their branches as optimised plans of their own)."""
    path = model_path("silero_vad", name)
    state, constants, chunk, context = setup(name, rate)
    model = pulsar.load(path)
    rng = np.random.default_rng(rate)
    feeds = {"input": rng.standard_normal((1, chunk + context)).astype(np.float32) * 0.1,
             **{i: rng.standard_normal((2, 1, 128) if i == "state" else (1, 1, 128))
                .astype(np.float32) * 0.1 for i in state},
             **{k: np.array(v, np.int64) for k, v in constants.items()}}
    session = ort_session(path)
    for got, want in zip(model.run(feeds), session.run(None, feeds)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_stateful_binds_the_batch_symbol_and_says_so():
    model = pulsar.load(model_path("silero_vad", "silero_vad_half.onnx"))
    sm = streaming.stateful(model, state={"state": "stateN"})
    assert sm.model.graph.facts["state"].shape == (2, 1, 128)
    assert "# batch=1 bound: state 'state' is f32[2,batch,128] (one stream)" in sm.dump()


def test_compiled_silero_stream_equals_onnxruntime_and_snapshots():
    """sr bound, the sample-rate If folded: one compiled function per chunk, called directly
    by the session; snapshot/restore and reset replay the same probabilities."""
    path = model_path("silero_vad", "silero_vad.onnx")
    state, constants, chunk, context = setup("silero_vad.onnx", 16000)
    signal = recording(16000)[:300 * chunk]
    want = ort_stream(path, signal, state, constants, chunk, context)
    sm = streaming.stateful(pulsar.load(path, compile=True), state=state, constants=constants,
                            context=context, chunk=chunk)
    assert "# execution: 36 of 36 nodes compiled into 1 function(s)" in sm.dump()
    session = sm.session()
    chunks = [signal[None, i:i + chunk] for i in range(0, len(signal), chunk)]
    got = [session.push(c)[0].item() for c in chunks[:150]]
    snap = session.snapshot()
    got += [session.push(c)[0].item() for c in chunks[150:]]
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)
    session.restore(snap)
    replay = [session.push(c)[0].item() for c in chunks[150:]]
    np.testing.assert_array_equal(replay, got[150:])
    session.reset()
    np.testing.assert_array_equal([session.push(c)[0].item() for c in chunks[:10]], got[:10])
