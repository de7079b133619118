"""openWakeWord per 80 ms chunk: onnxruntime driven the way openWakeWord drives it, against
pulsar's streaming pipeline (streaming/wakeword.py), both fed the same real audio.

openWakeWord (utils.AudioFeatures, 0.6.0) runs three models per 1280-sample chunk, each on a
window it slices out of its own buffers: mel on the newest 1760 samples (8 frames), scaled
x/10 + 2; the embedding on the newest 76 mel frames; the classifier on the newest 16
embeddings. Here its buffers are fixed-size arrays (ones for mel, zeros for embeddings, as
openWakeWord seeds mel with ones; its noise-seeded embeddings only matter during warm-up), which
is, if anything, cheaper than its deques and vstacks: onnxruntime gets its best case.

pulsar's pipeline releases each score one chunk later (`WakeWordPipeline.latency`), so push t
of pulsar is compared with push t - 1 of onnxruntime, from the first chunk whose score depends
on real audio only (chunk 25, see tests/test_openwakeword_pipeline.py).
"""
import os
import time
import wave
from pathlib import Path

import numpy as np

from runtimes import REPO, shared_model

CHUNK, MEL_WINDOW, EMB_WINDOW, CLS_WINDOW = 1280, 1760, 76, 16     # openWakeWord's sizes
WARM_CHUNKS = 25        # first chunk whose openWakeWord score reads real audio only
WAV = "stream_hey_jarvis_then_alexa"
CLASSIFIER = "hey_jarvis_v0.1"


def audio_dir() -> Path:
    return Path(os.environ.get("PULSAR_AUDIO", REPO.parent / "shared" / "audio"))


def read_wav(stem=WAV) -> np.ndarray:
    """16 kHz mono int16 samples of a shared recording (FileNotFoundError skips the workload)."""
    path = audio_dir() / f"{stem}.wav"
    if not path.exists():
        raise FileNotFoundError(f"{path} not present")
    with wave.open(str(path), "rb") as f:
        assert (f.getframerate(), f.getsampwidth(), f.getnchannels()) == (16000, 2, 1)
        return np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16)


def model_files() -> dict:
    stems = {"mel": "melspectrogram", "embedding": "embedding_model", "classifier": CLASSIFIER}
    return {role: shared_model("openwakeword", f"{stem}.onnx") for role, stem in stems.items()}


class OrtWakeWord:
    """openWakeWord's per-chunk model calls on three single-threaded onnxruntime sessions."""

    def __init__(self, files: dict, session):
        self.mel, self.emb, self.cls = (session(files[k])
                                        for k in ("mel", "embedding", "classifier"))
        self.names = [s.get_inputs()[0].name for s in (self.mel, self.emb, self.cls)]
        self.reset()

    def reset(self):
        self.audio = np.zeros((1, MEL_WINDOW), np.float32)
        self.frames = np.ones((1, EMB_WINDOW, 32, 1), np.float32)
        self.embeddings = np.zeros((1, CLS_WINDOW, 96), np.float32)

    def push(self, chunk, clock=None) -> float:
        """One 1280-sample chunk in, the score of the audio ending with it out. `clock`, when
        given, is called after each stage (for `stage_times`)."""
        tick = clock or (lambda: None)
        shift(self.audio, chunk.astype(np.float32))
        mel = self.mel.run(None, {self.names[0]: self.audio})[0]         # [1, 1, 8, 32]
        tick()
        shift(self.frames, (mel[0, 0] / 10 + 2)[:, :, None])
        emb = self.emb.run(None, {self.names[1]: self.frames})[0]        # [1, 1, 1, 96]
        tick()
        shift(self.embeddings, emb[0, 0])
        score = float(self.cls.run(None, {self.names[2]: self.embeddings})[0][0, 0])
        tick()
        return score


def shift(buffer, new):
    """Drop the oldest frames of a fixed-size [1, frames, ...] buffer, append `new` frames."""
    b, k = buffer[0], new.shape[0]
    b[:-k] = b[k:].copy()
    b[-k:] = new


