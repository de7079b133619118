"""Reductions (ReduceSum, ReduceMax, ... ReduceLogSumExp) and CumSum.

Each reduction is a row: ONNX name -> function of (x, axes, keepdims) and the opset where `axes`
moved from an attribute to an input (13 for ReduceSum, 18 for the rest). Empty-set reductions
follow the spec: Max -> -inf (or the dtype's minimum), Min -> +inf, LogSum(Exp) -> -inf,
Prod -> 1, the sums -> 0 (Mean, left undefined, gives NaN). Outputs keep the input dtype,
integers included. Max and Min treat NaN as onnxruntime's scan does (see scan_extreme).

In a compiled plan, float32/float64 ReduceSum/Mean/Max/Min with constant axes run the
middle-axis kernels of `kernels.reduce` (sums accumulated in float64, so a float32 result can
differ from NumPy's pairwise float32 sum in the last place; both are within onnxruntime's).
"""
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..emit import emit_reshape
from ..fact import Fact
from ..kernels import reduce as kreduce
from .base import Op, fail, mixes_along, normalize_axis
from .registry import register
from .scan_extreme import scan_extreme


def extreme(dtype, largest: bool):
    """The identity of max (largest=False) or min (largest=True) in `dtype`."""
    if dtype == np.bool_:
        return largest
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return info.max if largest else info.min
    return np.inf if largest else -np.inf


def _exact_dtype(x):
    return None if x.dtype == object else x.dtype


def _sum(x, axes, keep):
    return np.sum(x, axis=axes, keepdims=keep, dtype=_exact_dtype(x))


def _mean(x, axes, keep):
    if x.size == 0:     # the spec leaves it undefined; NaN (0/0) like NumPy and onnx's reference
        return np.full(reduced_shape(x.shape, axes, keep), np.nan)
    return np.mean(x, axis=axes, keepdims=keep)


def _extremum(ufunc, largest_identity):
    def run(x, axes, keep):
        if x.size == 0:
            return np.full(reduced_shape(x.shape, axes, keep), extreme(x.dtype, largest_identity),
                           dtype=x.dtype)
        if x.dtype == object:   # folded shapes: symbolic dims, no NaN
            return ufunc.reduce(x, axis=axes, keepdims=keep)
        return scan_extreme(x, axes, keep, largest=not largest_identity)
    return run


def _prod(x, axes, keep):
    return np.prod(x, axis=axes, keepdims=keep, dtype=_exact_dtype(x))


def _l1(x, axes, keep):
    return _sum(np.abs(x), axes, keep)


def _l2(x, axes, keep):
    return np.sqrt(_sum(np.square(x), axes, keep))


def _log_sum(x, axes, keep):
    with np.errstate(divide="ignore"):
        return np.log(_sum(x, axes, keep))


def _log_sum_exp(x, axes, keep):
    """log(sum(exp(x - m))) + m with m the finite max, so large inputs do not overflow."""
    if x.size == 0:
        return np.full(reduced_shape(x.shape, axes, keep), -np.inf, dtype=x.dtype)
    finite = np.where(np.isinf(x), -np.inf, x)
    m = np.max(finite, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True, dtype=x.dtype)) + m
    return out if keep else np.squeeze(out, axis=axes)


def _sum_square(x, axes, keep):
    return _sum(np.square(x), axes, keep)


def reduced_shape(shape, axes, keep) -> tuple:
    """Shape after reducing `axes` (normalized tuple): 1 when kept, dropped otherwise."""
    return tuple(1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes)


