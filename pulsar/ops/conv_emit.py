"""Conv in a compiled plan: the same algorithm choice and prepared weights as `Conv.eval`,
written as calls into the same kernels, with the GEMM through kernels/gemm.py.

Weights are prepared once here and bound as arguments; scratch (im2col columns, tap planes) is
preallocated per node. Convs whose weights are not constants, or whose filters repeat (eval
computes each distinct filter once, then copies channels), stay interpreted.
"""
import math

import numpy as np

from ..kernels import conv as kconv
from ..kernels import gemm

NARROW = 16     # output positions up to which dot products beat BLAS (kernels.gemm.dot_rows;
                # A/B on openWakeWord, silero, ML-KWS: 16 beat 4, 32 and 64)

def literal(v) -> str:
    """A Python literal Numba reads back as the same number."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if math.isnan(v):
        return "np.nan"
    if math.isinf(v):
        return "np.inf" if v > 0 else "-np.inf"
    return repr(v)


def emit_conv(op, e) -> bool:
    x, wf = e.in_facts[0], e.in_facts[1]
    w = e.const(1)
    has_bias = len(e.ins) > 2 and e.ins[2] is not None
    b = e.const(2) if has_bias else None
    if w is None or (has_bias and b is None):
        return False
    plan = op._plan(tuple(x.shape), tuple(wf.shape), x.dtype)
    weights = op._weights(w, b, plan.dtype)
    if plan.dtype != x.dtype:
        return False
    if plan.algorithm not in ("conv3d", "flat", "direct") and not gemm.available():
        return False
    final = e.buffer(0)
    if weights.copies is None:
        out = final
    else:       # distinct filters computed once, channels copied after (as eval does)
        out = e.new_buffer((plan.out_shape[0], weights.w.shape[0], *plan.out_shape[2:]), x.dtype)
        _emit_conv_body(op, e, x, plan, weights, out)
        e.copy(final, f"{out}[:, {e.constant(weights.copies.astype(np.int64))}]")
        return True
    _emit_conv_body(op, e, x, plan, weights, out)
    return True


def _emit_conv_body(op, e, x, plan, weights, out):
    """Lines computing the conv of distinct filters `weights` into the buffer `out`."""
    xs = e.view(e.ins[0], x.shape)
    bias = e.constant(weights.b)
    fused = ", ".join(literal(v) for v in plan.fused)
    N, C = x.shape[0], x.shape[1]
    M = weights.w.shape[0]
    if plan.as_2d:
        xs = e.view(e.ins[0], (N, C, 1, x.shape[2]))
        out4 = e.view(out, (N, M, 1, plan.out_shape[2]))
        w4 = weights.w.reshape(M, weights.w.shape[1], 1, weights.w.shape[2])
    else:
        out4, w4 = out, weights.w
    if plan.algorithm in ("conv3d", "flat", "direct"):
        fn = {"conv3d": kconv.conv3d_direct, "flat": kconv.conv2d_flat,
              "direct": kconv.conv2d_direct}[plan.algorithm]
        args = ", ".join(literal(a) for a in plan.args)
        e.line(f"{e.kernel(fn)}({xs}, {e.constant(w4)}, {bias}, {out4}, {args})")
        return
    mm, planes = e.kernel(gemm.matmul_into), e.kernel(kconv.bias_activation_planes)
    spatial = math.prod(plan.out_shape[2:])
    if plan.algorithm == "taps":
        if weights.taps is None:
            weights.taps = kconv.taps_weights(w4)
        KH, KW, dh, dw, pt, pl = plan.args[:6]
        H, W = (1, x.shape[2]) if plan.as_2d else x.shape[2:]
        OW = plan.out_shape[-1]
        y = e.new_buffer(kconv.taps_scratch_shape(M, KH, KW, H, W), x.dtype)
        body = e.loop("n", N)
        e.line(f"{body}{mm}({e.constant(weights.taps)}, {_image(e, e.ins[0], N, (C, H * W))}, "
               f"{y})")
        sum_taps = kconv.sum_taps_kernel(W, OW)
        box = e.constant(kconv.tap_boxes(KH, KW, dh, dw, pt, pl, H, W, spatial // OW, OW))
        e.line(f"{body}{e.kernel(sum_taps)}({y}, {_image(e, out, N, (M, spatial))}, "
               f"{bias}, {box}, {W}, {OW}, {fused})")
        return
    # im2col / gather / pointwise: per image and group, columns then one GEMM
    group = op.group
    MG, CG = M // group, C // group
    w2 = e.constant(np.ascontiguousarray(weights.w.reshape(M, -1)))
    o_n = _image(e, out, N, (M, spatial))      # image n of the output, (M, spatial)
    x4 = e.fresh("x")
    e.line(f"{x4} = {xs}")
    if spatial <= NARROW and group == 1:
        # a product with a few columns: dot products over a transposed copy of the columns
        dots = e.kernel(gemm.dot_rows)
        k = plan.scratch_shape[0] if plan.algorithm != "pointwise" else C
        cols_t = e.new_buffer((spatial, k), x.dtype)
        cols = None if plan.algorithm == "pointwise" else e.new_buffer(plan.scratch_shape, x.dtype)
        body = e.loop("n", N)
        if cols is None:
            e.copy(cols_t, f"{_image(e, x4, N, (C, spatial))}.T", body)
        else:
            _fill_columns(e, plan, x, x4, w4, cols, C, body, "0")
            e.copy(cols_t, f"{cols}.T", body)
        e.line(f"{body}{dots}({w2}, {cols_t}, {o_n})")
    elif plan.algorithm == "pointwise":
        body = e.loop("n", N)
        e.line(f"{body}{mm}({w2}, {_image(e, x4, N, (C, spatial))}, {o_n})")
    else:
        cols = e.new_buffer(plan.scratch_shape, x.dtype)
        body = e.loop("g", group, e.loop("n", N))
        _fill_columns(e, plan, x, x4, w4, cols, C, body, f"g * {CG}")
        if group == 1:
            e.line(f"{body}{mm}({w2}, {cols}, {o_n})")
        else:
            e.line(f"{body}{mm}({w2}[g * {MG}:(g + 1) * {MG}], {cols}, "
                   f"{o_n}[g * {MG}:(g + 1) * {MG}])")
    body = e.loop("n", N)
    e.line(f"{body}{planes}({o_n}, {bias}, {fused})")


def _image(e, src, N, shape) -> str:
    """Source of image n of the batch `src` as a C-contiguous array of `shape`: with a batch of
    one, the view alone, not an index into a batch view (each index is one more array value
    for Numba to type, lower and reference-count)."""
    if N == 1:
        return e.view(src, shape)
    return f"{e.view(src, (N, *shape))}[n]"


def _fill_columns(e, plan, x, x4, w4, cols, C, indent, channel):
    """The line filling `cols` with image n's im2col columns from input channel `channel`."""
    N = x.shape[0]
    if plan.index is not None:
        index = e.constant(plan.index)
        flat = e.view(x4, (N, C, math.prod(x.shape[2:])))
        e.line(f"{indent}{e.kernel(kconv.fill_im2col_gather)}({flat}, n, {channel}, {cols}, {index})")
    else:
        sh, sw, dh, dw, pt, pl = _geometry(plan)
        OH, OW = (1, plan.out_shape[2]) if plan.as_2d else plan.out_shape[2:]
        KH, KW = w4.shape[2:]
        e.line(f"{indent}{e.kernel(kconv.fill_im2col)}({x4}, n, {channel}, {cols}, {KH}, {KW}, "
               f"{sh}, {sw}, {dh}, {dw}, {pt}, {pl}, {OH}, {OW})")


def _geometry(plan):
    """(stride_h, stride_w, dil_h, dil_w, pad_top, pad_left) of an im2col plan."""
    if plan.lean:
        KH, KW, sh, sw, dh, dw, pt, pl = plan.fill_args[:8]
        return sh, sw, dh, dw, pt, pl
    return plan.args[:6]
