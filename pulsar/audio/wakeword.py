"""Wake words with openWakeWord-format models: `WakeWord(...).predict(chunk)` and `.detect(wav)`.

The three models run as openWakeWord runs them, on buffers whose sizes come from the models:

  samples    every 1280-sample chunk (80 ms), the mel model runs on the newest 1760 samples
             (the chunk plus 3 hops of context) -> 8 frames; the first chunk, which has no
             context, runs zero-padded and keeps its last 5 frames, which are exactly the
             frames of the chunk alone (frames see only their own 400 samples), so one
             compiled mel plan serves every chunk
  mel        post-scaled x/10 + 2, appended to a buffer seeded with 76 frames of ones
  embedding  on the newest 76 mel frames, once per chunk: its window ends with the chunk, so a
             score answers for the audio just pushed, with no chunk of latency
  classifier on the newest 16 embeddings (a buffer seeded with embeddings of low-level noise,
             deterministic here); its first 5 scores are forced to 0

The seeds and forced zeros are openWakeWord's: with them, scores of the first 2 s of a stream
(where short clips have their wake word) follow its own, rather than being withheld. Why not the
pulsed embedding of `pulsar.streaming.wakeword`: a pulsed conv stack releases a window when the
pulse holding its last frame is complete; with windows of 76 frames on a stride of 8 that is 4
frames after a chunk ends, i.e. one chunk late. Running the embedding on its window costs more
per chunk and answers at once, which is what a wake word needs.
"""
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import pulsar
from pulsar.errors import InputError, OptionError
from pulsar.streaming.owner import exclusive

from . import samples as audio_samples

SAMPLE_RATE = 16000
CHUNK = 1280                  # samples per step (80 ms): openWakeWord's unit of time
MEL_CONTEXT = 480             # 3 mel hops before each chunk keep frames on the 160-sample grid
MEL_HOP = 160
MEL_SEED = 1.0                # openWakeWord's mel buffer starts as ones
FORCED_ZEROS = 5              # openWakeWord's first scores, set to 0 while buffers fill
NOISE_SEED = 0                # seed of the noise whose embeddings pre-fill the feature buffer

# openWakeWord names the classes of its multi-class models (model_class_mappings): class 0 of
# "timer" is background and is not reported. Other multi-class models are keyed "0", "1", ...
KNOWN_CLASSES = {"timer": {1: "1_minute_timer", 2: "5_minute_timer", 3: "10_minute_timer",
                           4: "20_minute_timer", 5: "30_minute_timer", 6: "1_hour_timer"}}


@dataclass(frozen=True)
class Detection:
    """A wake word heard: `time` is the end of the chunk that scored, in seconds from the start
    of the audio given to `detect` (or of the stream)."""
    name: str
    time: float
    score: float

    def as_dict(self) -> dict:
        return asdict(self)


