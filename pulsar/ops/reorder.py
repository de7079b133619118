"""Ops that move elements without computing: DepthToSpace, SpaceToDepth, ReverseSequence.

The block ops are a reshape, a transpose and a reshape, written as in the ONNX spec; their
shapes need the channel (or spatial) dims to divide exactly by the block size.
"""
from dataclasses import dataclass

import numpy as np

from ..fact import Fact
from .base import Op, fail, need_rank, normalize_axis
from .registry import register
from .sizes import exact_div

# Transposes of the 6-D intermediate, by (op, mode), from the ONNX spec.
DEPTH_TO_SPACE = {"DCR": (0, 3, 4, 1, 5, 2), "CRD": (0, 1, 4, 2, 5, 3)}
SPACE_TO_DEPTH = {"DCR": (0, 3, 5, 1, 2, 4), "CRD": (0, 1, 3, 5, 2, 4)}


def _divide(value, block, what, fact):
    """value / block; a symbolic value is assumed to be a multiple (run time checks it)."""
    out = exact_div(value, block)
    if out is None and isinstance(value, int):
        fail(f"{what} {value} of {fact} is not a multiple of {block}")
    return value // block if out is None else out


def _check(mode, table, blocksize):
    if mode not in table:
        fail(f"unknown mode {mode!r}; expected DCR or CRD")
    if blocksize < 1:
        fail(f"blocksize must be positive, got {blocksize}")


@register("DepthToSpace", since=1)
@dataclass(frozen=True)
class DepthToSpace(Op):
    blocksize: int = 0
    mode: str = "DCR"

    def infer(self, inputs, ctx):
        x = inputs[0]
        need_rank(x, "input", rank=4)
        _check(self.mode, DEPTH_TO_SPACE, self.blocksize)
        n, c, h, w = x.shape
        b = self.blocksize
        return [Fact(x.dtype, (n, _divide(c, b * b, "channels", x), h * b, w * b))]

    def eval(self, x):
        n, c, h, w = x.shape
        b = self.blocksize
        depth = _divide(c, b * b, "channels", list(x.shape))
        split = (n, b, b, depth, h, w) if self.mode == "DCR" else (n, depth, b, b, h, w)
        moved = np.transpose(x.reshape(split), DEPTH_TO_SPACE[self.mode])
        return (moved.reshape(n, depth, h * b, w * b),)


@register("SpaceToDepth", since=1)
@dataclass(frozen=True)
class SpaceToDepth(Op):
    blocksize: int = 0
    mode: str = "DCR"   # attribute since opset 28; earlier opsets are DCR

    def infer(self, inputs, ctx):
        x = inputs[0]
        need_rank(x, "input", rank=4)
        _check(self.mode, SPACE_TO_DEPTH, self.blocksize)
        n, c, h, w = x.shape
        b = self.blocksize
        return [Fact(x.dtype, (n, c * b * b, _divide(h, b, "height", x),
                               _divide(w, b, "width", x)))]

    def eval(self, x):
        n, c, h, w = x.shape
        b = self.blocksize
        _divide(h, b, "height", list(x.shape))
        _divide(w, b, "width", list(x.shape))
        blocks = x.reshape(n, c, h // b, b, w // b, b)
        moved = np.transpose(blocks, SPACE_TO_DEPTH[self.mode])
        return (moved.reshape(n, c * b * b, h // b, w // b),)


@register("ReverseSequence", since=10)
@dataclass(frozen=True)
class ReverseSequence(Op):
    batch_axis: int = 1
    time_axis: int = 0

    def infer(self, inputs, ctx):
        x, lens = inputs
        need_rank(x, "input", min_rank=2)
        self._axes(x.rank)
        if lens.dtype != np.dtype(np.int64) or lens.rank != 1:
            fail(f"sequence_lens must be a 1-D int64 tensor, got {lens}")
        return [Fact(x.dtype, x.shape)]

    def _axes(self, rank):
        batch = normalize_axis(self.batch_axis, rank, "batch_axis")
        time = normalize_axis(self.time_axis, rank, "time_axis")
        if batch == time or {batch, time} - {0, 1}:
            fail(f"batch_axis {self.batch_axis} and time_axis {self.time_axis} must be 0 and 1")
        return batch, time

    def eval(self, x, lens):
        batch, time = self._axes(x.ndim)
        if lens.shape != (x.shape[batch],):
            fail(f"sequence_lens has shape {list(lens.shape)}, the batch axis has "
                 f"{x.shape[batch]} entries")
        if ((lens < 0) | (lens > x.shape[time])).any():
            fail(f"sequence_lens {lens.tolist()} must lie in 0..{x.shape[time]}")
        out = x.copy()
        for i, n in enumerate(lens.tolist()):
            index = [slice(None)] * x.ndim
            index[batch], index[time] = i, slice(0, n)
            out[tuple(index)] = np.flip(x[tuple(index)], axis=time - (time > batch))
        return (out,)
