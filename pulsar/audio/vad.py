"""Voice activity with silero-vad models: `VAD(path).speech_timestamps(audio)` and a streaming
`VADIterator`, with silero's own window sizes, context, state and segment rules.

silero's models are run once per window: 512 samples at 16 kHz (256 at 8 kHz), each prefixed
with the last 64 (32) samples of the previous window, with the recurrent `state` carried from
call to call (pulsar's explicit-state mode) and the last window zero-padded.
"""
from pathlib import Path

import numpy as np

import pulsar
from pulsar.errors import AudioError, ModelLoadError, OptionError
from pulsar.streaming import stateful
from pulsar.streaming.owner import exclusive

from . import samples as audio_samples
from .segments import SpeechEvents, in_seconds, speech_segments

# The file `VAD()` loads: silero's own default (v5/v6). Its sample-rate `If` (with a nested
# `If` whose branches differ in rank) folds away once `sr` is bound at load.
DEFAULT_VAD_FILE = "silero_vad.onnx"

WINDOW = {16000: 512, 8000: 256}      # samples per call
CONTEXT = {16000: 64, 8000: 32}       # samples of the previous window prefixed to each call


class VAD:
    """A silero-vad model (inputs `input`, `state` [2, 1, 128], optionally `sr`).

        vad = VAD("silero_vad.onnx")
        vad.speech_timestamps(audio)        # [{"start": 0, "end": 273888}, ...] in samples

    Audio: float in [-1, 1], used as is, or int16, divided by 32768.
    """

    def __init__(self, path=DEFAULT_VAD_FILE, compile=None):
        if not Path(path).exists():
            raise ModelLoadError(f"silero-vad model {path} not found (the silero-vad package "
                                 "ships it in silero_vad/data/)")
        self.path = str(path)
        model = pulsar.load(path, compile=compile)
        names = [i.name for i in model.inputs]
        if "input" not in names or "state" not in names:
            raise ModelLoadError(f"{path}: expected silero-vad inputs 'input' and 'state' (and "
                                 f"'sr'), found {', '.join(names)}")
        self.takes_rate = "sr" in names
        self.rates = [16000, 8000] if self.takes_rate else [16000]
        self._source, self._compile, self._models = model, compile, {}

    def _model(self, rate):
        """The model bound to one window (+ context) at `rate`, with state looped back."""
        if rate not in self._models:
            source = self._source
            if self.takes_rate:     # sr bound at load: the sample-rate If folds to one branch
                source = pulsar.load(self.path, compile=self._compile,
                                     values={"sr": np.array(rate, np.int64)})
            dims = {str(d): v for d, v in zip(source.inputs[0].shape,
                                              (1, WINDOW[rate] + CONTEXT[rate]))
                    if not isinstance(d, int)}
            state = source.inputs[[i.name for i in source.inputs].index("state")]
            dims.update({str(d): 1 for d in state.shape if not isinstance(d, int)})
            bound = source.bind(**dims) if dims else source
            out = [o.name for o in bound.outputs if o.name != "output"][0]
            self._models[rate] = stateful(bound, state={"state": out})
        return self._models[rate]

    def stream(self, sampling_rate=16000) -> "VADStream":
        """Probabilities window by window, state carried: `stream(window) -> float`."""
        return VADStream(self, self._rate(sampling_rate))

    def _rate(self, sampling_rate):
        if sampling_rate not in self.rates:
            raise AudioError(f"{Path(self.path).name} takes {' or '.join(map(str, self.rates))} "
                             f"Hz audio, got {sampling_rate} Hz")
        return sampling_rate

    def probabilities(self, audio, sampling_rate=16000) -> np.ndarray:
        """Speech probability of each window of a recording (a WAV path or an array), from a
        fresh state; window i covers samples [i * 512, (i + 1) * 512) at 16 kHz."""
        x, rate, _ = self._prepared(audio, sampling_rate)
        stream = self.stream(rate)
        w = WINDOW[rate]
        x = np.pad(x, (0, -len(x) % w))
        return np.array([stream(x[i:i + w]) for i in range(0, len(x), w)], dtype=np.float32)

    def speech_timestamps(self, audio, sampling_rate=16000, threshold=0.5,
                          min_speech_duration_ms=250, min_silence_duration_ms=100,
                          speech_pad_ms=30, return_seconds=False, time_resolution=1,
                          neg_threshold=None) -> list:
        """Speech segments, [{"start": ..., "end": ...}], as silero's `get_speech_timestamps`:
        same defaults, same rules; samples (of the audio as given), or seconds."""
        x, rate, step = self._prepared(audio, sampling_rate)
        probs = self.probabilities(x, rate)
        found = speech_segments(probs, len(x), WINDOW[rate], rate, threshold,
                                min_speech_duration_ms, min_silence_duration_ms, speech_pad_ms,
                                neg_threshold)
        if return_seconds:
            return in_seconds(found, rate, len(x), time_resolution)
        return [{k: v * step for k, v in s.items()} for s in found]

    def iterator(self, threshold=0.5, sampling_rate=16000, min_silence_duration_ms=100,
                 speech_pad_ms=30) -> "VADIterator":
        return VADIterator(self, threshold, sampling_rate, min_silence_duration_ms, speech_pad_ms)

    def _prepared(self, audio, sampling_rate):
        """(float samples, model rate, decimation): multiples of 16 kHz are decimated as
        silero does."""
        if isinstance(audio, (str, Path)):
            x, rate = audio_samples.read_wav_and_rate(audio)
            if rate != sampling_rate:
                raise AudioError(f"{audio} is sampled at {rate} Hz: pass sampling_rate={rate}")
        else:
            x = audio
        x = audio_samples.as_unit_float(x, "VAD audio")
        step = 1
        if sampling_rate > 16000 and sampling_rate % 16000 == 0:
            step = sampling_rate // 16000
            x, sampling_rate = x[::step], 16000
        return np.ascontiguousarray(x), self._rate(sampling_rate), step


