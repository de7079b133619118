"""Pooling kernels (ONNX MaxPool / AveragePool / LpPool), 2-D and 3-D, NCHW layout.

Conventions: x (N, C, *spatial), out (N, C, *out_spatial) preallocated by the caller, who
computes the output size (floor or ceil_mode, explicit pads incl. end pads; onnxruntime drops a
ceil_mode window that would start past the begin pad + input). Window positions outside the
input are ignored (they never read memory). 1-D pooling is 2-D with H == 1 (kh = sh = dh = 1).
float32/float64; avgpool2d sums in the array dtype, lp/3-D pools in float64. Integer
arguments are Python ints. out must not overlap x.

Max pooling treats NaN as onnxruntime's MaxPool with Indices does: a scan from the window's
first valid position (row-major) that moves only to a strictly greater value, so a NaN wins
only in that first position. (Its MaxPool without Indices skips NaN in 1-D, giving -FLT_MAX
for an all-NaN window, and depends on SIMD lanes in 2-D/3-D.)
"""
import math

import numpy as np

from . import pool_numpy
from .jit import helper, jit


@helper
def _taps(start, k, d, size):
    """(lo, hi): window taps i in [0, k) whose position start + i*d lies in [0, size).

    Division-free (a few steps at the borders only): integer division costs ~40 cycles and
    this runs once per output row.
    """
    lo = 0
    while lo < k and start + lo * d < 0:
        lo += 1
    hi = k
    while hi > lo and start + (hi - 1) * d >= size:
        hi -= 1
    return lo, hi


@helper
def _row_range(j, dw, pad_left, sw, W, OW):
    """(lo, hi, ux): outputs ow in [lo, hi) whose window tap j lies inside [0, W); ux is the
    input column (unsigned) of output lo. Division-free like _taps."""
    off = j * dw - pad_left
    lo = 0
    while lo < OW and lo * sw + off < 0:
        lo += 1
    hi = OW
    while hi > lo and (hi - 1) * sw + off >= W:
        hi -= 1
    return lo, hi, np.uint64(lo * sw + off)


@jit(twin=pool_numpy.window_means_flat)
def window_means_flat(x, out):
    """out[r] = mean of the row x[r] (2-D): a pool whose window is the whole input (global
    pooling written as AveragePool) as one pass per channel instead of kh*kw short row
    updates. Sums in the array dtype with four partial sums (one running sum is
    latency-bound), divides as avgpool2d does."""
    zero = x.dtype.type(0)
    n = x.shape[1]
    quads = n // 4
    for r in range(x.shape[0]):
        row = x[r]
        s0, s1, s2, s3 = zero, zero, zero, zero
        for q in range(quads):
            s0 += row[4 * q]
            s1 += row[4 * q + 1]
            s2 += row[4 * q + 2]
            s3 += row[4 * q + 3]
        for j in range(4 * quads, n):
            s0 += row[j]
        out[r] = ((s0 + s1) + (s2 + s3)) / n


@jit(twin=pool_numpy.window_max_flat)
def window_max_flat(x, out):
    """out[r] = max of the row x[r] (2-D) by the scan rule: a NaN wins only at x[r, 0]."""
    for r in range(x.shape[0]):
        row = x[r]
        v = row[0]
        for j in range(1, x.shape[1]):
            t = row[j]
            v = t if t > v else v
        out[r] = v


def maxpool2d_call(kh, kw, sh, sw, dh, dw, pad_top, pad_left, H, W, OH, OW):
    """(kernel, its arguments after x and out) for a 2-D max pool of this geometry:
    maxpool2d_pairs where its windows fit, else maxpool2d. Chosen here, not inside maxpool2d,
    so a model compiles only the loop it runs (maxpool2d's general loops cost a second of
    compile that a wake-word model, all 2x2 windows, never uses)."""
    if (kw == 2 and kh <= 2 and dh == 1 and dw == 1 and pad_top == 0 and pad_left == 0
            and (OH - 1) * sh + kh <= H and (OW - 1) * sw + kw <= W):
        return maxpool2d_pairs, (kh, sh, sw)
    return maxpool2d, (kh, kw, sh, sw, dh, dw, pad_top, pad_left)


