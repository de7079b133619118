"""Scalar functions: the one Numba definition of each elementwise function the kernels compute.

The generated elementwise kernels (codegen.py) call them per element, the conv/gemm epilogues
and the recurrent layers through `activation.apply_activation`. Their NumPy definitions over
arrays are the twins in scalar_numpy.py, named where each function is defined; pulsar's ops
compute with them: a fused kernel and the op it stands for run the same formula.

Each function computes in the type of its arguments: float32 in a kernel over float32 arrays
(which passes its parameters as float32), float64 in `apply_activation`. A constant inside a
function is made with `like(x, value)`, because Numba types `float32 * 0.5` as float64.

NaN goes through every function as through its NumPy twin: max, min and clip propagate it from
either side (np.maximum, np.minimum), relu, leaky_relu and the rest keep it; thresholded_relu
maps it to 0 (`NaN > alpha` is false), as ONNX defines it.

Numba inlines them into their callers (`inline="always"`: their code, not a call), so a loop
calling them vectorises as if they were written out in it, and none is a compiled function of
its own to build and cache.
"""
import math

import numpy as np

from . import scalar_numpy
from .jit import Kernel, jit, numba_extension


def arity(name: str) -> int:
    """How many arguments the scalar function `name` takes; ValueError for an unknown name."""
    fn = globals().get(name) if not name.startswith("_") else None
    if not isinstance(fn, Kernel):
        raise ValueError(f"unknown function {name!r}")
    return fn.py_func.__code__.co_argcount


def like(x, value):
    """`value` in the float type of `x` (compiled code: a cast, see `_lower_like`)."""
    return type(x)(value)


@numba_extension
def _lower_like():
    """Numba types `like(x, value)` as x's float type and lowers it to a cast of `value`,
    inline. An extension of every kernel, not a `prepare` hook of the functions here: Numba
    inlines their code into the caller's without making their dispatchers."""
    from numba.core import types
    from numba.core.imputils import lower_builtin
    from numba.extending import type_callable

    @type_callable(like)
    def _type_like(context):
        def typer(x, value):
            if isinstance(x, types.Float) and isinstance(value, types.Number):
                return x
        return typer

    @lower_builtin(like, types.Float, types.Number)
    def _lower(context, builder, sig, args):
        return context.cast(builder, args[1], sig.args[1], sig.return_type)


def inline(twin):
    """Decorator: a scalar function, inlined into its callers, whose NumPy definition over
    arrays is `twin` (scalar_numpy.py)."""
    return jit(twin=twin, inline="always")


@inline(scalar_numpy.relu)
def relu(x):
    return like(x, 0) if x < 0 else x


@inline(scalar_numpy.leaky_relu)
def leaky_relu(x, alpha):
    return x if x >= 0 else x * alpha


@inline(scalar_numpy.leaky_relu_max)
def leaky_relu_max(x, alpha, floor):
    """max(leaky_relu(x, alpha), floor): a LeakyRelu then a Max with a constant (tf2onnx)."""
    return max(leaky_relu(x, alpha), floor)


@inline(scalar_numpy.thresholded_relu)
def thresholded_relu(x, alpha):
    return x if x > alpha else like(x, 0)


@inline(scalar_numpy.elu)
def elu(x, alpha):
    return x if x > 0 else alpha * math.expm1(x)


@inline(scalar_numpy.selu)
def selu(x, alpha, gamma):
    return gamma * elu(x, alpha)


@inline(scalar_numpy.shrink)
def shrink(x, bias, lambd):
    if x < -lambd:
        return x + bias
    return x - bias if x > lambd else like(x, 0)


@inline(scalar_numpy.celu)
def celu(x, alpha):
    return max(x, like(x, 0)) + min(like(x, 0), alpha * math.expm1(x / alpha))


@inline(scalar_numpy.sigmoid)
def sigmoid(x):
    u = math.exp(-math.fabs(x))         # exp of a negative number: no overflow
    one = like(x, 1)
    return one / (one + u) if x >= 0 else u / (one + u)


