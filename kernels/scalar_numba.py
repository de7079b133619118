"""Numba lowering of `scalar.like`: a cast of the constant to the float type of `x`, inline.

Registered once, before the first kernel compiles (kernels/jit.py `_prepare_numba`).
"""
from numba.core import types
from numba.core.imputils import lower_builtin
from numba.extending import type_callable

from . import scalar


@type_callable(scalar.like)
def _type_like(context):
    def typer(x, value):
        if isinstance(x, types.Float) and isinstance(value, types.Number):
            return x
    return typer


@lower_builtin(scalar.like, types.Float, types.Number)
def _lower_like(context, builder, sig, args):
    return context.cast(builder, args[1], sig.args[1], sig.return_type)
