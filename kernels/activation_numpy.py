"""NumPy twins of the fused activations (kernels/activation.py), and `activate`, which the
other twin modules use to finish a convolution the way the kernels do.

Same arithmetic as the kernels: the bias is added in the array dtype; ReLU, LeakyReLU, Clip
and LeakyReLU-then-Max stay in the array dtype when their parameters are exact in it (what
`bias_activation_span` does), every other activation is computed in float64 and rounded once.
NaN behaves as in the kernels: every activation keeps it (ReLU as `0 if v < 0 else v`).
"""
import numpy as np

from . import activation as k
from .activation import (ACT_CLIP, ACT_HARD_SIGMOID, ACT_LEAKY_RELU, ACT_LEAKY_RELU_MAX,
                         ACT_NONE, ACT_RELU, ACT_SIGMOID, ACT_TANH)


def activate(v, act, alpha, beta):
    """Activation `act` of the float array `v` (bias already added), in v's dtype: computed
    in place into `v` where it can be (a writeable temporary), so the caller must use the
    returned array."""
    if act == ACT_NONE:
        return v
    t = v.dtype.type
    if not v.flags.writeable:
        v = v.copy()
    # the in-place paths below raise no floating-point warnings (alpha <= 1 cannot overflow)
    if act == ACT_RELU:
        return np.maximum(v, t(0), out=v)                   # NaN stays NaN, as `0 if v < 0 else v`
    if act in (ACT_LEAKY_RELU, ACT_LEAKY_RELU_MAX) and t(alpha) == alpha and 0.0 <= alpha <= 1.0 \
            and (act == ACT_LEAKY_RELU or t(beta) == beta):
        # max(v, alpha*v) is v for v >= 0 and alpha*v below: the kernel's select, NaN included
        # (alpha*NaN is NaN and np.maximum keeps it)
        np.maximum(v, v * t(alpha), out=v)
        if act == ACT_LEAKY_RELU_MAX:                       # `beta if y < beta else y`
            np.maximum(v, t(beta), out=v)
        return v
    if act == ACT_CLIP and t(alpha) == alpha and t(beta) == beta and alpha <= beta:
        return np.minimum(np.maximum(v, t(alpha), out=v), t(beta), out=v)     # NaN kept
    with np.errstate(invalid="ignore", over="ignore"):
        if act == ACT_LEAKY_RELU and t(alpha) == alpha:
            return np.where(v >= 0, v, v * t(alpha))
        if act == ACT_CLIP and t(alpha) == alpha and t(beta) == beta:
            return np.where(v < t(alpha), t(alpha), np.where(v > t(beta), t(beta), v))
        return activate64(v.astype(np.float64), act, alpha, beta).astype(v.dtype)


def activate64(x, act, alpha, beta):
    """`apply_activation` over a float64 array (a new array, or x itself for no-ops)."""
    with np.errstate(invalid="ignore", over="ignore"):
        if act == ACT_RELU:
            return np.where(x < 0.0, 0.0, x)
        if act in (ACT_LEAKY_RELU, ACT_LEAKY_RELU_MAX):
            y = np.where(x >= 0.0, x, alpha * x)
            return np.where(y < beta, beta, y) if act == ACT_LEAKY_RELU_MAX else y
        if act == ACT_CLIP:
            return np.where(x < alpha, alpha, np.where(x > beta, beta, x))
        if act == ACT_SIGMOID:
            e = np.exp(-np.abs(x))
            return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))
        if act == ACT_TANH:
            return np.tanh(x)
        if act == ACT_HARD_SIGMOID:
            y = alpha * x + beta
            return np.where(y < 0.0, 0.0, np.where(y > 1.0, 1.0, y))
    return x


def activate_into(a, act, alpha, beta):
    """a[...] = activation of a (in place when `activate` could work in place)."""
    result = activate(a, act, alpha, beta)
    if result is not a:
        a[...] = result


@k.apply_activation.numpy
def apply_activation(v, act, alpha, beta):
    return float(activate64(np.float64(v), act, alpha, beta))


@k.bias_activation_span.numpy
def bias_activation_span(a, lo, hi, bias, act, alpha, beta):
    seg = a[lo:hi]
    seg[...] = activate(seg + bias, act, alpha, beta)


@k.bias_activation_row.numpy
def bias_activation_row(a, bias, act, alpha, beta):
    a[...] = activate(a + bias, act, alpha, beta)