@inline(scalar_numpy.hard_sigmoid)
def hard_sigmoid(x, alpha, beta):
    """min(max(alpha * x + beta, 0), 1), NaN kept."""
    y = alpha * x + beta
    if y < 0:
        return like(x, 0)
    return like(x, 1) if y > 1 else y


@inline(scalar_numpy.hard_swish)
def hard_swish(x):
    return x * hard_sigmoid(x, like(x, 1 / 6), like(x, 0.5))


@inline(scalar_numpy.swish)
def swish(x, alpha):
    return x * sigmoid(alpha * x)


@inline(scalar_numpy.tanh)
def tanh(x):
    return math.tanh(x)


@inline(scalar_numpy.scaled_tanh)
def scaled_tanh(x, alpha, beta):
    return alpha * math.tanh(beta * x)


@inline(scalar_numpy.affine)
def affine(x, alpha, beta):
    return alpha * x + beta


@inline(scalar_numpy.softplus)
def softplus(x):
    """log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|)."""
    return relu(x) + math.log1p(math.exp(-math.fabs(x)))


@inline(scalar_numpy.softsign)
def softsign(x):
    return x / (like(x, 1) + math.fabs(x))


@inline(scalar_numpy.mish)
def mish(x):
    return x * math.tanh(softplus(x))


@inline(scalar_numpy.max)
def max(a, b):
    return a if a > b or a != a else b


@inline(scalar_numpy.min)
def min(a, b):
    return a if a < b or a != a else b


@inline(scalar_numpy.clip)
def clip(x, lo, hi):
    """min(max(x, lo), hi): lo > hi gives hi everywhere, as ONNX's Clip."""
    return min(max(x, lo), hi)


@inline(scalar_numpy.abs)
def abs(x):
    return math.fabs(x)


@inline(scalar_numpy.neg)
def neg(x):
    return -x


@inline(scalar_numpy.reciprocal)
def reciprocal(x):
    return like(x, 1) / x


@inline(scalar_numpy.pow)
def pow(a, b):
    return a ** b


@inline(scalar_numpy.exp)
def exp(x):
    return math.exp(x)


@inline(scalar_numpy.log)
def log(x):
    return math.log(x)


@inline(scalar_numpy.sqrt)
def sqrt(x):
    return math.sqrt(x)


@inline(scalar_numpy.erf)
def erf(x):
    return math.erf(x)


@inline(scalar_numpy.gelu)
def gelu(x):
    return like(x, 0.5) * x * (like(x, 1) + erf(x / like(x, math.sqrt(2))))


@inline(scalar_numpy.gelu_tanh)
def gelu_tanh(x):
    inner = like(x, math.sqrt(2 / math.pi)) * (x + like(x, 0.044715) * (x * x * x))
    return like(x, 0.5) * x * (like(x, 1) + tanh(inner))


# A separately named approximation, not a definition of tanh: a rational function of x on
# [-9, 9] (odd numerator, even denominator in x^2; Eigen's float tanh coefficients, which
# onnxruntime's CPU GRU also uses), within 4e-7 of tanh in float32. Unlike libm's tanhf it
# vectorises: the recurrent layers' float32 gates use it (rnn_activation.py).
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


@inline(scalar_numpy.tanh_fast)
def tanh_fast(x):
    """float32 tanh to within 4e-7, vectorisable (see above)."""
    x = -_T_CLAMP if x < -_T_CLAMP else (_T_CLAMP if x > _T_CLAMP else x)    # NaN stays
    x2 = x * x
    p = ((((((_A13 * x2 + _A11) * x2 + _A9) * x2 + _A7) * x2 + _A5) * x2 + _A3) * x2 + _A1) * x
    q = ((_B6 * x2 + _B4) * x2 + _B2) * x2 + _B0
    y = p / q
    return -_ONE if y < -_ONE else (_ONE if y > _ONE else y)


@inline(scalar_numpy.sigmoid_fast)
def sigmoid_fast(x):
    """float32 sigmoid through tanh_fast: 1/2 + tanh(x/2)/2."""
    return _HALF + _HALF * tanh_fast(_HALF * x)
