"""Shared by the shape families: reading constant int inputs and symbolic size arithmetic.

Shape-like inputs (Reshape's shape, Slice's starts, Pad's pads) arrive as facts whose value may
be missing, an int array, or an object array of `int | Dim` (shape arithmetic folded
symbolically). `read_ints` turns the last two into a list of `int | Dim`; None means unknown,
and callers then keep the rank right with fresh symbols.
"""
import numpy as np

from .. import dims
from .base import fail, normalize_axis

# An offset at least this large (INT32_MAX and INT64_MAX are common in exports) means
# "to the end" of a symbolic axis, which no finite bound proves on its own.
HUGE = 2**31 - 1


def read_ints(fact, what: str, dtypes="iu"):
    """The value of an int input as a flat list of `int | Dim`, or None when unknown."""
    if fact is None:
        return None
    if fact.dtype.kind not in dtypes:
        fail(f"{what} must be an integer tensor, got {fact}")
    if fact.value is None:
        return None
    return [dims.to_dim(v) for v in np.asarray(fact.value).reshape(-1)]


def read_concrete(fact, what: str):
    """`read_ints` restricted to concrete values (a Dim among them means unknown)."""
    values = read_ints(fact, what)
    if values is None or not all(isinstance(v, int) for v in values):
        return None
    return values


def as_int_list(array, what: str) -> list:
    """A runtime int tensor as Python ints (they may exceed int64 in arithmetic later)."""
    array = np.asarray(array)
    if array.dtype == object:
        values = [dims.to_dim(v) for v in array.reshape(-1)]
        if not all(isinstance(v, int) for v in values):
            raise TypeError(f"{what} is symbolic")
        return values
    if array.dtype.kind not in "iu":
        fail(f"{what} must be an integer tensor, got dtype {array.dtype}")
    return [int(v) for v in array.reshape(-1)]


def normalize_axes(axes, rank: int, what="axes") -> list:
    """Axes normalised to [0, rank), with a clear error for duplicates."""
    out = [normalize_axis(int(a), rank, what) for a in axes]
    if len(set(out)) != len(out):
        fail(f"{what} {list(axes)} repeat an axis (rank {rank})")
    return out


def product(shape):
    """Number of elements of a shape: an int or a Dim."""
    total = 1
    for d in shape:
        total = total * d
    return total


def exact_div(a, b):
    """a / b when it is provably an integer for every value of the symbols, else None."""
    if isinstance(a, int) and isinstance(b, int):
        return a // b if b and a % b == 0 else None
    if isinstance(b, int) and b <= 0:
        return None
    try:
        quotient = a // b
    except dims.DimError:
        return None
    return quotient if quotient * b == a else None


def fresh_dims(ctx, count: int, hint: str) -> tuple:
    return tuple(ctx.fresh_symbol(hint) for _ in range(count))


def same_dim(a, b) -> bool:
    """False only when a and b provably differ (two different ints)."""
    return a == b or not (isinstance(a, int) and isinstance(b, int))


def merge_dim(a, b):
    """Of two dims known to be equal, the more concrete one."""
    return a if isinstance(a, int) else b


def vector_length(fact, what: str):
    """Static length of a 1-D shape-like input (its value may still be unknown)."""
    if fact.rank != 1:
        fail(f"{what} must be 1-D, got {fact}")
    n = fact.shape[0]
    if not isinstance(n, int):
        fail(f"{what} has symbolic length {n}: the output rank would be unknown, got {fact}")
    return n


def shape_str(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def scalar_value(value, dtype=np.int64) -> np.ndarray:
    """A 0-d array of `int | Dim`: int64 when concrete, object otherwise."""
    value = dims.to_dim(value)
    if isinstance(value, int):
        try:
            return np.array(value, dtype=dtype)
        except OverflowError:
            fail(f"size {value} does not fit in {np.dtype(dtype).name}")
    out = np.empty((), dtype=object)
    out[()] = value
    return out
