"""Convolution kernels: 2-D (direct, flat-shift, im2col + BLAS, tap GEMM), direct 3-D, and
2-D transposed convolution.

Conventions shared by every kernel here (ONNX Conv semantics, NCHW layout):
- x (N, C, *spatial), w (M, C // group, *kernel), b (M,) (zeros when the node has no bias),
  out (N, M, *out_spatial) preallocated by the caller, who computes the output size from the
  explicit pads (begin and end) and validates shapes. Kernels only read the begin pads.
- Input positions outside the image contribute nothing (bounds are computed, or padding reads
  zeros from a zero-bordered copy).
- A fused activation (codes from `activation.py`) is applied to each output after the bias.
- float32 and float64; accumulation is in the array dtype. Integers (strides, dilations, pads,
  group, act) are Python ints; alpha/beta are Python floats.

Which 2-D algorithm to use is `choose_conv2d_algorithm` (measured rule of thumb, see there).
GEMMs stay in NumPy (np.dot with out=, one BLAS thread): numba's own np.dot needs SciPy.
"""
import numpy as np

from . import conv_numpy
from .activation import ACT_NONE, apply_activation, bias_activation_row, bias_activation_span
from .jit import helper, jit


def valid_range(off, stride, size, n_out):
    """(lo, hi): the outputs o in [0, n_out) whose input o*stride + off lies in [0, size).
    Plain Python too: `tap_boxes` runs it at plan time."""
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


_valid_range = helper(valid_range)


@jit(twin=conv_numpy.conv2d_direct)
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


