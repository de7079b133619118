"""Numba-compiled compute kernels: pure functions on arrays, no graph knowledge.

Every kernel takes its inputs and preallocated outputs explicitly and writes in place; state
(recurrent hidden state, delay lines) is passed in and updated explicitly. Callers validate
shapes first: a kernel reading out of bounds would crash the interpreter.
"""
