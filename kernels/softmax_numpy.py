"""NumPy twins of the row kernels (kernels/softmax.py): exponentials of x - max in the array
dtype, sums in float64; a row holding NaN has a NaN max (np.max propagates it, as `_row_max`),
so its outputs are NaN. `out` may be `x`."""
import numpy as np


def softmax_rows(x, out):
    if x.shape[1] == 0:
        return
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(x - np.max(x, axis=1, keepdims=True))
        out[...] = e / e.sum(axis=1, dtype=np.float64, keepdims=True)


def log_softmax_rows(x, out):
    if x.shape[1] == 0:
        return
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        m = np.max(x, axis=1, keepdims=True)
        s = np.exp(x - m).sum(axis=1, dtype=np.float64, keepdims=True)
        out[...] = x - (m + np.log(s))


def hardmax_rows(x, out):
    """The first maximum among a row's non-NaN entries; the last column if all are NaN."""
    rows, cols = x.shape
    if cols == 0:
        return
    nan = np.isnan(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
    top = np.where(nan, -np.inf, x).max(axis=1, keepdims=True)
    hit = (x == top) & ~nan
    best = np.where(hit.any(axis=1), hit.argmax(axis=1), cols - 1)
    out[...] = 0
    out[np.arange(rows), best] = 1
