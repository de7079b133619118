"""Activation functions of ONNX RNN / GRU / LSTM, selected at run time by an integer code.

The ONNX recurrent ops name their activations by string (attribute `activations`), each with an
optional alpha/beta taken in order from `activation_alpha` / `activation_beta`. Callers turn the
strings into codes once with `resolve_activations` (plain Python, mirrors onnxruntime's rules,
defaults included) and pass `(code, alpha, beta)` triples to the kernels in `recurrent.py`.

float32 sigmoid/tanh over an array use a rational approximation (|error| < 4e-7, the same family
onnxruntime/MLAS uses) so the loop vectorises; float64 and every other activation are exact.
"""
import math

import numpy as np

from .jit import jit

SIGMOID = 0
TANH = 1
RELU = 2
AFFINE = 3  # alpha * x + beta
LEAKY_RELU = 4  # x if x >= 0 else alpha * x
THRESHOLDED_RELU = 5  # x if x > alpha else 0
SCALED_TANH = 6  # alpha * tanh(beta * x)
HARD_SIGMOID = 7  # min(max(alpha * x + beta, 0), 1)
ELU = 8  # x if x >= 0 else alpha * (exp(x) - 1)
SOFTSIGN = 9  # x / (1 + |x|)
SOFTPLUS = 10  # log(1 + exp(x))

# lower-case ONNX name -> (code, uses alpha, uses beta, default alpha, default beta)
_ACTIVATIONS = {
    "sigmoid": (SIGMOID, False, False, 0.0, 0.0),
    "tanh": (TANH, False, False, 0.0, 0.0),
    "relu": (RELU, False, False, 0.0, 0.0),
    "affine": (AFFINE, True, True, 0.0, 0.0),
    "leakyrelu": (LEAKY_RELU, True, False, 0.01, 0.0),
    "thresholdedrelu": (THRESHOLDED_RELU, True, False, 0.0, 0.0),
    "scaledtanh": (SCALED_TANH, True, True, 0.0, 0.0),
    "hardsigmoid": (HARD_SIGMOID, True, True, 0.2, 0.5),
    "elu": (ELU, True, False, 1.0, 0.0),
    "softsign": (SOFTSIGN, False, False, 0.0, 0.0),
    "softplus": (SOFTPLUS, False, False, 0.0, 0.0),
}


def resolve_activations(names, alphas=(), betas=()):
    """Map ONNX activation names to `(code, alpha, beta)` triples (plain Python, not compiled).

    As the ONNX spec and onnxruntime (LSTM, GRU and RNN): names are case-insensitive; alphas and
    betas are consumed in order, across directions, only by activations that use them, falling
    back to per-activation defaults (onnxruntime's) when exhausted. KeyError for an unknown name.
    """
    out, ia, ib = [], 0, 0
    for name in names:
        code, use_a, use_b, alpha, beta = _ACTIVATIONS[name.lower()]
        if use_a and ia < len(alphas):
            alpha, ia = float(alphas[ia]), ia + 1
        if use_b and ib < len(betas):
            beta, ib = float(betas[ib]), ib + 1
        out.append((code, alpha, beta))
    return out


@jit
def rnn_activation(v, code, alpha, beta):
    """Apply activation `code` (SIGMOID..SOFTPLUS above) with `alpha`/`beta` to scalar `v`.

    Exact (libm) formulas; returns a float. `code` must be one of the module's constants.
    """
    if code == SIGMOID:
        if v >= 0:
            return 1.0 / (1.0 + math.exp(-v))
        e = math.exp(v)
        return e / (1.0 + e)
    if code == TANH:
        return math.tanh(v)
    if code == RELU:
        return 0.0 if v < 0 else v          # NaN stays NaN
    if code == AFFINE:
        return alpha * v + beta
    if code == LEAKY_RELU:
        return v if v >= 0 else alpha * v
    if code == THRESHOLDED_RELU:
        return v if v > alpha else 0.0
    if code == SCALED_TANH:
        return alpha * math.tanh(beta * v)
    if code == HARD_SIGMOID:
        return min(max(alpha * v + beta, 0.0), 1.0)
    if code == ELU:
        return v if v >= 0 else alpha * (math.exp(v) - 1.0)
    if code == SOFTSIGN:
        return v / (1.0 + abs(v))
    # SOFTPLUS, overflow-free: log(1 + e^v) = max(v, 0) + log1p(e^-|v|)
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


# Rational approximation of tanh on [-9, 9] (odd numerator / even denominator in x^2); the
# coefficients are Eigen's float tanh ones, which onnxruntime's CPU GRU also uses.
_T_CLAMP = np.float32(9.0)
_A1 = np.float32(4.89352455891786e-03)
_A3 = np.float32(6.37261928875436e-04)
_A5 = np.float32(1.48572235717979e-05)
_A7 = np.float32(5.12229709037114e-08)
_A9 = np.float32(-8.60467152213735e-11)
_A11 = np.float32(2.00018790482477e-13)
_A13 = np.float32(-2.76076847742355e-16)
_B0 = np.float32(4.89352518554385e-03)
_B2 = np.float32(2.26843463243900e-03)
_B4 = np.float32(1.18534705686654e-04)
_B6 = np.float32(1.19825839466702e-06)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)


@jit(inline="always")
def _tanh_fast(x):
    x = min(max(x, -_T_CLAMP), _T_CLAMP)
    x2 = x * x
    p = ((((((_A13 * x2 + _A11) * x2 + _A9) * x2 + _A7) * x2 + _A5) * x2 + _A3) * x2 + _A1) * x
    q = ((_B6 * x2 + _B4) * x2 + _B2) * x2 + _B0
    return min(max(p / q, -_ONE), _ONE)


@jit
def apply_rnn_activation(v, code, alpha, beta):
    """In place: v[:] = activation(v) for a 1-D float array `v` (e.g. the view g[b, lo:hi]).

    Caller guarantees a valid `code`. float32 SIGMOID/TANH use the vectorisable approximation
    (|error| < 4e-7); everything else is exact. A 1-D view matters: LLVM vectorises 1-D loops
    but not the same loop written as buf[row, j].
    """
    fast = v.itemsize == 4
    n = v.shape[0]
    if code == SIGMOID and fast:
        for j in range(n):
            v[j] = _HALF + _HALF * _tanh_fast(_HALF * v[j])
    elif code == TANH and fast:
        for j in range(n):
            v[j] = _tanh_fast(v[j])
    elif code == TANH:
        for j in range(n):
            v[j] = np.tanh(v[j])
    else:
        for j in range(n):
            v[j] = rnn_activation(v[j], code, alpha, beta)


from . import rnn_activation_numpy  # noqa: E402,F401  (the NumPy twins, registered on import)
