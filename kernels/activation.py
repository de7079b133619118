"""Activations fused into other kernels: conv and gemm epilogues, recurrent gates.

An activation is a code of activation_codes.py plus two float parameters, so a kernel can take
`act, alpha, beta` as plain arguments and stay a single compiled function. `apply_activation`
is the switch over the codes; compiled for a constant code, it types that code's branch alone
(numba_pipeline.py ConstantArguments).
"""
import numpy as np

from . import activation_numpy, scalar
from .activation_codes import (ACT_AFFINE, ACT_CLIP, ACT_ELU, ACT_HARD_SIGMOID, ACT_HARD_SWISH,
                               ACT_LEAKY_RELU, ACT_LEAKY_RELU_MAX, ACT_NONE, ACT_RELU,
                               ACT_SCALED_TANH, ACT_SELU, ACT_SIGMOID, ACT_SOFTPLUS, ACT_SOFTSIGN,
                               ACT_TANH, ACT_THRESHOLDED_RELU, CODES)  # noqa: F401 (re-exported)
from .jit import jit


@jit(twin=activation_numpy.apply_activation)
def apply_activation(v, act, alpha, beta):
    """Activation `act` (a code) of the scalar `v`, with parameters `alpha`, `beta`, computed
    in float64 (the caller stores the result into its own dtype). An unknown code is no
    activation. A switch over the codes: compiled for a constant code (the kernels calling it
    are compiled per activation, jit.py SPECIALISED), it types that code's branch alone
    (numba_pipeline.py); the whole switch only where `act` varies."""
    x = np.float64(v)                   # float(float32) is float32 in Numba
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
