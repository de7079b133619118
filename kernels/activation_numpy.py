"""NumPy twins of the fused activations (kernels/activation.py), and `activate`, which the
other twin modules use to finish a convolution or a recurrent gate the way the kernels do.

Same arithmetic as the kernels, with the NumPy definitions of the same scalar functions: the
bias is added in the array dtype; the activations of IN_DTYPE stay in the array dtype when their
parameters are exact in it (what `bias_activation_span` does), every other one is computed in
float64 and rounded once.
"""
import numpy as np

from . import scalar, scalar_numpy
from .activation_codes import ACT_NONE, CODES, IN_DTYPE

# code -> (NumPy function, how many of alpha, beta it takes)
FUNCTIONS = {code: (getattr(scalar_numpy, name), scalar.arity(name) - 1)
             for name, code in CODES.items() if code != ACT_NONE}


def activate(v, act, alpha, beta):
    """Activation `act` of the float array `v` (bias already added), in v's dtype; may be v."""
    if act not in FUNCTIONS:
        return v
    fn, n = FUNCTIONS[act]
    params = (alpha, beta)[:n]
    t = v.dtype.type
    with np.errstate(invalid="ignore", over="ignore"):
        if act in IN_DTYPE and all(t(p) == p for p in params):
            return fn(v, *(t(p) for p in params))
        return fn(v.astype(np.float64), *params).astype(v.dtype)


def activate64(x, act, alpha, beta):
    """`apply_activation` over a float64 array (x itself for no activation)."""
    if act not in FUNCTIONS:
        return x
    fn, n = FUNCTIONS[act]
    with np.errstate(invalid="ignore", over="ignore"):
        return fn(x, *(alpha, beta)[:n])


def activate_into(a, act, alpha, beta):
    """a[...] = activation of a."""
    result = activate(a, act, alpha, beta)
    if result is not a:
        a[...] = result


def apply_activation(v, act, alpha, beta):
    return float(activate64(np.float64(v), act, alpha, beta))


def bias_activation_span(a, lo, hi, bias, act, alpha, beta):
    seg = a[lo:hi]
    seg[...] = activate(seg + bias, act, alpha, beta)


def bias_activation_row(a, bias, act, alpha, beta):
    a[...] = activate(a + bias, act, alpha, beta)