def middle_view(shape, axes):
    """(perm, (A, R, B)): reducing `axes` of `shape` as reducing the middle axis of (A, R, B).

    Size-1 axes are left out (they change neither order nor sums); when the remaining
    reduced axes are adjacent the view is a reshape (perm None), else perm moves the kept axes
    first for a transposed copy and B is 1."""
    live = [i for i, d in enumerate(shape) if d != 1]
    reduced = [i for i in live if i in axes]
    size = math.prod(shape)
    r = math.prod(shape[i] for i in reduced)
    if not reduced:
        return None, (size, 1, 1)
    first, last = live.index(reduced[0]), live.index(reduced[-1])
    if last - first + 1 == len(reduced):
        b = math.prod(shape[i] for i in live[last + 1:])
        return None, (size // (r * b), r, b)
    rest = [i for i in range(len(shape)) if i not in reduced]
    return tuple(rest + reduced), (size // r, r, 1)


def checked_axes(axes, rank) -> tuple:
    axes = tuple(normalize_axis(int(a), rank, "axes entry") for a in axes)
    if len(set(axes)) != len(axes):
        fail(f"axes {list(axes)} repeat an axis")
    return axes


class ReduceBase(Op):
    """Shared logic; subclasses say where the axes come from (attribute or input)."""
    streams = "follows"
    reduces = True
    fn: ClassVar = None
    noop_with_empty_axes = 0    # the attribute-axes signature has no such attribute

    def infer(self, inputs, ctx):
        x = inputs[0]
        axes = self.fact_axes(inputs)
        if axes is None:        # no axes and noop_with_empty_axes: Identity
            return [Fact(x.dtype, x.shape)]
        if isinstance(axes, int):   # an axes input of known length but unknown values
            return [Fact(x.dtype, self.unknown_axes_shape(x, axes, ctx))]
        return [Fact(x.dtype, reduced_shape(x.shape, checked_axes(axes, x.rank), self.keepdims))]

    def resolve(self, axes, rank):
        """Axes to reduce (a tuple), or None for the no-op case."""
        if len(axes) == 0:
            return None if self.noop_with_empty_axes else tuple(range(rank))
        return tuple(axes)

    def unknown_axes_shape(self, x, n_axes, ctx):
        """Each reduced dim is 1 or gone, but which ones is unknown: fresh symbols, right rank."""
        if n_axes > x.rank:
            fail(f"{n_axes} axes for input {x} of rank {x.rank}")
        rank = x.rank if self.keepdims else x.rank - n_axes
        return tuple(ctx.fresh_symbol("reduced") for _ in range(rank))

    def reduce(self, x, axes):
        if axes is None:
            return (x,)
        out = np.asarray(type(self).fn(x, checked_axes(axes, x.ndim), bool(self.keepdims)))
        return (out if x.dtype == object else out.astype(x.dtype, copy=False),)

    def emit(self, e):
        """float Sum/Mean/Max/Min over constant axes: one middle-axis kernel call on a view
        (or a transposed scratch copy) of x; the no-op form is a view of x."""
        x = e.in_facts[0]
        kernel = MIDDLE_KERNELS.get(self.onnx_name)
        known, axes = self.static_axes(e)
        if kernel is None or not known or x.dtype not in (np.float32, np.float64) \
                or x.rank == 0 or len(e.outs) != 1:
            return False
        if axes is None:
            return emit_reshape(self, e)
        axes = checked_axes(axes, x.rank)
        if not math.prod(x.shape):
            return False
        perm, view = middle_view(tuple(x.shape), axes)
        source = e.ins[0]
        if perm is not None:
            source = e.new_buffer(tuple(x.shape[i] for i in perm), x.dtype)
            e.copy(source, e.transposed(e.ins[0], perm))
        out = e.view(e.buffer(0), (view[0], view[2]))
        args = ""
        if kernel is kreduce.sum_middle:
            divisor = view[1] if self.onnx_name == "ReduceMean" else 1
            args = f", {e.new_buffer((view[2],), np.float64)}, {float(divisor)!r}"
        e.line(f"{e.kernel(kernel)}({e.view(source, view)}, {out}{args})")
        return True



@dataclass(frozen=True)
class Reduce(ReduceBase):
    """Axes from the `axes` attribute (opsets before 13/18; empty means all axes)."""
    axes: tuple = ()
    keepdims: int = 1

    def fact_axes(self, inputs):
        return self.resolve(self.axes, inputs[0].rank)

    def static_axes(self, e):
        """(True, axes or None for the no-op) when the axes are known at emit time."""
        return True, self.resolve(self.axes, e.in_facts[0].rank)

    def eval(self, x):
        return self.reduce(x, self.resolve(self.axes, x.ndim))


@dataclass(frozen=True)
class ReduceAxesInput(ReduceBase):
    """Axes from the optional second input; empty or missing means all axes unless noop."""
    keepdims: int = 1
    noop_with_empty_axes: int = 0

    def fact_axes(self, inputs):
        x = inputs[0]
        a = inputs[1] if len(inputs) > 1 else None
        if a is None:
            return self.resolve((), x.rank)
        if a.rank != 1 or a.dtype != np.int64:
            fail(f"axes must be a 1-D int64 tensor, got {a}")
        if a.value is not None:
            return self.resolve(a.value.tolist(), x.rank)
        if not isinstance(a.shape[0], int):
            fail(f"axes {a} must be constant or of known length: the output rank depends on it")
        return self.resolve((), x.rank) if a.shape[0] == 0 else a.shape[0]

    def static_axes(self, e):
        rank = e.in_facts[0].rank
        if len(e.ins) < 2 or e.ins[1] is None:
            return True, self.resolve((), rank)
        value = e.const(1)
        if value is None:
            return False, None
        return True, self.resolve(value.reshape(-1).tolist(), rank)

    def eval(self, x, axes=None):
        return self.reduce(x, self.resolve(() if axes is None else axes.tolist(), x.ndim))


def _row(name, fn, input_since=18):
    """Register `name` for both signatures: axes attribute (opset 1) and axes input."""
    body = {"fn": staticmethod(fn)}
    old = dataclass(frozen=True)(type(name, (Reduce,), dict(body)))
    new = dataclass(frozen=True)(type(name + "AxesInput", (ReduceAxesInput,), dict(body)))
    for cls in (old, new):
        cls.__module__ = __name__
        cls.onnx_name = name
        globals()[cls.__name__] = cls
    register(name, since=1)(old)
    register(name, since=input_since)(new)


MIDDLE_KERNELS = {"ReduceSum": kreduce.sum_middle, "ReduceMean": kreduce.sum_middle,
                  "ReduceMax": kreduce.max_middle, "ReduceMin": kreduce.min_middle}

_row("ReduceSum", _sum, input_since=13)
_row("ReduceMean", _mean)
_row("ReduceMax", _extremum(np.maximum, largest_identity=False))
_row("ReduceMin", _extremum(np.minimum, largest_identity=True))
_row("ReduceProd", _prod)
_row("ReduceL1", _l1)
_row("ReduceL2", _l2)
_row("ReduceLogSum", _log_sum)
_row("ReduceLogSumExp", _log_sum_exp)
_row("ReduceSumSquare", _sum_square)


@register("CumSum", since=11)
@dataclass(frozen=True)
class CumSum(Op):
    streams = "follows"
    
    def stream_refusal(self, axis, facts):
        return mixes_along(axis, int(facts[1].value), facts[0].rank)
    
    exclusive: int = 0
    reverse: int = 0

    def infer(self, inputs, ctx):
        x, axis = inputs
        if axis.rank > 1 or axis.dtype not in (np.int32, np.int64) or 0 in axis.shape:
            fail(f"axis must be an int32/int64 scalar, got {axis}")
        if axis.value is not None:
            normalize_axis(int(axis.value.reshape(-1)[0]), x.rank)
        return [Fact(x.dtype, x.shape)]

    def eval(self, x, axis):
        axis = normalize_axis(int(axis.reshape(-1)[0]), x.ndim)
        out = np.empty_like(x)
        src, dst = (np.flip(x, axis), np.flip(out, axis)) if self.reverse else (x, out)
        if self.exclusive:
            n = x.shape[axis]
            head, tail = [slice(None)] * x.ndim, [slice(None)] * x.ndim
            head[axis], tail[axis] = slice(0, 1), slice(1, n)
            dst[tuple(head)] = 0
            head[axis] = slice(0, n - 1)
            src = src[tuple(head)]
            dst = dst[tuple(tail)]
        np.cumsum(src, axis=axis, dtype=_exact_dtype(x), out=dst)
        return (out,)
