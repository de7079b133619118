"""Activation functions: elementwise ops of one input, most with float attributes, and Clip.

They share `Unary`'s evaluation: narrow floats are computed in float32 and rounded once.
Attribute floats are ONNX float32 values; they stay Python floats so that a float32 input
computes in float32 and a float64 input in float64.
"""
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import dims
from ..emit import COMPILED_DTYPES
from .base import fail
from .registry import register
from .unary import NUMERIC, Unary, erf, unary_row, widen


def sigmoid(x):
    e = np.exp(-np.abs(x))                  # never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def softplus(x):
    return np.logaddexp(0, x)               # log(1 + exp(x)) without overflow


def hard_sigmoid(x, alpha, beta):
    return np.clip(alpha * x + beta, 0, 1)


unary_row("Relu", lambda x: np.maximum(x, 0), "fi")    # ints since opset 14
unary_row("Sigmoid", sigmoid)
unary_row("Tanh", np.tanh)
unary_row("Softplus", softplus)
unary_row("Softsign", lambda x: x / (1 + np.abs(x)))
unary_row("HardSwish", lambda x: x * hard_sigmoid(x, 1 / 6, 0.5), since=14)
unary_row("Mish", lambda x: x * np.tanh(softplus(x)), since=18)


@register("LeakyRelu", since=1)
@dataclass(frozen=True)
class LeakyRelu(Unary):
    alpha: float = 0.01

    def compute(self, x):
        return np.where(x >= 0, x, x * self.alpha)


@register("Elu", since=1)
@dataclass(frozen=True)
class Elu(Unary):
    alpha: float = 1.0

    def compute(self, x):
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))


@register("Selu", since=1)
@dataclass(frozen=True)
class Selu(Unary):
    alpha: float = 1.67326319217681884765625
    gamma: float = 1.05070102214813232421875

    def compute(self, x):
        return self.gamma * np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))


@register("Celu", since=12)
@dataclass(frozen=True)
class Celu(Unary):
    alpha: float = 1.0

    def compute(self, x):
        return np.maximum(x, 0) + np.minimum(0, self.alpha * np.expm1(x / self.alpha))


@register("HardSigmoid", since=1)
@dataclass(frozen=True)
class HardSigmoid(Unary):
    alpha: float = 0.2
    beta: float = 0.5

    def compute(self, x):
        return hard_sigmoid(x, self.alpha, self.beta)


@register("ThresholdedRelu", since=10)
@dataclass(frozen=True)
class ThresholdedRelu(Unary):
    alpha: float = 1.0

    def compute(self, x):
        return np.where(x > self.alpha, x, 0)


@register("Shrink", since=9)
@dataclass(frozen=True)
class Shrink(Unary):
    kinds: ClassVar[str] = NUMERIC
    bias: float = 0.0
    lambd: float = 0.5

    def compute(self, x):
        return np.where(x < -self.lambd, x + self.bias,
                        np.where(x > self.lambd, x - self.bias, 0))


@register("Swish", since=24)
@dataclass(frozen=True)
class Swish(Unary):
    alpha: float = 1.0

    def compute(self, x):
        return x * sigmoid(self.alpha * x)


@register("Gelu", since=20)
@dataclass(frozen=True)
class Gelu(Unary):
    approximate: str = "none"

    def infer(self, inputs, ctx):
        if self.approximate not in ("none", "tanh"):
            fail(f"approximate must be 'none' or 'tanh', got {self.approximate!r}")
        return super().infer(inputs, ctx)

    def compute(self, x):
        if self.approximate == "tanh":
            inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
            return 0.5 * x * (1 + np.tanh(inner))
        return 0.5 * x * (1 + erf(x / math.sqrt(2)))


@register("Clip", since=1)
@dataclass(frozen=True)
class Clip(Unary):
    """Opset 1: bounds are attributes, absent means unbounded."""
    min: float = -math.inf
    max: float = math.inf

    def compute(self, x):
        return np.minimum(np.maximum(x, self.min), self.max)


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

    def emit(self, e):
        """np.maximum / np.minimum with the bounds broadcast, as `compute` does."""
        x = e.in_facts[0]
        if x.dtype not in COMPILED_DTYPES or x.dtype.kind == "b":
            return False
        buf = e.buffer(0)
        src = e.ins[0]
        for fn, var in zip(("maximum", "minimum"), e.ins[1:3]):
            if var is not None:
                e.line(f"np.{fn}({src}, {var}.reshape(()), {buf})")
                src = buf
        if src != buf:
            e.copy(buf, src)
        return True

    def compute(self, x, lo=None, hi=None):
        symbolic = x.dtype == object        # shape values: min(S, 512) stays exact
        if lo is not None:
            x = (SYMBOLIC_MAX if symbolic else np.maximum)(x, widen(lo).reshape(()))
        if hi is not None:
            x = (SYMBOLIC_MIN if symbolic else np.minimum)(x, widen(hi).reshape(()))
        return x


SYMBOLIC_MAX = np.frompyfunc(dims.dmax, 2, 1)
SYMBOLIC_MIN = np.frompyfunc(dims.dmin, 2, 1)
