"""Resize and Upsample: separable interpolation, one resized axis at a time.

For each resized axis, every output position y maps to a source coordinate x (the
coordinate_transformation_mode), then reads a few taps around x with weights from the
interpolation kernel (nearest, linear, or Keys cubic; antialias widens the kernel by 1/scale
when downsampling). Taps outside the input are clamped to the edge ("edge padding"), as onnx's
reference does. Computation is float64, cast back to the input dtype at the end.
"""
from dataclasses import dataclass
from fractions import Fraction

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
        t = np.abs(t)
        if self.mode == "linear":
            return np.clip(1 - t, 0, 1)
        a = self.cubic_coeff_a
        near = ((a + 2) * t - (a + 3)) * t * t + 1
        far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
        return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def _scaled_dim(dim, scale: float):
    """floor(dim * scale), exact for symbolic dims: the float scale is a binary fraction."""
    if isinstance(dim, int):
        return int(np.floor(scale * dim))
    if not scale > 0:
        fail(f"scales must be positive, got {scale}")
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
        return Resize.infer(self, [inputs[0], None, Fact(np.float32, scales.shape, scales), None], ctx)

    def eval(self, x):
        return Resize.eval(self, x, None, np.array(self.scales, dtype=np.float32), None)
