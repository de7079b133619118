"""Elementwise ops of one input: math functions, predicates (IsNaN, IsInf), logic (Not).

Each op is a row: ONNX name -> NumPy function, accepted input kinds, output dtype rule. Ops with
attributes subclass `Unary` and override `compute` (IsInf here; activations in activation.py;
Cast and friends in cast.py). Narrow floats (float16, bfloat16, float8) are computed in float32
and rounded once at the end: ml_dtypes lacks some ufuncs, and one rounding is the most accurate.
Shape values (object arrays of Dims) go through the same `eval`: Neg works on them, functions
that have no meaning for a symbol raise TypeError and the value simply stays unknown.
"""
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..fact import Fact
from ..kernels import elementwise
from .base import Op, fail
from .registry import register

BOOL = np.dtype(bool)
KIND_NAMES = {"f": "float", "i": "signed integer", "u": "unsigned integer", "b": "bool",
              "O": "string"}
NUMERIC = "fiu"


def kind(dtype) -> str:
    """NumPy's kind letter, with ml_dtypes' types (kind 'V' to NumPy) as 'f', 'i' or 'u'."""
    dtype = np.dtype(dtype)
    if dtype.kind != "V":
        return dtype.kind
    if dtype.name.startswith(("float", "bfloat")):
        return "f"
    return "u" if dtype.name.startswith("uint") else "i"


def widen(x: np.ndarray) -> np.ndarray:
    """The array to compute on: narrow floats as float32, everything else unchanged."""
    if kind(x.dtype) == "f" and x.dtype.itemsize < 4:
        return x.astype(np.float32)
    return x


def check_kind(fact, kinds: str, what="input"):
    if kind(fact.dtype) not in kinds:
        allowed = " or ".join(KIND_NAMES[k] for k in kinds)
        fail(f"{what} must be {allowed}, got {fact}")


@dataclass(frozen=True)
class Unary(Op):
    """One input, same shape out; subclasses set `fn` (or override `compute`) and dtype rules."""
    fn: ClassVar = None
    kinds: ClassVar[str] = "f"          # accepted input kinds (see `kind`)
    result: ClassVar = None             # output dtype; None: the input's
    ignored_attrs: ClassVar[tuple] = ("consumed_inputs",)   # opset-1 memory hint, no effect

    def infer(self, inputs, ctx):
        x = inputs[0]
        check_kind(x, self.kinds)
        return [Fact(x.dtype if self.result is None else self.result, x.shape)]

    def eval(self, x, *optional):
        with np.errstate(all="ignore"):
            out = np.asarray(self.compute(widen(x), *optional))
        if out.dtype == object:
            return (out,)
        return (out.astype(x.dtype if self.result is None else self.result, copy=False),)

    def compute(self, x, *optional):
        return type(self).fn(x)


def _row(name, fn, kinds="f", result=None, since=1):
    cls = type(name, (Unary,), {"fn": staticmethod(fn), "kinds": kinds, "result": result,
                                "__module__": __name__, "__qualname__": name})
    register(name, since=since)(dataclass(frozen=True)(cls))
    return cls


def erf(x: np.ndarray) -> np.ndarray:
    """erf elementwise in x's float dtype (integers in float64), via a Numba loop."""
    work = np.ascontiguousarray(x if x.dtype.kind == "f" else x.astype(np.float64))
    out = np.empty_like(work)
    elementwise.erf_into(work.reshape(-1), out.reshape(-1))
    return out


_row("Abs", np.abs, NUMERIC)
_row("Neg", np.negative, "fi")
_row("Sign", np.sign, NUMERIC, since=9)
_row("Floor", np.floor)
_row("Ceil", np.ceil)
_row("Round", np.round, since=11)             # half to even, as ONNX asks
_row("Sqrt", np.sqrt)
_row("Reciprocal", np.reciprocal)
_row("Exp", np.exp)
_row("Log", np.log)
_row("Sin", np.sin, since=7)
_row("Cos", np.cos, since=7)
_row("Tan", np.tan, since=7)
_row("Asin", np.arcsin, since=7)
_row("Acos", np.arccos, since=7)
_row("Atan", np.arctan, since=7)
_row("Sinh", np.sinh, since=9)
_row("Cosh", np.cosh, since=9)
_row("Asinh", np.arcsinh, since=9)
_row("Acosh", np.arccosh, since=9)
_row("Atanh", np.arctanh, since=9)
_row("Erf", erf, NUMERIC, since=9)
_row("IsNaN", np.isnan, "f", BOOL, since=9)
_row("Not", np.logical_not, "b")
_row("BitwiseNot", np.invert, "iu", since=18)


@register("IsInf", since=10)
@dataclass(frozen=True)
class IsInf(Unary):
    result: ClassVar = BOOL
    detect_negative: int = 1
    detect_positive: int = 1

    def compute(self, x):
        return np.isinf(x) & (((x > 0) & bool(self.detect_positive)) |
                              ((x < 0) & bool(self.detect_negative)))


# Families of one input kept in their own modules; imported here so registering `unary`
# registers them (until pulsar/ops/__init__.py lists them).
from . import activation, cast  # noqa: E402,F401
