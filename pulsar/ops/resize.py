"""Resampling: Resize and Upsample (separable, one resized axis at a time); GridSample and
AffineGrid (sampling at arbitrary points).

For each resized axis, every output position y maps to a source coordinate x (the
coordinate_transformation_mode), then reads a few taps around x with weights from the
interpolation kernel (nearest, linear, or Keys cubic; antialias widens the kernel by 1/scale
when downsampling). Taps outside the input are clamped to the edge ("edge padding"), as onnx's
reference does. Computation is float64, cast back to the input dtype at the end.
"""
from dataclasses import dataclass
from fractions import Fraction
from itertools import product

import numpy as np

from .. import dims
from ..fact import Fact
from .base import Op, fail, normalize_axis
from .registry import register

MODES = ("nearest", "linear", "cubic")
COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                    "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize")
# "simple" is not an ONNX value: it is Resize-10/Upsample's nearest rounding, which has no
# attribute (floor when upsampling, ceil when downsampling, as onnxruntime does).
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")
ASPECT_POLICIES = ("stretch", "not_larger", "not_smaller")


@register("Resize", since=11)
@dataclass(frozen=True)
class Resize(Op):
    """Resize-11..19: inputs (X, roi?, scales?, sizes?); one of scales/sizes is non-empty."""
    antialias: int = 0
    axes: tuple = ()
    coordinate_transformation_mode: str = "half_pixel"
    cubic_coeff_a: float = -0.75
    exclude_outside: int = 0
    extrapolation_value: float = 0.0
    keep_aspect_ratio_policy: str = "stretch"
    mode: str = "nearest"
    nearest_mode: str = "round_prefer_floor"

    def split_inputs(self, inputs):
        """(X, roi, scales, sizes) with empty tensors (opset 11 placeholders) as None."""
        x, roi, scales, sizes = (list(inputs) + [None] * 4)[:4]
        return x, roi, *(None if f is None or f.shape == (0,) else f for f in (scales, sizes))

    def infer(self, inputs, ctx):
        self.check_attributes()
        x, roi, scales, sizes = self.split_inputs(inputs)
        axes = self.resolved_axes(x.rank)
        if (scales is None) == (sizes is None):
            fail(f"exactly one of scales and sizes must be given, got scales={scales}, sizes={sizes}")
        given = scales if sizes is None else sizes
        if given.rank != 1 or (isinstance(given.shape[0], int) and given.shape[0] != len(axes)):
            fail(f"{'scales' if sizes is None else 'sizes'} must be 1-D with one entry per "
                 f"resized axis ({len(axes)}), got {given}")
        shape = list(x.shape)
        for axis, dim in zip(axes, self.output_dims(x.shape, axes, scales, sizes, ctx)):
            shape[axis] = dim
        return [Fact(x.dtype, shape)]

    def check_attributes(self):
        for name, allowed in (("mode", MODES), ("coordinate_transformation_mode", COORDINATE_MODES),
                              ("nearest_mode", NEAREST_MODES),
                              ("keep_aspect_ratio_policy", ASPECT_POLICIES)):
            if getattr(self, name) not in allowed:
                fail(f"{name}={getattr(self, name)!r} is not one of {', '.join(allowed)}")
        if self.antialias and self.mode == "nearest":
            fail("antialias applies to linear and cubic modes only, not nearest")

    def resolved_axes(self, rank) -> list:
        axes = [normalize_axis(a, rank) for a in self.axes] if self.axes else list(range(rank))
        if len(set(axes)) != len(axes):
            fail(f"axes {list(self.axes)} repeat an axis")
        return axes

    def output_dims(self, shape, axes, scales, sizes, ctx) -> list:
        if sizes is not None:
            values = None if sizes.value is None else list(sizes.value.reshape(-1))
            if values is not None and self.keep_aspect_ratio_policy == "stretch":
                return values
            if values is not None and all(isinstance(shape[a], int) for a in axes):
                return self.targets([shape[a] for a in axes], None, values)[1]
        elif scales.value is not None:
            return [_scaled_dim(shape[a], float(s)) for a, s in zip(axes, scales.value.reshape(-1))]
        return [ctx.fresh_symbol(f"resized_{a}") for a in axes]

    def targets(self, lengths, scales, sizes):
        """Per resized axis: (scale, output length), from scales or from sizes and the policy."""
        if sizes is None:
            scales = [float(s) for s in scales]
            if any(not s > 0 for s in scales):
                fail(f"scales must be positive, got {scales}")
            return scales, [int(np.floor(s * n)) for s, n in zip(scales, lengths)]
        sizes = [int(s) for s in sizes]
        if any(n == 0 for n in lengths) or any(s < 0 for s in sizes):
            fail(f"cannot resize axes of lengths {lengths} to sizes {sizes}")
        scales = [s / n for s, n in zip(sizes, lengths)]
        if self.keep_aspect_ratio_policy == "stretch":
            return scales, sizes
        scale = min(scales) if self.keep_aspect_ratio_policy == "not_larger" else max(scales)
        return [scale] * len(sizes), [int(scale * n + 0.5) for n in lengths]

    def eval(self, x, roi=None, scales=None, sizes=None):
        scales = None if scales is None or scales.size == 0 else scales
        sizes = None if sizes is None or sizes.size == 0 else sizes
        axes = self.resolved_axes(x.ndim)
        given = sizes if sizes is not None else scales
        if given is None or given.size != len(axes):
            fail(f"need {len(axes)} scales or sizes for input shape {list(x.shape)}, got {given}")
        factors, lengths = self.targets([x.shape[a] for a in axes], scales, sizes)
        boxes = self.roi_pairs(roi, len(axes))
        out = x.astype(np.float64)
        for axis, scale, length, box in zip(axes, factors, lengths, boxes):
            if length == x.shape[axis] and scale == 1 and box == (0.0, 1.0):
                continue
            out = self.resize_axis(out, axis, scale, length, box)
        return (_cast_back(out, x.dtype),)

    def roi_pairs(self, roi, n) -> list:
        if self.coordinate_transformation_mode != "tf_crop_and_resize" or roi is None or not roi.size:
            return [(0.0, 1.0)] * n
        if roi.size != 2 * n:
            fail(f"roi must hold {2 * n} values (starts then ends), got {roi.size}")
        flat = [float(v) for v in roi.reshape(-1)]
        return list(zip(flat[:n], flat[n:]))

    def resize_axis(self, data, axis, scale, length, box):
        width = data.shape[axis]
        x = self.source_coordinates(np.arange(length, dtype=np.float64), scale, width, length, box)
        taps, weights = self.taps(x, scale)
        if self.exclude_outside:
            weights = np.where((taps < 0) | (taps >= width), 0.0, weights)
            total = weights.sum(axis=1, keepdims=True)
            weights = weights / np.where(total == 0, 1.0, total)
        gathered = np.take(data, np.clip(taps, 0, width - 1), axis=axis)
        shape = (1,) * axis + weights.shape + (1,) * (data.ndim - axis - 1)
        out = (gathered * weights.reshape(shape)).sum(axis=axis + 1)
        if self.coordinate_transformation_mode == "tf_crop_and_resize":
            outside = ((x < 0) | (x > width - 1)).reshape(shape[:axis + 1] + shape[axis + 2:])
            out = np.where(outside, self.extrapolation_value, out)
        return out

    def source_coordinates(self, y, scale, width, length, box):
        """Output index -> input coordinate; `resized` is the unrounded output length, as onnx's
        reference uses it (align_corners divides by it, not by the integer length)."""
        mode, resized = self.coordinate_transformation_mode, scale * width
        if mode == "half_pixel":
            return (y + 0.5) / scale - 0.5
        if mode == "half_pixel_symmetric":
            return width / 2 * (1 - length / resized) + (y + 0.5) / scale - 0.5
        if mode == "pytorch_half_pixel":
            return (y + 0.5) / scale - 0.5 if length > 1 else np.zeros_like(y)
        if mode == "align_corners":
            return np.zeros_like(y) if resized == 1 else y * (width - 1) / (resized - 1)
        if mode == "asymmetric":
            return y / scale
        if mode == "tf_half_pixel_for_nn":
            return (y + 0.5) / scale
        start, end = box
        if resized == 1:
            return np.full_like(y, (end - start) * (width - 1) / 2 + start * (width - 1))
        return y * (end - start) * (width - 1) / (resized - 1) + start * (width - 1)

    def taps(self, x, scale):
        """Input indices [out, n] and weights [out, n] around each coordinate x.

        base = ceil(x) - 1 puts x in (base, base + 1], so an exact integer x counts as the
        right end of its interval: onnx's convention, which decides ties at the edges."""
        base = np.ceil(x).astype(np.int64) - 1
        ratio = x - base
        if self.mode == "nearest":
            return self.nearest(x, base, ratio, scale)[:, None], np.ones((len(x), 1))
        radius = 1 if self.mode == "linear" else 2
        shrink = min(scale, 1.0) if self.antialias else 1.0
        first = int(np.floor(-radius / shrink)) + 1
        taps = base[:, None] + first + np.arange(2 - 2 * first)
        weights = self.kernel((taps - x[:, None]) * shrink)
        if self.antialias:
            weights = weights / weights.sum(axis=1, keepdims=True)
        return taps, weights

    def nearest(self, x, base, ratio, scale):
        mode = self.nearest_mode
        if mode == "simple":
            mode = "ceil" if scale < 1 else "floor"
        if mode == "round_prefer_floor":
            return np.where(ratio <= 0.5, base, base + 1)
        if mode == "round_prefer_ceil":
            return np.where(ratio < 0.5, base, base + 1)
        return (np.floor(x) if mode == "floor" else np.ceil(x)).astype(np.int64)

    def kernel(self, t):
        if self.mode == "linear":
            return np.clip(1 - np.abs(t), 0, 1)
        return keys_cubic(t, self.cubic_coeff_a)


