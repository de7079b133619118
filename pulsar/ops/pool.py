"""Pooling: MaxPool (with Indices), AveragePool, LpPool, their Global forms, MaxUnpool, RoiAlign.

Window geometry (pads, auto_pad, ceil_mode, dilations) is `conv.SlidingWindow`'s, so pooled
sizes are symbolic exactly as conv sizes are. 1-D runs as 2-D with H == 1; 1-D to 3-D windows
run in `kernels.pool`, in float32 for float16 and 8-bit integer inputs (exact for both).
In a compiled plan (`emit`) float32/float64 pools make the same kernel choice as `eval`
(`kernel_call`, the whole-window rows) and global pools run the middle-axis reductions of
`kernels.reduce`; MaxPool's Indices output stays interpreted.
"""
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..fact import Fact
from ..kernels import pool as kpool
from ..kernels import reduce as kreduce
from .base import Op, fail, need_rank
from .conv import FLOATS, SlidingWindow, check_sizes, compute_dtype
from .conv_emit import literal
from .registry import register
from .scan_extreme import scan_extreme

INT8S = (np.dtype(np.int8), np.dtype(np.uint8))
INDICES = np.dtype(np.int64)
KERNEL_TYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _as_4d(shape):
    """A 1-D pool's (N, C, L) shape as the 2-D kernels see it: (N, C, 1, L)."""
    return (*shape[:2], 1, shape[2])


def _as_2d(kernel, strides, dilations, begins, ends):
    """1-D window parameters as 2-D ones over an H == 1 axis."""
    if len(kernel) != 1:
        return kernel, strides, dilations, begins, ends
    return (1, *kernel), (1, *strides), (1, *dilations), (0, *begins), (0, *ends)


@dataclass(frozen=True)
class Pool(SlidingWindow):
    streams = "window"
    
    def window_refusal(self, padded):
        if self.ceil_mode:
            return "ceil_mode along the stream axis is only supported for MaxPool"
        return None
    
    ceil_mode: int = 0
    dtypes: ClassVar[tuple] = FLOATS

    def infer(self, inputs, ctx):
        x = inputs[0]
        need_rank(x, "input X", min_rank=3)
        if x.dtype not in self.dtypes:
            fail(f"input X must be {'/'.join(d.name for d in self.dtypes)}, got {x}")
        if not self.kernel_shape:
            fail("the kernel_shape attribute is required")
        *_, outs = self.geometry(x.shape[2:], self.kernel_shape, self.ceil_mode)
        check_sizes(outs)
        return [Fact(x.dtype, (*x.shape[:2], *outs))]

    def eval(self, x):
        out = self.pool(x)
        return (out if out.dtype == x.dtype else out.astype(x.dtype),)

    def pool(self, x, indices=None):
        """Run the kernel on x (as float32/64); fill `indices` too when given (MaxPool)."""
        out_shape, window, whole = self.concrete_geometry(x.shape)
        xk = np.ascontiguousarray(x, dtype=compute_dtype(x.dtype))
        out = np.empty(out_shape, dtype=xk.dtype)
        if whole and indices is None and out.size:
            # the window is the whole input: one reduction per (n, c) row of a flat view
            self.whole_kernel(xk.reshape(out.size, -1), out.reshape(-1))
            return out
        if len(out_shape) == 3:
            xk, view = xk[:, :, None], out[:, :, None]
            idx = None if indices is None else indices[:, :, None]
        else:
            view, idx = out, indices
        self.run_kernel(xk, view, window, idx)
        return out

    def concrete_geometry(self, shape):
        """(output shape, 2-D-ified window, whether the window is exactly the whole input)
        for one input shape, computed once."""
        geometry = self._cache.get(shape)
        if geometry is None:
            geometry = self._cache[shape] = self._new_geometry(shape)
        return geometry

    def _new_geometry(self, shape):
        if len(shape) < 3 or len(shape) > 5:
            fail(f"only 1-D, 2-D and 3-D pooling is supported, X is {list(shape)}")
        kernel, strides, dilations, begins, ends, outs = self.geometry(
            shape[2:], self.kernel_shape, self.ceil_mode)
        check_sizes(outs)
        whole = (self.whole_kernel is not None and tuple(kernel) == tuple(shape[2:])
                 and not any(begins) and not any(ends) and all(d == 1 for d in dilations))
        return (*shape[:2], *outs), _as_2d(kernel, strides, dilations, begins, ends), whole

    # the window is the whole input: kernel(x (rows, L), out (rows,)); None when no such path
    whole_kernel: ClassVar = None

    def run_kernel(self, x, out, window, indices):
        fn, args = self.kernel_call(window, x.shape, out.shape)
        fn(x, out, *args)

    def kernel_call(self, window, x_shape, out_shape):
        """(kernel, its scalar arguments after x and out) for a 2-D-ified window from input
        shape `x_shape` to `out_shape` (both rank 4 or 5), or None when only a NumPy path
        exists."""
        raise NotImplementedError

    def emit(self, e):
        x, y = e.in_facts[0], e.out_facts[0]
        if x.dtype not in KERNEL_TYPES or any(f is not None for f in e.out_facts[1:]) \
                or x.rank > 5:
            return False
        out_shape, window, whole = self.concrete_geometry(tuple(x.shape))
        if tuple(out_shape) != tuple(y.shape) or not math.prod(out_shape):
            return False
        in_shape, out_shape = tuple(x.shape), tuple(out_shape)
        if x.rank == 3:         # 1-D pooling runs as 2-D over H == 1
            in_shape, out_shape = _as_4d(in_shape), _as_4d(out_shape)
        call = None if whole else self.kernel_call(window, in_shape, out_shape)
        if not whole and call is None:
            return False
        buf = e.buffer(0)
        xs = e.view(e.ins[0], x.shape)
        if whole:
            rows, cols = math.prod(out_shape), math.prod(x.shape[2:])
            e.line(f"{e.kernel(self.whole_kernel)}({e.view(e.ins[0], (rows, cols))}, "
                   f"{e.view(buf, (rows,))})")
            return True
        if x.rank == 3:
            xs, buf = e.view(e.ins[0], in_shape), e.view(buf, out_shape)
        fn, args = call
        e.line(f"{e.kernel(fn)}({xs}, {buf}, {', '.join(literal(a) for a in args)})")
        return True


