"""Elementwise ops of two or more inputs with NumPy broadcasting: arithmetic, comparison, logic.

Each op is a row: ONNX name -> NumPy function and output dtype rule, and for those that passes
may fuse, the scalar function of kernels/scalar.py (or the operator) it computes. The same
`eval` folds shape arithmetic on object arrays of Dims during analysis (Add/Sub/Mul/Div of
shape values).
"""
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from .. import dims
from ..fact import Fact
from ..kernels import scalar_numpy
from .base import Op, Scalar, fail, normalize_axis
from .broadcast import broadcast_shapes
from ..emit import emit_ufunc
from .layout_emit import emit_where
from .registry import register

BOOL = np.dtype(bool)


def _int_div(a, b):
    """ONNX integer Div truncates toward zero; Dims (shape values) are non-negative: floor."""
    if a.dtype == object or b.dtype == object:
        return np.frompyfunc(_dim_floordiv, 2, 1)(a, b)
    q = np.floor_divide(a, b)
    return np.where((np.remainder(a, b) != 0) & ((a < 0) != (b < 0)), q + 1, q).astype(a.dtype)


def _dim_floordiv(a, b):
    return dims.to_dim(a) // dims.to_dim(b) if isinstance(b, dims.Dim) else dims.to_dim(a) // int(b)


def _div(a, b):
    if a.dtype.kind in "iuO":
        with np.errstate(divide="ignore"):
            return _int_div(a, b)
    return np.divide(a, b)


def _decidable_equal(a, b):
    """Dims are equal when they are the same expression, different when one provably exceeds
    the other (S != -1: exporters test shape entries against -1 and 0); else undecidable."""
    def eq(x, y):
        if isinstance(x, dims.Dim) or isinstance(y, dims.Dim):
            if x == y:
                return True
            if dims.prove_ge(x, y + 1) or dims.prove_ge(y, x + 1):
                return False
            raise TypeError("symbolic comparison is not decidable")
        return x == y
    return np.frompyfunc(eq, 2, 1)(a, b).astype(bool)


def _equal(a, b):
    return _decidable_equal(a, b) if object in (a.dtype, b.dtype) else np.equal(a, b)


def _pow(a, b):
    if a.dtype.kind in "iu" and b.dtype.kind in "iu" and np.all(b >= 0):
        return np.power(a, b.astype(a.dtype))      # exact (wrapping) integer powers
    if a.dtype.kind in "iu":
        return np.power(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype)
    return scalar_numpy.pow(a, b.astype(a.dtype) if b.dtype != a.dtype else b)


def _variadic(fn, object_fn):
    def run(*xs):
        if any(x.dtype == object for x in xs):
            return _reduce(np.frompyfunc(object_fn, 2, 1), xs)
        return _reduce(fn, xs)
    return run


def _reduce(fn, xs):
    out = xs[0]
    for x in xs[1:]:
        out = fn(out, x)
    return out


def _mean(*xs):
    return (_reduce(np.add, xs) / len(xs)).astype(xs[0].dtype)


@dataclass(frozen=True)
class Elementwise(Op):
    """N-ary broadcasting op; subclasses set `fn`, `result` (None: input dtype) and arity."""
    streams = "elementwise"
    fn: ClassVar = None
    ufunc: ClassVar = None          # the NumPy ufunc of two inputs that compiled plans call
    scalar_fn: ClassVar = None      # kernels/scalar.py's function of two inputs, or operator
    result: ClassVar = None
    same_types: ClassVar[bool] = True
    arity: ClassVar[tuple] = (2, 2)
    # Opset < 7: `broadcast=1` let B broadcast to A (NumPy's rule covers it, and equal shapes
    # when it is 0); `axis` aligned B's dims with A's from that axis instead of from the end.
    axis: Optional[int] = None
    ignored_attrs: ClassVar[tuple] = ("broadcast", "consumed_inputs")

    def infer(self, inputs, ctx):
        xs = [x for x in inputs if x is not None]
        lo, hi = self.arity
        if not lo <= len(xs) <= hi:
            fail(f"takes {lo}..{hi} inputs, got {len(xs)}")
        if self.same_types and len({x.dtype for x in xs}) > 1:
            fail("inputs must share one dtype, got " + ", ".join(str(x.dtype) for x in xs))
        if self.axis is not None:
            xs[1] = xs[1].with_shape(xs[1].shape + (1,) * self.legacy_padding(xs[0], xs[1]))
        dtype = xs[0].dtype if self.result is None else self.result
        return [Fact(dtype, broadcast_shapes(*(x.shape for x in xs)))]

    def eval(self, *xs):
        if self.axis is not None:
            a, b = xs
            xs = (a, b.reshape(b.shape + (1,) * self.legacy_padding(a, b)))
        try:
            out = np.asarray(type(self).fn(*xs))   # a 0-d object result comes back as a bare Dim
        except ValueError as e:
            if all(isinstance(x, np.ndarray) for x in xs) and \
                    not _broadcastable([x.shape for x in xs]):
                fail(f"shapes {' and '.join(str(list(x.shape)) for x in xs)} do not broadcast")
            raise e
        return (out if out.dtype == object else out.astype(self.out_dtype(xs), copy=False),)

    def emit(self, e):
        if self.axis is not None:
            return False
        fn = type(self).ufunc
        if fn is np.divide and e.out_facts[0].dtype.kind != "f":
            return False            # ONNX integer division truncates; NumPy's floors
        return fn is not None and len(e.ins) == 2 and emit_ufunc(fn, e)

    def scalar(self, node, consts):
        if self.scalar_fn is None or self.axis is not None or len(node.inputs) != 2:
            return None
        return Scalar(self.scalar_fn)

    def legacy_padding(self, a, b) -> int:
        """Trailing 1s that put B's dims at A's `axis` (opset < 7 broadcasting)."""
        rank_a, rank_b = len(a.shape), len(b.shape)
        pad = rank_a - normalize_axis(self.axis, rank_a) - rank_b
        if pad < 0:
            fail(f"B (rank {rank_b}) does not fit in A (rank {rank_a}) from axis {self.axis}")
        return pad

    def out_dtype(self, xs):
        return xs[0].dtype if self.result is None else self.result


