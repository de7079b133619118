"""Spectral ops: DFT, STFT, the window generators and MelWeightMatrix.

Complex tensors use ONNX's layout: a trailing axis of 2 (real, imaginary); a trailing 1 means a
real signal. FFTs run in NumPy (pocketfft), which is already a compiled kernel. Output shapes are
symbolic: an STFT over S samples with frame length L and step H has (S - L) // H + 1 frames, so
a streamed signal keeps its frame count as a formula.
"""
from dataclasses import dataclass

import numpy as np

from .. import dims, dtypes
from ..fact import Fact
from .base import Op, fail, normalize_axis
from .registry import register


def known_scalar(fact):
    """The int (or Dim) held by a scalar/1-element input, None when absent or unknown."""
    if fact is None or fact.value is None or fact.value.size != 1:
        return None
    v = fact.value.reshape(-1)[0]
    return v if isinstance(v, dims.Dim) else v.item() if isinstance(v, np.generic) else v


def _check_complex_axis(x: Fact, what: str):
    last = x.shape[-1] if x.rank else None
    if last not in (1, 2):
        fail(f"{what} must end in an axis of 1 (real) or 2 (complex), got {x}")


def to_complex(x: np.ndarray) -> np.ndarray:
    """[..., 1|2] real layout -> complex array without the trailing axis."""
    return x[..., 0] if x.shape[-1] == 1 else x[..., 0] + 1j * x[..., 1]


def from_complex(z: np.ndarray, dtype) -> np.ndarray:
    return np.stack([z.real, z.imag], axis=-1).astype(dtype)


# --- DFT -----------------------------------------------------------------------------------