@register("MaxPool", since=1)
@dataclass(frozen=True)
class MaxPool(Pool):
    window_fill = -np.inf
    
    def window_refusal(self, padded):
        return None
    
    storage_order: int = 0
    dtypes: ClassVar[tuple] = FLOATS + INT8S

    def infer(self, inputs, ctx):
        y = super().infer(inputs, ctx)[0]
        if ctx.n_outputs > 1 and inputs[0].rank > 4:
            fail(f"the Indices output is supported for 1-D and 2-D pooling only, X is {inputs[0]}")
        # eval only sees arrays: remember whether the node asks for Indices (a slower kernel)
        self._cache["indices"] = ctx.n_outputs > 1
        return [y, Fact(INDICES, y.shape)] if ctx.n_outputs > 1 else [y]

    def eval(self, x):
        if not self._cache.get("indices", True) or x.ndim > 4:
            return super().eval(x)
        indices = np.empty(self.concrete_geometry(x.shape)[0], dtype=INDICES)
        y = self.pool(x, indices)
        return (y if y.dtype == x.dtype else y.astype(x.dtype), indices)

    whole_kernel: ClassVar = staticmethod(kpool.window_max_flat)

    def run_kernel(self, x, out, window, indices):
        if indices is None or out.ndim == 5:
            return super().run_kernel(x, out, window, None)
        kernel, strides, dilations, begins, _ = window
        kpool.maxpool2d_indices(x, out, indices, *kernel, *strides, *dilations, *begins,
                                self.storage_order)

    def kernel_call(self, window, x_shape, out_shape):
        kernel, strides, dilations, begins, _ = window
        if len(out_shape) == 5:
            return kpool.maxpool3d, (*kernel, *strides, *dilations, *begins)
        return kpool.maxpool2d_call(*kernel, *strides, *dilations, *begins, *x_shape[2:],
                                    *out_shape[2:])


@register("AveragePool", since=1)
@dataclass(frozen=True)
class AveragePool(Pool):
    def window_refusal(self, padded):
        if padded and not self.count_include_pad:
            return ("average pooling that excludes padding from its count cannot stream along "
                    "a padded axis yet; set count_include_pad=1 or pad explicitly")
        return super().window_refusal(padded)
    
    count_include_pad: int = 0

    # no pads: count_include_pad changes nothing
    whole_kernel: ClassVar = staticmethod(kpool.window_means_flat)

    def kernel_call(self, window, x_shape, out_shape):
        kernel, strides, dilations, begins, ends = window
        fn = kpool.avgpool3d if len(out_shape) == 5 else kpool.avgpool2d
        return fn, (*kernel, *strides, *dilations, *begins, *ends, int(self.count_include_pad))


@register("LpPool", since=1)
@dataclass(frozen=True)
class LpPool(Pool):
    p: int = 2

    def run_kernel(self, x, out, window, indices):
        if out.ndim == 4:
            return super().run_kernel(x, out, window, indices)
        kernel, strides, dilations, begins, _ = window
        lp_pool_numpy(x, out, kernel, strides, dilations, begins, self._p())

    def kernel_call(self, window, x_shape, out_shape):
        if len(out_shape) != 4:
            return None
        kernel, strides, dilations, begins, _ = window
        return kpool.lppool2d, (*kernel, *strides, *dilations, *begins, self._p())

    def _p(self):
        return int(self.p) if float(self.p).is_integer() else float(self.p)


