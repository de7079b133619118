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

from .activation import ACT_NONE, apply_activation
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
            bv = b[m]
            for oh in range(OH):
                for ow in range(OW):
                    out[n, m, oh, ow] = bv
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
            if act != ACT_NONE:
                for oh in range(OH):
                    for ow in range(OW):
                        out[n, m, oh, ow] = apply_activation(out[n, m, oh, ow], act, alpha, beta)


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


@jit
def add_bias_activation(out, b, act, alpha, beta):
    """out (N, M, S) += b[m] per channel, then activation `act`; in place (S = flat spatial)."""
    for n in range(out.shape[0]):
        for m in range(out.shape[1]):
            row = out[n, m]
            bv = b[m]
            if act == ACT_NONE:
                for s in range(row.shape[0]):
                    row[s] += bv
            else:
                for s in range(row.shape[0]):
                    row[s] = apply_activation(row[s] + bv, act, alpha, beta)


def conv2d_im2col(x, w, b, out, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, group,
                  act, alpha, beta, cols):
    """2-D convolution as im2col + GEMM (BLAS via np.matmul); same contract as conv2d_direct.

    Additionally x, w, out and cols must be C-contiguous (views are reshaped, never copied);
    cols is caller-owned scratch of shape `im2col_scratch_shape(...)` in x.dtype, clobbered.
    A 1x1 / stride 1 / no-pad conv skips im2col and multiplies x directly. Plain Python driving
    jitted loops: numba's own np.dot would need SciPy. BLAS threads follow numpy's OpenBLAS
    (set OPENBLAS_NUM_THREADS=1 or use threadpoolctl for strictly single-threaded runs).
    """
    N, C, H, W = x.shape
    M, CG, KH, KW = w.shape
    OH, OW = out.shape[2], out.shape[3]
    MG = M // group
    w2 = w.reshape(M, CG * KH * KW)
    o3 = out.reshape(N, M, OH * OW)
    pointwise = (KH == 1 and KW == 1 and stride_h == 1 and stride_w == 1 and pad_top == 0
                 and pad_left == 0 and OH == H and OW == W)
    x3 = x.reshape(N, C, H * W) if pointwise else None
    for n in range(N):
        for g in range(group):
            m0 = g * MG
            if pointwise:
                src = x3[n, g * CG:(g + 1) * CG]
            else:
                fill_im2col(x, n, g * CG, cols, KH, KW, stride_h, stride_w, dil_h, dil_w,
                            pad_top, pad_left, OH, OW)
                src = cols
            np.matmul(w2[m0:m0 + MG], src, out=o3[n, m0:m0 + MG])
    add_bias_activation(o3, b, act, alpha, beta)


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
