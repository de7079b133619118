"""Elementwise ops of one input: math functions, predicates (IsNaN, IsInf), logic (Not), and
type conversion and pass-through (Cast, CastLike, Identity, Dropout).

Each math op is a row: ONNX name -> NumPy function, or the scalar function of kernels/scalar.py
it computes (its NumPy definition then computes it, and passes may fuse it), accepted input
kinds, output dtype rule. Ops with attributes subclass `Unary` and override `compute` (IsInf
here) or give the scalar function's parameters (activations in activation.py). Narrow floats
(float16, bfloat16, float8) are computed in float32 and rounded once at the end: ml_dtypes
lacks some ufuncs, and one rounding is the most accurate.
Shape values (object arrays of Dims) go through the same `eval`: Neg works on them; functions
without meaning for a symbol raise TypeError and the value simply stays unknown.
"""
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
from onnx import TensorProto

from .. import dtypes
from ..errors import OptionError
from ..fact import Fact
from ..kernels import scalar_numpy
from .base import Op, Scalar, fail
from ..emit import COMPILED_DTYPES, emit_reshape, emit_ufunc
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
    """One input, same shape out; subclasses set `scalar_fn` (with `scalar_params`), `fn` or
    override `compute`, and dtype rules."""
    streams = "elementwise"
    fn: ClassVar = None
    scalar_fn: ClassVar[Optional[str]] = None   # kernels/scalar.py's function of x, params
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

    def scalar_params(self) -> tuple:
        """The parameters of `scalar_fn` after x, from the op's attributes."""
        return ()

    def scalar(self, node, consts):
        return None if self.scalar_fn is None else Scalar(self.scalar_fn, self.scalar_params())

    def numpy_fn(self):
        return type(self).fn if self.scalar_fn is None else getattr(scalar_numpy, self.scalar_fn)

    def compute(self, x, *optional):
        return self.numpy_fn()(x, *self.scalar_params())

    def emit(self, e):
        if type(self).compute is not Unary.compute or len(e.ins) != 1 or self.scalar_params():
            return False
        return emit_ufunc(self.numpy_fn(), e)


def unary_row(name, fn=None, kinds="f", result=None, since=1, scalar=None):
    """Register op `name` computing NumPy's `fn`, or the scalar function named `scalar`."""
    cls = type(name, (Unary,), {"fn": staticmethod(fn), "scalar_fn": scalar, "kinds": kinds,
                                "result": result, "__module__": __name__, "__qualname__": name})
    register(name, since=since)(dataclass(frozen=True)(cls))
    return cls


unary_row("Abs", kinds=NUMERIC, scalar="abs")
unary_row("Neg", kinds="fi", scalar="neg")
unary_row("Sign", np.sign, NUMERIC, since=9)
unary_row("Floor", np.floor)
unary_row("Ceil", np.ceil)
unary_row("Round", np.round, since=11)             # half to even, as ONNX asks
unary_row("Sqrt", scalar="sqrt")
unary_row("Reciprocal", scalar="reciprocal")
unary_row("Exp", scalar="exp")
unary_row("Log", scalar="log")
unary_row("Sin", np.sin, since=7)
unary_row("Cos", np.cos, since=7)
unary_row("Tan", np.tan, since=7)
unary_row("Asin", np.arcsin, since=7)
unary_row("Acos", np.arccos, since=7)
unary_row("Atan", np.arctan, since=7)
unary_row("Sinh", np.sinh, since=9)
unary_row("Cosh", np.cosh, since=9)
unary_row("Asinh", np.arcsinh, since=9)
unary_row("Acosh", np.arccosh, since=9)
unary_row("Atanh", np.arctanh, since=9)
unary_row("Erf", kinds=NUMERIC, since=9, scalar="erf")
unary_row("IsNaN", np.isnan, "f", BOOL, since=9)
unary_row("Not", np.logical_not, "b")
unary_row("BitwiseNot", np.invert, "iu", since=18)


@register("IsInf", since=10)
@dataclass(frozen=True)
class IsInf(Unary):
    result: ClassVar = BOOL
    detect_negative: int = 1
    detect_positive: int = 1

    def compute(self, x):
        return np.isinf(x) & (((x > 0) & bool(self.detect_positive)) |
                              ((x < 0) & bool(self.detect_negative)))


# --- type conversion and pass-through ------------------------------------------------------

FLOAT8_SATURATING = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")


def cast_array(x: np.ndarray, dtype, saturate=1, round_mode="up") -> np.ndarray:
    """`x` converted to `dtype` as ONNX's Cast defines it (strings are object arrays)."""
    dtype = np.dtype(dtype)
    if x.dtype == object:
        return _cast_object(x, dtype)
    if dtype == object:
        return x.astype(str).astype(object)
    if dtype.name == "float8_e8m0fnu":     # exponent-only: its rounding modes are onnx's own
        from onnx.numpy_helper import to_float8e8m0
        return to_float8e8m0(x, bool(saturate), round_mode)
    if saturate and dtype.name in FLOAT8_SATURATING:
        import ml_dtypes                   # present whenever a model can name a float8 type
        limit = float(ml_dtypes.finfo(dtype).max)
        x = np.clip(widen(x), -limit, limit)    # ±inf -> ±max, NaN stays NaN
    with np.errstate(all="ignore"):
        return x.astype(dtype)


