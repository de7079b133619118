"""Ops whose output size depends on the data: NonZero, Compress, Unique.

Their sizes get a fresh symbol at analysis (unless the deciding input is constant), so
downstream shapes stay symbolic instead of unknown.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..fact import Fact
from .base import Op, fail, need_rank, normalize_axis
from .registry import register
from .sizes import product

INT64 = np.dtype(np.int64)


@register("NonZero", since=9)
@dataclass(frozen=True)
class NonZero(Op):
    def infer(self, inputs, ctx):
        x = inputs[0]
        return [Fact(INT64, (x.rank, ctx.fresh_symbol("nonzero")))]

    def eval(self, x):
        if x.ndim == 0:   # NumPy refuses 0-d nonzero; ONNX gives a [0, count] tensor
            return (np.zeros((0, int(bool(x))), dtype=np.int64),)
        return (np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1),)


@register("Compress", since=9)
@dataclass(frozen=True)
class Compress(Op):
    axis: Optional[int] = None

    def infer(self, inputs, ctx):
        x, cond = inputs
        if cond.dtype != np.dtype(bool):
            fail(f"condition must be bool, got {cond}")
        need_rank(cond, "condition", rank=1)
        count = ctx.fresh_symbol("compress") if cond.value is None else int(cond.value.sum())
        if self.axis is None:
            return [Fact(x.dtype, (count,))]
        axis = normalize_axis(self.axis, x.rank)
        return [Fact(x.dtype, x.shape[:axis] + (count,) + x.shape[axis + 1:])]

    def eval(self, x, cond):
        n = x.size if self.axis is None else x.shape[normalize_axis(self.axis, x.ndim)]
        if cond.shape[0] > n and cond[n:].any():
            fail(f"condition selects index {int(np.flatnonzero(cond)[-1])}, beyond the "
                 f"{n} entries of the input")
        return (np.compress(cond[:n], x, axis=self.axis),)


@register("Unique", since=11)
@dataclass(frozen=True)
class Unique(Op):
    axis: Optional[int] = None
    sorted: int = 1

    def infer(self, inputs, ctx):
        x = inputs[0]
        count = ctx.fresh_symbol("unique")
        if self.axis is None:
            y_shape, n = (count,), product(x.shape)
        else:
            axis = normalize_axis(self.axis, x.rank)
            y_shape, n = x.shape[:axis] + (count,) + x.shape[axis + 1:], x.shape[axis]
        return [Fact(x.dtype, y_shape), Fact(INT64, (count,)), Fact(INT64, (n,)),
                Fact(INT64, (count,))]

    def eval(self, x):
        axis = None if self.axis is None else normalize_axis(self.axis, x.ndim)
        source = x.reshape(-1) if axis is None else x
        y, first, inverse, counts = np.unique(source, True, True, True, axis=axis)
        inverse = inverse.reshape(-1)
        if not self.sorted:   # reorder by first occurrence
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            first, counts, inverse = first[order], counts[order], rank[inverse]
            y = np.take(source, first, axis=0 if axis is None else axis)
        return (y, first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64))
