"""Operator families. Importing this package registers every op (explicit list, no scanning)."""
from . import registry  # noqa: F401
from . import (  # noqa: F401
    unary, activation, binary, shape, tensor, fill, gather, scatter, pad, reorder, select, conv, pool, norm, linalg, reduce, recurrent, control,
    spectral, quantize, resize, random, sequence,
)
