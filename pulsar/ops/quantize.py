"""Linear quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearConv.

A scale (and zero point) is per tensor (scalar or one element), per axis (1-D along `axis`) or
blocked (same rank as x, `axis` shrunk to ceil(n / block_size)). Integer results round half to
even and saturate, as ONNX specifies. The narrow types (int4/uint4/int2/uint2, float8, float4)
are ml_dtypes dtypes, as onnx itself represents them.
"""
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from .. import dtypes
from ..fact import Fact
from .base import Op, fail, normalize_axis
from .conv import ConvInteger
from .registry import register

INTEGER_TYPES = tuple(np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, ml_dtypes.uint4,
                                            ml_dtypes.int4, ml_dtypes.uint2, ml_dtypes.int2))
FLOAT8_TYPES = tuple(np.dtype(t) for t in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz,
                                           ml_dtypes.float8_e5m2, ml_dtypes.float8_e5m2fnuz))
# no Inf/NaN encodings: ml_dtypes' cast already saturates them
SMALL_FLOAT_TYPES = (np.dtype(ml_dtypes.float4_e2m1fn),)
QUANTIZED_TYPES = INTEGER_TYPES + FLOAT8_TYPES + SMALL_FLOAT_TYPES
FLOATS = tuple(np.dtype(t) for t in (np.float16, np.float32, np.float64, ml_dtypes.bfloat16))


def per_tensor(shape) -> bool:
    return len(shape) == 0 or tuple(shape) == (1,)


def check_param(param: Fact, x: Fact, axis: int, block_size: int, name: str):
    """A scale or zero point must be per tensor, per axis, or blocked along `axis`."""
    if block_size < 0:
        fail(f"block_size must be >= 0, got {block_size}")
    if param is None or (per_tensor(param.shape) and not block_size):
        return
    axis = normalize_axis(axis, x.rank)
    if block_size:
        blocks = (x.shape[axis] + block_size - 1) // block_size
        want = x.shape[:axis] + (blocks,) + x.shape[axis + 1:]
        if param.rank != x.rank or any(isinstance(a, int) and isinstance(b, int) and a != b
                                       for a, b in zip(param.shape, want)):
            fail(f"{name} must have shape [{','.join(map(str, want))}] for block_size "
                 f"{block_size} along axis {axis} of x {x}, got {param}")
    elif param.rank > 1 or (param.rank == 1 and isinstance(param.shape[0], int)
                            and isinstance(x.shape[axis], int) and param.shape[0] != x.shape[axis]):
        fail(f"{name} must be a scalar or 1-D of length x.shape[{axis}] = {x.shape[axis]}, "
             f"got {param}")


