"""NumPy twins of the middle-axis reductions (kernels/reduce.py): sums in float64 rounded
once; max/min by the kernels' scan rule (start from the first element, move only to a strictly
greater or smaller value: a NaN wins only when it comes first, as in onnxruntime's loops)."""
import numpy as np


def sum_middle(x, out, acc, divisor):
    out[...] = x.sum(axis=1, dtype=np.float64) / divisor


def max_middle(x, out):
    out[...] = _scan(x, np.fmax, np.maximum)


def min_middle(x, out):
    out[...] = _scan(x, np.fmin, np.minimum)


def _scan(x, skipping_nan, plain):
    if x.dtype.kind != "f":
        return plain.reduce(x, axis=1)
    first = x[:, 0, :]
    return np.where(np.isnan(first), first, skipping_nan.reduce(x, axis=1))