@jit(twin=pool_numpy.maxpool2d)
def maxpool2d(x, out, kh, kw, sh, sw, dh, dw, pad_top, pad_left):
    """Max over each (dilated) window; writes out (N, C, OH, OW) in place.

    x (N, C, H, W), out same float dtype. Positions outside [0, H) x [0, W) are ignored; a
    window with no valid position gets -inf (onnxruntime's output-size rule never makes one).
    NaN by the scan rule (module docstring): fmax over the window, then NaN where the first
    valid position holds NaN.
    """
    H, W = x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    ninf = out.dtype.type(-np.inf)
    us = np.uint64(sw)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(OH):
                for ow in range(OW):
                    out[n, c, oh, ow] = ninf
                hs = oh * sh - pad_top
                i_lo, i_hi = _taps(hs, kh, dh, H)
                # Row-wise tap updates; np.fmax vectorises (a `>` ternary does not); the
                # first valid position's NaN is put back afterwards (the scan rule).
                for i in range(i_lo, i_hi):
                    ih = hs + i * dh
                    for j in range(kw):
                        lo, hi, ux = _row_range(j, dw, pad_left, sw, W, OW)
                        uo = np.uint64(lo)
                        if sw == 1:
                            for t in range(hi - lo):
                                u = np.uint64(t)
                                out[n, c, oh, uo + u] = np.fmax(out[n, c, oh, uo + u],
                                                                x[n, c, ih, ux + u])
                        elif sw == 2:                # constant stride: interleaved vector loads
                            for t in range(hi - lo):
                                u = np.uint64(t)
                                out[n, c, oh, uo + u] = np.fmax(out[n, c, oh, uo + u],
                                                                x[n, c, ih, ux + u * np.uint64(2)])
                        else:
                            for t in range(hi - lo):
                                u = np.uint64(t)
                                out[n, c, oh, uo + u] = np.fmax(out[n, c, oh, uo + u],
                                                                x[n, c, ih, ux + u * us])
                if i_lo < i_hi:
                    _first_nan_wins(x[n, c, hs + i_lo * dh], out[n, c, oh], kw, sw, dw,
                                    pad_left)


@helper
def _first_nan_wins(row, out_row, kw, sw, dw, pad_left):
    """out_row[ow] = NaN where the first valid tap of window ow in `row` (the window's first
    valid input row) is NaN: the scan rule on top of an fmax pass."""
    for ow in range(out_row.shape[0]):
        ws = ow * sw - pad_left
        j_lo, j_hi = _taps(ws, kw, dw, row.shape[0])
        if j_lo < j_hi:
            v = row[ws + j_lo * dw]
            if v != v:
                out_row[ow] = v


@jit(twin=pool_numpy.maxpool2d_pairs)
def maxpool2d_pairs(x, out, kh, sh, sw):
    """maxpool2d for 1x2 and 2x2 windows (kh rows, 2 columns) wholly inside the input, no
    pads, no dilation (`maxpool2d_call` checks): one loop per output row, all taps at once,
    instead of one strided loop per tap (the row loops' setup dominates on wake-word planes).
    The scan rule as maxpool2d."""
    OH, OW = out.shape[2], out.shape[3]
    us = np.uint64(sw)
    one = np.uint64(1)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(OH):
                a = x[n, c, oh * sh]
                b = x[n, c, oh * sh + kh - 1]
                o = out[n, c, oh]
                for ow in range(OW):
                    u = np.uint64(ow) * us
                    # a strict `>` scan from the first tap (the scan rule); measured 2x
                    # faster than np.fmax here (in maxpool2d's row loop, slower)
                    v = a[u]
                    t = a[u + one]
                    v = t if t > v else v
                    t = b[u]
                    v = t if t > v else v
                    t = b[u + one]
                    o[ow] = t if t > v else v


