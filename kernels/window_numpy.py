"""Sliding-window helpers shared by the convolution and pooling twins (NumPy only).

A window op reads, for output o and tap k along each spatial axis, input o*stride + k*dilation
- begin. The twins copy the input once into a border filled with the op's neutral value (0 for
sums, -inf for max) big enough for every tap of every output, so no position needs a bounds
test; then each tap is one strided view of that copy.
"""
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def extent(out, k, stride, dilation):
    """Input span (from the first padded position) that `out` outputs of a window read."""
    return (out - 1) * stride + (k - 1) * dilation + 1


def padded(x, begins, needed, fill=0):
    """x (N, C, *spatial) with `begins` positions of `fill` before each spatial axis and enough
    after for a length of at least needed[i]; x itself when no border is needed."""
    spatial = x.shape[2:]
    sizes = tuple(max(b + s, n) for b, s, n in zip(begins, spatial, needed))
    if not any(begins) and sizes == spatial:
        return x
    xp = np.full(x.shape[:2] + sizes, fill, x.dtype)
    xp[(Ellipsis,) + tuple(slice(b, b + s) for b, s in zip(begins, spatial))] = x
    return xp


def bordered(x, kernel, strides, dilations, begins, outs, fill=0):
    """`padded` with the length every tap of `outs` outputs reads."""
    needed = [extent(o, k, s, d) for o, k, s, d in zip(outs, kernel, strides, dilations)]
    return padded(x, begins, needed, fill)


def windows(xp, kernel, strides, dilations, outs):
    """View (N, C, *outs, *kernel) of the bordered xp: [.., o.., k..] = xp[.., o*s + k*d ..]."""
    r = len(kernel)
    spans = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations))
    v = sliding_window_view(xp, spans, axis=tuple(range(2, 2 + r)))
    index = (slice(None), slice(None))
    index += tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(outs, strides))
    index += tuple(slice(None, None, d) for d in dilations)
    return v[index]


def taps(xp, kernel, strides, dilations, outs):
    """(tap index, view (N, C, *outs)) for every tap of the window, in row-major order."""
    for tap in np.ndindex(*kernel):
        index = (slice(None), slice(None)) + tuple(
            slice(k * d, k * d + (o - 1) * s + 1, s)
            for k, d, o, s in zip(tap, dilations, outs, strides))
        yield tap, xp[index]


def counts(k, stride, dilation, start, lo, hi, outs):
    """Per output along one axis: how many taps of its window lie in [lo, hi), the window of
    output o starting at o*stride - start."""
    first = np.arange(outs)[:, None] * stride - start + np.arange(k)[None, :] * dilation
    return ((first >= lo) & (first < hi)).sum(axis=1)


def prod(values):
    return math.prod(values)
