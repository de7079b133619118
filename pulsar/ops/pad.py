"""Padding: Pad (attributes in opset 2-10, inputs from 11, `axes` from 18, `wrap` from 19) and
CenterCropPad.

Negative pads crop, as onnxruntime does: the crop is applied first, then the positive pads, so
reflect/edge/wrap read the cropped data.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..fact import Fact
from .base import Op, fail
from .layout_emit import constant_ints, copy_by_map, movable, scalar, span
from .registry import register
from .sizes import as_int_list, fresh_dims, normalize_axes, read_ints, shape_str

MODES = ("constant", "reflect", "edge", "wrap")


def pad_widths(rank, pads, axes) -> list:
    """[(begin, end)] per axis from ONNX pads [b1, b2, ..., e1, e2, ...] over `axes`."""
    if len(pads) != 2 * len(axes):
        fail(f"pads {shape_str(pads)} must hold 2 values per axis for axes {axes}")
    widths = [(0, 0)] * rank
    for i, a in enumerate(axes):
        widths[a] = (pads[i], pads[len(axes) + i])
    return widths


def run_pad(x, widths, mode, value):
    crop = tuple(slice(max(-b, 0), n - max(-e, 0)) for (b, e), n in zip(widths, x.shape))
    x = x[crop]
    positive = [(max(b, 0), max(e, 0)) for b, e in widths]
    if mode == "constant":
        return np.pad(x, positive, mode="constant", constant_values=value)
    if x.size == 0 and any(b or e for b, e in positive):
        fail(f"cannot {mode}-pad an empty tensor (shape {list(x.shape)})")
    return np.pad(x, positive, mode=mode)


def emit_pad(e, widths, mode, value) -> bool:
    """Constant mode: fill, then copy the (cropped) input into place. Other modes: the same
    np.pad as `run_pad`, run once at emit time on the input's flat indices, gives a map."""
    x, out = e.in_facts[0], e.out_facts[0]
    if x.rank == 0 or not movable(x) or widths is None or mode not in MODES or \
            tuple(out.shape) != tuple(n + b + end for n, (b, end) in zip(x.shape, widths)):
        return False
    crop = [slice(max(-b, 0), n - max(-end, 0)) for (b, end), n in zip(widths, x.shape)]
    if any(c.stop < 0 for c in crop):
        return False                    # cropped below nothing: no valid output shape
    kept = [max(c.stop - c.start, 0) for c in crop]
    if mode != "constant":
        if 0 in kept and any(b > 0 or end > 0 for b, end in widths):
            return False                # run_pad refuses to reflect/edge/wrap-pad nothing
        flat = np.arange(int(np.prod(x.shape)), dtype=np.int64).reshape(x.shape)[tuple(crop)]
        copy_by_map(e, e.ins[0], np.pad(flat, [(max(b, 0), max(end, 0)) for b, end in widths],
                                        mode=mode))
        return True
    buf = e.buffer(0)
    if any(b > 0 or end > 0 for b, end in widths):
        e.fill(buf, scalar(value, x.dtype))
    if 0 not in kept:
        dst = ", ".join(span(max(b, 0), max(b, 0) + n) for (b, _), n in zip(widths, kept))
        src = ", ".join(span(c.start, c.stop) for c in crop)
        e.copy(f"{buf}[{dst}]", f"{e.ins[0]}[{src}]")
    return True