@jit(twin=pool_numpy.maxpool2d_indices)
def maxpool2d_indices(x, out, indices, kh, kw, sh, sw, dh, dw, pad_top, pad_left,
                      storage_order):
    """maxpool2d plus ONNX MaxPool's second output, written into indices (N, C, OH, OW) int64.

    An index addresses the flattened input (N, C, H, W) including batch and channel offsets:
    (n*C + c)*H*W + h*W + w (storage_order 0) or (n*C + c)*H*W + h + w*H (storage_order 1), as
    onnxruntime. Ties keep the first position in row-major window order (strict `>` scan from
    the first valid position, which is taken whatever it holds: the scan rule); a window with
    no valid position gives -inf and index -1.
    """
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    ninf = out.dtype.type(-np.inf)
    for n in range(x.shape[0]):
        for c in range(C):
            base = (n * C + c) * H * W
            for oh in range(OH):
                for ow in range(OW):
                    out[n, c, oh, ow] = ninf
                    indices[n, c, oh, ow] = -1
                hs = oh * sh - pad_top
                i_lo, i_hi = _taps(hs, kh, dh, H)
                for i in range(i_lo, i_hi):
                    ih = hs + i * dh
                    for j in range(kw):
                        lo, hi, ux = _row_range(j, dw, pad_left, sw, W, OW)
                        iw = np.int64(ux)
                        for ow in range(lo, hi):
                            xv = x[n, c, ih, iw]
                            if xv > out[n, c, oh, ow] or indices[n, c, oh, ow] == -1:
                                out[n, c, oh, ow] = xv
                                if storage_order == 0:
                                    indices[n, c, oh, ow] = base + ih * W + iw
                                else:
                                    indices[n, c, oh, ow] = base + ih + iw * H
                            iw += sw


@jit(twin=pool_numpy.avgpool2d)
def avgpool2d(x, out, kh, kw, sh, sw, dh, dw, pad_top, pad_left, pad_bottom, pad_right,
              count_include_pad):
    """Average over each (dilated) window; writes out (N, C, OH, OW) in place.

    The sum covers positions inside the input. The divisor is the number of those positions
    (count_include_pad false) or of window positions inside the explicitly padded extent
    [-pad_top, H + pad_bottom) x [-pad_left, W + pad_right) (true): extra ceil_mode positions
    beyond the end pads are not counted, as onnxruntime. An empty divisor gives NaN.
    """
    H, W = x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    us = np.uint64(sw)
    # Outputs whose whole window row lies inside [0, W): first and last taps both valid.
    a_lo, a_hi, _ = _row_range(0, dw, pad_left, sw, W, OW)
    b_lo, b_hi, _ = _row_range(kw - 1, dw, pad_left, sw, W, OW)
    full_lo, full_hi = max(a_lo, b_lo), min(a_hi, b_hi)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(OH):
                for ow in range(OW):
                    out[n, c, oh, ow] = 0
                hs = oh * sh - pad_top
                i_lo, i_hi = _taps(hs, kh, dh, H)
                for i in range(i_lo, i_hi):
                    ih = hs + i * dh
                    for j in range(kw):
                        lo, hi, ux = _row_range(j, dw, pad_left, sw, W, OW)
                        uo = np.uint64(lo)
                        if sw == 1:
                            for t in range(hi - lo):
                                u = np.uint64(t)
                                out[n, c, oh, uo + u] += x[n, c, ih, ux + u]
                        elif sw == 2:
                            for t in range(hi - lo):
                                u = np.uint64(t)
                                out[n, c, oh, uo + u] += x[n, c, ih, ux + u * np.uint64(2)]
                        else:
                            for t in range(hi - lo):
                                u = np.uint64(t)
                                out[n, c, oh, uo + u] += x[n, c, ih, ux + u * us]
                if count_include_pad:
                    p_lo, p_hi = _taps(hs + pad_top, kh, dh, H + pad_top + pad_bottom)
                else:
                    p_lo, p_hi = i_lo, i_hi
                rows = p_hi - p_lo
                for ow in range(OW):
                    if ow < full_lo or ow >= full_hi:          # window crosses a border
                        ws = ow * sw - pad_left
                        if count_include_pad:
                            q_lo, q_hi = _taps(ws + pad_left, kw, dw, W + pad_left + pad_right)
                        else:
                            q_lo, q_hi = _taps(ws, kw, dw, W)
                        out[n, c, oh, ow] /= rows * (q_hi - q_lo)
                    else:
                        out[n, c, oh, ow] /= rows * kw


