"""DeformConv (opsets 19, 22): convolution whose taps sample the input at learned offsets.

Tap t of output position o reads X at o * stride - pad_begin + t * dilation + offset (per
spatial axis, fractional), by multilinear interpolation with zeros outside X; the optional mask
scales each sample. Channels share offsets in `offset_group` groups. The sampled taps form
im2col columns that a grouped matrix product turns into the output, in float32 (float64 for
float64 inputs). Offsets are (N, offset_group * prod(k) * n, *out), one n-vector per tap.
"""
from dataclasses import dataclass
from itertools import product
from math import prod

import numpy as np

from ..fact import Fact
from .attention import is_float, known_differ
from .base import fail
from .conv import SlidingWindow, check_sizes, compute_dtype
from .registry import register


@register("DeformConv", since=19)
@dataclass(frozen=True)
class DeformConv(SlidingWindow):
    group: int = 1
    offset_group: int = 1

    def infer(self, inputs, ctx):
        x, w, offset, bias, mask = (list(inputs) + [None] * 2)[:5]
        present = [f for f in (x, w, offset, bias, mask) if f is not None]
        if not is_float(x.dtype) or any(f.dtype != x.dtype for f in present):
            fail("X, W, offset, B and mask must share one float dtype, got "
                 + ", ".join(str(f) for f in present))
        if x.rank < 3 or w.rank != x.rank or offset.rank != x.rank:
            fail(f"X (N, C, *spatial), W (oC, C/group, *k) and offset need one rank >= 3, "
                 f"got X {x}, W {w}, offset {offset}")
        if self.auto_pad != "NOTSET":
            fail("DeformConv has no auto_pad attribute")
        if not all(isinstance(k, int) for k in w.shape[2:]):
            fail(f"the kernel size must be known: W is {w}")
        kernel, _, _, _, _, outs = self.geometry(x.shape[2:], w.shape[2:])
        check_sizes(outs)
        self.check_channels(x, w, bias)
        batch, n, taps = x.shape[0], x.rank - 2, prod(kernel)
        for what, fact, per_tap in (("offset", offset, n), ("mask", mask, 1)):
            want = (batch, self.offset_group * taps * per_tap, *outs)
            if fact is not None and any(known_differ(a, b) for a, b in zip(fact.shape, want)):
                fail(f"{what} must have shape [{','.join(map(str, want))}], got {fact}")
        return [Fact(x.dtype, (batch, w.shape[0], *outs))]

    def check_channels(self, x, w, bias):
        c, oc = x.shape[1], w.shape[0]
        if self.group < 1 or self.offset_group < 1:
            fail(f"group ({self.group}) and offset_group ({self.offset_group}) must be positive")
        if known_differ(c, w.shape[1] * self.group) or \
                (isinstance(oc, int) and oc % self.group):
            fail(f"W {w} does not fit X {x} with group={self.group}: W must be "
                 f"(a multiple of {self.group}, C/group, ...)")
        if isinstance(c, int) and c % self.offset_group:
            fail(f"input channels {c} must be a multiple of offset_group={self.offset_group}")
        if bias is not None and (bias.rank != 1 or known_differ(bias.shape[0], oc)):
            fail(f"B must have shape [{oc}], got {bias}")

    def eval(self, x, w, offset, bias=None, mask=None):
        kernel, strides, dilations, begins, _, outs = self.geometry(x.shape[2:], w.shape[2:])
        batch, channels, n, taps = x.shape[0], x.shape[1], x.ndim - 2, prod(kernel)
        groups = self.offset_group
        if offset.shape != (batch, groups * taps * n, *outs) or \
                (mask is not None and mask.shape != (batch, groups * taps, *outs)):
            fail(f"offset {list(offset.shape)} / mask {None if mask is None else list(mask.shape)}"
                 f" do not fit output sizes {outs} with {groups} offset group(s) of {taps} taps")
        work = compute_dtype(x.dtype)
        # where each tap samples, per spatial axis: (N, G, taps, n, *out)
        grid = np.stack(np.meshgrid(*[np.arange(o) * s - b for o, s, b in
                                      zip(outs, strides, begins)], indexing="ij"))
        reach = np.stack(np.meshgrid(*[np.arange(k) * d for k, d in zip(kernel, dilations)],
                                     indexing="ij")).reshape(n, taps)
        base = reach.T.reshape((1, 1, taps, n) + (1,) * n) + grid[None, None, None]
        where = base + offset.reshape(batch, groups, taps, n, *outs).astype(work)
        cols = sample(x.astype(work).reshape(batch, groups, channels // groups, -1),
                      x.shape[2:], where.reshape(batch, groups, taps, n, -1))
        if mask is not None:
            cols = cols * mask.reshape(batch, groups, 1, taps, -1).astype(work)
        return (convolve(cols.reshape(batch, channels * taps, -1), w.astype(work), self.group,
                         bias).reshape(batch, w.shape[0], *outs).astype(x.dtype),)


def sample(x, sizes, where):
    """Multilinear samples of x (N, G, Cg, prod(sizes)) at `where` (N, G, taps, n, P), zero
    outside: (N, G, Cg, taps, P). Each of the 2^n corners adds its weight where it is inside."""
    batch, groups, per_group, _ = x.shape
    low = np.floor(where)
    frac = where - low
    low = low.astype(np.int64)
    out = np.zeros((batch, groups, per_group) + where.shape[2:3] + where.shape[4:], x.dtype)
    for corner in product((0, 1), repeat=len(sizes)):
        weight, flat, inside = 1, 0, True
        for axis, (size, up) in enumerate(zip(sizes, corner)):
            index = low[:, :, :, axis] + up
            weight = weight * (frac[:, :, :, axis] if up else 1 - frac[:, :, :, axis])
            inside = inside & (index >= 0) & (index < size)
            flat = flat * size + np.clip(index, 0, size - 1)
        picked = np.take_along_axis(x, flat.reshape(batch, groups, 1, -1), axis=3)
        out += picked.reshape(out.shape) * np.where(inside, weight, 0)[:, :, None]
    return out


def convolve(cols, w, group, bias):
    """Grouped product of im2col columns (N, C*taps, P) with W (oC, C/group, *k)."""
    batch, rows, points = cols.shape
    oc = w.shape[0]
    y = np.matmul(w.reshape(group, oc // group, -1), cols.reshape(batch, group, rows // group,
                                                                  points))
    y = y.reshape(batch, oc, points)
    return y if bias is None else y + bias.astype(y.dtype)[:, None]
