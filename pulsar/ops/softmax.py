"""Softmax, LogSoftmax and Hardmax, on the row kernels of kernels/softmax.py.

Opset < 13 coerces the input to 2-D: rows = prod(shape[:axis]), cols = prod(shape[axis:]), the
op runs over each whole row (default axis 1). Opset >= 13 works along one axis (default -1);
a non-last axis is moved last for the kernel and moved back. In a compiled plan (`emit`) the
same row kernels run on float32/float64, in place on a transposed scratch copy when the axis
is not last.
"""
from dataclasses import dataclass
from math import prod
from typing import ClassVar

import numpy as np

from ..fact import Fact
from ..kernels import softmax as kernels
from .base import Op, fail, mixes_along, normalize_axis
from .registry import register

KERNEL_TYPES = (np.dtype(np.float32), np.dtype(np.float64))


def run_rows(op, x2d: np.ndarray) -> np.ndarray:
    """Apply the op's row kernel to a 2-D array; narrow floats (f16, bf16) take the op's NumPy
    path, which rounds like onnx's reference (the official expected outputs come from it)."""
    if x2d.dtype not in KERNEL_TYPES:
        return op.narrow(x2d).astype(x2d.dtype, copy=False)
    work = np.ascontiguousarray(x2d)
    out = np.empty_like(work)
    type(op).kernel(work, out)
    return out


def _softmax_narrow(x):
    with np.errstate(invalid="ignore"):     # a row of -inf gives NaN, as in the kernel
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)


def _log_softmax_narrow(x):
    return np.log(_softmax_narrow(x))


def _hardmax_narrow(x):
    out = np.empty(x.shape, np.float32)
    kernels.hardmax_rows(x.astype(np.float32), out)
    return out


@dataclass(frozen=True)
class RowOp(Op):
    """Along one axis (opset >= 13)."""
    streams = "follows"
    
    def stream_refusal(self, axis, facts):
        return mixes_along(axis, self.axis, facts[0].rank, isinstance(self, CoercedRowOp))
    
    axis: int = -1
    kernel: ClassVar = None
    narrow: ClassVar = None

    def infer(self, inputs, ctx):
        x = inputs[0]
        if x.dtype.kind not in "fV":
            fail(f"input must be a float tensor, got {x}")
        if x.rank == 0:
            fail(f"input must have rank >= 1, got {x}")
        normalize_axis(self.axis, x.rank)
        return [Fact(x.dtype, x.shape)]

    def eval(self, x):
        axis = normalize_axis(self.axis, x.ndim)
        if axis == x.ndim - 1:
            return (run_rows(self, x.reshape(prod(x.shape[:-1]), x.shape[-1])).reshape(x.shape),)
        moved = np.moveaxis(x, axis, -1)
        out = run_rows(self, moved.reshape(prod(moved.shape[:-1]), moved.shape[-1]))
        return (np.ascontiguousarray(np.moveaxis(out.reshape(moved.shape), -1, axis)),)

    def rows_layout(self, shape):
        """(rows, cols, perm): the kernel's 2-D view of an input of `shape`; perm moves the
        axis last (None when it already is)."""
        axis = normalize_axis(self.axis, len(shape))
        rows, cols = prod(shape) // shape[axis], shape[axis]
        if axis == len(shape) - 1:
            return rows, cols, None
        return rows, cols, tuple(i for i in range(len(shape)) if i != axis) + (axis,)

    def emit(self, e):
        x = e.in_facts[0]
        if x.dtype not in KERNEL_TYPES or x.rank == 0 or not prod(x.shape) or len(e.outs) != 1:
            return False
        rows, cols, perm = self.rows_layout(tuple(x.shape))
        kernel, view = e.kernel(type(self).kernel), (rows, cols)
        buf = e.buffer(0)
        if perm is None:
            e.line(f"{kernel}({e.view(e.ins[0], view)}, {e.view(buf, view)})")
            return True
        moved = e.new_buffer(tuple(x.shape[i] for i in perm), x.dtype)
        back = tuple(perm.index(i) for i in range(len(perm)))
        e.copy(moved, e.transposed(e.ins[0], perm))
        e.line(f"{kernel}({e.view(moved, view)}, {e.view(moved, view)})")
        e.copy(buf, e.transposed(moved, back))
        return True


@dataclass(frozen=True)
class CoercedRowOp(RowOp):
    """Over the 2-D coercion at `axis` (opset < 13): each row is everything from `axis` on."""
    axis: int = 1

    def eval(self, x):
        axis = normalize_axis(self.axis, x.ndim)
        rows, cols = prod(x.shape[:axis]), prod(x.shape[axis:])
        return (run_rows(self, x.reshape(rows, cols)).reshape(x.shape),)

    def rows_layout(self, shape):
        axis = normalize_axis(self.axis, len(shape))
        return prod(shape[:axis]), prod(shape[axis:]), None


def _row(name, kernel, narrow):
    """Register `name` at opset 1 (coerced to 2-D) and 13 (one axis)."""
    for base, since in ((CoercedRowOp, 1), (RowOp, 13)):
        cls = dataclass(frozen=True)(type(name + ("" if since == 13 else "1"), (base,),
                                          {"kernel": staticmethod(kernel),
                                           "narrow": staticmethod(narrow)}))
        cls.__module__ = __name__
        cls.onnx_name = name
        globals()[cls.__name__] = cls
        register(name, since=since)(cls)


_row("Softmax", kernels.softmax_rows, _softmax_narrow)
_row("LogSoftmax", kernels.log_softmax_rows, _log_softmax_narrow)
_row("Hardmax", kernels.hardmax_rows, _hardmax_narrow)
