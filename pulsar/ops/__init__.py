"""Operator families. Importing this package registers every op (explicit list, no scanning)."""
from . import registry  # noqa: F401
from . import (  # noqa: F401
    unary, activation, binary,                                      # elementwise
    shape, tensor, fill, gather, scatter, pad, reorder, select,     # layout and indexing
    conv, pool, norm, deform_conv,                                  # windows and normalisation
    linalg, einsum, reduce, softmax, sort, cumprod,                 # contractions and reductions
    recurrent, control, loop, sequence,                             # recurrences, control flow
    attention, causal, rmsnorm, loss,                               # transformer blocks, losses
    spectral, quantize, resize, random, misc,                       # the rest
)
