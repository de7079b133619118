"""openWakeWord's streaming pipeline, derived from its ONNX models by pulsar's streaming stages.

openWakeWord streams by hand, with buffer sizes written into its code. Here each model is a
stage and the sizes come out of the models and the stages:

  samples -> mel        window mode: the model clips at (window max - 80 dB), a ReduceMax over
                        the whole window, so it cannot be pulsed; it runs on 1760 samples every
                        1280 (the chunk plus 480 samples of context) -> 8 frames per chunk
          -> x/10 + 2   openWakeWord's post-scaling (not part of the ONNX model)
          -> embedding  pulsed along mel frames, 8 per pulse; the model was exported for 76
                        frames, and the pulse transform gives each of its convs a small delay
                        line (68 frames of history in all): one embedding per 8 frames
          -> classifier window mode, 16 embeddings, hop 1; one per wake word, in parallel

Alignment with openWakeWord: its embedding windows end at chunk boundaries, i.e. start at mel
frame 8c - 76; a pulsed model's windows start at multiples of its stride (8). A pre-roll of
76 % 8 = 4 silent frames on the embedding stream makes the two grids coincide. The embedding
window's last frame then sits 4 frames before a pulse boundary, so each score is released one
chunk after the chunk it ends at: `latency` computes this from the stages.
"""
import numpy as np

import pulsar
from pulsar.audio.samples import as_int16_values
from pulsar.errors import InputError, PulseError

from .pipeline import Parallel, Pipeline
from .session import pulse
from .window import window

CHUNK = 1280        # samples per step in openWakeWord (80 ms at 16 kHz)
MEL_CONTEXT = 480   # history per mel window: 3 hops of 160 keep every frame on the 160-sample
                    # grid from the stream start (1760 = 7 * 160 + 512 + 128 unused samples)