def lp_pool_numpy(x, out, kernel, strides, dilations, begins, p):
    """Any-rank LpPool over a zero-padded copy (zeros add nothing to sum |x|^p): 3-D fallback."""
    ends = [max(0, (o - 1) * s + (k - 1) * d + 1 - n - b) for o, s, k, d, n, b in
            zip(out.shape[2:], strides, kernel, dilations, x.shape[2:], begins)]
    xp = np.pad(np.abs(x.astype(np.float64)), [(0, 0), (0, 0)] + list(zip(begins, ends)))
    acc = np.zeros(out.shape)
    for tap in np.ndindex(*kernel):
        index = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in
                      zip(tap, dilations, out.shape[2:], strides))
        acc += xp[(slice(None), slice(None), *index)] ** p
    out[...] = acc ** (1.0 / p)


@dataclass(frozen=True)
class GlobalPool(Op):
    reduce: ClassVar = None

    def infer(self, inputs, ctx):
        x = inputs[0]
        need_rank(x, "input X", min_rank=3)
        if x.dtype not in FLOATS:
            fail(f"input X must be float, got {x}")
        return [Fact(x.dtype, (*x.shape[:2], *([1] * (x.rank - 2))))]

    def eval(self, x):
        axes = tuple(range(2, x.ndim))
        return (self.reduce(x, axes).astype(x.dtype, copy=False),)

    def emit(self, e):
        """One reduction per (n, c) row over the flattened spatial axes."""
        x = e.in_facts[0]
        if x.dtype not in KERNEL_TYPES or len(e.outs) != 1 or not math.prod(x.shape):
            return False
        view = (x.shape[0] * x.shape[1], math.prod(x.shape[2:]), 1)
        out = e.view(e.buffer(0), (x.shape[0] * x.shape[1], 1))
        args = self.emit_args(e, math.prod(x.shape[2:]))
        e.line(f"{e.kernel(self.middle_kernel)}({e.view(e.ins[0], view)}, {out}{args})")
        return True

    def emit_args(self, e, n):
        return ""


@register("GlobalAveragePool", since=1)
@dataclass(frozen=True)
class GlobalAveragePool(GlobalPool):
    middle_kernel: ClassVar = staticmethod(kreduce.sum_middle)

    def reduce(self, x, axes):
        return x.mean(axis=axes, keepdims=True, dtype=np.float64 if x.dtype != np.float64 else None)

    def emit_args(self, e, n):
        """float64 sums as eval's mean (dtype=float64), divided by the spatial size."""
        return f", {e.new_buffer((1,), np.float64)}, {float(n)!r}"


@register("GlobalMaxPool", since=1)
@dataclass(frozen=True)
class GlobalMaxPool(GlobalPool):
    middle_kernel: ClassVar = staticmethod(kreduce.max_middle)      # the scan rule for NaN

    def reduce(self, x, axes):
        return scan_extreme(x, axes, keepdims=True, largest=True)


@register("GlobalLpPool", since=1)
@dataclass(frozen=True)
class GlobalLpPool(GlobalPool):
    p: int = 2

    def reduce(self, x, axes):
        return (np.abs(x.astype(np.float64)) ** self.p).sum(axis=axes, keepdims=True) ** (1.0 / self.p)


@register("MaxUnpool", since=9)
@dataclass(frozen=True)
class MaxUnpool(SlidingWindow):
    """Scatter X into zeros at MaxPool's flat Indices; the size is output_shape or the inverse
    of the pooling size formula."""

    def infer(self, inputs, ctx):
        x, ind, shape = (list(inputs) + [None])[:3]
        need_rank(x, "input X", min_rank=3)
        if ind.dtype != INDICES or ind.shape != x.shape:
            fail(f"indices I must be int64 with X's shape, got X {x}, I {ind}")
        if shape is not None:
            if shape.rank != 1 or shape.shape[0] != x.rank:
                fail(f"output_shape must be 1-D with {x.rank} values, got {shape}")
            if shape.value is not None:
                return [Fact(x.dtype, tuple(shape.value.tolist()))]
            return [Fact(x.dtype, tuple(ctx.fresh_symbol(f"unpool{i}") for i in range(x.rank)))]
        return [Fact(x.dtype, (*x.shape[:2], *self.default_sizes(x.shape[2:])))]

    def default_sizes(self, sizes):
        kernel, strides, _, pads = self.window(len(sizes), self.kernel_shape)
        r = len(sizes)
        return [(n - 1) * strides[i] + kernel[i] - pads[i] - pads[i + r] for i, n in enumerate(sizes)]

    def eval(self, x, indices, output_shape=None):
        # Indices address the default-sized output, which a larger output_shape holds at its
        # origin (as onnx's reference; onnxruntime agrees on the test cases).
        shape = (*x.shape[:2], *self.default_sizes(x.shape[2:]))
        out = np.zeros(shape, dtype=x.dtype)
        flat = indices.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= out.size):
            fail(f"indices must lie in [0, {out.size}) for output shape {list(shape)}")
        out.reshape(-1)[flat] = x.reshape(-1)
        if output_shape is None:
            return (out,)
        padded = np.zeros(tuple(int(v) for v in output_shape), dtype=x.dtype)
        common = tuple(slice(0, min(a, b)) for a, b in zip(shape, padded.shape))
        padded[common] = out[common]
        return (padded,)


