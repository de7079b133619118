"""Activation functions: elementwise ops of one input, most with float attributes, and Clip.

They share `Unary`'s evaluation: narrow floats are computed in float32 and rounded once.
Most are a scalar function of kernels/scalar.py (`scalar_fn`), their attributes its parameters
(`scalar_params`): its NumPy definition computes them, and passes fuse them into kernels.
Attribute floats are ONNX float32 values; they stay Python floats so that a float32 input
computes in float32 and a float64 input in float64.
"""
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import dims
from ..emit import COMPILED_DTYPES
from ..kernels import scalar_numpy
from .base import Scalar, fail
from .registry import register
from .unary import NUMERIC, Unary, unary_row, widen


unary_row("Relu", kinds="fi", scalar="relu")      # ints since opset 14
unary_row("Sigmoid", scalar="sigmoid")
unary_row("Tanh", scalar="tanh")
unary_row("Softplus", scalar="softplus")
unary_row("Softsign", scalar="softsign")
unary_row("HardSwish", since=14, scalar="hard_swish")
unary_row("Mish", since=18, scalar="mish")


@register("LeakyRelu", since=1)
@dataclass(frozen=True)
class LeakyRelu(Unary):
    scalar_fn: ClassVar[str] = "leaky_relu"
    alpha: float = 0.01

    def scalar_params(self):
        return (self.alpha,)


@register("Elu", since=1)
@dataclass(frozen=True)
class Elu(Unary):
    scalar_fn: ClassVar[str] = "elu"
    alpha: float = 1.0

    def scalar_params(self):
        return (self.alpha,)


@register("Selu", since=1)
@dataclass(frozen=True)
class Selu(Unary):
    scalar_fn: ClassVar[str] = "selu"
    alpha: float = 1.67326319217681884765625
    gamma: float = 1.05070102214813232421875

    def scalar_params(self):
        return (self.alpha, self.gamma)


@register("Celu", since=12)
@dataclass(frozen=True)
class Celu(Unary):
    scalar_fn: ClassVar[str] = "celu"
    alpha: float = 1.0

    def scalar_params(self):
        return (self.alpha,)


@register("HardSigmoid", since=1)
@dataclass(frozen=True)
class HardSigmoid(Unary):
    scalar_fn: ClassVar[str] = "hard_sigmoid"
    alpha: float = 0.2
    beta: float = 0.5

    def scalar_params(self):
        return (self.alpha, self.beta)


@register("ThresholdedRelu", since=10)
@dataclass(frozen=True)
class ThresholdedRelu(Unary):
    scalar_fn: ClassVar[str] = "thresholded_relu"
    alpha: float = 1.0

    def scalar_params(self):
        return (self.alpha,)


@register("Shrink", since=9)
@dataclass(frozen=True)
class Shrink(Unary):
    scalar_fn: ClassVar[str] = "shrink"
    kinds: ClassVar[str] = NUMERIC
    bias: float = 0.0
    lambd: float = 0.5

    def scalar_params(self):
        return (self.bias, self.lambd)


@register("Swish", since=24)
@dataclass(frozen=True)
class Swish(Unary):
    scalar_fn: ClassVar[str] = "swish"
    alpha: float = 1.0

    def scalar_params(self):
        return (self.alpha,)


@register("Gelu", since=20)
@dataclass(frozen=True)
class Gelu(Unary):
    approximate: str = "none"

    @property
    def scalar_fn(self):
        return "gelu_tanh" if self.approximate == "tanh" else "gelu"

    def infer(self, inputs, ctx):
        if self.approximate not in ("none", "tanh"):
            fail(f"approximate must be 'none' or 'tanh', got {self.approximate!r}")
        return super().infer(inputs, ctx)


@register("Clip", since=1)
@dataclass(frozen=True)
class Clip(Unary):
    """Opset 1: bounds are attributes, absent means unbounded."""
    scalar_fn: ClassVar[str] = "clip"
    min: float = -math.inf
    max: float = math.inf

    def scalar_params(self):
        return (self.min, self.max)


@register("Clip", since=6)
@dataclass(frozen=True)
class Clip6(Clip):
    min: float = -3.4028234663852886e38     # ±FLT_MAX: even ±inf is clipped to it
    max: float = 3.4028234663852886e38


@register("Clip", since=11)
@dataclass(frozen=True)
class Clip11(Unary):
    """Bounds are optional scalar inputs of the input's type; min > max gives max everywhere."""
    kinds: ClassVar[str] = NUMERIC          # integers since opset 12

    def infer(self, inputs, ctx):
        x = inputs[0]
        for name, bound in zip(("min", "max"), inputs[1:]):
            if bound is None:
                continue
            if bound.dtype != x.dtype:
                fail(f"{name} must have the input's dtype {x.dtype}, got {bound}")
            if bound.is_concrete and math.prod(bound.shape) != 1:
                fail(f"{name} must be a scalar, got {bound}")
        return super().infer(inputs[:1], ctx)

    def scalar(self, node, consts):
        """clip of x: the bounds are constant scalar inputs, absent meaning unbounded."""
        bounds = [-math.inf, math.inf]
        for i, wire in enumerate(node.inputs[1:3]):
            if wire and (wire not in consts or consts[wire].size != 1):
                return None
            if wire:
                bounds[i] = float(consts[wire].reshape(-1)[0])
        return Scalar("clip", tuple(bounds), operands=1)

    def emit(self, e):
        """np.maximum / np.minimum with the bounds broadcast, as `compute` does; each bound a
        0-d view (kernels/views.py), not `.reshape(())`, which compiles Numba's reshape."""
        x = e.in_facts[0]
        if x.dtype not in COMPILED_DTYPES or x.dtype.kind == "b":
            return False
        buf = e.buffer(0)
        src = e.ins[0]
        for fn, var in zip(("maximum", "minimum"), e.ins[1:3]):
            if var is not None:
                e.line(f"np.{fn}({src}, {e.view(var, ())}, {buf})")
                src = buf
        if src != buf:
            e.copy(buf, src)
        return True

    def compute(self, x, lo=None, hi=None):
        symbolic = x.dtype == object        # shape values: min(S, 512) stays exact
        if lo is not None:
            x = (SYMBOLIC_MAX if symbolic else scalar_numpy.max)(x, widen(lo).reshape(()))
        if hi is not None:
            x = (SYMBOLIC_MIN if symbolic else scalar_numpy.min)(x, widen(hi).reshape(()))
        return x


SYMBOLIC_MAX = np.frompyfunc(dims.dmax, 2, 1)
SYMBOLIC_MIN = np.frompyfunc(dims.dmin, 2, 1)
