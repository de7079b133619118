"""Multidirectional (NumPy-style) broadcasting of symbolic shapes."""
from .. import dims
from .base import fail


def broadcast_dim(a, b):
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    if isinstance(a, int) and isinstance(b, int):
        fail(f"dimensions {a} and {b} do not broadcast")
    if isinstance(a, int):      # a concrete size > 1 fixes the symbolic one
        return a
    if isinstance(b, int):
        return b
    return dims.dmax(a, b)      # equal or one of them is 1: max is right either way


def broadcast_shapes(*shapes) -> tuple:
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for s in shapes:
        padded = (1,) * (rank - len(s)) + tuple(s)
        try:
            out = [broadcast_dim(a, b) for a, b in zip(out, padded)]
        except Exception as e:
            fail(f"shapes {' and '.join(_fmt(x) for x in shapes)} do not broadcast: {e}")
    return tuple(out)


def _fmt(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"
