"""Scalar activation functions fused into other kernels (conv, gemm, ...).

An activation is chosen by an integer code (module constants below) plus two float parameters,
so a kernel can take `act, alpha, beta` as plain arguments and stay a single compiled function.
"""
import math

import numpy as np

from .jit import jit

ACT_NONE = 0
ACT_RELU = 1
ACT_LEAKY_RELU = 2    # x if x >= 0 else alpha * x
ACT_CLIP = 3          # min(max(x, alpha), beta)
ACT_SIGMOID = 4
ACT_TANH = 5
ACT_HARD_SIGMOID = 6  # max(0, min(1, alpha * x + beta))
ACT_LEAKY_RELU_MAX = 7  # max(leaky_relu_alpha(x), beta): LeakyRelu then Max with a scalar


@jit
def apply_activation(v, act, alpha, beta):
    """Return activation `act` (an ACT_* code) of scalar `v`, computed in float64.

    `alpha`/`beta` are floats used by ACT_LEAKY_RELU (alpha), ACT_CLIP (min=alpha, max=beta),
    ACT_HARD_SIGMOID (alpha*x+beta clipped to [0, 1]) and ACT_LEAKY_RELU_MAX (slope alpha,
    floor beta); ignored otherwise. An unknown code behaves as ACT_NONE. The caller stores
    the result (a float64) into its own output dtype.
    """
    x = float(v)
    if act == ACT_NONE:
        return x
    if act == ACT_RELU:
        return 0.0 if x < 0.0 else x       # NaN stays NaN, as onnxruntime's Relu
    if act == ACT_LEAKY_RELU:
        return x if x >= 0.0 else alpha * x
    if act == ACT_CLIP:
        if x < alpha:
            return alpha
        if x > beta:
            return beta
        return x
    if act == ACT_SIGMOID:
        if x >= 0.0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)
    if act == ACT_TANH:
        return math.tanh(x)
    if act == ACT_HARD_SIGMOID:
        y = alpha * x + beta
        return 0.0 if y < 0.0 else (1.0 if y > 1.0 else y)
    if act == ACT_LEAKY_RELU_MAX:
        y = x if x >= 0.0 else alpha * x
        return beta if y < beta else y         # NaN stays NaN, as Max
    return x


@jit
def bias_activation_row(a, bias, act, alpha, beta):
    """a[i] = activation(a[i] + bias) over the 1-D array `a`, in place (see bias_activation_span)."""
    bias_activation_span(a, 0, a.shape[0], bias, act, alpha, beta)


@jit
def bias_activation_span(a, lo, hi, bias, act, alpha, beta):
    """a[i] = activation(a[i] + bias) for i in [lo, hi) of the 1-D array `a`, in place.

    One loop per code, so that the common activations vectorise (a per-element switch on `act`
    does not). Indices are unsigned offsets from `lo` (a signed index may be negative, and the
    wraparound check stops vectorisation); a range, not a slice, for the same reason. Same
    arithmetic as `apply_activation`: the bias is added in the array dtype, the activation is
    computed in float64 and rounded on the store.
    """
    zero = a.dtype.type(0)
    base = np.uint64(lo)
    if act == ACT_NONE:
        for j in range(hi - lo):
            i = base + np.uint64(j)
            a[i] += bias
    elif act == ACT_RELU:
        for j in range(hi - lo):
            i = base + np.uint64(j)
            v = a[i] + bias
            a[i] = zero if v < zero else v      # NaN stays NaN
    elif act == ACT_LEAKY_RELU:
        al = a.dtype.type(alpha)
        exact = al == alpha
        for j in range(hi - lo):
            i = base + np.uint64(j)
            v = a[i] + bias
            if exact:
                # alpha exact in the dtype (ONNX attributes are float32): the product rounded
                # once is the float64 product rounded, so this is apply_activation's result
                a[i] = v if v >= zero else v * al
            else:
                a[i] = v if v >= zero else v * alpha
    elif act == ACT_LEAKY_RELU_MAX and a.dtype.type(alpha) == alpha \
            and a.dtype.type(beta) == beta:
        al = a.dtype.type(alpha)
        floor = a.dtype.type(beta)
        for j in range(hi - lo):
            i = base + np.uint64(j)
            v = a[i] + bias
            v = v if v >= zero else v * al
            a[i] = floor if v < floor else v
    elif act == ACT_CLIP:
        floor = a.dtype.type(alpha)
        ceiling = a.dtype.type(beta)
        exact = floor == alpha and ceiling == beta
        for j in range(hi - lo):
            i = base + np.uint64(j)
            v = a[i] + bias
            if exact:
                a[i] = floor if v < floor else (ceiling if v > ceiling else v)
            else:
                x = float(v)
                a[i] = alpha if x < alpha else (beta if x > beta else x)
    else:
        for j in range(hi - lo):
            i = base + np.uint64(j)
            a[i] = apply_activation(a[i] + bias, act, alpha, beta)


from . import activation_numpy  # noqa: E402,F401  (the NumPy twins, registered on import)
