"""NumPy twins of the pooling kernels (kernels/pool.py).

Each pool is a loop over its window's taps, each tap one strided view of the input inside a
border of the neutral value (window_numpy), so positions outside the input never count. As
the kernels: max follows the scan rule (the window's first position inside the input is taken
whatever it holds, then only strictly greater values: a NaN wins only there; an empty window
gives -inf); avgpool2d sums in
the array dtype in row-major tap order, LpPool and the 3-D average in float64; the average's
divisor counts taps inside the input, or inside the explicitly padded extent with
count_include_pad.
"""
import numpy as np

from .window_numpy import bordered, counts, taps


def _first_taps(x, kernel, strides, dilations, begins, outs):
    """Per tap, in the kernels' order, where it is its window's first position inside x."""
    inside = bordered(np.ones(x.shape, bool), kernel, strides, dilations, begins, outs, False)
    pending = np.ones(x.shape[:2] + tuple(outs), bool)
    for _, m in taps(inside, kernel, strides, dilations, outs):
        first = pending & m
        pending &= ~m
        yield first


def _max(x, out, kernel, strides, dilations, begins):
    outs = out.shape[2:]
    out[...] = -np.inf
    if out.size == 0:
        return
    xp = bordered(x, kernel, strides, dilations, begins, outs, -np.inf)
    firsts = _first_taps(x, kernel, strides, dilations, begins, outs)
    for (_, view), first in zip(taps(xp, kernel, strides, dilations, outs), firsts):
        np.fmax(out, view, out=out, where=~np.isnan(out))     # a first NaN stays
        np.copyto(out, view, where=first)


def _average(x, out, kernel, strides, dilations, begins, ends, count_include_pad, dtype):
    outs = out.shape[2:]
    if out.size == 0:
        return
    xp = bordered(x, kernel, strides, dilations, begins, outs)
    acc = np.zeros(out.shape, dtype)
    for _, view in taps(xp, kernel, strides, dilations, outs):
        acc += view
    divisor = np.ones((), np.int64)
    for axis, (size, kk, s, d, b, e, o) in enumerate(
            zip(x.shape[2:], kernel, strides, dilations, begins, ends, outs)):
        lo, hi = (-b, size + e) if count_include_pad else (0, size)
        c = counts(kk, s, d, b, lo, hi, o)
        divisor = np.multiply.outer(divisor, c)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[...] = acc / divisor


def maxpool2d(x, out, kh, kw, sh, sw, dh, dw, pad_top, pad_left):
    _max(x, out, (kh, kw), (sh, sw), (dh, dw), (pad_top, pad_left))


def maxpool2d_pairs(x, out, kh, sh, sw):
    _max(x, out, (kh, 2), (sh, sw), (1, 1), (0, 0))


def maxpool3d(x, out, kd, kh, kw, sd, sh, sw, dd, dh, dw, pad_front, pad_top, pad_left):
    _max(x, out, (kd, kh, kw), (sd, sh, sw), (dd, dh, dw), (pad_front, pad_top, pad_left))


def maxpool2d_indices(x, out, indices, kh, kw, sh, sw, dh, dw, pad_top, pad_left,
                      storage_order):
    N, C, H, W = x.shape
    OH, OW = out.shape[2:]
    out[...] = -np.inf
    indices[...] = -1
    if out.size == 0:
        return
    kernel, strides, dilations = (kh, kw), (sh, sw), (dh, dw)
    xp = bordered(x, kernel, strides, dilations, (pad_top, pad_left), (OH, OW), -np.inf)
    base = (np.arange(N)[:, None] * C + np.arange(C)[None, :]) * (H * W)
    base = base[:, :, None, None]
    oh = np.arange(OH)[:, None] * sh - pad_top
    ow = np.arange(OW)[None, :] * sw - pad_left
    firsts = _first_taps(x, kernel, strides, dilations, (pad_top, pad_left), (OH, OW))
    for ((i, j), view), first in zip(taps(xp, kernel, strides, dilations, (OH, OW)), firsts):
        better = first | (view > out)       # strict: the first of equal values stays; NaN
                                            # only as the window's first position
        ih, iw = oh + i * dh, ow + j * dw
        where = ih * W + iw if storage_order == 0 else ih + iw * H
        np.copyto(out, view, where=better)
        np.copyto(indices, base + where, where=better)


def avgpool2d(x, out, kh, kw, sh, sw, dh, dw, pad_top, pad_left, pad_bottom, pad_right,
              count_include_pad):
    _average(x, out, (kh, kw), (sh, sw), (dh, dw), (pad_top, pad_left), (pad_bottom, pad_right),
             count_include_pad, out.dtype)


def avgpool3d(x, out, kd, kh, kw, sd, sh, sw, dd, dh, dw, pad_front, pad_top, pad_left,
              pad_back, pad_bottom, pad_right, count_include_pad):
    _average(x, out, (kd, kh, kw), (sd, sh, sw), (dd, dh, dw), (pad_front, pad_top, pad_left),
             (pad_back, pad_bottom, pad_right), count_include_pad, np.float64)


def lppool2d(x, out, kh, kw, sh, sw, dh, dw, pad_top, pad_left, p):
    outs = out.shape[2:]
    if out.size == 0:
        return
    kernel, strides, dilations = (kh, kw), (sh, sw), (dh, dw)
    xp = bordered(x, kernel, strides, dilations, (pad_top, pad_left), outs)
    s = np.zeros(out.shape, np.float64)
    for _, view in taps(xp, kernel, strides, dilations, outs):
        a = np.abs(view.astype(np.float64))
        s += a * a if p == 2 else (a if p == 1 else a ** p)
    out[...] = np.sqrt(s) if p == 2 else (s if p == 1 else s ** (1.0 / p))


def window_means_flat(x, out):
    out[...] = x.sum(axis=1, dtype=np.float64) / x.shape[1]


def window_max_flat(x, out):
    first = x[:, 0]
    out[...] = np.where(np.isnan(first), first, np.fmax.reduce(x, axis=1))
