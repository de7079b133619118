"""RMSNormalization (opset 23): Y = X / sqrt(mean(X^2 over axes [axis, rank)) + epsilon) * scale.

The first stage runs in `stash_type` (float32 by default) but never narrower than float32, with
the mean of squares accumulated in float64; the normalised X is rounded to X's dtype before the
scale multiplies it, and Y takes the scale's dtype (the spec's types T for X, V for scale and Y).
"""
from dataclasses import dataclass

import numpy as np
from onnx import helper

from ..fact import Fact
from .attention import is_float, known_differ
from .base import Op, fail, mixes_along, normalize_axis
from .registry import register

STASH_TYPES = (1, 10, 11, 16)      # float, float16, double, bfloat16


@register("RMSNormalization", since=23)
@dataclass(frozen=True)
class RMSNormalization(Op):
    streams = "follows"
    
    def stream_refusal(self, axis, facts):
        return mixes_along(axis, self.axis, facts[0].rank, from_axis_on=True)
    
    axis: int = -1
    epsilon: float = 1e-5
    stash_type: int = 1

    def infer(self, inputs, ctx):
        x, scale = inputs
        if not is_float(x.dtype) or not is_float(scale.dtype):
            fail(f"X and scale must be float tensors, got {x} and {scale}")
        if self.stash_type not in STASH_TYPES:
            fail(f"stash_type must be one of {STASH_TYPES} (a float type), got {self.stash_type}")
        normalize_axis(self.axis, x.rank)
        # unidirectional broadcasting: scale's dims, aligned right, are 1 or X's
        if scale.rank > x.rank or any(d != 1 and known_differ(d, n) for d, n in
                                      zip(scale.shape[::-1], x.shape[::-1])):
            fail(f"scale {scale} does not broadcast to X {x}")
        return [Fact(scale.dtype, x.shape)]

    def eval(self, x, scale):
        axis = normalize_axis(self.axis, x.ndim)
        stash = np.dtype(helper.tensor_dtype_to_np_dtype(self.stash_type))
        work = np.float64 if np.float64 in (x.dtype, stash) else np.float32
        xs = x.astype(work)
        mean_square = np.mean(np.square(xs, dtype=np.float64), axis=tuple(range(axis, x.ndim)),
                              keepdims=True)
        normalized = (xs / np.sqrt(mean_square + self.epsilon).astype(work)).astype(x.dtype)
        return ((normalized * scale).astype(scale.dtype, copy=False),)
