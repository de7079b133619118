"""LayerNormalization, InstanceNormalization and inference-mode BatchNormalization.

Statistics are two-pass (mean, then mean of squared deviations: no cancellation) and accumulated
in float64 whatever the array dtype; variance is the biased (population) one, as ONNX defines.
The caller flattens ONNX tensors into the views documented per kernel (e.g. LayerNormalization
with axis a: rows = prod(shape[:a]), cols = prod(shape[a:]); N C D1..Dk -> (N, C, L)) and
broadcasts scale/bias to full length. `out` may be the same array as `x`.
"""
import math

from . import norm_numpy
from .jit import helper, jit


@helper
def _mean_invstd(v, eps):
    """(mean, 1 / sqrt(var + eps)) of a 1-D array, in float64; caller guarantees len(v) > 0."""
    n = v.shape[0]
    s = 0.0
    for j in range(n):
        s += v[j]
    mean = s / n
    q = 0.0
    for j in range(n):
        d = v[j] - mean
        q += d * d
    return mean, 1.0 / math.sqrt(q / n + eps)


@jit(twin=norm_numpy.layer_norm_rows)
def layer_norm_rows(x, scale, bias, out, eps, mean_out=None, invstd_out=None):
    """out[i] = (x[i] - mean_i) * invstd_i * scale + bias for each row of x (rows, cols).

    scale, bias: (cols,) (pass zeros for an absent bias); out: (rows, cols), may alias x.
    mean_out / invstd_out: optional (rows,) arrays receiving ONNX's Mean and InvStdDev outputs.
    Caller guarantees cols > 0 and eps >= 0.
    """
    rows, cols = x.shape
    for i in range(rows):
        mean, inv = _mean_invstd(x[i], eps)
        for j in range(cols):
            out[i, j] = (x[i, j] - mean) * inv * scale[j] + bias[j]
        if mean_out is not None:
            mean_out[i] = mean
        if invstd_out is not None:
            invstd_out[i] = inv


@jit(twin=norm_numpy.instance_norm)
def instance_norm(x, scale, bias, out, eps):
    """out[n, c] = scale[c] * (x[n, c] - mean_nc) * invstd_nc + bias[c] over x (N, C, L).

    Statistics per (n, c) over the L spatial positions; scale, bias: (C,); out (N, C, L) may
    alias x. Caller guarantees L > 0.
    """
    N, C, L = x.shape
    for n in range(N):
        for c in range(C):
            mean, inv = _mean_invstd(x[n, c], eps)
            a = scale[c] * inv
            for j in range(L):
                out[n, c, j] = (x[n, c, j] - mean) * a + bias[c]


@jit(twin=norm_numpy.batch_norm_inference)
def batch_norm_inference(x, scale, bias, mean, var, out, eps):
    """out[n, c] = (x[n, c] - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c], x (N, C, L).

    ONNX BatchNormalization with training_mode = 0 (running statistics given); scale, bias,
    mean, var: (C,); out (N, C, L) may alias x.
    """
    N, C, L = x.shape
    for c in range(C):
        a = scale[c] / math.sqrt(var[c] + eps)
        m = mean[c]
        b = bias[c]
        for n in range(N):
            for j in range(L):
                out[n, c, j] = (x[n, c, j] - m) * a + b
