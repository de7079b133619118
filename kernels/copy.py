"""Copies for generated code: `dst[...] = src` without Numba's array setitem.

Numba compiles `dst[...] = src` (src an array) with a shape-mismatch error that formats both
shapes into a string: string formatting, concatenation and int-to-str cost seconds of compile per
plan, for an error a plan cannot raise (its shapes are analysed). These loops compile in a
fraction of that. Callers pass arrays of one shape (broadcast views included), any layouts.
"""
import numpy as np

from . import copy_numpy
from .jit import jit


@jit(twin=copy_numpy.copy_into)
def copy_into(dst, src):
    """dst[...] = src."""
    for index in np.ndindex(dst.shape):
        dst[index] = src[index]


@jit(twin=copy_numpy.fill_into)
def fill_into(dst, value):
    """dst[...] = value."""
    for index in np.ndindex(dst.shape):
        dst[index] = value
