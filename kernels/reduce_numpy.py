"""NumPy twins of the middle-axis reductions (kernels/reduce.py): sums in float64 rounded
once, max/min propagating NaN (np.maximum.reduce does, as the kernels)."""
import numpy as np

from . import reduce as k


@k.sum_middle.numpy
def sum_middle(x, out, acc, divisor):
    out[...] = x.sum(axis=1, dtype=np.float64) / divisor


@k.max_middle.numpy
def max_middle(x, out):
    out[...] = np.maximum.reduce(x, axis=1)


@k.min_middle.numpy
def min_middle(x, out):
    out[...] = np.minimum.reduce(x, axis=1)
