"""Indexed writes: ScatterND, ScatterElements and the deprecated Scatter (opset 9-10).

The output is a copy of `data` with `updates` written (or combined, with `reduction`) at the
indices. Reductions go through `ufunc.at`, which applies duplicate indices one after another as
the ONNX spec describes; plain assignment with duplicates is undefined in ONNX (last one wins).
"""
from dataclasses import dataclass

import numpy as np

from ..fact import Fact
from .base import Op, fail, normalize_axis
from .gather import checked_indices, need_indices
from .registry import register
from .sizes import same_dim, shape_str

REDUCTIONS = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def write(out, index, updates, reduction: str):
    if reduction == "none":
        out[index] = updates
    elif reduction in REDUCTIONS:
        REDUCTIONS[reduction].at(out, index, updates)
    else:
        fail(f"unknown reduction {reduction!r}; expected none, {', '.join(REDUCTIONS)}")


def check_same(expected, updates, what):
    if len(expected) != updates.rank or not all(map(same_dim, expected, updates.shape)):
        fail(f"updates {updates} must have shape {shape_str(expected)} ({what})")


@register("ScatterND", since=11)
@dataclass(frozen=True)
class ScatterND(Op):
    reduction: str = "none"

    def infer(self, inputs, ctx):
        data, indices, updates = inputs
        if indices.dtype != np.dtype(np.int64):
            fail(f"indices input must be int64, got {indices}")
        depth = indices.shape[-1] if indices.rank else None
        if not isinstance(depth, int) or not 1 <= depth <= data.rank:
            fail(f"the last dim of indices {indices} must be a constant in 1..{data.rank}")
        check_same(indices.shape[:-1] + data.shape[depth:], updates, "indices[:-1] + data[k:]")
        if updates.dtype != data.dtype:
            fail(f"updates {updates} and data {data} must share one dtype")
        return [Fact(data.dtype, data.shape)]

    def eval(self, data, indices, updates):
        depth = indices.shape[-1]
        flat = indices.reshape(-1, depth)
        index = tuple(checked_indices(flat[:, k], data.shape[k], "indices input")
                      for k in range(depth))
        out = data.copy()
        write(out, index, updates.reshape((-1,) + data.shape[depth:]), self.reduction)
        return (out,)


@register("ScatterElements", since=11)
@dataclass(frozen=True)
class ScatterElements(Op):
    axis: int = 0
    reduction: str = "none"

    def infer(self, inputs, ctx):
        data, indices, updates = inputs
        need_indices(indices)
        if indices.rank != data.rank:
            fail(f"indices {indices} must have the rank of data {data}")
        normalize_axis(self.axis, data.rank)
        check_same(indices.shape, updates, "the shape of indices")
        if updates.dtype != data.dtype:
            fail(f"updates {updates} and data {data} must share one dtype")
        return [Fact(data.dtype, data.shape)]

    def eval(self, data, indices, updates):
        axis = normalize_axis(self.axis, data.ndim)
        if any(i > d for a, (i, d) in enumerate(zip(indices.shape, data.shape)) if a != axis):
            fail(f"indices shape {list(indices.shape)} exceeds data shape {list(data.shape)}")
        grid = list(np.indices(indices.shape, sparse=True))
        grid[axis] = checked_indices(indices, data.shape[axis], "indices input")
        index = tuple(np.broadcast_arrays(*grid))
        out = data.copy()
        write(out, index, updates, self.reduction)
        return (out,)


@register("Scatter", since=9)
@dataclass(frozen=True)
class Scatter(ScatterElements):
    """Deprecated in opset 11 in favour of ScatterElements, which it equals without reduction."""
