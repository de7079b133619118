"""Max/min and arg-max/arg-min with onnxruntime's NaN rule, as NumPy references.

onnxruntime finds an extremum with a scan: start from the first element (in row-major order
of the reduced axes or of the window) and replace it by a later one only when that one is
strictly greater (smaller for min; `>=`/`<=` for select_last_index). A NaN therefore wins
only when it comes first, and is skipped anywhere else. Its ArgMax/ArgMin, MaxPool with
Indices, GlobalMaxPool and ReduceMax/Min over an outer axis follow this rule exactly; its
vectorised paths (ReduceMax/Min over the innermost axis, MaxPool without Indices) depend on
SIMD lanes and even return values that are not the extremum of the non-NaN elements, so
pulsar follows the scan rule everywhere instead of one lane layout. NumPy's max/argmax
(NaN always wins) would make one NaN sample poison a whole clipped spectrogram.
"""
import numpy as np


def scan_extreme(x: np.ndarray, axes: tuple, keepdims: bool, largest: bool) -> np.ndarray:
    """max (largest) or min of x over `axes` (non-empty, x non-empty) by the scan rule."""
    skip_nan = np.fmax if largest else np.fmin
    folded = skip_nan.reduce(x, axis=axes, keepdims=True)
    if x.dtype.kind == "f":
        first = x[tuple(slice(0, 1) if i in axes else slice(None) for i in range(x.ndim))]
        folded = np.where(np.isnan(first), first, folded)
    return folded if keepdims else np.squeeze(folded, axis=axes)


def scan_arg(x: np.ndarray, axis: int, largest: bool, last: bool) -> np.ndarray:
    """Index of the max (largest) or min along `axis` by the scan rule (ties: first, or last
    when `last`); x has a non-empty `axis`."""
    if x.dtype.kind != "f" or not np.isnan(x).any():
        pick = np.argmax if largest else np.argmin
        if not last:
            return pick(x, axis=axis)
        return x.shape[axis] - 1 - pick(np.flip(x, axis), axis=axis)
    rows = np.moveaxis(x, axis, 0)
    best, index = rows[0], np.zeros(rows.shape[1:], dtype=np.int64)
    for i in range(1, rows.shape[0]):
        v = rows[i]
        if largest:
            better = v >= best if last else v > best
        else:
            better = v <= best if last else v < best
        best, index = np.where(better, v, best), np.where(better, i, index)
    return index
