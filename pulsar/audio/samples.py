"""Audio arrays and WAV files at the boundary: which dtypes are audio, and how they are scaled.

Two conventions meet here. openWakeWord's models take int16 values as floats, unscaled
(a full-scale sine peaks at 32767); silero-vad's take floats in [-1, 1]. Users hold either, so
each model family asks for its own scale and this module converts:

  int16              the PCM sample values; float scale = value / 32768
  float16/32/64      already in [-1, 1]; int16 scale = value * 32768 (clipped to int16's range)

Anything else (uint8, int32, bool, complex, ...) is refused with an `AudioError`: a uint8 or
int32 buffer is almost always raw bytes or another PCM width, and silently casting it gives
scores that look plausible and are wrong.
"""
import wave
from pathlib import Path

import numpy as np

from pulsar.errors import AudioError

INT16_SCALE = 32768.0


def check(samples, what="audio") -> np.ndarray:
    """A 1-D int16 or float array, or an `AudioError` saying what was given and what to do."""
    x = np.asarray(samples)
    if x.dtype != np.int16 and x.dtype.kind != "f":
        hint = (" (8-bit PCM WAV data is unsigned: convert with (x.astype(np.int16) - 128) * 256)"
                if x.dtype == np.uint8 else "")
        raise AudioError(f"{what} must be int16 PCM or float in [-1, 1], got {x.dtype}{hint}")
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise AudioError(f"{what} must be one channel (a 1-D array), got shape {list(x.shape)}; "
                         "pick a channel, e.g. x[:, 0]")
    return x


def as_int16_values(samples, what="audio") -> np.ndarray:
    """float32 on int16's scale (openWakeWord's convention)."""
    x = check(samples, what)
    if x.dtype == np.int16:
        return x.astype(np.float32)
    _check_float_range(x, what)
    return np.clip(x.astype(np.float32) * INT16_SCALE, -32768, 32767)


def as_unit_float(samples, what="audio") -> np.ndarray:
    """float32 in [-1, 1] (silero-vad's convention)."""
    x = check(samples, what)
    if x.dtype == np.int16:
        return x.astype(np.float32) / INT16_SCALE
    _check_float_range(x, what)
    return x.astype(np.float32)


def _check_float_range(x, what):
    if x.size and not np.isfinite(x).all():
        raise AudioError(f"{what} contains NaN or infinite values")
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1.0 + 1e-6:
        raise AudioError(f"float {what} must lie in [-1, 1], its peak is {peak:g}; int16 values "
                         "held as floats: pass x.astype(np.int16), or x / 32768")


def read_wav(path, sample_rate=16000, channel=None) -> np.ndarray:
    """int16 samples of a 16-bit PCM WAV file (standard library only).

    A file at another rate than `sample_rate` is refused (resample it first, e.g.
    `sox in.wav -r 16000 out.wav`; None accepts any rate); a multi-channel file needs
    `channel` (0-based).
    """
    x, rate = read_wav_and_rate(path, channel)
    if sample_rate is not None and rate != sample_rate:
        raise AudioError(f"{path}: sampled at {rate} Hz, the model needs {sample_rate} Hz; "
                         f"resample it first (e.g. sox {Path(path).name} -r {sample_rate} out.wav)")
    return x


def read_wav_and_rate(path, channel=None):
    """(int16 samples of one channel, sample rate) of a 16-bit PCM WAV file."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file {path} not found")
    try:
        with wave.open(str(path), "rb") as f:
            rate, width, channels = f.getframerate(), f.getsampwidth(), f.getnchannels()
            data = f.readframes(f.getnframes())
    except (wave.Error, EOFError) as e:
        raise AudioError(f"{path}: not a PCM WAV file ({e})") from None
    if width != 2:
        raise AudioError(f"{path}: {8 * width}-bit samples; pulsar reads 16-bit PCM WAV")
    x = np.frombuffer(data, dtype="<i2").astype(np.int16).reshape(-1, channels)
    if channels > 1 and channel is None:
        raise AudioError(f"{path}: {channels} channels; choose one with channel=0..{channels - 1} "
                         "(--channel on the command line)")
    channel = channel or 0
    if not 0 <= channel < channels:
        raise AudioError(f"{path}: channel {channel} out of range, the file has {channels}")
    return np.ascontiguousarray(x[:, channel]), rate


def load(audio, sample_rate=16000, channel=None) -> np.ndarray:
    """A path (WAV) or an array, checked."""
    if isinstance(audio, (str, Path)):
        return read_wav(audio, sample_rate, channel)
    return check(audio)
