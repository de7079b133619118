"""NumPy twins of the normalisation kernels (kernels/norm.py): two-pass float64 statistics,
biased variance, and the kernels' mixed-precision arithmetic (array-dtype operands promoted
to float64 where the kernels promote them). `out` may be `x`: results are computed whole
before they are stored."""
import numpy as np


def _mean_invstd(x, eps):
    """Mean and 1/sqrt(var + eps) over the last axis of x, in float64, keeping that axis."""
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=-1, keepdims=True)
    d = x64 - mean
    return mean, 1.0 / np.sqrt((d * d).mean(axis=-1, keepdims=True) + eps)


def layer_norm_rows(x, scale, bias, out, eps, mean_out=None, invstd_out=None):
    mean, inv = _mean_invstd(x, eps)
    out[...] = (x - mean) * inv * scale + bias
    if mean_out is not None:
        mean_out[...] = mean[:, 0]
    if invstd_out is not None:
        invstd_out[...] = inv[:, 0]


def instance_norm(x, scale, bias, out, eps):
    mean, inv = _mean_invstd(x, eps)
    out[...] = (x - mean) * (scale[None, :, None] * inv) + bias[None, :, None]


def batch_norm_inference(x, scale, bias, mean, var, out, eps):
    a = scale / np.sqrt(var.astype(np.float64) + eps)
    out[...] = (x - mean[None, :, None]) * a[None, :, None] + bias[None, :, None]
