"""Elementwise functions NumPy lacks (it has no erf), as flat loops over preallocated outputs.

They complete NumPy below the scalar functions (scalar_numpy.py computes erf with the loop
here), so a loop calls the C library's function itself: `math.erf`, which is all `scalar.erf`
compiles to.
"""
import math

from . import elementwise_numpy
from .jit import jit


@jit(twin=elementwise_numpy.erf_into)
def erf_into(x, out):
    """out[i] = erf(x[i]).

    x, out: 1-D float arrays of one length (float32 or float64; the caller flattens and widens
    float16/bfloat16 first). Written in place: out.
    """
    for i in range(x.shape[0]):
        out[i] = math.erf(x[i])
