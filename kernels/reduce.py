"""Reductions over the middle axis of an (A, R, B) view: ReduceSum/Mean/Max/Min, global pools.

The caller views x so that the reduced axes form the middle one: a reshape when they are
adjacent in x (one axis, trailing axes, the spatial axes of a global pool), a transposed copy
otherwise; out is (A, B). Sums run in float64 whatever the array dtype (a float32 running sum
over a long row drifts past onnxruntime's tolerance) and are rounded once. Max and min scan
as onnxruntime: start from r = 0, replace only by a strictly greater (smaller) value, so a
NaN wins only at r = 0. Caller guarantees R > 0.
"""
from . import reduce_numpy
from .jit import helper, jit


@jit(twin=reduce_numpy.sum_middle)
def sum_middle(x, out, acc, divisor):
    """out[a, b] = sum over r of x[a, r, b], divided by `divisor` (1.0 for a plain sum, R for
    a mean). acc: (B,) float64 scratch. x (A, R, B), out (A, B) float, must not overlap."""
    A, R, B = x.shape
    for a in range(A):
        if B == 1:
            s = 0.0
            for r in range(R):
                s += x[a, r, 0]
            out[a, 0] = s / divisor
            continue
        for b in range(B):
            acc[b] = x[a, 0, b]
        for r in range(1, R):
            for b in range(B):
                acc[b] += x[a, r, b]
        for b in range(B):
            out[a, b] = acc[b] / divisor


@jit(twin=reduce_numpy.max_middle)
def max_middle(x, out):
    """out[a, b] = max over r of x[a, r, b] (scan rule). x (A, R, B), out (A, B), no overlap."""
    _extreme_middle(x, out, True)


@jit(twin=reduce_numpy.min_middle)
def min_middle(x, out):
    """out[a, b] = min over r of x[a, r, b] (scan rule). x (A, R, B), out (A, B), no overlap."""
    _extreme_middle(x, out, False)


@helper
def _extreme_middle(x, out, largest):
    A, R, B = x.shape
    for a in range(A):
        for b in range(B):
            out[a, b] = x[a, 0, b]
        for r in range(1, R):
            for b in range(B):
                v = x[a, r, b]
                if v > out[a, b] if largest else v < out[a, b]:
                    out[a, b] = v
