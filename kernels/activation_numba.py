"""Numba typing of the activation switches (`activation.activate`, `rnn_activation.
activate_row`): with a constant activation code, the call is that code's function alone;
otherwise the switch.

The kernels taking an activation code are compiled per constant code (jit.py SPECIALISED), but
Numba types every branch of a switch before LLVM folds the dead ones away: choosing when the
call is typed keeps a kernel's compile to the one activation it runs. Registered once, before
the first kernel compiles (kernels/jit.py `_prepare_numba`).
"""
from numba.core import types
from numba.extending import overload

from . import activation, rnn_activation, scalar

NAMES = {code: name for name, code in activation.CODES.items()}


@overload(activation.activate, prefer_literal=True)
def _activate(x, act, alpha, beta):
    if not isinstance(act, types.IntegerLiteral):
        return activation.activate
    name = NAMES.get(act.literal_value, "")
    if not name:
        return lambda x, act, alpha, beta: x
    fn = getattr(scalar, name)
    n = scalar.arity(name)
    if n == 1:
        return lambda x, act, alpha, beta: fn(x)
    if n == 2:
        return lambda x, act, alpha, beta: fn(x, alpha)
    return lambda x, act, alpha, beta: fn(x, alpha, beta)


@overload(rnn_activation.activate_row, prefer_literal=True)
def _activate_row(v, code, alpha, beta):
    if not isinstance(code, types.IntegerLiteral):
        return rnn_activation.activate_row
    row = rnn_activation.row_for(code.literal_value, v.dtype == types.float32)
    if row is rnn_activation.activation_row:
        return lambda v, code, alpha, beta: row(v, code, alpha, beta)
    return lambda v, code, alpha, beta: row(v)