class WakeWord:
    """Several openWakeWord classifiers sharing one mel and embedding stream.

        ww = WakeWord({"hey_jarvis": "hey_jarvis_v0.1.onnx"}, mel="melspectrogram.onnx",
                      embedding="embedding_model.onnx")
        ww.predict(chunk)            # {"hey_jarvis": 0.0012}, on every call
        ww.detect("clip.wav")        # [Detection(name='hey_jarvis', time=1.84, score=0.997)]

    models: {name: classifier file} or a list of files (named by their stem, as openWakeWord
    does). Audio: int16, used as is, or float in [-1, 1], scaled by 32768 (see `samples`).
    class_names: {model name: {class index: label}} for multi-class classifiers.
    """

    def __init__(self, models, mel="melspectrogram.onnx", embedding="embedding_model.onnx",
                 class_names=None, compile=None):
        models = _named(models)
        self.mel_chunk = _fixed(mel, "mel", compile, samples=CHUNK + MEL_CONTEXT)
        self.embedding = _fixed(embedding, "embedding", compile)
        self.window = self.embedding.graph.facts[self.embedding.graph.inputs[0]].shape[1]
        self.frames_per_chunk = self.mel_chunk.outputs[0].shape[2]
        self.classifiers = {name: _fixed(path, f"classifier {name!r}", compile)
                            for name, path in models.items()}
        self.labels = self._labels(class_names or {})
        self.history = max(c.inputs[0].shape[1] for c in self.classifiers.values())
        self._noise = self._noise_embeddings()
        self.reset()

    # -- streaming ---------------------------------------------------------------------------
    @exclusive
    def reset(self):
        """Forget all audio: buffers back to their seeds, score counters to zero."""
        self._mel = np.full((self.window, 32), MEL_SEED, dtype=np.float32)
        self._features = self._noise.copy()
        self._pending = np.zeros(0, dtype=np.float32)
        self._recent = np.zeros(0, dtype=np.float32)     # the last chunk + context samples
        self.chunks = 0
        self._last = {label: 0.0 for label in self.labels}

    @exclusive
    def predict(self, chunk) -> dict:
        """{name: score} for the newest audio, on every call, like openWakeWord's `predict`.

        Chunks of any length: complete 1280-sample chunks are scored as they fill; if a call
        completes several, each name gets its highest score; if none, the previous scores.
        """
        x = audio_samples.as_int16_values(chunk, "wake-word audio")
        buf = np.concatenate([self._pending, x]) if len(self._pending) else x
        n = len(buf) // CHUNK
        scores = [self._step(buf[i * CHUNK:(i + 1) * CHUNK]) for i in range(n)]
        self._pending = buf[n * CHUNK:].copy()
        if scores:
            self._last = {k: max(s[k] for s in scores) for k in self.labels}
        return dict(self._last)

    @exclusive
    def scores(self, audio, padding_s=1.0) -> dict:
        """{name: array of per-chunk scores} of a whole recording (path or array), from a fresh
        state, with `padding_s` seconds of silence on both sides as openWakeWord's
        `predict_clip` does (so a clip that starts with its wake word still scores).
        Chunk c ends at (c + 1) * 0.08 - padding_s seconds of the recording."""
        x = audio_samples.as_int16_values(audio_samples.load(audio, SAMPLE_RATE), "audio")
        pad = np.zeros(int(round(padding_s * SAMPLE_RATE)), dtype=np.float32)
        x = np.concatenate([pad, x, pad])
        self.reset()
        rows = [self._step(x[i:i + CHUNK]) for i in range(0, len(x) - CHUNK + 1, CHUNK)]
        self.reset()
        return {k: np.array([r[k] for r in rows], dtype=np.float32) for k in self.labels}

    @exclusive
    def detect(self, audio, threshold=0.5, patience=1, debounce_s=1.0, padding_s=1.0) -> list:
        """Detections in a recording (a WAV path or an array), in time order.

        A chunk is a detection when its score and the `patience - 1` before it reach
        `threshold`; after a detection, the same name is silent for `debounce_s` seconds
        (0: every chunk at or above threshold is reported)."""
        if patience < 1 or debounce_s < 0 or not 0 < threshold <= 1:
            raise OptionError(f"need threshold in (0, 1], patience >= 1, debounce_s >= 0; got "
                              f"{threshold}, {patience}, {debounce_s}")
        found = []
        for name, s in self.scores(audio, padding_s).items():
            last = -np.inf
            for c in range(len(s)):
                t = (c + 1) * CHUNK / SAMPLE_RATE - padding_s
                if c + 1 >= patience and (s[c + 1 - patience:c + 1] >= threshold).all() \
                        and t - last >= debounce_s - 1e-9:
                    found.append(Detection(name, round(t, 4), float(s[c])))
                    last = t
        return sorted(found, key=lambda d: (d.time, d.name))

    # -- one chunk -----------------------------------------------------------------------------
    def _step(self, chunk) -> dict:
        if self.chunks == 0:
            self._recent = chunk
            padded = np.concatenate([np.zeros(MEL_CONTEXT, dtype=np.float32), chunk])
            mel = self.mel_chunk.run([padded[None]])[0][:, :, MEL_CONTEXT // MEL_HOP:]
        else:
            self._recent = np.concatenate([self._recent, chunk])[-CHUNK - MEL_CONTEXT:]
            mel = self.mel_chunk.run([self._recent[None]])[0]
        self._mel = _shifted(self._mel, mel[0, 0] / 10 + 2)
        emb = self.embedding.run([self._mel[None, :, :, None]])[0].reshape(1, -1)
        self._features = _shifted(self._features, emb)
        out = {}
        for name, model in self.classifiers.items():
            width = model.inputs[0].shape[1]
            row = model.run([self._features[None, -width:]])[0].reshape(-1)
            for index, label in self.labels_of[name]:
                out[label] = 0.0 if self.chunks < FORCED_ZEROS else float(row[index])
        self.chunks += 1
        return out

    def _noise_embeddings(self) -> np.ndarray:
        """Embeddings of 4 s of uniform noise in [-1000, 1000) (openWakeWord's seed, made
        deterministic): the classifier's view before real audio has filled its window."""
        noise = np.random.default_rng(NOISE_SEED).integers(-1000, 1000, 4 * SAMPLE_RATE)
        noise = noise.astype(np.float32)
        frames = [self.mel_chunk.run([noise[None, e - CHUNK - MEL_CONTEXT:e]])[0][0, 0] / 10 + 2
                  for e in range(CHUNK + MEL_CONTEXT, len(noise) + 1, CHUNK)]
        mel = np.concatenate(frames)
        step = self.frames_per_chunk
        starts = range(len(mel) - self.window - step * (self.history - 1), len(mel) - self.window + 1, step)
        return np.concatenate([self.embedding.run([mel[None, s:s + self.window, :, None]])[0]
                               .reshape(1, -1) for s in starts]).astype(np.float32)

    def _labels(self, class_names) -> list:
        self.labels_of = {}
        for name, model in self.classifiers.items():
            n = int(np.prod([d for d in model.outputs[0].shape[1:]]))
            if n == 1:
                self.labels_of[name] = [(0, name)]
                continue
            known = class_names.get(name) or next(
                (v for k, v in KNOWN_CLASSES.items() if name == k), None)
            mapping = known or {i: str(i) for i in range(n)}
            self.labels_of[name] = [(int(i), str(label)) for i, label in mapping.items()]
        labels = [label for pairs in self.labels_of.values() for _, label in pairs]
        clash = sorted({label for label in labels if labels.count(label) > 1})
        if clash:
            raise OptionError(f"classifiers report the same key(s) {clash}: name their classes "
                              "with class_names={model: {index: label}}")
        return labels


def _named(models) -> dict:
    if isinstance(models, (str, Path)):
        models = [models]
    if isinstance(models, dict):
        named = {str(k): v for k, v in models.items()}
    else:
        named = {Path(p).stem: p for p in models}
    if not named:
        raise OptionError("give at least one classifier, e.g. ['hey_jarvis_v0.1.onnx']")
    return named


def _fixed(source, role, compile, **symbols):
    """Load with every dim concrete: batch 1, `symbols` for the rest."""
    model = pulsar.load(source, compile=compile)
    if len(model.inputs) != 1 or model.inputs[0].shape is None:
        raise InputError(f"the {role} model should have one input of known rank, got "
                         f"{', '.join(str(i) for i in model.inputs)}")
    shape = model.inputs[0].shape
    bind = {str(shape[0]): 1} if not isinstance(shape[0], int) else {}
    bind.update({str(d): symbols.get(str(d), symbols.get("samples")) for d in shape[1:]
                 if not isinstance(d, int)})
    missing = [k for k, v in bind.items() if v is None]
    if missing:
        raise InputError(f"the {role} model's input {model.inputs[0]} has free dims {missing}")
    return model.bind(**bind) if bind else model


def _shifted(buffer, rows):
    """The buffer with `rows` appended and as many of its oldest rows dropped."""
    n = len(rows)
    if n >= len(buffer):
        return np.ascontiguousarray(rows[-len(buffer):], dtype=np.float32)
    out = np.empty_like(buffer)
    out[:-n] = buffer[n:]
    out[-n:] = rows
    return out