def keys_cubic(t, a):
    """Keys' cubic convolution kernel (a = -0.75 matches PyTorch, -0.5 is Catmull-Rom)."""
    t = np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def _scaled_dim(dim, scale: float):
    """floor(dim * scale), exact for symbolic dims: the float scale is a binary fraction."""
    if not (scale > 0 and np.isfinite(scale)):
        fail(f"scales must be positive and finite, got {scale}")
    if isinstance(dim, int):
        return int(np.floor(scale * dim))
    ratio = Fraction(scale)
    return dims.to_dim(dim * ratio.numerator) // ratio.denominator if ratio.denominator > 1 \
        else dim * ratio.numerator


def _cast_back(out, dtype):
    """Round and saturate into integer types, as onnx's reference does."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.round(out), info.min, info.max).astype(dtype)
    return out.astype(dtype)


@register("Resize", since=10)
@dataclass(frozen=True)
class Resize10(Resize):
    """Resize-10: inputs (X, scales); asymmetric coordinates and legacy nearest rounding."""
    coordinate_transformation_mode: str = "asymmetric"
    nearest_mode: str = "simple"

    def infer(self, inputs, ctx):
        return super().infer([inputs[0], None, inputs[1], None], ctx)

    def eval(self, x, scales):
        return super().eval(x, None, scales, None)


@register("Upsample", since=9)
@dataclass(frozen=True)
class Upsample(Resize10):
    """Upsample-9 is Resize-10 under its older name (scales >= 1)."""


@register("Upsample", since=7)
@dataclass(frozen=True)
class Upsample7(Resize10):
    """Upsample-7 holds its scales in an attribute."""
    scales: tuple = ()

    def infer(self, inputs, ctx):
        scales = np.array(self.scales, dtype=np.float32)
        scales = Fact(np.float32, scales.shape, scales)
        return Resize.infer(self, [inputs[0], None, scales, None], ctx)

    def eval(self, x):
        return Resize.eval(self, x, None, np.array(self.scales, dtype=np.float32), None)


# --- GridSample, AffineGrid: sampling at arbitrary points ---------------------------------

GRID_MODES = {"bilinear": "linear", "bicubic": "cubic", "linear": "linear", "cubic": "cubic",
              "nearest": "nearest"}   # opset 16 names -> opset 20 names


def reflect(x, low, high):
    """Fold coordinates into [low, high] by mirroring at the borders (repeatedly)."""
    span = high - low
    if span <= 0:
        return np.full_like(x, low)
    below = x < low
    dist = np.where(below, low - x, x - high)
    folds = np.floor(dist / span)
    rest = dist - folds * span
    even = folds % 2 == 0
    from_below = np.where(even, low + rest, high - rest)
    from_above = np.where(even, high - rest, low + rest)
    return np.where(below, from_below, np.where(x > high, from_above, x))


@register("GridSample", since=16)
@dataclass(frozen=True)
class GridSample(Op):
    """Y[n, c, *p] = X[n, c] sampled at grid[n, *p] (normalised to [-1, 1], last axis first)."""
    align_corners: int = 0
    mode: str = "bilinear"
    padding_mode: str = "zeros"

    def infer(self, inputs, ctx):
        x, grid = inputs
        if x.rank < 3 or grid.rank != x.rank:
            fail(f"X [N, C, *spatial] and grid [N, *out, {x.rank - 2}] must share their rank, "
                 f"got X {x}, grid {grid}")
        if isinstance(grid.shape[-1], int) and grid.shape[-1] != x.rank - 2:
            fail(f"grid's last axis must hold {x.rank - 2} coordinates, got {grid}")
        if self.mode not in GRID_MODES or self.padding_mode not in ("zeros", "border", "reflection"):
            fail(f"unknown mode {self.mode!r} or padding_mode {self.padding_mode!r}")
        return [Fact(x.dtype, (x.shape[0], x.shape[1], *grid.shape[1:-1]))]

    def eval(self, x, grid):
        spatial = x.shape[2:]
        out = np.empty(x.shape[:2] + grid.shape[1:-1], dtype=x.dtype)
        for n in range(x.shape[0]):
            points = grid[n].reshape(-1, len(spatial)).astype(np.float64)[:, ::-1]
            taps = [self.axis_taps(points[:, i], size) for i, size in enumerate(spatial)]
            values = np.zeros((x.shape[1], len(points)))
            for combo in product(*(range(index.shape[1]) for index, _ in taps)):
                weight = np.prod([w[:, k] for (_, w), k in zip(taps, combo)], axis=0)
                where = tuple(index[:, k] for (index, _), k in zip(taps, combo))
                values += x[n][(slice(None),) + where] * weight
            out[n] = values.reshape(out.shape[1:])
        return (out,)

    def axis_taps(self, coord, size):
        """Input indices [P, taps] and weights [P, taps] along one spatial axis."""
        mode = GRID_MODES[self.mode]
        low, high = (0.0, size - 1.0) if self.align_corners else (-0.5, size - 0.5)
        x = (coord + 1) / 2 * (size - 1) if self.align_corners else ((coord + 1) * size - 1) / 2
        if mode == "nearest":
            x = np.rint(x)
        outside = (x < low) | (x > high)
        # cubic + border clamps each tap, not the point: onnxruntime and PyTorch do (onnx's
        # reference clamps the point first; no conformance case covers the difference)
        if self.padding_mode == "border" and mode != "cubic":
            x = np.where(outside, np.clip(x, 0, size - 1), x)
        elif self.padding_mode == "reflection":
            x = np.where(outside, reflect(x, low, high), x)
        if mode == "nearest":
            index = np.trunc(x).astype(np.int64)[:, None]
            return self.fetch(index, np.ones((len(x), 1)), size, low, high)
        base = np.floor(x)
        offsets = np.arange(2) if mode == "linear" else np.arange(-1, 3)
        index = base.astype(np.int64)[:, None] + offsets
        t = x[:, None] - index
        weight = 1 - np.abs(t) if mode == "linear" else keys_cubic(t, -0.75)
        return self.fetch(index, weight, size, low, high)

    def fetch(self, index, weight, size, low, high):
        """Out-of-range taps: zero weight, the border pixel, or the mirrored pixel."""
        if self.padding_mode == "zeros":
            weight = np.where((index >= 0) & (index < size), weight, 0.0)
        elif self.padding_mode == "reflection":
            index = np.trunc(reflect(index.astype(np.float64), low, high)).astype(np.int64)
        return np.clip(index, 0, size - 1), weight


@register("AffineGrid", since=20)
@dataclass(frozen=True)
class AffineGrid(Op):
    """theta [N, r, r+1] and size [N, C, *spatial] -> grid [N, *spatial, r] for GridSample."""
    align_corners: int = 0

    def infer(self, inputs, ctx):
        theta, size = inputs
        if size.rank != 1 or size.shape[0] not in (4, 5):
            fail(f"size must be [N, C, H, W] or [N, C, D, H, W], got {size}")
        r = size.shape[0] - 2
        if theta.rank != 3 or any(isinstance(d, int) and d != want
                                  for d, want in zip(theta.shape[1:], (r, r + 1))):
            fail(f"theta must be [N, {r}, {r + 1}] for a {r}-D size, got {theta}")
        spatial = list(size.value[2:]) if size.value is not None else \
            [ctx.fresh_symbol(f"grid_{i}") for i in range(r)]
        return [Fact(theta.dtype, (theta.shape[0], *spatial, r))]

    def eval(self, theta, size):
        spatial = [int(v) for v in size.reshape(-1)[2:]]
        axes = [np.linspace(-1, 1, n) if self.align_corners else (2 * np.arange(n) + 1) / n - 1
                for n in spatial]
        mesh = np.meshgrid(*axes, indexing="ij")
        base = np.stack(list(mesh[::-1]) + [np.ones(spatial)], axis=-1)   # (x, y[, z], 1)
        return (np.einsum("nij,...j->n...i", theta.astype(np.float64), base).astype(theta.dtype),)
