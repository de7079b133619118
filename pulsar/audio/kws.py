"""Keyword spotting with ARM's ML-KWS models (DS_CNN, CNN, CRNN, GRU; input: one second of
MFCCs flattened, output: 12 label probabilities), streamed over audio.

Audio -> TF-exact MFCC frames (`mfcc.py`), computed as their 640 samples arrive -> the model in
window mode (`streaming.window`) on the newest second of frames, every `hop` frames. Frame
stride comes from the model: 49 frames per second means 320 samples, 25 means 640.
"""
from dataclasses import dataclass

import numpy as np

import pulsar
from pulsar.errors import InputError, OptionError
from pulsar.streaming import window
from pulsar.streaming.owner import exclusive

from . import samples as audio_samples
from .mfcc import mfcc

LABELS = ("silence", "unknown", "yes", "no", "up", "down", "left", "right", "on", "off",
          "stop", "go")
SAMPLE_RATE = 16000
FRAME = 640            # samples per MFCC frame (40 ms)
COEFFICIENTS = 10      # MFCCs per frame


@dataclass(frozen=True)
class Label:
    """The model's answer for the second of audio ending at `time` (seconds)."""
    time: float
    label: str
    score: float
    probabilities: np.ndarray


def default_hop(frames, stride):
    """The divisor of `frames` closest to 0.1 s: windows then start on a whole second from the
    stream start, so a one-second clip is exactly one window."""
    divisors = [d for d in range(1, frames + 1) if frames % d == 0]
    return min(divisors, key=lambda d: (abs(d * stride / SAMPLE_RATE - 0.1), d))


class KeywordSpotter:
    """    kws = KeywordSpotter("GRU_S.onnx")
        kws.labels_over("yes.wav")           # [Label(time=1.0, label='yes', score=0.93, ...)]
        kws.push(chunk)                      # live: a Label per completed window

    hop: frames between windows (default: the divisor of the window's frames closest to 0.1 s:
    7 frames = 140 ms for 49-frame models, 1 = 40 ms for 25-frame ones). Audio: int16 or float
    in [-1, 1].
    """

    def __init__(self, model, labels=LABELS, hop=None, compile=None):
        m = pulsar.load(model, compile=compile)
        shape = m.inputs[0].shape if len(m.inputs) == 1 else None
        if not shape or len(shape) != 2 or not isinstance(shape[1], int) or shape[1] % COEFFICIENTS:
            raise InputError(f"an ML-KWS model takes [1, frames * {COEFFICIENTS}] MFCCs, this one "
                             f"takes {', '.join(str(i) for i in m.inputs)}")
        self.frames = shape[1] // COEFFICIENTS
        self.stride = (SAMPLE_RATE - FRAME) // (self.frames - 1)
        self.hop = hop or default_hop(self.frames, self.stride)
        if self.hop < 1:
            raise OptionError(f"hop must be at least one frame, got {hop}")
        self.labels = list(labels)
        n_out = int(np.prod(m.outputs[0].shape[1:]))
        if len(self.labels) != n_out:
            raise OptionError(f"{len(self.labels)} labels for a model with {n_out} outputs")
        model_1 = m if isinstance(shape[0], int) else m.bind(**{str(shape[0]): 1})
        self.stage = window(model_1, size=shape[1], hop=self.hop * COEFFICIENTS, axis=1)
        self.reset()

    @exclusive
    def reset(self):
        self.session = self.stage.session()
        self.audio = np.zeros(0, dtype=np.float32)     # samples not yet in a complete frame
        self.frames_done = 0

    @exclusive
    def push(self, chunk) -> list:
        """Labels of the windows this chunk completes."""
        x = audio_samples.as_unit_float(chunk, "keyword-spotting audio")
        self.audio = np.concatenate([self.audio, x])
        n = 0 if len(self.audio) < FRAME else 1 + (len(self.audio) - FRAME) // self.stride
        if n == 0:
            return []
        features = mfcc(self.audio[:(n - 1) * self.stride + FRAME], SAMPLE_RATE, FRAME, self.stride)
        self.audio = self.audio[n * self.stride:]
        first = self.frames_done
        self.frames_done += n
        (probs,) = self.session.push(features.reshape(1, -1))
        # the window stage runs when the frame count is a multiple of hop, once a window is full
        start = max(first + 1, self.frames)
        ends = range(-(-start // self.hop) * self.hop, self.frames_done + 1, self.hop)
        out = []
        for end, p in zip(ends, probs.reshape(-1, len(self.labels))):
            best = int(np.argmax(p))
            out.append(Label(round(((end - 1) * self.stride + FRAME) / SAMPLE_RATE, 4),
                             self.labels[best], float(p[best]), p.copy()))
        return out

    @exclusive
    def labels_over(self, audio) -> list:
        """Labels of every window of a recording (WAV path or array), from a fresh state."""
        x = audio_samples.load(audio, SAMPLE_RATE)
        self.reset()
        out = self.push(x)
        self.reset()
        return out
