"""Indexed reads: Gather, GatherElements, GatherND.

Indices are validated before NumPy sees them: ONNX allows negative indices (counted from the
end) but an out-of-range index is a model or input error, reported with the offending value.
Gather also runs on object arrays of Dims (picking `S` out of a Shape value).
"""
from dataclasses import dataclass

import numpy as np

from ..fact import Fact
from ..errors import PulsarError
from .base import Op, fail, need_rank, normalize_axis
from .layout_emit import movable, view3
from .registry import register
from .sizes import read_concrete, same_dim


def need_indices(fact, what="indices input"):
    if fact.dtype not in (np.dtype(np.int64), np.dtype(np.int32)):
        fail(f"{what} must be int32 or int64, got {fact}")


def checked_indices(indices, n: int, what: str) -> np.ndarray:
    """Indices with negatives wrapped, or a clear error for any outside [-n, n)."""
    indices = np.asarray(indices)
    if indices.dtype == object:
        raise TypeError("symbolic indices")
    bad = (indices < -n) | (indices >= n)
    if bad.any():
        value = indices[bad].reshape(-1)[0]
        fail(f"{what} holds {value}, out of range for an axis of size {n} "
             f"(valid: {-n}..{n - 1})")
    return np.where(indices < 0, indices + n, indices).astype(np.int64)


def check_static(fact, n, what: str):
    """Validate constant indices at analysis time when the axis size is known."""
    values = read_concrete(fact, what)
    if values is not None and isinstance(n, int):
        checked_indices(np.array(values, dtype=np.int64), n, what)


@register("Gather", since=1)
@dataclass(frozen=True)
class Gather(Op):
    axis: int = 0

    def infer(self, inputs, ctx):
        data, indices = inputs
        need_indices(indices)
        need_rank(data, "data input", min_rank=1)
        axis = normalize_axis(self.axis, data.rank)
        check_static(indices, data.shape[axis], "indices input")
        shape = data.shape[:axis] + indices.shape + data.shape[axis + 1:]
        return [Fact(data.dtype, shape)]

    def eval(self, data, indices):
        axis = normalize_axis(self.axis, data.ndim)
        idx = checked_indices(indices, data.shape[axis], "indices input")
        return (np.asarray(np.take(data, idx, axis=axis)),)   # a 0-d take gives a scalar

    def emit(self, e):
        """Constant indices: whole frames around `axis` copied one by one, or as one slice
        when the indices are consecutive (a Gather that picks a frame or a range)."""
        data, out, indices = e.in_facts[0], e.out_facts[0], e.const(1)
        if indices is None or np.asarray(indices).dtype == object or not movable(data):
            return False
        axis = normalize_axis(self.axis, data.rank)
        try:
            flat = checked_indices(indices, data.shape[axis], "indices input").reshape(-1)
        except PulsarError:
            return False                # the interpreter reports it, naming the node
        buf = e.buffer(0)
        if flat.size == 0 or 0 in out.shape:
            return True
        x3 = view3(e, e.ins[0], data.shape, axis)
        shape = data.shape[:axis] + (flat.size,) + data.shape[axis + 1:]
        o3 = view3(e, buf, shape, axis, contiguous=True)
        first = int(flat[0])
        if np.array_equal(flat, np.arange(first, first + flat.size)):
            e.copy(o3, f"{x3}[:, {first}:{first + flat.size}, :]")
            return True
        picks, j = e.arg(flat, "m"), e.fresh("j")
        e.line(f"for {j} in range({flat.size}):")
        e.copy(f"{o3}[:, {j}, :]", f"{x3}[:, {picks}[{j}], :]", "    ")
        return True


@register("GatherElements", since=11)
@dataclass(frozen=True)
class GatherElements(Op):
    axis: int = 0

    def infer(self, inputs, ctx):
        data, indices = inputs
        need_indices(indices)
        if data.rank != indices.rank:
            fail(f"data {data} and indices {indices} must have the same rank")
        axis = normalize_axis(self.axis, data.rank)
        check_static(indices, data.shape[axis], "indices input")
        return [Fact(data.dtype, indices.shape)]

    def eval(self, data, indices):
        axis = normalize_axis(self.axis, data.ndim)
        grid = list(np.indices(indices.shape, sparse=True))
        grid[axis] = checked_indices(indices, data.shape[axis], "indices input")
        for a, (d, i) in enumerate(zip(data.shape, indices.shape)):
            if a != axis and i > d:
                fail(f"indices shape {list(indices.shape)} exceeds data shape "
                     f"{list(data.shape)} on axis {a}")
        return (data[tuple(grid)],)


@register("GatherND", since=11)
@dataclass(frozen=True)
class GatherND(Op):
    batch_dims: int = 0

    def infer(self, inputs, ctx):
        data, indices = inputs
        if indices.dtype != np.dtype(np.int64):
            fail(f"indices input must be int64, got {indices}")
        b = self.batch_dims
        need_rank(indices, "indices input", min_rank=b + 1)
        depth = indices.shape[-1]
        if not isinstance(depth, int) or not 1 <= depth <= data.rank - b:
            fail(f"the last dim of indices {indices} must be a constant in 1..{data.rank - b} "
                 f"(data {data}, batch_dims {b})")
        for a in range(b):
            if not same_dim(data.shape[a], indices.shape[a]):
                fail(f"batch dim {a} differs: data {data}, indices {indices}")
        return [Fact(data.dtype, indices.shape[:-1] + data.shape[b + depth:])]

    def eval(self, data, indices):
        b = self.batch_dims
        depth = indices.shape[-1]
        batch = int(np.prod(data.shape[:b]))
        flat_data = data.reshape((batch,) + data.shape[b:])
        flat_idx = indices.reshape((batch, -1, depth))
        picks = [checked_indices(flat_idx[..., k], data.shape[b + k], "indices input")
                 for k in range(depth)]
        rows = np.arange(batch).reshape(batch, 1)
        out = flat_data[(rows, *picks)]
        return (out.reshape(indices.shape[:-1] + data.shape[b + depth:]),)
