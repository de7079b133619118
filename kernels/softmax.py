"""Softmax, LogSoftmax and Hardmax over the last axis of a 2-D (rows, cols) view.

ONNX Softmax/LogSoftmax/Hardmax (opset >= 13) work along one axis; the caller moves that axis
last and flattens the rest into rows (a reshape for axis = -1, a transpose copy otherwise).
Sums are accumulated in float64 whatever the array dtype; exponentials are max-subtracted, so
no input overflows. `out` may be the same array as `x` (in place); a partial overlap is not allowed.
"""
import numpy as np

from . import softmax_numpy
from .jit import helper, jit


@helper
def _row_max(x, i):
    m = x[i, 0]
    for j in range(1, x.shape[1]):
        v = x[i, j]
        if v > m or v != v:  # NaN propagates like onnxruntime
            m = v
            if v != v:
                break
    return m


@jit(twin=softmax_numpy.softmax_rows)
def softmax_rows(x, out):
    """out[i, :] = exp(x[i] - max(x[i])) / sum(exp(x[i] - max(x[i]))) for each row.

    x, out: (rows, cols) float arrays of one dtype and shape; out may alias x.
    A row holding NaN or +inf, or only -inf, yields NaN; cols == 0 is a no-op.
    """
    rows, cols = x.shape
    if cols == 0:
        return
    for i in range(rows):
        m = _row_max(x, i)
        s = 0.0
        for j in range(cols):
            e = np.exp(x[i, j] - m)
            out[i, j] = e
            s += e
        for j in range(cols):
            out[i, j] = out[i, j] / s


@jit(twin=softmax_numpy.log_softmax_rows)
def log_softmax_rows(x, out):
    """out[i, :] = x[i] - max(x[i]) - log(sum(exp(x[i] - max(x[i])))) for each row.

    x, out: (rows, cols) float arrays of one dtype and shape; out may alias x.
    Exact for entries far below the row max (no log of an underflowed exp).
    """
    rows, cols = x.shape
    if cols == 0:
        return
    for i in range(rows):
        m = _row_max(x, i)
        s = 0.0
        for j in range(cols):
            s += np.exp(x[i, j] - m)
        shift = m + np.log(s)
        for j in range(cols):
            out[i, j] = x[i, j] - shift


@jit(twin=softmax_numpy.hardmax_rows)
def hardmax_rows(x, out):
    """out[i, j] = 1 where j is the first index of the maximum of row i, else 0.

    x, out: (rows, cols) arrays of one shape (any numeric dtype for out); out may alias x.
    NaN entries are ignored (a row of only NaN marks its last column).
    """
    rows, cols = x.shape
    if cols == 0:
        return
    for i in range(rows):
        best = 0
        m = x[i, 0]
        for j in range(1, cols):
            if x[i, j] > m or m != m:
                m = x[i, j]
                best = j
        for j in range(cols):
            out[i, j] = 0
        out[i, best] = 1