class WakeWordPipeline:
    """mel (window) -> scaling -> embedding (pulsed) -> classifiers (window), see module doc.

    mel, embedding: anything `pulsar.load` takes; classifiers: {name: model source}.
    """

    def __init__(self, mel, embedding, classifiers: dict, chunk=CHUNK, mel_context=MEL_CONTEXT):
        if not classifiers:
            raise PulseError("give at least one classifier, e.g. {'alexa': 'alexa_v0.1.onnx'}")
        self.chunk = chunk
        mel, _ = _batch_of_one(mel, "mel")
        self.mel = window(mel, size=chunk + mel_context, hop=chunk)
        mel_out = self.mel.model.graph.facts[self.mel.model.graph.outputs[0]]
        self.mel_frames = mel_out.shape[self.mel.out_axes[0]]         # per chunk
        emb, emb_input = _batch_of_one(embedding, "embedding")
        self.embedding_window = emb.graph.facts[emb_input].shape[1]    # frames it was exported for
        self.preroll = self.embedding_window % self.mel_frames
        self.embedding = pulse(emb, input=emb_input, axis=1, pulse=self.mel_frames).configured(
            skip_warmup=True, preroll=self.preroll)
        self.stride = self.embedding.pulse // self.embedding.output_pulses[0]
        self.names = list(classifiers)
        self.classifiers = [_classifier(source) for source in classifiers.values()]
        self.pipeline = Pipeline([self.mel, self.embedding, Parallel(self.classifiers)],
                                 adapters=[scaled_mel, embeddings_as_sequence])

    def session(self) -> "WakeWordSession":
        return WakeWordSession(self)

    # -- timing --------------------------------------------------------------------------
    def samples_needed(self, m, classifier=0) -> int:
        """Samples pushed before a classifier's first `m` scores are out."""
        return self._through_stages(m, self._embedding_needed, classifier)

    def samples_read(self, m, classifier=0) -> int:
        """Samples a classifier's first `m` scores depend on (the last one ends there)."""
        return self._through_stages(m, self._embedding_read, classifier)

    @property
    def latency(self) -> int:
        """Samples between the last sample a score depends on and the push releasing it (window
        stages release a window as soon as it is complete: the latency is the embedding's)."""
        period = self.mel_frames * max(c.hop for c in self.classifiers)
        return max(self.samples_needed(m, c) - self.samples_read(m, c)
                   for c in range(len(self.classifiers)) for m in range(1, 2 * period + 2))

    def _through_stages(self, m, embedding_frames, classifier):
        windows = _window_needed(self.classifiers[classifier], m, 1)
        return _window_needed(self.mel, embedding_frames(windows), self.mel_frames)

    def _embedding_needed(self, m):
        """Mel frames (pre-roll excluded) pushed before `m` embeddings are out (warm-up skipped)."""
        pm = self.embedding
        pulses = -(-(m + pm.delay[0]) // pm.output_pulses[0])
        return max(0, pm.pulse * pulses - self.preroll)

    def _embedding_read(self, m):
        """Mel frames the first `m` embeddings depend on: embedding j reads frames
        [stride*j, stride*j + window) of the pre-rolled stream."""
        return max(0, self.stride * (m - 1) + self.embedding_window - self.preroll) if m else 0

    def describe(self) -> str:
        mel, pm = self.mel, self.embedding
        lines = [f"mel: window {mel.size} samples, hop {mel.hop} -> {self.mel_frames} frames "
                 "per chunk",
                 f"embedding: pulse {pm.pulse} mel frames, window {self.embedding_window}, "
                 f"stride {self.stride}, delay {pm.delay[0]} embeddings (skipped), "
                 f"pre-roll {self.preroll} frames"]
        lines += [f"classifier {name}: window {c.size} embeddings, hop {c.hop}"
                  for name, c in zip(self.names, self.classifiers)]
        lines.append(f"latency: {self.latency} samples = {self.latency / self.chunk:g} chunk(s)")
        return "\n".join(lines)


def _batch_of_one(source, role):
    """Load a one-input model with its batch axis (axis 0) bound to 1; (model, input name)."""
    model = pulsar.load(source)
    if model.graph is None or len(model.graph.inputs) != 1:
        raise PulseError(f"the {role} model should have one input of known rank, got "
                         f"{', '.join(str(i) for i in model.inputs)}")
    name = model.graph.inputs[0]
    batch = model.graph.facts[name].shape[0]
    return (model if isinstance(batch, int) else model.bind(**{str(batch): 1})), name


def _classifier(source):
    """A classifier over the newest N embeddings (N: its input's axis 1), run every embedding."""
    model, name = _batch_of_one(source, "classifier")
    return window(model, size=model.graph.facts[name].shape[1], hop=1, axis=1)


def _window_needed(w, m, per_run):
    """Input frames a window stage needs before it has returned `m` output frames."""
    runs = -(-m // per_run)
    if runs == 0:
        return 0
    first = w.hop * -(-w.size // w.hop) if w.start == "full" else w.hop
    return first + w.hop * (runs - 1)


def scaled_mel(outs):
    """mel [1, 1, frames, 32] -> openWakeWord's x/10 + 2 -> embedding input [1, frames, 32, 1]."""
    return (outs[0][0, 0] / 10 + 2)[None, :, :, None]


def embeddings_as_sequence(outs):
    """embedding [1, n, 1, 96] -> classifier stream [1, n, 96]."""
    return outs[0][:, :, 0, :]


class WakeWordSession:
    """push(samples) -> {name: new scores}; audio is 1-D int16, used as is (openWakeWord feeds
    raw int16 values to its mel model), or float in [-1, 1], scaled by 32768. Other dtypes
    (uint8, int32, ...) raise `AudioError` (pulsar/audio/samples.py)."""

    def __init__(self, ww: WakeWordPipeline):
        self.ww = ww
        self.inner = ww.pipeline.session()

    def push(self, samples) -> dict:
        x = np.asarray(samples)
        if x.ndim != 1:
            raise InputError(f"push 1-D audio samples (int16 or float), got "
                             f"{x.dtype}{list(x.shape)}")
        return self._scores(self.inner.push(as_int16_values(x, "wake-word audio")[None]))

    def flush(self) -> dict:
        return self._scores(self.inner.flush())

    def reset(self):
        self.inner.reset()

    def snapshot(self):
        return self.inner.snapshot()

    def restore(self, snap):
        self.inner.restore(snap)

    def _scores(self, outs) -> dict:
        return {name: out[:, 0] for name, out in zip(self.ww.names, outs)}


def score_chunks(ww: WakeWordPipeline, samples) -> dict:
    """Scores of a whole recording, one per complete chunk: index c holds the score of the audio
    ending with chunk c (openWakeWord's indexing, i.e. shifted back by the latency), NaN where
    the pipeline is still warming up."""
    n = len(samples) // ww.chunk
    session = ww.session()
    parts = [session.push(samples[c * ww.chunk:(c + 1) * ww.chunk]) for c in range(n)]
    parts.append(session.flush())
    out = {}
    for k, name in enumerate(ww.names):
        scores = np.concatenate([p[name] for p in parts])
        aligned = np.full(n, np.nan, dtype=np.float32)
        for i, value in enumerate(scores):
            c = ww.samples_read(i + 1, k) // ww.chunk - 1
            if 0 <= c < n:
                aligned[c] = value
        out[name] = aligned
    return out


def openwakeword(mel, embedding, classifiers: dict, **options) -> WakeWordPipeline:
    return WakeWordPipeline(mel, embedding, classifiers, **options)
