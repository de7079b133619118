"""Ops that make a tensor from a shape and a few parameters: ConstantOfShape, Range, EyeLike,
OneHot, Trilu.

Their output sizes come from input *values*; a symbolic value (a Dim from shape arithmetic)
gives a symbolic size, e.g. `Range(0, S, 2)` has `(S+1)/2` elements.
"""
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .. import dims, dtypes
from ..fact import Fact
from .base import Op, fail, need_rank, normalize_axis
from .registry import register
from .sizes import as_int_list, fresh_dims, read_ints, vector_length


@register("ConstantOfShape", since=9)
@dataclass(frozen=True, eq=False)   # an ndarray field: equality by identity, still hashable
class ConstantOfShape(Op):
    value: Optional[np.ndarray] = None   # one-element tensor; ONNX default is float32 0

    def _fill(self):
        if self.value is None:
            return np.zeros((), dtype=np.float32)
        if self.value.size != 1:
            fail(f"value attribute must hold one element, got shape {list(self.value.shape)}")
        return self.value.reshape(())

    def infer(self, inputs, ctx):
        shape = inputs[0]
        fill = self._fill()
        target = read_ints(shape, "shape input")
        if target is None:
            return [Fact(fill.dtype, fresh_dims(ctx, vector_length(shape, "shape input"),
                                                "constant"))]
        if any(isinstance(d, int) and d < 0 for d in target):
            fail(f"shape input {target} has a negative dim")
        return [Fact(fill.dtype, tuple(target))]

    def eval(self, shape):
        target = as_int_list(shape, "shape input")
        if any(d < 0 for d in target):
            fail(f"shape input {target} has a negative dim")
        fill = self._fill()
        return (np.full(target, fill, dtype=fill.dtype),)


def _scalar(fact, what):
    """A scalar input's value: int | Dim for integers, float otherwise, None when unknown."""
    if fact.rank != 0 and fact.shape != (1,):
        fail(f"{what} must be a scalar, got {fact}")
    if fact.value is None:
        return None
    v = fact.value.reshape(-1)[0]
    if isinstance(v, dims.Dim):
        return v
    return int(v) if fact.value.dtype.kind in "iuO" else float(v)


def range_length(start, limit, delta):
    """max(ceil((limit - start) / delta), 0); symbolic when limit/start are Dims."""
    if delta == 0:
        fail("delta input is 0: the range would be infinite")
    if all(isinstance(v, int) for v in (start, limit, delta)):
        return max(-((start - limit) // delta), 0)
    if not isinstance(delta, int):
        if any(isinstance(v, dims.Dim) for v in (start, limit, delta)):
            return None
        return max(math.ceil((float(limit) - float(start)) / float(delta)), 0)
    # a symbolic range is taken as non-empty: start and limit lie in delta's direction
    return (limit - start + delta - 1) // delta if delta > 0 else \
        (start - limit - delta - 1) // (-delta)


@register("Range", since=11)
@dataclass(frozen=True)
class Range(Op):
    def infer(self, inputs, ctx):
        if len({f.dtype for f in inputs}) != 1:
            fail("start, limit and delta must share one dtype, got " +
                 ", ".join(str(f) for f in inputs))
        values = [_scalar(f, name) for f, name in zip(inputs, ("start", "limit", "delta"))]
        n = None if None in values else range_length(*values)
        if n is None:
            n = ctx.fresh_symbol("range")
        return [Fact(inputs[0].dtype, (n,))]

    def eval(self, start, limit, delta):
        if object in (start.dtype, limit.dtype, delta.dtype):
            start, limit, delta = (np.array(as_int_list(v, "range bound")[0]) for v in
                                   (start, limit, delta))   # TypeError when symbolic
        if delta.reshape(-1)[0] == 0:
            fail("delta input is 0: the range would be infinite")
        # as onnx's reference does, so float ranges agree to the last element
        return (np.arange(start.reshape(-1)[0], limit.reshape(-1)[0],
                          delta.reshape(-1)[0]).astype(start.dtype),)


@register("EyeLike", since=9)
@dataclass(frozen=True)
class EyeLike(Op):
    dtype: Optional[int] = None   # ONNX element type; default: the input's
    k: int = 0

    def _dtype(self, fallback):
        return fallback if self.dtype is None else dtypes.from_onnx(self.dtype)

    def infer(self, inputs, ctx):
        need_rank(inputs[0], "input", rank=2)
        return [Fact(self._dtype(inputs[0].dtype), inputs[0].shape)]

    def eval(self, x):
        return (np.eye(x.shape[0], x.shape[1], self.k, dtype=self._dtype(x.dtype)),)


@register("OneHot", since=9)
@dataclass(frozen=True)
class OneHot(Op):
    axis: int = -1

    def infer(self, inputs, ctx):
        indices, depth, values = inputs
        if values.rank != 1 or values.shape[0] not in (2,):
            fail(f"values input must hold [off_value, on_value], got {values}")
        n = _scalar(depth, "depth input")
        if n is None:
            n = ctx.fresh_symbol("depth")
        elif not isinstance(n, dims.Dim):
            n = int(n)
            if n < 1:
                fail(f"depth input is {n}; it must be positive")
        axis = normalize_axis(self.axis, indices.rank + 1)
        shape = indices.shape[:axis] + (n,) + indices.shape[axis:]
        return [Fact(values.dtype, shape)]

    def eval(self, indices, depth, values):
        if depth.dtype == object:
            raise TypeError("symbolic depth")
        n = int(depth.reshape(-1)[0])
        axis = normalize_axis(self.axis, indices.ndim + 1)
        wrapped = np.where(indices < 0, indices + n, indices)   # out of range: all off
        targets = np.arange(n).reshape((n,) + (1,) * (indices.ndim - axis))
        hot = np.expand_dims(wrapped, axis) == targets
        return (np.where(hot, values[1], values[0]).astype(values.dtype),)


@register("Trilu", since=14)
@dataclass(frozen=True)
class Trilu(Op):
    upper: int = 1

    def infer(self, inputs, ctx):
        need_rank(inputs[0], "input", min_rank=2)
        if len(inputs) > 1 and inputs[1] is not None and inputs[1].rank not in (0, 1):
            fail(f"k input must be a scalar, got {inputs[1]}")
        return [Fact(inputs[0].dtype, inputs[0].shape)]

    def eval(self, x, k=None):
        k = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
        return ((np.triu if self.upper else np.tril)(x, k),)
