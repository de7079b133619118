"""NumPy twins of the recurrent activations (kernels/rnn_activation.py), and `rnn_activate`,
which the recurrent twins use.

float32 sigmoid and tanh use NumPy's float32 tanh where the kernels use a rational
approximation of it: both are within 4e-7 of the exact value. Everything else is computed in
float64 with the kernels' formulas (NaN included: ReLU and thresholded ReLU map it to 0).
"""
import numpy as np

from . import rnn_activation as k
from .rnn_activation import (AFFINE, ELU, HARD_SIGMOID, LEAKY_RELU, RELU, SCALED_TANH,
                             SIGMOID, SOFTSIGN, TANH, THRESHOLDED_RELU)


def rnn_activate(v, code, alpha, beta):
    """Activation `code` of the float array v, as a new array of v's dtype."""
    if v.dtype == np.float32 and code in (SIGMOID, TANH):
        return np.tanh(v) if code == TANH else 0.5 * np.tanh(0.5 * v) + 0.5
    return _activate64(v.astype(np.float64), code, alpha, beta).astype(v.dtype)


def _activate64(v, code, alpha, beta):
    with np.errstate(over="ignore", invalid="ignore"):
        if code == SIGMOID:
            e = np.exp(-np.abs(v))
            return np.where(v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        if code == TANH:
            return np.tanh(v)
        if code == RELU:
            return np.where(v < 0, 0.0, v)           # NaN stays NaN, as the kernel
        if code == AFFINE:
            return alpha * v + beta
        if code == LEAKY_RELU:
            return np.where(v >= 0, v, alpha * v)
        if code == THRESHOLDED_RELU:
            return np.where(v > alpha, v, 0.0)
        if code == SCALED_TANH:
            return alpha * np.tanh(beta * v)
        if code == HARD_SIGMOID:
            return np.minimum(np.maximum(alpha * v + beta, 0.0), 1.0)
        if code == ELU:
            return np.where(v >= 0, v, alpha * (np.exp(np.minimum(v, 0.0)) - 1.0))
        if code == SOFTSIGN:
            return v / (1.0 + np.abs(v))
        return np.maximum(v, 0.0) + np.log1p(np.exp(-np.abs(v)))


@k.rnn_activation.numpy
def rnn_activation(v, code, alpha, beta):
    return float(_activate64(np.float64(v), code, alpha, beta))


@k.apply_rnn_activation.numpy
def apply_rnn_activation(v, code, alpha, beta):
    v[...] = rnn_activate(v, code, alpha, beta)