@register("DFT", since=17)
@dataclass(frozen=True)
class DFT(Op):
    streams = "follows"
    
    def stream_refusal(self, axis, facts):
        given = getattr(self, "axis", None)
        if len(facts) > 2 and facts[2] is not None:
            given = int(facts[2].value)
        if (given if given is not None else 1) % facts[0].rank == axis:
            return "it transforms along the stream axis"
        return None
    
    axis: int = 1
    inverse: int = 0
    onesided: int = 0

    def infer(self, inputs, ctx):
        x, length = inputs[0], inputs[1] if len(inputs) > 1 else None
        _check_complex_axis(x, "input")
        if x.rank < 3:
            fail(f"input must have rank >= 3 ([batch, ..., signal, 1|2]), got {x}")
        n = None if length is None else known_scalar(length)
        if length is not None and n is None:
            n = ctx.fresh_symbol("dft_length")
        axis = self.given_axis(inputs)
        if axis is not None:
            axis = self.signal_axis(axis, x.rank)
        shape = list(x.shape)
        shape[-1] = 1 if (self.inverse and self.onesided) else 2
        if axis is None:    # axis given at run time: only a resized axis becomes unknown
            if self.onesided or length is not None:
                shape[:-1] = [ctx.fresh_symbol(f"dft_{i}") for i in range(x.rank - 1)]
            return [Fact(x.dtype, shape)]
        shape[axis] = self.output_length(x.shape[axis], n)
        return [Fact(x.dtype, shape)]

    def given_axis(self, inputs):
        return self.axis

    @staticmethod
    def signal_axis(axis, rank):
        normal = normalize_axis(axis, rank)
        if normal == rank - 1:
            fail(f"axis {axis} is the real/imaginary axis; pick a signal axis")
        return normal

    def output_length(self, size, n):
        if self.inverse and self.onesided:
            return 2 * (size - 1) if n is None else n
        n = size if n is None else n
        return n // 2 + 1 if self.onesided else n

    def eval(self, x, length=None, axis=None):
        axis = self.signal_axis(self.axis if axis is None else int(axis), x.ndim)
        n = None if length is None else _scalar(length, "dft_length")
        if n is not None and n < 1:
            fail(f"dft_length must be >= 1, got {n}")
        z = to_complex(x)
        if self.inverse and self.onesided:
            return (np.fft.irfft(z, n=n, axis=axis)[..., None].astype(x.dtype),)
        out = np.fft.ifft(z, n=n, axis=axis) if self.inverse else np.fft.fft(z, n=n, axis=axis)
        if self.onesided:
            out = np.take(out, np.arange(out.shape[axis] // 2 + 1), axis=axis)
        return (from_complex(out, x.dtype),)


@register("DFT", since=20)
@dataclass(frozen=True)
class DFT20(DFT):
    """Opset 20 moved `axis` to an optional scalar input (default -2)."""
    axis: int = -2

    def given_axis(self, inputs):
        given = inputs[2] if len(inputs) > 2 else None
        return self.axis if given is None else known_scalar(given)


# --- STFT ----------------------------------------------------------------------------------

@register("STFT", since=17)
@dataclass(frozen=True)
class STFT(Op):
    streams = "frames"
    
    def stream_frames(self, facts):
        """(frame length, frame step) over the input facts; not ints when not known."""
        facts = list(facts) + [None] * 4
        return self.frame_length(facts[0], facts[2], facts[3], None), known_scalar(facts[1])
    
    onesided: int = 1

    def infer(self, inputs, ctx):
        x, step, window, length = (list(inputs) + [None] * 4)[:4]
        _check_complex_axis(x, "signal")
        if x.rank != 3:
            fail(f"signal must have shape [batch, length, 1|2], got {x}")
        if window is not None and window.rank != 1:
            fail(f"window must be 1-D, got {window}")
        frame = self.frame_length(x, window, length, ctx)
        hop = known_scalar(step)
        if isinstance(hop, int) and hop < 1:
            fail(f"frame_step must be >= 1, got {hop}")
        if isinstance(frame, int) and isinstance(x.shape[1], int) and frame > x.shape[1]:
            fail(f"frame length {frame} exceeds the signal length {x.shape[1]} ({x})")
        known_hop = isinstance(hop, int)      # a symbolic step cannot divide: fresh symbol
        frames = (x.shape[1] - frame) // hop + 1 if known_hop else ctx.fresh_symbol("frames")
        bins = frame // 2 + 1 if self.onesided else frame
        return [Fact(x.dtype, (x.shape[0], frames, bins, 2))]

    @staticmethod
    def frame_length(x, window, length, ctx):
        given = None if length is None else known_scalar(length)
        if length is not None and given is None:
            given = window.shape[0] if window is not None else ctx.fresh_symbol("frame_length")
        if window is not None and given is not None and given != window.shape[0]:
            fail(f"frame_length {given} differs from the window length {window.shape[0]}")
        if given is not None:
            return given
        return window.shape[0] if window is not None else x.shape[1]

    def eval(self, x, step, window=None, length=None):
        frame = _scalar(length, "frame_length") if length is not None else \
            window.shape[0] if window is not None else x.shape[1]
        hop = _scalar(step, "frame_step")
        if hop < 1 or not 1 <= frame <= x.shape[1] or (window is not None and window.size != frame):
            fail(f"STFT needs frame_step >= 1 and 1 <= frame length (= window length) <= signal "
                 f"length {x.shape[1]}, got step {hop}, frame length {frame}, window "
                 f"{None if window is None else window.size}")
        z = to_complex(x)
        frames = np.lib.stride_tricks.sliding_window_view(z, frame, axis=1)[:, ::hop]
        if window is not None:
            frames = frames * window
        spectrum = np.fft.fft(frames, axis=-1)
        if self.onesided:
            spectrum = spectrum[..., :frame // 2 + 1]
        return (from_complex(spectrum, x.dtype),)


# --- windows and mel filters ---------------------------------------------------------------

@dataclass(frozen=True)
class Window(Op):
    """size -> [size]; periodic windows divide by N, symmetric ones by N - 1."""
    output_datatype: int = 1
    periodic: int = 1

    def infer(self, inputs, ctx):
        size = inputs[0]
        if size.rank not in (0, 1) or size.dtype.kind not in "iu":
            fail(f"size must be an integer scalar, got {size}")
        n = known_scalar(size)
        n = ctx.fresh_symbol("size") if n is None else n
        return [Fact(dtypes.from_onnx(self.output_datatype), (n,))]

    def eval(self, size):
        size = np.asarray(size)
        if size.size != 1:      # a fed rank-1 size passes analysis
            fail(f"window size must be one integer, got {size.dtype}{list(size.shape)}")
        n = int(size.reshape(-1)[0])
        if n < 0:
            fail(f"window size must be >= 0, got {n}")
        dtype = dtypes.from_onnx(self.output_datatype)
        if n == 1 and not self.periodic:   # divides 0 by 0; PyTorch and SciPy return [1]
            return (np.ones(1, dtype),)
        phase = 2 * np.pi * np.arange(n) / (n if self.periodic else n - 1)
        return (self.shape_of(phase).astype(dtype),)


@register("HannWindow", since=17)
@dataclass(frozen=True)
class HannWindow(Window):
    @staticmethod
    def shape_of(phase):
        return np.sin(phase / 2) ** 2


@register("HammingWindow", since=17)
@dataclass(frozen=True)
class HammingWindow(Window):
    @staticmethod
    def shape_of(phase):
        return 25 / 46 - (21 / 46) * np.cos(phase)


@register("BlackmanWindow", since=17)
@dataclass(frozen=True)
class BlackmanWindow(Window):
    @staticmethod
    def shape_of(phase):
        return 0.42 - 0.5 * np.cos(phase) + 0.08 * np.cos(2 * phase)


@register("MelWeightMatrix", since=17)
@dataclass(frozen=True)
class MelWeightMatrix(Op):
    """[dft_length // 2 + 1, num_mel_bins] triangular filters, spaced evenly in mel."""
    output_datatype: int = 1

    def infer(self, inputs, ctx):
        if len(inputs) != 5 or any(f is None for f in inputs):
            fail("takes num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz")
        mels, length = known_scalar(inputs[0]), known_scalar(inputs[1])
        rows = ctx.fresh_symbol("bins") if length is None else length // 2 + 1
        cols = ctx.fresh_symbol("mel_bins") if mels is None else mels
        return [Fact(dtypes.from_onnx(self.output_datatype), (rows, cols))]

    def eval(self, num_mel_bins, dft_length, sample_rate, lower_hz, upper_hz):
        mels, length, rate = (_scalar(num_mel_bins, "num_mel_bins"),
                              _scalar(dft_length, "dft_length"), _scalar(sample_rate, "sample_rate"))
        if mels < 1 or length < 1 or rate < 1:
            fail(f"num_mel_bins, dft_length and sample_rate must be >= 1, "
                 f"got {mels}, {length}, {rate}")
        edges = _mel_edges(mels, length, rate, lower_hz, upper_hz)
        out = np.zeros((length // 2 + 1, mels))
        if edges.min() < 0 or edges.max() >= len(out):
            fail(f"edges {float(lower_hz)}..{float(upper_hz)} Hz must lie within 0..{rate / 2} Hz "
                 f"(the Nyquist frequency of sample_rate {rate})")
        for i in range(mels):
            low, centre, high = edges[i:i + 3]
            if centre == low:
                out[centre, i] = 1
            else:
                out[low:centre + 1, i] = (np.arange(low, centre + 1) - low) / (centre - low)
            if high > centre:
                out[centre:high, i] = (high - np.arange(centre, high)) / (high - centre)
        return (out.astype(dtypes.from_onnx(self.output_datatype)),)


def _mel_edges(mels, length, rate, lower_hz, upper_hz) -> np.ndarray:
    """FFT bin of each filter edge. The spec divides the mel range into num_mel_bins + 2 steps
    (not + 1) and floors (length + 1) * f / rate; kept as onnx computes it so bins match."""
    low_mel = 2595 * np.log1p(lower_hz / 700) / np.log(10)
    high_mel = 2595 * np.log1p(upper_hz / 700) / np.log(10)
    step = (high_mel - low_mel) / (mels + 2)
    hz = 700 * np.expm1((np.arange(mels + 2) * step + low_mel) / 2595 * np.log(10))
    return (((length + 1) * hz) // rate).astype(int)


def _scalar(value, what: str) -> int:
    """A size given as a tensor input: one element, an integer."""
    value = np.asarray(value)
    if value.size != 1 or value.dtype.kind not in "iu":
        fail(f"{what} must be one integer, got {value.dtype}{list(value.shape)}")
    return int(value.reshape(-1)[0])
