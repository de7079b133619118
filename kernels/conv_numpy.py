"""NumPy twins of the convolution kernels (kernels/conv.py): what runs before their machine
code is ready, or always under the "interpreted" tier.

Convolutions are im2col + one batched matmul (BLAS), accumulating in the array dtype like the
kernels; depthwise convolutions (one input and one output channel per group) add their taps
as shifted planes instead, which moves less memory than an im2col copy. Bias and activation
follow as `bias_activation_span` does (see activation_numpy). Python loops run over kernel
taps only, never over pixels or channels.
"""
import numpy as np

from .activation_numpy import activate, activate_into
from .window_numpy import bordered, prod, taps, windows


def conv_sums(x, w, strides, dilations, begins, group, outs):
    """The convolution of x (N, C, *S) by w (M, C//group, *K) before bias: (N, M, *outs)."""
    N, C = x.shape[:2]
    M, CG = w.shape[:2]
    kernel = w.shape[2:]
    r = len(kernel)
    if N == 0 or M == 0 or prod(outs) == 0:
        return np.zeros((N, M, *outs), x.dtype)
    xp = bordered(x, kernel, strides, dilations, begins, outs)
    if CG == 1 and M == group:                      # depthwise: shifted planes
        acc = np.zeros((N, M, *outs), x.dtype)
        wt = w.reshape(M, -1)
        shape = (1, M) + (1,) * r
        for t, (_, view) in enumerate(taps(xp, kernel, strides, dilations, outs)):
            acc += wt[:, t].reshape(shape) * view
        return acc
    v = windows(xp, kernel, strides, dilations, outs)            # (N, C, *outs, *kernel)
    order = (0, 1, *range(2 + r, 2 + 2 * r), *range(2, 2 + r))
    cols = v.transpose(order).reshape(N, group, CG * prod(kernel), prod(outs))
    wg = w.reshape(group, M // group, CG * prod(kernel))
    return np.matmul(wg, cols).reshape(N, M, *outs)


def finish(acc, b, out, act, alpha, beta):
    """out = activation(acc + b per channel), channels on axis 1 of acc and out."""
    acc += b.reshape((1, -1) + (1,) * (acc.ndim - 2))
    out[...] = activate(acc, act, alpha, beta)


def conv2d_direct(x, w, b, out, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, group,
                  act, alpha, beta):
    acc = conv_sums(x, w, (stride_h, stride_w), (dil_h, dil_w), (pad_top, pad_left), group,
                    out.shape[2:])
    finish(acc, b, out, act, alpha, beta)


def conv2d_flat(x, w, b, out, dil_h, dil_w, pad_top, pad_left, group, act, alpha, beta):
    acc = conv_sums(x, w, (1, 1), (dil_h, dil_w), (pad_top, pad_left), group, out.shape[2:])
    finish(acc, b, out, act, alpha, beta)


def conv3d_direct(x, w, b, out, stride_d, stride_h, stride_w, dil_d, dil_h, dil_w,
                  pad_front, pad_top, pad_left, group, act, alpha, beta):
    acc = conv_sums(x, w, (stride_d, stride_h, stride_w), (dil_d, dil_h, dil_w),
                    (pad_front, pad_top, pad_left), group, out.shape[2:])
    finish(acc, b, out, act, alpha, beta)


def fill_im2col(x, n, c0, cols, KH, KW, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left,
                OH, OW):
    CG = cols.shape[0] // (KH * KW)
    if OH * OW == 0 or CG == 0:
        return
    kernel, strides, dilations = (KH, KW), (stride_h, stride_w), (dil_h, dil_w)
    xp = bordered(x[n:n + 1, c0:c0 + CG], kernel, strides, dilations, (pad_top, pad_left),
                  (OH, OW))
    patches = windows(xp, kernel, strides, dilations, (OH, OW))[0].transpose(0, 3, 4, 1, 2)
    _store(cols, patches)


def fill_im2col_gather(x, n, c0, cols, index):
    T, S = index.shape
    CG = cols.shape[0] // T
    HW = x.shape[2]
    plane = np.zeros((CG, HW + 1), cols.dtype)
    plane[:, :HW] = x[n, c0:c0 + CG]
    _store(cols, np.take(plane, index, axis=1))


def _store(dst, values):
    """dst[...] = values, with values' elements in dst's row-major order."""
    if dst.flags.c_contiguous:
        np.copyto(dst.reshape(values.shape), values)
    else:
        dst[...] = values.reshape(dst.shape)


def add_bias_activation(out, b, act, alpha, beta):
    out += b[None, :, None]
    activate_into(out, act, alpha, beta)


def bias_activation_planes(out, b, act, alpha, beta):
    out += b[:, None]
    activate_into(out, act, alpha, beta)


def sum_taps(y, out, b, box, W, OW, act, alpha, beta):
    M, T = out.shape[0], box.shape[0]
    OH = out.shape[1] // OW if OW else 0
    H = y.shape[1] // W if W else 0
    planes = y[:T * M].reshape(T, M, H, W)
    acc = np.zeros((M, OH, OW), out.dtype)
    for t in range(T):
        h0, h1, w0, w1, off_h, off_w = (int(v) for v in box[t])
        if h0 < h1 and w0 < w1:
            acc[:, h0:h1, w0:w1] += planes[t, :, h0 + off_h:h1 + off_h, w0 + off_w:w1 + off_w]
    acc += b[:, None, None]
    out[...] = activate(acc, act, alpha, beta).reshape(M, OH * OW)


def conv_transpose2d(x, w, b, out, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, group):
    N, C, H, W = x.shape
    _, MG, KH, KW = w.shape
    M, OH, OW = out.shape[1:]
    CG = C // group
    full_h = (H - 1) * stride_h + (KH - 1) * dil_h + 1 if H else 0
    full_w = (W - 1) * stride_w + (KW - 1) * dil_w + 1 if W else 0
    buf = np.zeros((N, M, max(full_h, pad_top + OH), max(full_w, pad_left + OW)), out.dtype)
    if H and W and C:
        # every input pixel's contribution to every tap: (N, G, MG*KH*KW, H*W), one matmul
        wg = w.reshape(group, CG, MG * KH * KW).transpose(0, 2, 1)
        cols = np.matmul(wg, x.reshape(N, group, CG, H * W)).reshape(N, M, KH, KW, H, W)
        for kh in range(KH):
            for kw in range(KW):
                h0, w0 = kh * dil_h, kw * dil_w
                buf[:, :, h0:h0 + (H - 1) * stride_h + 1:stride_h,
                    w0:w0 + (W - 1) * stride_w + 1:stride_w] += cols[:, :, kh, kw]
    out[...] = buf[:, :, pad_top:pad_top + OH, pad_left:pad_left + OW] + b[None, :, None, None]
