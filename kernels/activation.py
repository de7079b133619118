"""Activations fused into other kernels: conv and gemm epilogues, recurrent gates.

An activation is a code of activation_codes.py plus two float parameters, so a kernel can take
`act, alpha, beta` as plain arguments and stay a single compiled function. `activate` is the
switch over the codes; Numba types a call of it with a constant code as that code's function
alone (`_type_by_constant_code`).
"""
import numpy as np

from . import activation_numpy, scalar
from .activation_codes import (ACT_AFFINE, ACT_CLIP, ACT_ELU, ACT_HARD_SIGMOID, ACT_HARD_SWISH,
                               ACT_LEAKY_RELU, ACT_LEAKY_RELU_MAX, ACT_NONE, ACT_RELU,
                               ACT_SCALED_TANH, ACT_SELU, ACT_SIGMOID, ACT_SOFTPLUS, ACT_SOFTSIGN,
                               ACT_TANH, ACT_THRESHOLDED_RELU, CODES)
from .jit import jit, numba_extension


@jit(twin=activation_numpy.apply_activation)
def apply_activation(v, act, alpha, beta):
    """Activation `act` (a code) of the scalar `v`, with parameters `alpha`, `beta`, computed
    in float64 (the caller stores the result into its own dtype). An unknown code is no
    activation."""
    return activate(np.float64(v), act, alpha, beta)     # float(float32) is float32 in Numba


def activate(x, act, alpha, beta):
    """Activation `act` of x by a switch over the codes. Compiled code calling it with a
    constant `act` (the kernels are compiled per activation) gets that code's function alone
    (`_type_by_constant_code`): the switch is typed only where `act` varies (the recurrent
    gates)."""
    if act == ACT_RELU:
        return scalar.relu(x)
    if act == ACT_LEAKY_RELU:
        return scalar.leaky_relu(x, alpha)
    if act == ACT_CLIP:
        return scalar.clip(x, alpha, beta)
    if act == ACT_SIGMOID:
        return scalar.sigmoid(x)
    if act == ACT_TANH:
        return scalar.tanh(x)
    if act == ACT_HARD_SIGMOID:
        return scalar.hard_sigmoid(x, alpha, beta)
    if act == ACT_LEAKY_RELU_MAX:
        return scalar.leaky_relu_max(x, alpha, beta)
    if act == ACT_AFFINE:
        return scalar.affine(x, alpha, beta)
    if act == ACT_THRESHOLDED_RELU:
        return scalar.thresholded_relu(x, alpha)
    if act == ACT_SCALED_TANH:
        return scalar.scaled_tanh(x, alpha, beta)
    if act == ACT_ELU:
        return scalar.elu(x, alpha)
    if act == ACT_SOFTSIGN:
        return scalar.softsign(x)
    if act == ACT_SOFTPLUS:
        return scalar.softplus(x)
    if act == ACT_HARD_SWISH:
        return scalar.hard_swish(x)
    if act == ACT_SELU:
        return scalar.selu(x, alpha, beta)
    return x


@numba_extension
def _type_by_constant_code():
    """Numba types a call of `activate` with a constant code as that code's scalar function
    alone, else as the switch.

    The kernels taking an activation code are compiled per constant code (jit.py SPECIALISED),
    but Numba types every branch of a switch before LLVM folds the dead ones away: choosing
    when the call is typed keeps a kernel's compile to the one activation it runs."""
    from numba.core import types
    from numba.extending import overload

    names = {code: name for name, code in CODES.items()}

    @overload(activate, prefer_literal=True)
    def _activate(x, act, alpha, beta):
        if not isinstance(act, types.IntegerLiteral):
            return activate
        name = names.get(act.literal_value, "")
        if not name:
            return lambda x, act, alpha, beta: x
        fn = getattr(scalar, name)
        n = scalar.arity(name)
        if n == 1:
            return lambda x, act, alpha, beta: fn(x)
        if n == 2:
            return lambda x, act, alpha, beta: fn(x, alpha)
        return lambda x, act, alpha, beta: fn(x, alpha, beta)


@jit(twin=activation_numpy.bias_activation_row)
def bias_activation_row(a, bias, act, alpha, beta):
    """a[i] = activation(a[i] + bias) over the 1-D array `a`, in place (see bias_activation_span)."""
    bias_activation_span(a, 0, a.shape[0], bias, act, alpha, beta)


@jit(twin=activation_numpy.bias_activation_span)
def bias_activation_span(a, lo, hi, bias, act, alpha, beta):
    """a[i] = activation(a[i] + bias) for i in [lo, hi) of the 1-D array `a`, in place.

    The bias is added in the array dtype; the activation is `apply_activation`'s, rounded on
    the store. Those in IN_DTYPE (activation_codes.py), with parameters exact in the dtype, are
    computed in it (the same result) by a loop of their own, which vectorises (a per-element
    switch on `act` does not). Indices are unsigned offsets from `lo` (a signed index may be
    negative, and the wraparound check stops vectorisation); a range, not a slice, for the same
    reason.
    """
    t = a.dtype.type
    base = np.uint64(lo)
    exact = t(alpha) == alpha and t(beta) == beta
    if act == ACT_NONE:
        for j in range(hi - lo):
            i = base + np.uint64(j)
            a[i] += bias
    elif act == ACT_RELU:
        for j in range(hi - lo):
            i = base + np.uint64(j)
            a[i] = scalar.relu(a[i] + bias)
    elif act == ACT_LEAKY_RELU and t(alpha) == alpha:
        slope = t(alpha)
        for j in range(hi - lo):
            i = base + np.uint64(j)
            a[i] = scalar.leaky_relu(a[i] + bias, slope)
    elif act == ACT_LEAKY_RELU_MAX and exact:
        slope, floor = t(alpha), t(beta)
        for j in range(hi - lo):
            i = base + np.uint64(j)
            a[i] = scalar.leaky_relu_max(a[i] + bias, slope, floor)
    elif act == ACT_CLIP and exact:
        low, high = t(alpha), t(beta)
        for j in range(hi - lo):
            i = base + np.uint64(j)
            a[i] = scalar.clip(a[i] + bias, low, high)
    else:
        for j in range(hi - lo):
            i = base + np.uint64(j)
            a[i] = apply_activation(a[i] + bias, act, alpha, beta)