def _row(name, fn, result=None, since=1, same_types=True, arity=(2, 2), ufunc=None, scalar=None,
         **extra):
    cls = type(name, (Elementwise,), {"fn": staticmethod(fn), "result": result, "ufunc": ufunc,
                                      "scalar_fn": scalar, "same_types": same_types,
                                      "arity": arity, **extra})
    cls.__module__ = __name__
    register(name, since=since)(dataclass(frozen=True)(cls))
    globals()[name] = cls
    return cls


_row("Add", np.add, ufunc=np.add, scalar="+")
_row("Sub", np.subtract, ufunc=np.subtract, scalar="-")
_row("Mul", np.multiply, ufunc=np.multiply, scalar="*")
_row("Div", _div, ufunc=np.divide, scalar="/")
_row("Pow", _pow, same_types=False, scalar="pow")
_row("And", np.logical_and, BOOL, ufunc=np.logical_and)
_row("Or", np.logical_or, BOOL, ufunc=np.logical_or)
_row("Xor", np.logical_xor, BOOL, ufunc=np.logical_xor)
_row("Equal", _equal, BOOL, ufunc=np.equal)
_row("Less", np.less, BOOL, ufunc=np.less)
_row("LessOrEqual", np.less_equal, BOOL, ufunc=np.less_equal)
_row("Greater", np.greater, BOOL, ufunc=np.greater)
_row("GreaterOrEqual", np.greater_equal, BOOL, ufunc=np.greater_equal)
_row("BitwiseAnd", np.bitwise_and, ufunc=np.bitwise_and)
_row("BitwiseOr", np.bitwise_or, ufunc=np.bitwise_or)
_row("BitwiseXor", np.bitwise_xor, ufunc=np.bitwise_xor)
_row("Max", _variadic(scalar_numpy.max, dims.dmax), arity=(1, 1 << 16), ufunc=np.maximum,
     scalar="max")
_row("Min", _variadic(scalar_numpy.min, dims.dmin), arity=(1, 1 << 16), ufunc=np.minimum,
     scalar="min")
_row("Sum", _variadic(np.add, lambda a, b: a + b), arity=(1, 1 << 16), ufunc=np.add, scalar="+")
_row("Mean", _mean, arity=(1, 1 << 16))


@register("Mod", since=10)
@dataclass(frozen=True)
class Mod(Elementwise):
    """fmod=0 on floats (floor modulo, NumPy's `mod`) is defined since opset 28; earlier
    opsets forbade it, and computing it anyway gives the only sensible answer."""
    fmod: int = 0

    def eval(self, a, b):
        if a.dtype == object or b.dtype == object:
            return (np.frompyfunc(lambda x, y: dims.to_dim(x) % int(y), 2, 1)(a, b),)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.fmod(a, b) if self.fmod else np.mod(a, b)
        return (out.astype(a.dtype),)


@register("BitShift", since=11)
@dataclass(frozen=True)
class BitShift(Elementwise):
    direction: str = "LEFT"

    def eval(self, a, b):
        fn = np.left_shift if self.direction == "LEFT" else np.right_shift
        return (fn(a, b).astype(a.dtype),)


@register("PRelu", since=1)
@dataclass(frozen=True)
class PRelu(Elementwise):
    def eval(self, x, slope):
        return (np.where(x < 0, x * slope, x).astype(x.dtype),)


@register("Where", since=9)
@dataclass(frozen=True)
class Where(Elementwise):
    same_types: ClassVar[bool] = False
    arity: ClassVar[tuple] = (3, 3)

    def infer(self, inputs, ctx):
        cond, a, b = inputs
        if cond.dtype != BOOL:
            fail(f"condition must be bool, got {cond}")
        if a.dtype != b.dtype:
            fail(f"branches must share one dtype, got {a} and {b}")
        return [Fact(a.dtype, broadcast_shapes(cond.shape, a.shape, b.shape))]

    def eval(self, cond, a, b):
        out = np.where(cond, a, b)
        return (out if out.dtype == object else out.astype(a.dtype, copy=False),)

    def emit(self, e):
        return emit_where(e)


def _broadcastable(shapes) -> bool:
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True