def _cast_object(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Strings parse as numbers ('1e-5', 'NaN', '-INF'); shape values (ints and Dims) cast to
    an integer type stay an object array: int->int leaves every shape value unchanged."""
    if dtype == object:
        return x.copy()
    if x.size == 0:
        return np.empty(x.shape, dtype)
    if any(isinstance(v, (str, bytes)) for v in x.flat):
        parse = int if kind(dtype) in "iu" else float
        values = [_parse_number(v, parse) for v in x.flat]
        return np.array(values, dtype=np.float64 if parse is float else None) \
            .reshape(x.shape).astype(dtype)
    if kind(dtype) in "iu":
        return x.copy()
    return x.astype(dtype)      # float(Dim) raises TypeError: the value stays unknown


def _parse_number(text, parse):
    text = text.decode("utf-8") if isinstance(text, bytes) else text
    try:
        return parse(text)
    except ValueError:
        try:
            return parse(float(text))          # '2.0' or '1e3' read as an integer
        except (ValueError, OverflowError):
            raise ValueError(f"string {text!r} is not a number") from None


def _onnx_dtype(to) -> np.dtype:
    try:
        return dtypes.from_onnx(to)
    except OptionError:
        fail(f"unsupported target type to={to}")


@register("Cast", since=1)
@dataclass(frozen=True)
class Cast(Op):
    streams = "elementwise"
    to: int = 0
    saturate: int = 1           # float8 targets only: clamp to the finite range
    round_mode: str = "up"      # float8e8m0 target only

    @classmethod
    def from_onnx(cls, attrs, ctx):
        if "to" not in attrs:
            fail("Cast needs the attribute 'to'")
        if isinstance(attrs["to"], str):   # opset 1 named the type: to="FLOAT"
            attrs = {**attrs, "to": TensorProto.DataType.Value(attrs["to"].upper())}
        return super().from_onnx(attrs, ctx)

    def infer(self, inputs, ctx):
        return [Fact(_onnx_dtype(self.to), inputs[0].shape)]

    def eval(self, x):
        return (cast_array(x, _onnx_dtype(self.to), self.saturate, self.round_mode),)

    def emit(self, e):
        """NumPy's astype for plain numeric types (a C cast, as Numba's assignment does)."""
        src, dst = e.in_facts[0].dtype, e.out_facts[0].dtype
        if src not in COMPILED_DTYPES or dst not in COMPILED_DTYPES:
            return False
        buf = e.buffer(0)
        if dst.kind == "b" and src.kind != "b":
            e.line(f"np.not_equal({e.ins[0]}, 0, {buf})")
        else:
            e.copy(buf, e.ins[0])
        return True


@register("CastLike", since=15)
@dataclass(frozen=True)
class CastLike(Op):
    streams = "elementwise"
    saturate: int = 1
    round_mode: str = "up"

    def infer(self, inputs, ctx):
        return [Fact(inputs[1].dtype, inputs[0].shape)]

    def eval(self, x, like):
        return (cast_array(x, like.dtype, self.saturate, self.round_mode),)


@register("Identity", since=1)
@dataclass(frozen=True)
class Identity(Op):
    streams = "elementwise"
    emit = emit_reshape

    def infer(self, inputs, ctx):
        return [inputs[0]]

    def eval(self, x):
        return (x,)


@register("Dropout", since=1)
@dataclass(frozen=True)
class Dropout(Op):
    """Before opset 12 an inference engine always tests: output = input, mask all kept."""
    streams = "elementwise"
    ratio: float = 0.5
    ignored_attrs: ClassVar[tuple] = ("consumed_inputs", "is_test")
    bool_mask: ClassVar[bool] = False     # the mask had the input's type until opset 10

    def infer(self, inputs, ctx):
        x = inputs[0]
        return [x, Fact(BOOL if self.bool_mask else x.dtype, x.shape)]

    def eval(self, x, *unused):
        return x, np.ones(x.shape, BOOL if self.bool_mask else x.dtype)


@register("Dropout", since=10)
@dataclass(frozen=True)
class Dropout10(Dropout):
    bool_mask: ClassVar[bool] = True


@register("Dropout", since=12)
@dataclass(frozen=True)
class Dropout12(Dropout10):
    """ratio and training_mode became inputs; training draws a random mask."""
    seed: Optional[int] = None

    @property
    def foldable(self):
        return self.seed is not None    # without a seed, each run draws a fresh mask

    def infer(self, inputs, ctx):
        x, ratio, training = (list(inputs) + [None, None])[:3]
        if ratio is not None:
            check_kind(ratio, "f", "ratio")
        if training is not None and training.dtype != BOOL:
            fail(f"training_mode must be bool, got {training}")
        if training is None:
            return super().infer(inputs, ctx)
        return [Fact(x.dtype, x.shape), Fact(BOOL, x.shape)]

    def eval(self, x, ratio=None, training=None):
        if any(v is not None and np.size(v) != 1 for v in (ratio, training)):
            fail("ratio and training_mode must be scalars")
        rate = 0.5 if ratio is None else float(np.asarray(ratio).reshape(-1)[0])
        training = None if training is None else np.asarray(training).reshape(-1)[0]
        if training is None or not bool(training) or rate == 0:
            return super().eval(x)
        # onnx's tests draw the mask from NumPy's legacy stream seeded with `seed`
        rng = np.random.RandomState(self.seed % 2 ** 32) if self.seed is not None \
            else np.random.default_rng()
        keep = rng.uniform(0.0, 1.0, x.shape) >= rate
        scale = 1.0 / (1.0 - rate) if rate < 1 else 0.0
        return (x * keep * scale).astype(x.dtype, copy=False), keep


# Activations are their own family module; registering `unary` registers them too until
# pulsar/ops/__init__.py imports `activation` itself.