@jit(twin=pool_numpy.lppool2d)
def lppool2d(x, out, kh, kw, sh, sw, dh, dw, pad_top, pad_left, p):
    """ONNX LpPool: (sum over the window of |x|^p)^(1/p); writes out (N, C, OH, OW) in place.

    Padded positions contribute zero. p is the ONNX integer attribute (p == 1 and p == 2 take
    exact fast paths); dilations as in LpPool-18 (pass 1 for older opsets).
    """
    H, W = x.shape[2], x.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    inv_p = 1.0 / p
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(OH):
                hs = oh * sh - pad_top
                i_lo, i_hi = _taps(hs, kh, dh, H)
                for ow in range(OW):
                    ws = ow * sw - pad_left
                    j_lo, j_hi = _taps(ws, kw, dw, W)
                    s = 0.0
                    for i in range(i_lo, i_hi):
                        ih = hs + i * dh
                        for j in range(j_lo, j_hi):
                            a = abs(float(x[n, c, ih, ws + j * dw]))
                            if p == 2:
                                s += a * a
                            elif p == 1:
                                s += a
                            else:
                                s += a ** p
                    if p == 2:
                        out[n, c, oh, ow] = math.sqrt(s)
                    elif p == 1:
                        out[n, c, oh, ow] = s
                    else:
                        out[n, c, oh, ow] = s ** inv_p


@jit(twin=pool_numpy.maxpool3d)
def maxpool3d(x, out, kd, kh, kw, sd, sh, sw, dd, dh, dw, pad_front, pad_top, pad_left):
    """3-D maxpool2d: x (N, C, D, H, W) -> out (N, C, OD, OH, OW), same conventions."""
    D, H, W = x.shape[2], x.shape[3], x.shape[4]
    ninf = out.dtype.type(-np.inf)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for od in range(out.shape[2]):
                ds = od * sd - pad_front
                a_lo, a_hi = _taps(ds, kd, dd, D)
                for oh in range(out.shape[3]):
                    hs = oh * sh - pad_top
                    i_lo, i_hi = _taps(hs, kh, dh, H)
                    for ow in range(out.shape[4]):
                        ws = ow * sw - pad_left
                        j_lo, j_hi = _taps(ws, kw, dw, W)
                        v = ninf
                        first = True
                        for a in range(a_lo, a_hi):
                            for i in range(i_lo, i_hi):
                                for j in range(j_lo, j_hi):
                                    t = x[n, c, ds + a * dd, hs + i * dh, ws + j * dw]
                                    if first or t > v:      # the scan rule
                                        v = t
                                        first = False
                        out[n, c, od, oh, ow] = v


@jit(twin=pool_numpy.avgpool3d)
def avgpool3d(x, out, kd, kh, kw, sd, sh, sw, dd, dh, dw, pad_front, pad_top, pad_left,
              pad_back, pad_bottom, pad_right, count_include_pad):
    """3-D avgpool2d: x (N, C, D, H, W) -> out (N, C, OD, OH, OW), same divisor rules."""
    D, H, W = x.shape[2], x.shape[3], x.shape[4]
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for od in range(out.shape[2]):
                ds = od * sd - pad_front
                a_lo, a_hi = _taps(ds, kd, dd, D)
                pa_lo, pa_hi = _taps(ds + pad_front, kd, dd, D + pad_front + pad_back)
                for oh in range(out.shape[3]):
                    hs = oh * sh - pad_top
                    i_lo, i_hi = _taps(hs, kh, dh, H)
                    pi_lo, pi_hi = _taps(hs + pad_top, kh, dh, H + pad_top + pad_bottom)
                    for ow in range(out.shape[4]):
                        ws = ow * sw - pad_left
                        j_lo, j_hi = _taps(ws, kw, dw, W)
                        s = 0.0
                        for a in range(a_lo, a_hi):
                            for i in range(i_lo, i_hi):
                                for j in range(j_lo, j_hi):
                                    s += x[n, c, ds + a * dd, hs + i * dh, ws + j * dw]
                        if count_include_pad:
                            pj_lo, pj_hi = _taps(ws + pad_left, kw, dw, W + pad_left + pad_right)
                            cnt = (pa_hi - pa_lo) * (pi_hi - pi_lo) * (pj_hi - pj_lo)
                        else:
                            cnt = (a_hi - a_lo) * (i_hi - i_lo) * (j_hi - j_lo)
                        out[n, c, od, oh, ow] = s / cnt
