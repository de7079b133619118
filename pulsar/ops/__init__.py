"""Operator families. Importing this package registers every op (explicit list, no scanning)."""
from . import registry  # noqa: F401
from . import (  # noqa: F401
    unary, activation, binary,                                      # elementwise
    shape, tensor, fill, gather, scatter, pad, reorder, select,     # layout and indexing
    conv, pool, norm,                                               # windows and normalisation
    linalg, einsum, reduce, softmax, sort,                          # contractions and reductions
    recurrent, control,                                             # recurrences and control flow
    spectral, quantize, resize, random, misc, sequence,                   # the rest
    attention, loss, causal, rmsnorm, cumprod, deform_conv,         # transformer, loss, stateful
)
