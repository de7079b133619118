"""NumPy definitions of the scalar functions (kernels/scalar.py), over arrays: their twins, and
what pulsar's ops compute with.

Same formulas and NaN rules as the compiled ones, in the dtype of the array (a function that
is a NumPy ufunc is that ufunc, which compiled plans then call as such): parameters are
Python floats (NumPy rounds them to the array's dtype) or scalars of that dtype, so float32
stays float32 and float64 stays float64. The recurrent gates' float32 approximations use
NumPy's own tanh, within 4e-7 of them.
"""
import math

import numpy as np

from . import elementwise


def relu(x):
    return np.maximum(x, 0)              # NaN kept


def leaky_relu(x, alpha):
    if 0 < alpha <= 1:      # then max(x, alpha*x) is the select, NaN and infinities included,
        return np.maximum(x, x * alpha)     # and a third faster (the embedding's 19 convs)
    return np.where(x >= 0, x, x * alpha)


def leaky_relu_max(x, alpha, floor):
    y = leaky_relu(x, alpha)
    return np.maximum(y, floor, out=y) if isinstance(y, np.ndarray) else np.maximum(y, floor)


def thresholded_relu(x, alpha):
    return np.where(x > alpha, x, 0)


def elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def selu(x, alpha, gamma):
    return gamma * elu(x, alpha)


def shrink(x, bias, lambd):
    return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0))


def celu(x, alpha):
    return np.maximum(x, 0) + np.minimum(0, alpha * np.expm1(x / alpha))


def sigmoid(x):
    u = np.exp(-np.abs(x))               # never overflows
    return np.where(x >= 0, 1 / (1 + u), u / (1 + u))


def hard_sigmoid(x, alpha, beta):
    return np.minimum(np.maximum(alpha * x + beta, 0), 1)


def hard_swish(x):
    return x * hard_sigmoid(x, 1 / 6, 0.5)


def swish(x, alpha):
    return x * sigmoid(alpha * x)


tanh = np.tanh


def scaled_tanh(x, alpha, beta):
    return alpha * np.tanh(beta * x)


def affine(x, alpha, beta):
    return alpha * x + beta


def softplus(x):
    return relu(x) + np.log1p(np.exp(-np.abs(x)))


def softsign(x):
    return x / (1 + np.abs(x))


def mish(x):
    return x * np.tanh(softplus(x))


max = np.maximum


min = np.minimum


def clip(x, lo, hi):
    return np.minimum(np.maximum(x, lo), hi)


abs = np.absolute


neg = np.negative


reciprocal = np.reciprocal


pow = np.power


exp = np.exp


log = np.log


sqrt = np.sqrt


def erf(x):
    """NumPy has none: the elementwise kernel (or its twin) over a copy, in x's float dtype
    (integers in float64)."""
    x = np.asarray(x)
    work = np.ascontiguousarray(x if x.dtype.kind == "f" else x.astype(np.float64))
    out = np.empty_like(work)
    elementwise.erf_into(work.reshape(-1), out.reshape(-1))
    return out


def tanh_fast(x):
    return np.tanh(x)


def sigmoid_fast(x):
    return 0.5 * np.tanh(0.5 * x) + 0.5


def gelu(x):
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def gelu_tanh(x):
    """Gelu's tanh approximation (ONNX `approximate="tanh"`)."""
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * (x * x * x))))
