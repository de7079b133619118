"""Order statistics along one axis: ArgMax, ArgMin, TopK.

Ties resolve to the lowest index (ONNX and onnxruntime), or to the highest for ArgMax/ArgMin
with select_last_index=1. Indices are int64. NaN follows onnxruntime's scan (see
scan_extreme): it is chosen only when it comes first.
"""
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..fact import Fact
from .base import Op, fail, normalize_axis
from .registry import register
from .scan_extreme import scan_arg

INT64 = np.dtype(np.int64)


@dataclass(frozen=True)
class ArgReduce(Op):
    streams = "follows"
    reduces = True
    axis: int = 0
    keepdims: int = 1
    select_last_index: int = 0
    largest: ClassVar = True

    def infer(self, inputs, ctx):
        x = inputs[0]
        axis = normalize_axis(self.axis, x.rank)
        if x.shape[axis] == 0:
            fail(f"axis {self.axis} of input {x} is empty: there is no extremum to index")
        shape = x.shape[:axis] + ((1,) if self.keepdims else ()) + x.shape[axis + 1:]
        return [Fact(INT64, shape)]

    def eval(self, x):
        axis = normalize_axis(self.axis, x.ndim)
        index = scan_arg(x, axis, type(self).largest, bool(self.select_last_index))
        index = np.asarray(index, dtype=INT64)
        return (np.expand_dims(index, axis) if self.keepdims else index,)


@register("ArgMax", since=1)
@dataclass(frozen=True)
class ArgMax(ArgReduce):
    largest: ClassVar = True


@register("ArgMin", since=1)
@dataclass(frozen=True)
class ArgMin(ArgReduce):
    largest: ClassVar = False


def top_k(x: np.ndarray, k: int, axis: int, largest: bool):
    """(values, int64 indices) of the k largest/smallest along `axis`; ties: lowest index first."""
    n = x.shape[axis]
    if not 0 <= k <= n:
        fail(f"k = {k} is out of range for axis {axis} of size {n}")
    if k == 1 and n > 0:    # argmax/argmin already pick the first of equal extremes
        index = np.expand_dims((np.argmax if largest else np.argmin)(x, axis=axis), axis)
    elif largest:
        # a stable ascending sort of the flipped axis, read backwards: descending values,
        # equal values by ascending original index
        order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
        index = n - 1 - np.flip(order, axis).take(np.arange(k), axis=axis)
    else:
        index = np.argsort(x, axis=axis, kind="stable").take(np.arange(k), axis=axis)
    index = index.astype(INT64, copy=False)
    return np.take_along_axis(x, index, axis=axis), index


@dataclass(frozen=True)
class TopK(Op):
    """Opset 11: k is an input; `largest` picks the direction; output is always sorted."""
    axis: int = -1
    largest: int = 1
    sorted: int = 1     # sorted=0 leaves the order unspecified, so sorted output conforms

    def infer(self, inputs, ctx):
        x = inputs[0]
        axis = normalize_axis(self.axis, x.rank)
        k = self.k_dim(inputs, ctx)
        if isinstance(k, int) and isinstance(x.shape[axis], int) and not 0 <= k <= x.shape[axis]:
            fail(f"k = {k} is out of range for axis {self.axis} of input {x}")
        shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
        return [Fact(x.dtype, shape), Fact(INT64, shape)]

    def k_dim(self, inputs, ctx):
        k = inputs[1] if len(inputs) > 1 else None
        if k is None or k.dtype != INT64 or k.shape not in ((1,), ()):
            fail(f"K must be a 1-element int64 tensor, got {k}")
        if k.value is None:
            return ctx.fresh_symbol("k")
        return k.value.reshape(-1)[0] if k.value.dtype == object else int(k.value.reshape(-1)[0])

    def eval(self, x, k):
        axis = normalize_axis(self.axis, x.ndim)
        return top_k(x, int(k.reshape(-1)[0]), axis, bool(self.largest))


@register("TopK", since=1)
@dataclass(frozen=True)
class TopK1(TopK):
    """Opset 1: k is an attribute; always the largest."""
    k: int = 0

    def k_dim(self, inputs, ctx):
        if self.k < 0:
            fail(f"attribute k must be >= 0, got {self.k}")
        return self.k

    def eval(self, x):
        return top_k(x, self.k, normalize_axis(self.axis, x.ndim), True)


@register("TopK", since=10)
@dataclass(frozen=True)
class TopK10(TopK):
    """Opset 10: k is an input; always the largest."""


register("TopK", since=11)(TopK)