class VADStream:
    """One silero window per call -> its speech probability; the context and state persist."""

    def __init__(self, vad, rate):
        self.rate, self.window, self.context = rate, WINDOW[rate], CONTEXT[rate]
        self.session = vad._model(rate).session()
        self.sr = {}            # bound at load (VAD._model)
        self.reset()

    def reset(self):
        self.session.reset()
        self.previous = np.zeros(self.context, dtype=np.float32)

    def __call__(self, window) -> float:
        x = audio_samples.as_unit_float(window, "VAD window")
        if len(x) != self.window:
            raise AudioError(f"a VAD window is {self.window} samples at {self.rate} Hz, got "
                             f"{len(x)}")
        feed = np.concatenate([self.previous, x])[None]
        self.previous = feed[0, -self.context:].copy()
        return float(self.session.push({"input": feed, **self.sr})[0].reshape(-1)[0])


class VADIterator:
    """Start and end events as audio streams in, as silero's `VADIterator`.

        it = vad.iterator()
        for chunk in chunks:                 # any length; windows of 512 at 16 kHz are scored
            for event in it.push(chunk):     # {"start": sample} or {"end": sample}
                ...

    `it(window)` takes exactly one window and returns one event or None, like silero's.
    """

    def __init__(self, vad, threshold=0.5, sampling_rate=16000, min_silence_duration_ms=100,
                 speech_pad_ms=30):
        if not 0 < threshold < 1:
            raise OptionError(f"threshold must be in (0, 1), got {threshold}")
        self.sampling_rate = sampling_rate
        self.stream = vad.stream(sampling_rate)
        self.rules = SpeechEvents(sampling_rate, threshold, min_silence_duration_ms, speech_pad_ms)
        self.pending = np.zeros(0, dtype=np.float32)

    @exclusive
    def reset(self):
        self.stream.reset()
        self.rules.reset()
        self.pending = np.zeros(0, dtype=np.float32)

    @exclusive
    def __call__(self, window, return_seconds=False, time_resolution=1):
        event = self.rules.step(self.stream(window), self.stream.window)
        return self._seconds(event, time_resolution) if return_seconds and event else event

    @exclusive
    def push(self, samples, return_seconds=False, time_resolution=1) -> list:
        x = np.concatenate([self.pending, audio_samples.as_unit_float(samples, "VAD audio")])
        w = self.stream.window
        n = len(x) // w
        self.pending = x[n * w:]
        events = [self(x[i * w:(i + 1) * w], return_seconds, time_resolution) for i in range(n)]
        return [e for e in events if e]

    def _seconds(self, event, time_resolution):
        return {k: round(v / self.sampling_rate, time_resolution) for k, v in event.items()}
