"""Convolution kernels: direct 2-D/3-D, im2col + BLAS 2-D, and 2-D transposed convolution.

Conventions shared by every kernel here (ONNX Conv semantics, NCHW layout):
- x (N, C, *spatial), w (M, C // group, *kernel), b (M,) (zeros when the node has no bias),
  out (N, M, *out_spatial) preallocated by the caller, who computes the output size from the
  explicit pads (begin and end) and validates shapes. Kernels only read the begin pads.
- Input positions outside the image read as zero (bounds are computed, no padded copy).
- A fused activation (codes from `activation.py`) is applied to each output after the bias.
- float32 and float64; accumulation is in the array dtype. Integers (strides, dilations, pads,
  group, act) are Python ints; alpha/beta are Python floats.

Which 2-D algorithm to use is `choose_conv2d_algorithm` (measured rule of thumb, see there).
"""
import numpy as np

from .activation import ACT_NONE, apply_activation, bias_activation_row, bias_activation_span
from .jit import jit


@jit
def _valid_range(off, stride, size, n_out):
    """(lo, hi): the outputs o in [0, n_out) whose input o*stride + off lies in [0, size)."""
    lo = -(off // stride)                    # ceil(-off / stride)
    if lo < 0:
        lo = 0
    if lo > n_out:
        lo = n_out
    hi = -((off - size) // stride)           # ceil((size - off) / stride)
    if hi > n_out:
        hi = n_out
    if hi < lo:
        hi = lo
    return lo, hi


@jit
def conv2d_direct(x, w, b, out, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, group,
                  act, alpha, beta):
    """Direct grouped 2-D convolution; writes out (N, M, OH, OW) in place.

    x (N, C, H, W), w (M, C//group, KH, KW), b (M,), out (N, M, OH, OW), all one float dtype;
    caller guarantees C % group == 0, M % group == 0 and OH/OW consistent with the pads (any
    OH/OW is memory-safe: out-of-image taps are skipped). Depthwise is group == C. The 1-D
    audio case is H == KH == 1: each (tap, channel) pair is one contiguous vector update.
    """
    H = x.shape[2]
    W = x.shape[3]
    M, CG, KH, KW = w.shape
    OH = out.shape[2]
    OW = out.shape[3]
    MG = M // group
    us = np.uint64(stride_w)
    for n in range(x.shape[0]):
        for m in range(M):
            c0 = (m // MG) * CG
            for oh in range(OH):
                for ow in range(OW):
                    out[n, m, oh, ow] = 0
            for kh in range(KH):
                off_h = kh * dil_h - pad_top
                oh_lo, oh_hi = _valid_range(off_h, stride_h, H, OH)
                for kw in range(KW):
                    off_w = kw * dil_w - pad_left
                    ow_lo, ow_hi = _valid_range(off_w, stride_w, W, OW)
                    cnt = ow_hi - ow_lo
                    if cnt <= 0 or oh_hi <= oh_lo:
                        continue
                    # Unsigned inner indices: no wraparound select, so stride 1 vectorises.
                    uo = np.uint64(ow_lo)
                    ux = np.uint64(ow_lo * stride_w + off_w)
                    for ci in range(CG):
                        wv = w[m, ci, kh, kw]
                        c = c0 + ci
                        for oh in range(oh_lo, oh_hi):
                            ih = oh * stride_h + off_h
                            if stride_w == 1:
                                for j in range(cnt):
                                    u = np.uint64(j)
                                    out[n, m, oh, uo + u] += wv * x[n, c, ih, ux + u]
                            else:
                                for j in range(cnt):
                                    u = np.uint64(j)
                                    out[n, m, oh, uo + u] += wv * x[n, c, ih, ux + u * us]
            for oh in range(OH):
                bias_activation_row(out[n, m, oh], b[m], act, alpha, beta)


@jit
def conv2d_flat(x, w, b, out, dil_h, dil_w, pad_top, pad_left, group, act, alpha, beta):
    """Stride-1 conv with one input channel per group (depthwise, or a C == 1 front end) whose
    output rows are as wide as the input's; same contract as conv2d_direct otherwise, and x,
    out C-contiguous.

    OW == W makes a tap a constant shift of the flattened plane, so each (channel, tap) is one
    long vector loop instead of OH short rows (KWS planes are 5-10 columns wide). Where the
    shifted column leaves the row, the flat shift would read the neighbouring row: a per-column
    mask (built once per call) skips those positions.
    """
    N, C, H, W = x.shape
    M, CG, KH, KW = w.shape
    OH, OW = out.shape[2], out.shape[3]
    MG = M // group
    xf = x.reshape(N, C, H * W)
    of = out.reshape(N, M, OH * OW)
    zero = x.dtype.type(0)
    inside = np.zeros((KW, OH * OW), np.bool_)
    for kw in range(KW):
        ow_lo, ow_hi = _valid_range(kw * dil_w - pad_left, 1, W, OW)
        for oh in range(OH):
            for ow in range(ow_lo, ow_hi):
                inside[kw, oh * OW + ow] = True
    for n in range(N):
        for m in range(M):
            o = of[n, m]
            src = xf[n, (m // MG) * CG]
            for p in range(OH * OW):
                o[p] = 0
            for kh in range(KH):
                off_h = kh * dil_h - pad_top
                oh_lo, oh_hi = _valid_range(off_h, 1, H, OH)
                for kw in range(KW):
                    off_w = kw * dil_w - pad_left
                    ow_lo, ow_hi = _valid_range(off_w, 1, W, OW)
                    if oh_hi <= oh_lo or ow_hi <= ow_lo:
                        continue
                    # first and last positions are valid, so every read stays inside the plane
                    p0 = oh_lo * OW + ow_lo
                    cnt = (oh_hi - 1) * OW + ow_hi - p0
                    up = np.uint64(p0)
                    ux = np.uint64(p0 + off_h * W + off_w)
                    wv = w[m, 0, kh, kw]
                    if ow_lo == 0 and ow_hi == OW:
                        for j in range(cnt):
                            u = np.uint64(j)
                            o[up + u] += wv * src[ux + u]
                    else:
                        # select the source, not the store: a masked store is microcoded on AMD
                        mk = inside[kw]
                        for j in range(cnt):
                            u = np.uint64(j)
                            v = src[ux + u]
                            o[up + u] += wv * (v if mk[up + u] else zero)
            bias_activation_row(o, b[m], act, alpha, beta)


def im2col_scratch_shape(C, group, KH, KW, OH, OW):
    """Shape of the `cols` scratch that `conv2d_im2col` needs: (C//group*KH*KW, OH*OW)."""
    return (C // group * KH * KW, OH * OW)


@jit
def fill_im2col(x, n, c0, cols, KH, KW, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left,
                OH, OW):
    """Fill cols (CG*KH*KW, OH*OW) with the patches of x[n, c0:c0+CG] (x is (N, C, H, W)).

    Row (ci*KH + kh)*KW + kw, column oh*OW + ow holds x[n, c0+ci, oh*sh + kh*dh - pad_top,
    ow*sw + kw*dw - pad_left], or 0 outside the image. Every element of cols is written.
    Caller guarantees cols is 2-D with CG = cols.shape[0] // (KH*KW) <= C - c0 channels.
    """
    H = x.shape[2]
    W = x.shape[3]
    CG = cols.shape[0] // (KH * KW)
    zero = cols.dtype.type(0)
    us = np.uint64(stride_w)
    for ci in range(CG):
        c = c0 + ci
        for kh in range(KH):
            off_h = kh * dil_h - pad_top
            oh_lo, oh_hi = _valid_range(off_h, stride_h, H, OH)
            for kw in range(KW):
                r = (ci * KH + kh) * KW + kw
                off_w = kw * dil_w - pad_left
                ow_lo, ow_hi = _valid_range(off_w, stride_w, W, OW)
                ux = np.uint64(ow_lo * stride_w + off_w)
                for oh in range(OH):
                    base = oh * OW
                    if oh < oh_lo or oh >= oh_hi:
                        for ow in range(OW):
                            cols[r, base + ow] = zero
                        continue
                    ih = oh * stride_h + off_h
                    for ow in range(ow_lo):
                        cols[r, base + ow] = zero
                    ub = np.uint64(base + ow_lo)
                    if stride_w == 1:
                        for j in range(ow_hi - ow_lo):
                            u = np.uint64(j)
                            cols[r, ub + u] = x[n, c, ih, ux + u]
                    else:
                        for j in range(ow_hi - ow_lo):
                            u = np.uint64(j)
                            cols[r, ub + u] = x[n, c, ih, ux + u * us]
                    for ow in range(ow_hi, OW):
                        cols[r, base + ow] = zero


def im2col_index(H, W, KH, KW, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, OH, OW):
    """(KH*KW, OH*OW) int64: the flat input position (ih*W + iw) that each im2col element of
    one channel reads, or -1 in the padding. Computed once per shape by the caller."""
    kh, kw, oh, ow = np.ix_(np.arange(KH), np.arange(KW), np.arange(OH), np.arange(OW))
    ih = oh * stride_h + kh * dil_h - pad_top
    iw = ow * stride_w + kw * dil_w - pad_left
    index = np.where((ih >= 0) & (ih < H) & (iw >= 0) & (iw < W), ih * W + iw, -1)
    return np.ascontiguousarray(index.reshape(KH * KW, OH * OW), dtype=np.int64)


@jit
def fill_im2col_gather(x, n, c0, cols, index):
    """fill_im2col through a precomputed `im2col_index`: one loop over all OH*OW outputs per
    (channel, tap) row, for narrow outputs where fill_im2col's per-row segments are 2-8 long.
    x is (N, C, H*W); index entries are < H*W (-1 reads as zero)."""
    T, S = index.shape
    zero = cols.dtype.type(0)
    for ci in range(cols.shape[0] // T):
        src = x[n, c0 + ci]
        for t in range(T):
            row = cols[ci * T + t]
            at = index[t]
            for j in range(S):
                k = at[j]
                v = src[k]                  # k == -1 reads the last element: in bounds
                row[j] = v if k >= 0 else zero


@jit
def add_bias_activation(out, b, act, alpha, beta):
    """out (N, M, S) += b[m] per channel, then activation `act`; in place (S = flat spatial)."""
    for n in range(out.shape[0]):
        for m in range(out.shape[1]):
            bias_activation_row(out[n, m], b[m], act, alpha, beta)


def conv2d_im2col(x, w, b, out, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, group,
                  act, alpha, beta, cols, index=None):
    """2-D convolution as im2col + GEMM (BLAS via np.matmul); same contract as conv2d_direct.

    Additionally x, w, out and cols must be C-contiguous (views are reshaped, never copied);
    cols is caller-owned scratch of shape `im2col_scratch_shape(...)` in x.dtype, clobbered.
    `index` (from `im2col_index`) switches the fill to the gather form. A 1x1 / stride 1 /
    no-pad conv skips im2col and multiplies x directly. Plain Python driving jitted loops:
    numba's own np.dot would need SciPy.
    """
    N, C, H, W = x.shape
    M, CG, KH, KW = w.shape
    OH, OW = out.shape[2], out.shape[3]
    MG = M // group
    w2 = w.reshape(M, CG * KH * KW)
    o3 = out.reshape(N, M, OH * OW)
    pointwise = (KH == 1 and KW == 1 and stride_h == 1 and stride_w == 1 and pad_top == 0
                 and pad_left == 0 and OH == H and OW == W)
    x3 = x.reshape(N, C, H * W)
    for n in range(N):
        for g in range(group):
            m0 = g * MG
            if pointwise:
                src = x3[n, g * CG:(g + 1) * CG]
            elif index is not None:
                fill_im2col_gather(x3, n, g * CG, cols, index)
                src = cols
            else:
                fill_im2col(x, n, g * CG, cols, KH, KW, stride_h, stride_w, dil_h, dil_w,
                            pad_top, pad_left, OH, OW)
                src = cols
            np.matmul(w2[m0:m0 + MG], src, out=o3[n, m0:m0 + MG])
    add_bias_activation(o3, b, act, alpha, beta)


def taps_weights(w):
    """w (M, C, KH, KW) as conv2d_taps wants it: row (kh*KW + kw)*M + m holds w[m, :, kh, kw]."""
    M, C, KH, KW = w.shape
    return np.ascontiguousarray(w.transpose(2, 3, 0, 1).reshape(KH * KW * M, C))


def taps_scratch_shape(M, KH, KW, H, W):
    """Shape of the `y` scratch that conv2d_taps needs."""
    return (KH * KW * M, H * W)


def conv2d_taps(x, wt, b, out, KH, KW, dil_h, dil_w, pad_top, pad_left, act, alpha, beta, y):
    """Stride-1, group-1 2-D convolution without im2col: per image one GEMM y = wt @ x[n]
    ((T*M, C) @ (C, H*W), T = KH*KW taps) gives every tap's contribution at every input
    position, then `sum_taps` adds the shifted planes, the bias and the activation.

    wt from `taps_weights`; y scratch of `taps_scratch_shape(...)`, clobbered; x, out
    C-contiguous. Moves T*M*H*W floats where im2col moves T*C*OH*OW, and x is BLAS's operand
    as it is: the better choice for M <~ C (the 1x3/3x1 stacks of audio models).
    """
    N, C, H, W = x.shape
    x3 = x.reshape(N, C, H * W)
    o3 = out.reshape(N, out.shape[1], out.shape[2] * out.shape[3])
    for n in range(N):
        np.matmul(wt, x3[n], out=y)
        sum_taps(y, o3[n], b, KH, KW, dil_h, dil_w, pad_top, pad_left, H, W, out.shape[3],
                 act, alpha, beta)


@jit
def sum_taps(y, out, b, KH, KW, dil_h, dil_w, pad_top, pad_left, H, W, OW, act, alpha, beta):
    """out (M, OH*OW) = act(b + sum over taps of the tap's plane y[t*M + m] (H*W) shifted).

    When OW == W a tap is a constant shift of the flattened plane, so the sum runs in blocks
    of the flat output that stay in L1 while every tap is added. The flat shift wraps into the
    neighbouring row at the borders: plane columns a tap never reads legitimately are zeroed
    first (y is clobbered). Narrower outputs (OW < W) add row segments.
    """
    M = out.shape[0]
    OH = out.shape[1] // OW
    T = KH * KW
    box = np.zeros((T, 6), np.int64)    # per tap: valid oh_lo, oh_hi, ow_lo, ow_hi; off_h, off_w
    for t in range(T):
        off_h = (t // KW) * dil_h - pad_top
        off_w = (t % KW) * dil_w - pad_left
        oh_lo, oh_hi = _valid_range(off_h, 1, H, OH)
        ow_lo, ow_hi = _valid_range(off_w, 1, W, OW)
        if oh_lo < oh_hi and ow_lo < ow_hi:
            box[t, 0], box[t, 1], box[t, 2], box[t, 3] = oh_lo, oh_hi, ow_lo, ow_hi
        box[t, 4], box[t, 5] = off_h, off_w
    for m in range(M):
        o = out[m]
        if OW == W:
            _sum_taps_flat(y, o, m, M, box, W, b[m], act, alpha, beta)
            continue
        o[:] = 0
        for t in range(T):
            oh_lo, oh_hi, ow_lo, ow_hi, off_h, off_w = box[t]
            for oh in range(oh_lo, oh_hi):
                _add_shifted(o, y[t * M + m], oh * OW + ow_lo, (oh + off_h) * W + ow_lo + off_w,
                             ow_hi - ow_lo)
        bias_activation_row(o, b[m], act, alpha, beta)


@jit
def _sum_taps_flat(y, o, m, M, box, W, bias, act, alpha, beta):
    """sum_taps for output channel m when OW == W (see there)."""
    T = box.shape[0]
    for t in range(T):
        plane = y[t * M + m]
        oh_lo, oh_hi, ow_lo, ow_hi, off_h, off_w = box[t]
        for c in range(W):
            if c < ow_lo + off_w or c >= ow_hi + off_w:
                for ih in range(oh_lo + off_h, oh_hi + off_h):
                    plane[ih * W + c] = 0
    for p0 in range(0, o.shape[0], _BLOCK):
        p1 = min(p0 + _BLOCK, o.shape[0])
        _fill_span(o, p0, p1 - p0, 0)
        for t in range(T):
            oh_lo, oh_hi, ow_lo, ow_hi, off_h, off_w = box[t]
            a = max(p0, oh_lo * W + ow_lo)
            e = min(p1, (oh_hi - 1) * W + ow_hi)
            if a < e:
                _add_shifted(o, y[t * M + m], a, a + off_h * W + off_w, e - a)
        bias_activation_span(o, p0, p1, bias, act, alpha, beta)


_BLOCK = 1024


@jit
def _fill_span(dst, d0, cnt, value):
    """dst[d0:d0+cnt] = value (unsigned indices, vectorises)."""
    ud = np.uint64(d0)
    for j in range(cnt):
        dst[ud + np.uint64(j)] = value


@jit
def _add_shifted(dst, src, d0, s0, cnt):
    """dst[d0:d0+cnt] += src[s0:s0+cnt] (unsigned indices: no wraparound check, vectorises)."""
    ud = np.uint64(d0)
    us = np.uint64(s0)
    for j in range(cnt):
        u = np.uint64(j)
        dst[ud + u] += src[us + u]


def choose_conv2d_algorithm(C, M, group, KH, KW, OH, OW):
    """Return "direct" or "im2col" for a 2-D conv of this shape (batch-independent rule).

    Measured on an AVX2 machine, single thread, float32. im2col costs a fixed ~8-15 us of
    Python/dispatch per call (+ per group) but then runs at BLAS speed (25-70 GFLOP/s); the
    direct kernel has no fixed cost but runs at 2-7 GFLOP/s and pays ~5-10 ns per output row
    segment, so it only wins when the per-group GEMM is tiny: depthwise-like groups
    (MG*K < 256), 1-D convs with MG*K <= 256 (e.g. C=1..4 audio front ends), or < 8k MACs.
    """
    K = C // group * KH * KW
    MG = M // group
    if group > 1 and MG * K < 256:
        return "direct"
    if OH == 1 and KH == 1 and MG * K <= 256:
        return "direct"
    if MG * K * OH * OW < 8192:
        return "direct"
    return "im2col"


@jit
def conv3d_direct(x, w, b, out, stride_d, stride_h, stride_w, dil_d, dil_h, dil_w,
                  pad_front, pad_top, pad_left, group, act, alpha, beta):
    """Direct grouped 3-D convolution; writes out (N, M, OD, OH, OW) in place.

    x (N, C, D, H, W), w (M, C//group, KD, KH, KW), b (M,); same conventions as conv2d_direct
    (out-of-volume taps read as zero, activation after bias). Simple loops, for conformance.
    """
    D, H, W = x.shape[2], x.shape[3], x.shape[4]
    M, CG, KD, KH, KW = w.shape
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    MG = M // group
    for n in range(x.shape[0]):
        for m in range(M):
            c0 = (m // MG) * CG
            for od in range(OD):
                for oh in range(OH):
                    for ow in range(OW):
                        acc = b[m]
                        for ci in range(CG):
                            for kd in range(KD):
                                idd = od * stride_d + kd * dil_d - pad_front
                                if idd < 0 or idd >= D:
                                    continue
                                for kh in range(KH):
                                    ih = oh * stride_h + kh * dil_h - pad_top
                                    if ih < 0 or ih >= H:
                                        continue
                                    for kw in range(KW):
                                        iw = ow * stride_w + kw * dil_w - pad_left
                                        if iw >= 0 and iw < W:
                                            acc += w[m, ci, kd, kh, kw] * x[n, c0 + ci, idd, ih, iw]
                        out[n, m, od, oh, ow] = apply_activation(acc, act, alpha, beta)


@jit
def conv_transpose2d(x, w, b, out, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, group):
    """ONNX ConvTranspose (2-D) by scatter-add; writes out (N, M, OH, OW) in place.

    x (N, C, H, W), w (C, M//group, KH, KW), b (M,). out[n, g*MG+mo, ih*sh + kh*dh - pad_top,
    iw*sw + kw*dw - pad_left] += x[n, c, ih, iw] * w[c, mo, kh, kw] for c in group g; targets
    outside out are dropped. Caller computes OH/OW (incl. output_padding / output_shape).
    """
    H = x.shape[2]
    W = x.shape[3]
    C, MG, KH, KW = w.shape
    OH = out.shape[2]
    OW = out.shape[3]
    CG = C // group
    us = np.uint64(stride_w)
    for n in range(x.shape[0]):
        for m in range(out.shape[1]):
            bv = b[m]
            for oh in range(OH):
                orow = out[n, m, oh]
                for ow in range(OW):
                    orow[ow] = bv
        for c in range(C):
            m0 = (c // CG) * MG
            for kh in range(KH):
                off_h = kh * dil_h - pad_top
                ih_lo, ih_hi = _valid_range(off_h, stride_h, OH, H)
                for kw in range(KW):
                    off_w = kw * dil_w - pad_left
                    iw_lo, iw_hi = _valid_range(off_w, stride_w, OW, W)
                    cnt = iw_hi - iw_lo
                    if cnt <= 0:
                        continue
                    ux = np.uint64(iw_lo)
                    uo = np.uint64(iw_lo * stride_w + off_w)
                    for mo in range(MG):
                        wv = w[c, mo, kh, kw]
                        m = m0 + mo
                        for ih in range(ih_lo, ih_hi):
                            oh = ih * stride_h + off_h
                            if stride_w == 1:
                                for j in range(cnt):
                                    u = np.uint64(j)
                                    out[n, m, oh, uo + u] += wv * x[n, c, ih, ux + u]
                            else:
                                for j in range(cnt):
                                    u = np.uint64(j)
                                    out[n, m, oh, uo + u * us] += wv * x[n, c, ih, ux + u]