@jit(twin=conv_numpy.conv2d_flat)
def conv2d_flat(x, w, b, out, dil_h, dil_w, pad_top, pad_left, group, act, alpha, beta):
    """Stride-1 conv with one input channel per group (depthwise, or a C == 1 front end) whose
    output rows are as wide as the input's; same contract as conv2d_direct otherwise, and x,
    out C-contiguous.

    OW == W makes a tap a constant shift of the flattened plane: each (channel, tap) is one
    vector loop over the whole plane instead of OH short rows (KWS planes are 5-10 columns
    wide). The input plane is copied between zero margins and the loops run over a multiple
    of _LANES outputs, so no loop has a scalar remainder and rows above / below the image read
    zeros. Where a tap's column leaves the row the flat shift reads the neighbouring row: a
    per-tap mask (built once per call) selects zero there.
    """
    N, C, H, W = x.shape
    M, CG, KH, KW = w.shape
    OH, OW = out.shape[2], out.shape[3]
    MG = M // group
    S = OH * OW
    R = (S + _LANES - 1) // _LANES * _LANES
    lead = pad_top * W + pad_left                              # most negative shift
    tail = ((KH - 1) * dil_h - pad_top) * W + (KW - 1) * dil_w - pad_left
    base = max(lead, 0)
    plane = np.zeros(base + max(R + tail, H * W) + 1, x.dtype)
    acc = np.empty(R, x.dtype)
    zero = x.dtype.type(0)
    xf = x.reshape(N, C, H * W)
    of = out.reshape(N, M, S)
    inside = np.zeros((KW, R), np.bool_)
    full = np.zeros(KW, np.bool_)
    for kw in range(KW):
        ow_lo, ow_hi = _valid_range(kw * dil_w - pad_left, 1, W, OW)
        full[kw] = ow_lo == 0 and ow_hi == OW
        for oh in range(OH):
            for ow in range(ow_lo, ow_hi):
                inside[kw, oh * OW + ow] = True
    ub = np.uint64(base)
    for n in range(N):
        for m in range(M):
            src = xf[n, (m // MG) * CG]
            for i in range(H * W):
                plane[ub + np.uint64(i)] = src[i]
            for kh in range(KH):
                for kw in range(KW):
                    wv = w[m, 0, kh, kw]
                    ux = np.uint64(base + (kh * dil_h - pad_top) * W + kw * dil_w - pad_left)
                    if kh == 0 and kw == 0:         # the first tap initialises acc
                        for p in range(R):
                            v = plane[ux + np.uint64(p)]
                            acc[p] = wv * (v if inside[kw, p] else zero)
                    elif full[kw]:
                        for p in range(R):
                            acc[p] += wv * plane[ux + np.uint64(p)]
                    else:
                        # select the source, not the store: masked stores are slow on AMD
                        for p in range(R):
                            v = plane[ux + np.uint64(p)]
                            acc[p] += wv * (v if inside[kw, p] else zero)
            o = of[n, m]
            for p in range(S):
                o[p] = acc[p]
            bias_activation_row(o, b[m], act, alpha, beta)


_LANES = 32     # floats per iteration of LLVM's vectorised loops (AVX2, interleaved 4x)


def im2col_scratch_shape(C, group, KH, KW, OH, OW):
    """Shape of the `cols` scratch that `conv2d_im2col` needs: (C//group*KH*KW, OH*OW)."""
    return (C // group * KH * KW, OH * OW)


@jit(twin=conv_numpy.fill_im2col)
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
    """(KH*KW, OH*OW) int32: the flat input position (ih*W + iw) that each im2col element of
    one channel reads, or H*W (one zero past the plane) in the padding. Made once per shape."""
    kh, kw, oh, ow = np.ix_(np.arange(KH), np.arange(KW), np.arange(OH), np.arange(OW))
    ih = oh * stride_h + kh * dil_h - pad_top
    iw = ow * stride_w + kw * dil_w - pad_left
    index = np.where((ih >= 0) & (ih < H) & (iw >= 0) & (iw < W), ih * W + iw, H * W)
    return np.ascontiguousarray(index.reshape(KH * KW, OH * OW), dtype=np.int32)


@jit(twin=conv_numpy.fill_im2col_gather)
def fill_im2col_gather(x, n, c0, cols, index):
    """fill_im2col through a precomputed `im2col_index`: one gather loop over all OH*OW outputs
    per (channel, tap) row, for narrow outputs where fill_im2col's per-row segments are 2-8
    long. x is (N, C, H*W); index entries lie in [0, H*W]. With padding (an entry H*W) each
    channel is first copied into a plane extended by one zero."""
    T, S = index.shape
    HW = x.shape[2]
    padded = False
    for t in range(T):
        for j in range(S):
            if index[t, j] >= HW:
                padded = True
    plane = np.empty(HW + 1, cols.dtype)
    plane[HW] = 0                       # the zero past the plane; the rest is copied in
    for ci in range(cols.shape[0] // T):
        src = x[n, c0 + ci]
        if padded:
            for j in range(HW):
                plane[j] = src[j]
            src = plane
        for t in range(T):
            row = cols[ci * T + t]
            at = index[t]
            for j in range(S):
                row[j] = src[np.uint64(at[j])]


@jit(twin=conv_numpy.add_bias_activation)
def add_bias_activation(out, b, act, alpha, beta):
    """out (N, M, S) += b[m] per channel, then activation `act`; in place (S = flat spatial)."""
    for n in range(out.shape[0]):
        bias_activation_planes(out[n], b, act, alpha, beta)


@jit(twin=conv_numpy.bias_activation_planes)
def bias_activation_planes(out, b, act, alpha, beta):
    """add_bias_activation for one image: out (M, S)."""
    for m in range(out.shape[0]):
        bias_activation_row(out[m], b[m], act, alpha, beta)


def conv2d_im2col(x, w, b, out, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, group,
                  act, alpha, beta, cols, index=None):
    """2-D convolution as im2col + GEMM (BLAS via np.dot); same contract as conv2d_direct.

    Additionally x, w, out and cols must be C-contiguous (views are reshaped, never copied);
    cols is caller-owned scratch of shape `im2col_scratch_shape(...)` in x.dtype, clobbered.
    `index` (from `im2col_index`) switches the fill to the gather form. A 1x1 / stride 1 /
    no-pad conv skips im2col and multiplies x directly.
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
            np.dot(w2[m0:m0 + MG], src, out=o3[n, m0:m0 + MG])
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

    wt from `taps_weights`; y scratch of `taps_scratch_shape(...)` (or a larger one: its head is
    used), clobbered; x, out C-contiguous. Moves T*M*H*W floats where im2col moves T*C*OH*OW, and x is BLAS's operand
    as it is: the better choice for M <~ C (the 1x3/3x1 stacks of audio models).
    """
    N, C, H, W = x.shape
    x3 = x.reshape(N, C, H * W)
    o3 = out.reshape(N, out.shape[1], out.shape[2] * out.shape[3])
    if y.shape[0] != wt.shape[0]:       # a larger buffer: use its head
        y = y.reshape(-1)[:wt.shape[0] * H * W].reshape(wt.shape[0], H * W)
    box = tap_boxes(KH, KW, dil_h, dil_w, pad_top, pad_left, H, W, out.shape[2], out.shape[3])
    for n in range(N):
        np.dot(wt, x3[n], out=y)
        sum_taps(y, o3[n], b, box, W, out.shape[3], act, alpha, beta)


def sum_taps(y, out, b, box, W, OW, act, alpha, beta):
    """out (M, OH*OW) = act(b + sum over taps of the tap's plane y[t*M + m] (H*W) shifted);
    `box` from `tap_boxes`.

    When OW == W a tap is a constant shift of the flattened plane (`sum_taps_flat`); narrower
    outputs (OW < W) add row segments (`sum_taps_rows`). `sum_taps_kernel` chooses, so a
    compiled plan calls (and compiles) only the one its shapes need.
    """
    sum_taps_kernel(W, OW)(y, out, b, box, W, OW, act, alpha, beta)


def sum_taps_kernel(W, OW):
    """The kernel `sum_taps` runs for planes W wide and outputs OW wide."""
    return sum_taps_flat if OW == W else sum_taps_rows


@jit(twin=conv_numpy.sum_taps)
def sum_taps_flat(y, out, b, box, W, OW, act, alpha, beta):
    """sum_taps when OW == W: the sum runs in blocks of the flat output that stay in L1 while
    every tap is added. The flat shift wraps into the neighbouring row at the borders: plane
    columns a tap never reads legitimately are zeroed first (y is clobbered)."""
    M = out.shape[0]
    T = box.shape[0]
    for m in range(M):
        o = out[m]
        for t in range(T):
            plane = y[t * M + m]
            oh_lo, oh_hi, ow_lo, ow_hi, off_h, off_w = box[t]
            for c in range(W):
                if c < ow_lo + off_w or c >= ow_hi + off_w:
                    for ih in range(oh_lo + off_h, oh_hi + off_h):
                        plane[ih * W + c] = 0
        n = o.shape[0]
        for p0 in range(0, n, _BLOCK):
            p1 = p0 + _BLOCK if p0 + _BLOCK < n else n
            _fill_span(o, p0, p1 - p0, 0)
            for t in range(T):
                oh_lo, oh_hi, ow_lo, ow_hi, off_h, off_w = box[t]
                a = oh_lo * W + ow_lo
                a = a if a > p0 else p0
                e = (oh_hi - 1) * W + ow_hi
                e = e if e < p1 else p1
                if a < e:
                    _add_shifted(o, y[t * M + m], a, a + off_h * W + off_w, e - a)
            bias_activation_span(o, p0, p1, b[m], act, alpha, beta)


@jit(twin=conv_numpy.sum_taps)
def sum_taps_rows(y, out, b, box, W, OW, act, alpha, beta):
    """sum_taps for any OW <= W: each tap adds one row segment per output row."""
    M = out.shape[0]
    for m in range(M):
        o = out[m]
        _fill_span(o, 0, o.shape[0], 0)
        for t in range(box.shape[0]):
            oh_lo, oh_hi, ow_lo, ow_hi, off_h, off_w = box[t]
            for oh in range(oh_lo, oh_hi):
                _add_shifted(o, y[t * M + m], oh * OW + ow_lo, (oh + off_h) * W + ow_lo + off_w,
                             ow_hi - ow_lo)
        bias_activation_row(o, b[m], act, alpha, beta)


def tap_boxes(KH, KW, dil_h, dil_w, pad_top, pad_left, H, W, OH, OW):
    """(KH*KW, 6) int64, per tap t = kh*KW + kw: the outputs it reaches, oh in [box[t, 0],
    box[t, 1]) and ow in [box[t, 2], box[t, 3]) (all zero when none), and its offsets off_h,
    off_w (box[t, 4:6]). Made once per shape, in Python: a compiled plan passes it as a
    constant, so the kernels neither build nor allocate it."""
    box = np.zeros((KH * KW, 6), np.int64)
    for t in range(KH * KW):
        off_h = (t // KW) * dil_h - pad_top
        off_w = (t % KW) * dil_w - pad_left
        oh_lo, oh_hi = valid_range(off_h, 1, H, OH)
        ow_lo, ow_hi = valid_range(off_w, 1, W, OW)
        if oh_lo < oh_hi and ow_lo < ow_hi:
            box[t, :4] = oh_lo, oh_hi, ow_lo, ow_hi
        box[t, 4:] = off_h, off_w
    return box


_BLOCK = 1024


@helper
def _fill_span(dst, d0, cnt, value):
    """dst[d0:d0+cnt] = value (unsigned indices, vectorises)."""
    ud = np.uint64(d0)
    for j in range(cnt):
        dst[ud + np.uint64(j)] = value


@helper
def _add_shifted(dst, src, d0, s0, cnt):
    """dst[d0:d0+cnt] += src[s0:s0+cnt] (unsigned indices: no wraparound check, vectorises)."""
    ud = np.uint64(d0)
    us = np.uint64(s0)
    for j in range(cnt):
        u = np.uint64(j)
        dst[ud + u] += src[us + u]


def choose_conv2d_algorithm(C, M, group, KH, KW, OH, OW, stride_h=1, stride_w=1, H=None,
                            W=None, pad_top=0, pad_left=0):
    """The 2-D kernel for a conv of this shape (batch-independent): "direct", "flat", "taps",
    "im2col" or "gather" (im2col with `fill_im2col_gather`). H, W default to a 'same' output.

    Measured single-threaded, float32, on KWS / wake-word / ResNet shapes. BLAS runs at 60-80
    GFLOP/s but costs ~10 us of Python and fill per call; direct loops run at 2-7 GFLOP/s.
    - one input channel per group, stride 1, OW == W (depthwise): "flat" (long vector loops);
    - stride 1, group 1, C >= 16, M <~ C, a big enough plane: "taps" (no im2col copy);
    - other depthwise-like groups (MG*K < 256) and tiny convs (< 8k MACs): "direct";
    - the rest im2col + GEMM, gathering when output rows are short (< 16): per-row segment
      copies cost ~5 ns each.
    """
    H = OH if H is None else H
    W = OW if W is None else W
    CG, MG = C // group, M // group
    K = CG * KH * KW
    stride1 = stride_h == 1 and stride_w == 1
    pointwise = KH == KW == 1 and stride1 and pad_top == pad_left == 0 and (OH, OW) == (H, W)
    if pointwise and MG * K * OH * OW >= 8192:
        return "im2col"
    if CG == 1 and group > 1 and stride1 and OW == W:
        return "flat"
    if (group == 1 and stride1 and KH * KW > 1 and C >= 16 and OH * OW >= 128
            and 2 * M * H * W <= 3 * C * OH * OW):
        return "taps"
    if group > 1 and MG * K < 256:
        return "direct"
    if OH == 1 and KH == 1 and MG * K <= 256:
        return "direct"
    if MG * K * OH * OW < 8192:
        return "direct"
    return "gather" if OW < 16 else "im2col"


@jit(twin=conv_numpy.conv3d_direct)
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


@jit(twin=conv_numpy.conv_transpose2d)
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