@register("Pad", since=11)
@dataclass(frozen=True)
class Pad(Op):
    mode: str = "constant"

    def infer(self, inputs, ctx):
        x, pads = inputs[:2]
        self._check_mode()
        value = inputs[2] if len(inputs) > 2 else None
        if value is not None and value.dtype != x.dtype:
            fail(f"constant_value {value} must have the data's dtype ({x})")
        axes = self._axes(inputs, x.rank)
        pads = read_ints(pads, "pads input")
        if axes is None or pads is None:
            touched = range(x.rank) if axes is None else axes
            fresh = iter(fresh_dims(ctx, len(touched), "pad"))
            return [Fact(x.dtype, tuple(next(fresh) if a in touched else d
                                        for a, d in enumerate(x.shape)))]
        widths = pad_widths(x.rank, pads, axes)
        return [Fact(x.dtype, tuple(d + b + e for d, (b, e) in zip(x.shape, widths)))]

    def _check_mode(self):
        if self.mode not in MODES:
            fail(f"unknown mode {self.mode!r}; expected one of {', '.join(MODES)}")

    @staticmethod
    def _axes(inputs, rank):
        if len(inputs) < 4 or inputs[3] is None:
            return list(range(rank))
        axes = read_ints(inputs[3], "axes input")
        return None if axes is None else normalize_axes(axes, rank)

    def eval(self, x, pads, value=None, axes=None):
        self._check_mode()
        axes = range(x.ndim) if axes is None else normalize_axes(as_int_list(axes, "axes"), x.ndim)
        widths = pad_widths(x.ndim, as_int_list(pads, "pads input"), list(axes))
        fill = 0 if value is None or value.size == 0 else value.reshape(-1)[0]
        return (run_pad(x, widths, self.mode, fill),)

    def emit(self, e):
        rank = e.in_facts[0].rank
        pads = constant_ints(e.const(1))
        value, axes = self._optional_const(e, 2), self._optional_const(e, 3)
        if pads is None or value is False or axes is False:
            return False
        axes = list(range(rank)) if axes is None else constant_ints(axes)
        if axes is None:
            return False
        axes = normalize_axes(axes, rank)
        fill = 0 if value is None or value.size == 0 else value.reshape(-1)[0]
        return emit_pad(e, pad_widths(rank, pads, axes), self.mode, fill)

    @staticmethod
    def _optional_const(e, i):
        """Input i's constant value, None when absent, False when it is not a constant."""
        if len(e.ins) <= i or e.ins[i] is None:
            return None
        value = e.const(i)
        return False if value is None else np.asarray(value)


@register("Pad", since=2)
@dataclass(frozen=True)
class PadV2(Pad):
    """Opset 2-10: pads and the fill value are attributes."""
    pads: tuple = ()
    value: float = 0.0

    def infer(self, inputs, ctx):
        self._check_mode()
        x = inputs[0]
        widths = pad_widths(x.rank, list(self.pads), list(range(x.rank)))
        return [Fact(x.dtype, tuple(d + b + e for d, (b, e) in zip(x.shape, widths)))]

    def eval(self, x):
        self._check_mode()
        widths = pad_widths(x.ndim, list(self.pads), list(range(x.ndim)))
        return (run_pad(x, widths, self.mode, self.value),)

    def emit(self, e):
        rank = e.in_facts[0].rank
        return emit_pad(e, pad_widths(rank, list(self.pads), list(range(rank))), self.mode,
                        self.value)


@register("CenterCropPad", since=18)
@dataclass(frozen=True)
class CenterCropPad(Op):
    axes: Optional[tuple] = None

    def infer(self, inputs, ctx):
        x, shape = inputs
        axes = self._axes(x.rank)
        target = read_ints(shape, "shape input")
        if target is None:
            target = fresh_dims(ctx, len(axes), "crop")
        if len(target) != len(axes):
            fail(f"shape input {shape_str(target)} needs one entry per axis {axes}")
        out = list(x.shape)
        for a, d in zip(axes, target):
            out[a] = d
        return [Fact(x.dtype, tuple(out))]

    def _axes(self, rank):
        return list(range(rank)) if self.axes is None else normalize_axes(self.axes, rank)

    def eval(self, x, shape):
        axes = self._axes(x.ndim)
        target = as_int_list(shape, "shape input")
        if len(target) != len(axes) or any(t < 0 for t in target):
            fail(f"shape input {target} needs one non-negative entry per axis {axes}")
        src = [slice(None)] * x.ndim
        dst = [slice(None)] * x.ndim
        out_shape = list(x.shape)
        for a, t in zip(axes, target):
            n = x.shape[a]
            lo = abs(n - t) // 2   # the odd element goes to the end, as onnx's reference does
            (src if t < n else dst)[a] = slice(lo, lo + min(n, t))
            out_shape[a] = t
        out = np.zeros(out_shape, dtype=x.dtype)
        out[tuple(dst)] = x[tuple(src)]
        return (out,)