def expand_param(value: np.ndarray, shape: tuple, axis: int, block_size: int) -> np.ndarray:
    """A scale/zero point broadcastable against x of `shape`."""
    if per_tensor(value.shape) and not block_size:
        return value.reshape(())
    axis = normalize_axis(axis, len(shape))
    if not block_size:
        if value.ndim != 1 or value.size != shape[axis]:
            fail(f"per-axis parameter of shape {list(value.shape)} does not fit axis {axis} of "
                 f"{list(shape)}")
        return value.reshape((1,) * axis + (-1,) + (1,) * (len(shape) - axis - 1))
    want = tuple(shape[:axis]) + (-(-shape[axis] // block_size),) + tuple(shape[axis + 1:])
    if block_size < 0 or value.shape != want:
        fail(f"blocked parameter of shape {list(value.shape)} does not fit {list(shape)} "
             f"with block_size {block_size} along axis {axis}: expected {list(want)}")
    expanded = np.repeat(value, block_size, axis=axis)
    return np.take(expanded, np.arange(shape[axis]), axis=axis)


def saturate(values: np.ndarray, dtype) -> np.ndarray:
    """Round half to even, clip to the range of `dtype`, cast."""
    info = ml_dtypes.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)


@dataclass(frozen=True)
class Quantization(Op):
    streams = "elementwise"
    axis: int = 1
    block_size: int = 0

    def expand(self, param, shape):
        return expand_param(param, shape, self.axis, self.block_size)


@register("QuantizeLinear", since=10)
@dataclass(frozen=True)
class QuantizeLinear(Quantization):
    """y = saturate(round(x / scale) + zero_point); opset 10..25 attributes in one class."""
    output_dtype: int = 0
    precision: int = 0
    saturate: int = 1

    def infer(self, inputs, ctx):
        x, scale, zero = (list(inputs) + [None])[:3]
        if x.dtype not in FLOATS + (np.dtype(np.int32),) or scale.dtype not in FLOATS:
            fail(f"x and y_scale must be floating point, got x {x}, y_scale {scale}")
        check_param(scale, x, self.axis, self.block_size, "y_scale")
        check_param(zero, x, self.axis, self.block_size, "y_zero_point")
        return [Fact(self.result_dtype(None if zero is None else zero.dtype), x.shape)]

    def result_dtype(self, zero_dtype):
        """The zero point's dtype, else output_dtype, else uint8."""
        declared = dtypes.from_onnx(self.output_dtype) if self.output_dtype else None
        if zero_dtype is not None and declared is not None and zero_dtype != declared:
            fail(f"output_dtype {declared} differs from y_zero_point's dtype {zero_dtype}")
        dtype = zero_dtype if zero_dtype is not None else declared or np.dtype(np.uint8)
        if dtype not in QUANTIZED_TYPES:
            names = ", ".join(t.name for t in QUANTIZED_TYPES)
            fail(f"cannot quantize to {dtype}; supported: {names}")
        return dtype

    def eval(self, x, scale, zero=None):
        dtype = self.result_dtype(None if zero is None else zero.dtype)
        scale = self.expand(scale, x.shape)
        if self.precision:
            working = dtypes.from_onnx(self.precision)
            q = x.astype(working) / scale.astype(working)
        else:
            q = x / scale
        if dtype in INTEGER_TYPES:
            if zero is not None:
                q = np.rint(q) + self.expand(zero, x.shape).astype(np.float64)
            return (saturate(q, dtype),)
        if dtype in FLOAT8_TYPES:   # a float8 zero point is always 0: ignored, as onnx does
            if self.saturate:
                info = ml_dtypes.finfo(dtype)
                q = np.clip(q, float(info.min), float(info.max))
            return (q.astype(dtype),)
        if zero is not None:
            q = q + self.expand(zero, x.shape).astype(np.float32)
        return (q.astype(dtype),)


@register("DequantizeLinear", since=10)
@dataclass(frozen=True)
class DequantizeLinear(Quantization):
    """y = (x - zero_point) * scale, in the scale's dtype unless output_dtype says otherwise."""
    output_dtype: int = 0

    def infer(self, inputs, ctx):
        x, scale, zero = (list(inputs) + [None])[:3]
        if x.dtype not in QUANTIZED_TYPES + (np.dtype(np.int32),):
            fail(f"x must be a quantized type, got {x}")
        if scale.dtype not in FLOATS:
            fail(f"x_scale must be floating point, got {scale}")
        if zero is not None and zero.dtype != x.dtype:
            fail(f"x_zero_point must have x's dtype {x.dtype}, got {zero}")
        check_param(scale, x, self.axis, self.block_size, "x_scale")
        check_param(zero, x, self.axis, self.block_size, "x_zero_point")
        return [Fact(self.result_dtype(scale.dtype), x.shape)]

    def result_dtype(self, scale_dtype):
        return dtypes.from_onnx(self.output_dtype) if self.output_dtype else np.dtype(scale_dtype)

    def eval(self, x, scale, zero=None):
        values = x.astype(np.float32)
        # only integer types have real zero points; float8/float4 ones must be 0 (onnx skips them)
        if zero is not None and x.dtype in INTEGER_TYPES + (np.dtype(np.int32),):
            values = values - self.expand(zero, x.shape).astype(np.float32)
        y = values * self.expand(scale, x.shape)
        return (y.astype(self.result_dtype(scale.dtype)),)


@register("DynamicQuantizeLinear", since=11)
@dataclass(frozen=True)
class DynamicQuantizeLinear(Op):
    """uint8 quantization whose range always includes 0, computed from x itself."""

    def infer(self, inputs, ctx):
        x = inputs[0]
        if x.dtype != np.float32:
            fail(f"x must be float32, got {x}")
        return [Fact(np.uint8, x.shape), Fact(np.float32, ()), Fact(np.uint8, ())]

    def eval(self, x):
        high = np.float32(max(0.0, float(np.max(x)))) if x.size else np.float32(0)
        low = np.float32(min(0.0, float(np.min(x)))) if x.size else np.float32(0)
        # an all-zero x gets scale 1 (onnxruntime; onnx's reference computes 1/255)
        scale = np.float32(1.0) if high == low else np.float32(high - low) / np.float32(255)
        zero = np.rint(np.clip(np.float32(0) - low / scale, 0, 255))
        y = np.clip(np.rint(x / scale) + zero, 0, 255).astype(np.uint8)
        return y, np.array(scale, dtype=np.float32), np.array(zero, dtype=np.uint8)


@register("QLinearConv", since=10)
@dataclass(frozen=True)
class QLinearConv(ConvInteger):
    """ConvInteger on zero-point-shifted integers, then requantized to y's scale/zero point."""

    def infer(self, inputs, ctx):
        x, xs, xz, w, ws, wz, ys, yz, b = (list(inputs) + [None] * 9)[:9]
        if b is not None and (b.dtype != np.int32 or b.rank != 1):
            fail(f"bias B must be 1-D int32, got {b}")
        for name, f in (("x_scale", xs), ("w_scale", ws), ("y_scale", ys)):
            if f is None or f.dtype != np.float32 or f.rank > 1:
                fail(f"{name} must be a float32 scalar or 1-D, got {f}")
        out = super().infer([x, w, xz, wz], ctx)[0]
        dtype = yz.dtype if yz is not None else x.dtype
        return [Fact(dtype, out.shape)]

    def eval(self, x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero=None, b=None):
        acc = super().eval(x, w, x_zero, w_zero)[0].astype(np.float64)
        if b is not None:
            acc += b.reshape((1, -1) + (1,) * (acc.ndim - 2))
        w_scale = w_scale.astype(np.float64).reshape(-1)
        if w_scale.size > 1:
            w_scale = w_scale.reshape((1, -1) + (1,) * (acc.ndim - 2))
        y = acc * (float(x_scale.reshape(-1)[0]) * w_scale / float(y_scale.reshape(-1)[0]))
        dtype = y_zero.dtype if y_zero is not None else x.dtype
        if y_zero is not None:
            y = np.rint(y) + float(y_zero.reshape(-1)[0])
        return (saturate(y, dtype),)
