"""The gate activations of the recurrent layers (ONNX RNN / GRU / LSTM), over a row of gates.

A gate's activation is `(code, alpha, beta)` of activation_codes.py (pulsar/ops/recurrent.py
maps the ONNX names to them). float32 sigmoid and tanh use the vectorisable approximations of
scalar.py (within 4e-7, the family onnxruntime/MLAS uses); float64 and every other activation
are `apply_activation`'s, in float64.
"""
from . import rnn_activation_numpy, scalar
from .activation import apply_activation
from .activation_codes import ACT_SIGMOID, ACT_TANH
from .jit import jit, numba_extension

# the codes of the default gate activations (GRU and LSTM: f = sigmoid, g = h = tanh)
SIGMOID, TANH = ACT_SIGMOID, ACT_TANH


@jit(twin=rnn_activation_numpy.apply_rnn_activation)
def apply_rnn_activation(v, code, alpha, beta):
    """In place: v[:] = activation(v) for a 1-D float array `v` (e.g. the view g[b, lo:hi]).

    Each case is a row loop of its own, compiled once; a kernel compiled for a constant code
    (jit.py SPECIALISED) calls only its own (`_type_by_constant_code`). A 1-D view matters:
    LLVM vectorises 1-D loops but not the same loop written as buf[row, j].
    """
    activate_row(v, code, alpha, beta)


def activate_row(v, code, alpha, beta):
    """The switch over `code` that `row_for` makes once for a constant code."""
    if code == SIGMOID and v.itemsize == 4:
        sigmoid_fast_row(v)
    elif code == TANH and v.itemsize == 4:
        tanh_fast_row(v)
    else:
        activation_row(v, code, alpha, beta)


def row_for(code: int, float32: bool):
    """The row kernel `activate_row` runs for `code` on float32 (or float64) rows."""
    if code == SIGMOID and float32:
        return sigmoid_fast_row
    if code == TANH and float32:
        return tanh_fast_row
    return activation_row


@numba_extension
def _type_by_constant_code():
    """Numba types a call of `activate_row` with a constant code as the row kernel `row_for`
    picks alone, else as the switch (why: activation.py's hook of the same name)."""
    from numba.core import types
    from numba.extending import overload

    @overload(activate_row, prefer_literal=True)
    def _activate_row(v, code, alpha, beta):
        if not isinstance(code, types.IntegerLiteral):
            return activate_row
        row = row_for(code.literal_value, v.dtype == types.float32)
        if row is activation_row:
            return lambda v, code, alpha, beta: row(v, code, alpha, beta)
        return lambda v, code, alpha, beta: row(v)


@jit(twin=rnn_activation_numpy.sigmoid_fast_row)
def sigmoid_fast_row(v):
    """v[:] = sigmoid_fast(v), in place, for a 1-D float32 array."""
    for j in range(v.shape[0]):
        v[j] = scalar.sigmoid_fast(v[j])


@jit(twin=rnn_activation_numpy.tanh_fast_row)
def tanh_fast_row(v):
    """v[:] = tanh_fast(v), in place, for a 1-D float32 array."""
    for j in range(v.shape[0]):
        v[j] = scalar.tanh_fast(v[j])


@jit(twin=rnn_activation_numpy.activation_row)
def activation_row(v, code, alpha, beta):
    """v[:] = apply_activation(v, code, alpha, beta), in place, for a 1-D float array."""
    for j in range(v.shape[0]):
        v[j] = apply_activation(v[j], code, alpha, beta)
