"""Array views for generated code that compile to a few instructions.

A compiled plan's glue takes dozens of views per call: every buffer is a slice of an arena
reshaped, and every reshape of a wire is `np.ascontiguousarray(x).reshape(shape)`. In Numba each
of those is a slice normalisation, a call to a reshape helper compiled per rank pair, and error
paths; one embedding's glue took more compile time than all its kernels. Here the same views are
built in place (kernels/views_numba.py lowers these functions to a struct fill): the plan
guarantees what Numba would check (an arena holds every span, shapes match sizes), since it laid
the arenas out and analysed the shapes.

The bodies below are what the functions mean, and what runs without Numba.
"""
import numpy as np


def arena_view(arena, start, shape):
    """The C-ordered `shape` view of 1-D `arena` starting at element `start`."""
    return arena[start:start + int(np.prod(shape, dtype=np.int64))].reshape(shape)


def c_view(a, shape):
    """`a` as a C-contiguous array of `shape` (same size): a view when `a` is C-contiguous,
    else a C-ordered copy, as `np.ascontiguousarray(a).reshape(shape)`."""
    return np.ascontiguousarray(a).reshape(shape)


def transposed(a, perm):
    """`a.transpose(perm)`: a view with permuted axes (Numba's own checks the permutation
    with a set and formats its error, seconds of compile; plans pass valid permutations)."""
    return a.transpose(perm)
