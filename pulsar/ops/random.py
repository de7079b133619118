"""Random ops: RandomNormal/Uniform(+Like), Bernoulli, Multinomial. Never folded at analysis.

A `seed` gives a fresh NumPy RandomState(seed) on every run, drawn in the same order as onnx's
reference evaluator: a seeded model is reproducible run to run and matches that evaluator.
Without a seed every run draws from fresh OS entropy.
"""
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from .. import dtypes
from ..fact import Fact
from .base import Op, fail
from .registry import register

FLOATS = tuple(np.dtype(t) for t in (np.float16, np.float32, np.float64))


def _float_dtype(onnx_type: int, fallback=None) -> np.dtype:
    dtype = dtypes.from_onnx(onnx_type) if onnx_type else fallback
    if dtype not in FLOATS:
        fail(f"random values must be float16/float32/float64, got dtype {dtype}")
    return dtype


@dataclass(frozen=True)
class RandomOp(Op):
    foldable: ClassVar[bool] = False
    seed: Optional[float] = None

    def state(self) -> np.random.RandomState:
        if self.seed is None or np.isnan(self.seed):
            return np.random.RandomState()
        return np.random.RandomState(int(self.seed) % 2**32)   # RandomState wants 0..2**32-1


class NormalDraw:
    def draw(self, shape, dtype):
        values = self.state().randn(*shape).astype(dtype)
        return (values * dtype.type(self.scale) + dtype.type(self.mean)).astype(dtype)


class UniformDraw:
    def draw(self, shape, dtype):
        values = self.state().rand(*shape).astype(dtype)
        return (values * dtype.type(self.high - self.low) + dtype.type(self.low)).astype(dtype)


@dataclass(frozen=True)
class FixedShape(RandomOp):
    """No input: shape and dtype come from attributes."""

    def infer(self, inputs, ctx):
        if any(d < 0 for d in self.shape):
            fail(f"shape {list(self.shape)} has a negative dimension")
        return [Fact(_float_dtype(self.dtype), self.shape)]

    def eval(self):
        return (self.draw(self.shape, _float_dtype(self.dtype)),)


@dataclass(frozen=True)
class LikeInput(RandomOp):
    """Shape of the input; dtype from the attribute, else the input's."""

    def out_dtype(self, dtype):
        return _float_dtype(self.dtype, dtype)

    def infer(self, inputs, ctx):
        return [Fact(self.out_dtype(inputs[0].dtype), inputs[0].shape)]

    def eval(self, x):
        return (self.draw(x.shape, self.out_dtype(x.dtype)),)


@register("RandomNormal", since=1)
@dataclass(frozen=True)
class RandomNormal(NormalDraw, FixedShape):
    dtype: int = 1
    mean: float = 0.0
    scale: float = 1.0
    shape: tuple = ()


@register("RandomUniform", since=1)
@dataclass(frozen=True)
class RandomUniform(UniformDraw, FixedShape):
    dtype: int = 1
    high: float = 1.0
    low: float = 0.0
    shape: tuple = ()


@register("RandomNormalLike", since=1)
@dataclass(frozen=True)
class RandomNormalLike(NormalDraw, LikeInput):
    dtype: int = 0
    mean: float = 0.0
    scale: float = 1.0


@register("RandomUniformLike", since=1)
@dataclass(frozen=True)
class RandomUniformLike(UniformDraw, LikeInput):
    dtype: int = 0
    high: float = 1.0
    low: float = 0.0


@register("Bernoulli", since=15)
@dataclass(frozen=True)
class Bernoulli(LikeInput):
    """1 with probability x, else 0; the output may be any numeric type or bool."""
    dtype: int = 0

    def out_dtype(self, dtype):
        return dtypes.from_onnx(self.dtype) if self.dtype else dtype

    def infer(self, inputs, ctx):
        if inputs[0].dtype not in FLOATS:
            fail(f"input probabilities must be floating point, got {inputs[0]}")
        return super().infer(inputs, ctx)

    def eval(self, x):
        if np.any((x < 0) | (x > 1)) or np.isnan(x).any():
            fail("Bernoulli probabilities must lie in [0, 1]")
        return (self.state().binomial(1, p=x).astype(self.out_dtype(x.dtype)),)


@register("Multinomial", since=7)
@dataclass(frozen=True)
class Multinomial(RandomOp):
    """[batch, classes] unnormalised log-probabilities -> [batch, sample_size] class indices."""
    dtype: int = 6
    sample_size: int = 1

    def infer(self, inputs, ctx):
        x = inputs[0]
        if x.rank != 2 or x.dtype not in FLOATS:
            fail(f"input must be float [batch, classes], got {x}")
        if self.dtype not in (6, 7):
            fail(f"dtype must be int32 (6) or int64 (7), got {self.dtype}")
        if self.sample_size < 1:
            fail(f"sample_size must be >= 1, got {self.sample_size}")
        return [Fact(dtypes.from_onnx(self.dtype), (x.shape[0], self.sample_size))]

    def eval(self, x):
        logits = x.astype(np.float64)
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        cumulative = np.cumsum(weights, axis=1)
        draws = self.state().rand(x.shape[0], self.sample_size) * cumulative[:, -1:]
        picks = np.array([np.searchsorted(row, d, side="right") for row, d in zip(cumulative, draws)])
        picks = np.minimum(picks.reshape(x.shape[0], self.sample_size), x.shape[1] - 1)
        return (picks.astype(dtypes.from_onnx(self.dtype)),)
