"""NumPy twins of kernels/elementwise.py. NumPy has no erf, so the twin maps the C library's
erf (Python's math.erf, the function the kernel calls) over the elements: exact, and slower
than a vector loop, which only the rare models with Erf notice."""
import math

import numpy as np


def erf(x):
    """erf of every element of the float array x, in float64."""
    flat = np.ravel(x).astype(np.float64)
    return np.fromiter(map(math.erf, flat.tolist()), np.float64, flat.size).reshape(np.shape(x))


def erf_into(x, out):
    out[...] = erf(x)
