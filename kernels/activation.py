"""Activations fused into other kernels: conv and gemm epilogues, recurrent gates.

An activation is chosen by an integer code plus two float parameters, so a kernel can take
`act, alpha, beta` as plain arguments and stay a single compiled function. Each code stands for
a scalar function of scalar.py (`CODES`, keyed by its name), whose parameters after x are
`alpha` then `beta`, as many as it takes.
"""
import numpy as np

from . import scalar
from .jit import jit

ACT_NONE = 0
ACT_RELU = 1
ACT_LEAKY_RELU = 2
ACT_CLIP = 3
ACT_SIGMOID = 4
ACT_TANH = 5
ACT_HARD_SIGMOID = 6
ACT_LEAKY_RELU_MAX = 7
ACT_AFFINE = 8
ACT_THRESHOLDED_RELU = 9
ACT_SCALED_TANH = 10
ACT_ELU = 11
ACT_SOFTSIGN = 12
ACT_SOFTPLUS = 13
ACT_HARD_SWISH = 14
ACT_SELU = 15

# scalar function (scalar.py) -> code; "" is no activation
CODES = {"": ACT_NONE, "relu": ACT_RELU, "leaky_relu": ACT_LEAKY_RELU, "clip": ACT_CLIP,
         "sigmoid": ACT_SIGMOID, "tanh": ACT_TANH, "hard_sigmoid": ACT_HARD_SIGMOID,
         "leaky_relu_max": ACT_LEAKY_RELU_MAX, "affine": ACT_AFFINE,
         "thresholded_relu": ACT_THRESHOLDED_RELU, "scaled_tanh": ACT_SCALED_TANH,
         "elu": ACT_ELU, "softsign": ACT_SOFTSIGN, "softplus": ACT_SOFTPLUS,
         "hard_swish": ACT_HARD_SWISH, "selu": ACT_SELU}
# Computed in the array's dtype by `bias_activation_span` when their parameters are exact in
# it: a comparison, or one product of two floats, is then the float64 result rounded once.
IN_DTYPE = (ACT_RELU, ACT_LEAKY_RELU, ACT_LEAKY_RELU_MAX, ACT_CLIP)


@jit
def apply_activation(v, act, alpha, beta):
    """Activation `act` (a code) of the scalar `v`, with parameters `alpha`, `beta`, computed
    in float64 (the caller stores the result into its own dtype). An unknown code is no
    activation."""
    return activate(np.float64(v), act, alpha, beta)     # float(float32) is float32 in Numba


def activate(x, act, alpha, beta):
    """Activation `act` of x by a switch over the codes. Compiled code calling it with a
    constant `act` (the kernels are compiled per activation) gets that code's function alone
    (activation_numba.py): the switch is typed only where `act` varies (the recurrent gates)."""
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


@jit
def bias_activation_row(a, bias, act, alpha, beta):
    """a[i] = activation(a[i] + bias) over the 1-D array `a`, in place (see bias_activation_span)."""
    bias_activation_span(a, 0, a.shape[0], bias, act, alpha, beta)


@jit
def bias_activation_span(a, lo, hi, bias, act, alpha, beta):
    """a[i] = activation(a[i] + bias) for i in [lo, hi) of the 1-D array `a`, in place.

    The bias is added in the array dtype; the activation is `apply_activation`'s, rounded on
    the store. Those in IN_DTYPE, with parameters exact in the dtype, are computed in it (the
    same result) by a loop of their own, which vectorises (a per-element switch on `act` does
    not). Indices are unsigned offsets from `lo` (a signed index may be negative, and the
    wraparound check stops vectorisation); a range, not a slice, for the same reason.
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


from . import activation_numpy  # noqa: E402,F401  (the NumPy twins, registered on import)
