"""NumPy twins of the recurrent activations (kernels/rnn_activation.py), and `rnn_activate`,
which the recurrent twins use: the same scalar functions' NumPy definitions (float32 sigmoid
and tanh through NumPy's tanh, within 4e-7 of the kernels' approximations), every other
activation in float64.
"""
import numpy as np

from . import scalar_numpy
from .activation_codes import ACT_SIGMOID, ACT_TANH
from .activation_numpy import activate64


def rnn_activate(v, code, alpha, beta):
    """Activation `code` of the float array v, as a new array of v's dtype."""
    if v.dtype == np.float32 and code == ACT_SIGMOID:
        return scalar_numpy.sigmoid_fast(v)
    if v.dtype == np.float32 and code == ACT_TANH:
        return scalar_numpy.tanh_fast(v)
    return activate64(v.astype(np.float64), code, alpha, beta).astype(v.dtype)


def apply_rnn_activation(v, code, alpha, beta):
    v[...] = rnn_activate(v, code, alpha, beta)


def sigmoid_fast_row(v):
    v[...] = scalar_numpy.sigmoid_fast(v)


def tanh_fast_row(v):
    v[...] = scalar_numpy.tanh_fast(v)


def activation_row(v, code, alpha, beta):
    v[...] = activate64(v.astype(np.float64), code, alpha, beta)