@register("RoiAlign", since=10)
@dataclass(frozen=True)
class RoiAlign(Op):
    """Bilinear samples on a grid in each output bin, averaged or maxed, as onnxruntime (whose
    "max" takes the largest weighted corner, not the largest interpolated value)."""
    coordinate_transformation_mode: str = "output_half_pixel"    # opset 10 behaviour
    mode: str = "avg"
    output_height: int = 1
    output_width: int = 1
    sampling_ratio: int = 0
    spatial_scale: float = 1.0

    def infer(self, inputs, ctx):
        x, rois, batch = inputs
        need_rank(x, "input X", rank=4)
        if x.dtype not in FLOATS or rois.dtype != x.dtype:
            fail(f"X and rois must share one float dtype, got X {x}, rois {rois}")
        if rois.rank != 2 or rois.shape[1] != 4 or batch.rank != 1 or batch.dtype != INDICES:
            fail(f"rois must be [num_rois, 4] and batch_indices int64 [num_rois], got {rois}, {batch}")
        if self.mode not in ("avg", "max"):
            fail(f"mode must be avg or max, got {self.mode!r}")
        return [Fact(x.dtype, (rois.shape[0], x.shape[1], self.output_height, self.output_width))]

    def eval(self, x, rois, batch_indices):
        if batch_indices.size and (batch_indices.min() < 0 or batch_indices.max() >= x.shape[0]):
            fail(f"batch_indices must lie in [0, {x.shape[0]}), got {batch_indices.tolist()}")
        out = np.empty((len(rois), x.shape[1], self.output_height, self.output_width), x.dtype)
        for i, (roi, b) in enumerate(zip(rois.astype(np.float64), batch_indices)):
            out[i] = self._one_roi(x[b].astype(np.float64), roi)
        return (out,)

    def _one_roi(self, image, roi):
        offset = 0.5 if self.coordinate_transformation_mode == "half_pixel" else 0.0
        x0, y0, x1, y1 = roi * self.spatial_scale - offset
        c, height, width = image.shape
        ys, gh = self._axis(y0, y1, self.output_height, height)
        xs, gw = self._axis(x0, x1, self.output_width, width)
        if gh == 0 or gw == 0:    # an empty ROI samples nothing: 0, as onnxruntime
            return np.zeros((c, self.output_height, self.output_width))
        corners = [wy[:, None] * wx[None, :] * image[:, iy[:, None], ix[None, :]]
                   for iy, wy in ys for ix, wx in xs]
        shape = (c, self.output_height, gh, self.output_width, gw)
        if self.mode == "avg":
            return sum(corners).reshape(shape).sum(axis=(2, 4)) / (gh * gw)
        return np.maximum.reduce(corners).reshape(shape).max(axis=(2, 4))

    def _axis(self, start, end, bins, limit):
        """Sample rows (or columns) of one ROI: ((low index, weight), (high index, weight)), and
        the samples per bin. Samples beyond [-1, limit] get zero weight."""
        size = end - start
        if self.coordinate_transformation_mode != "half_pixel":
            size = max(size, 1.0)    # malformed ROIs become 1x1
        step = size / bins
        grid = self.sampling_ratio if self.sampling_ratio > 0 else max(int(np.ceil(size / bins)), 0)
        pos = start + (np.arange(bins)[:, None] * step +
                       (np.arange(grid)[None, :] + 0.5) * step / grid).reshape(-1)
        valid = (pos >= -1.0) & (pos <= limit)
        pos = np.maximum(pos, 0.0)
        low = pos.astype(np.int64)
        edge = low >= limit - 1
        low = np.where(edge, limit - 1, low)
        high = np.where(edge, limit - 1, low + 1)
        frac = np.where(edge, 0.0, pos - low) * valid
        low, high = np.where(valid, low, 0), np.where(valid, high, 0)
        return ((low, (1.0 - frac) * valid), (high, frac)), grid


@register("RoiAlign", since=16)
@dataclass(frozen=True)
class RoiAlign16(RoiAlign):
    coordinate_transformation_mode: str = "half_pixel"