class PulsarWakeWord:
    """pulsar's streaming pipeline with the one classifier; push -> newest score or None."""

    def __init__(self, files: dict):
        from pulsar.streaming.wakeword import openwakeword
        self.pipeline = openwakeword(files["mel"], files["embedding"],
                                     {"score": files["classifier"]})
        self.shift = self.pipeline.latency // self.pipeline.chunk
        self.session = self.pipeline.session()

    def reset(self):
        self.session.reset()

    def push(self, chunk):
        scores = self.session.push(chunk)["score"]
        return float(scores[-1]) if len(scores) else None

    def push_by_stage(self, chunk, clock):
        """push, stage by stage through the pipeline's own sessions and adapters, calling
        `clock` after each stage (mel with its cast, embedding with scaling, classifier)."""
        stages, adapters = self.session.inner.sessions, self.pipeline.pipeline.adapters
        outs = stages[0].push(np.asarray(chunk).astype(np.float32)[None])
        clock()
        outs = stages[1].push(adapters[0](outs))
        clock()
        stages[2].push(adapters[1](outs))
        clock()


def stream(runner, samples) -> list:
    """Each whole chunk of `samples` pushed in turn from a fresh state."""
    runner.reset()
    return [runner.push(samples[c * CHUNK:(c + 1) * CHUNK]) for c in range(len(samples) // CHUNK)]


def check_scores(ours: PulsarWakeWord, theirs: OrtWakeWord, samples):
    """Same scores after warm-up (pulsar's shifted by its latency), and onnxruntime's equal
    openWakeWord 0.6.0's own recorded scores when those are present."""
    p, o = stream(ours, samples), stream(theirs, samples)
    n, s = len(o), ours.shift
    got = np.array([p[c + s] for c in range(WARM_CHUNKS, n - s)], dtype=np.float64)
    want = np.array(o[WARM_CHUNKS:n - s])
    np.testing.assert_allclose(got, want, atol=1e-3, err_msg="pulsar vs onnxruntime scores")
    assert want.max() > 0.5, "the recording should trigger the wake word"
    ref_path = audio_dir() / "openwakeword_reference_scores.npz"
    if ref_path.exists():
        ref = np.load(ref_path)[f"{WAV}/{CLASSIFIER}"]
        np.testing.assert_allclose(o[WARM_CHUNKS:], ref[WARM_CHUNKS:n], atol=1e-3,
                                   err_msg="onnxruntime loop vs openWakeWord's recorded scores")
    return float(np.max(np.abs(got - want)))


STAGES = ("mel", "embedding", "classifier")


def stage_times(ours: PulsarWakeWord, theirs: OrtWakeWord, samples, chunks=300) -> dict:
    """Median µs per stage and chunk, runtimes alternating chunk by chunk on the same audio;
    onnxruntime's buffer shifts count in the stage that follows them."""
    times = {r: {k: [] for k in STAGES} for r in ("pulsar", "onnxruntime")}
    next_chunk = chunk_cycle(samples)
    for i in range(chunks):
        chunk = next_chunk()
        for runtime, push in (("pulsar", ours.push_by_stage), ("onnxruntime", theirs.push)):
            marks = [time.perf_counter()]
            push(chunk, clock=lambda: marks.append(time.perf_counter()))
            if i >= chunks // 10:                                # warm-up
                for k, t0, t1 in zip(STAGES, marks, marks[1:]):
                    times[runtime][k].append(t1 - t0)
    return {r: {k: float(np.median(v)) * 1e6 for k, v in per.items()} for r, per in times.items()}


def chunk_cycle(samples):
    """A callable returning the recording's chunks in turn, forever."""
    chunks = [samples[c * CHUNK:(c + 1) * CHUNK] for c in range(len(samples) // CHUNK)]
    state = {"i": -1}

    def next_chunk():
        state["i"] = (state["i"] + 1) % len(chunks)
        return chunks[state["i"]]
    return next_chunk


def build(session):
    """(runtimes {name: one-chunk callable}, check, profile) for benchmarks/workloads.py."""
    files, samples = model_files(), read_wav()
    ours, theirs = PulsarWakeWord(files), OrtWakeWord(files, session)
    info = {}

    def check():
        info["max_abs_diff"] = check_scores(ours, theirs, samples)
        ours.reset()
        theirs.reset()

    def profile(chunks):
        info["stages_us"] = stage_times(ours, theirs, samples, chunks)
    next_p, next_o = chunk_cycle(samples), chunk_cycle(samples)
    runtimes = {"pulsar": lambda: ours.push(next_p()), "onnxruntime": lambda: theirs.push(next_o())}
    return runtimes, check, profile, info
