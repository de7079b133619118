"""Convolutions: Conv (1-D/2-D/3-D, with an optional fused activation), ConvInteger, ConvTranspose.

`SlidingWindow` holds the attributes and output-size arithmetic that pooling shares. Sizes are
written once for ints and symbolic Dims: `(S - 512) // 160 + 1` comes out of the same formula
that sizes a concrete run. Run-time geometry (pads, output sizes, algorithm) is computed once
per input shape and cached on the op; weights are made contiguous in the compute dtype once.
"""
import math
import threading
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .. import dims
from ..errors import ResourceError
from ..fact import Fact
from ..kernels import activation_codes as act_codes
from ..kernels import conv as kconv
from .base import Op, build_from_attrs, fail, need_rank
from .conv_emit import emit_conv
from .registry import register

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "")
FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def compute_dtype(dtype) -> np.dtype:
    """Kernels run in float32/float64; float16 is computed in float32 and rounded back."""
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


MAX_WINDOW_WORK = 1 << 32   # kernel taps x output positions, per channel: beyond any real model


def window_geometry(sizes, kernel, strides, dilations, pads, auto_pad, ceil_mode=False):
    """(begin pads, end pads, output sizes) per spatial axis, for ints or Dims alike."""
    r = len(sizes)
    begins, ends, outs = [], [], []
    for i, n in enumerate(sizes):
        s, eff = strides[i], (kernel[i] - 1) * dilations[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out = (n + s - 1) // s
            b, e = _split_pad(dims.dmax(0, (out - 1) * s + eff - n), auto_pad)
        else:
            b, e = (0, 0) if auto_pad == "VALID" else (pads[i], pads[i + r])
            out = _out_size(n + b + e - eff, s, eff - e, ceil_mode)
        begins.append(b)
        ends.append(e)
        outs.append(out)
    return begins, ends, outs


def _split_pad(total, auto_pad):
    """(begin, end): SAME_UPPER puts the odd pad at the end, anything else at the begin."""
    small = total // 2
    return (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)


def _out_size(span, s, last_limit, ceil_mode):
    """floor(span/s)+1; in ceil mode a last window starting in the end pad is dropped."""
    if not ceil_mode:
        return span // s + 1
    steps = (span + s - 1) // s
    slack = (-span) % s    # (steps*s - span): the last window starts in the end pad iff >= limit
    if isinstance(slack, int):
        return steps + 1 - (1 if slack >= last_limit else 0)
    return steps + 1 - dims.dmin(1, dims.dmax(0, slack - last_limit + 1))


def check_sizes(outs, what="input"):
    for i, o in enumerate(outs):
        if isinstance(o, int) and o < 1:
            fail(f"{what} is too small for the window along spatial axis {i}: output size {o}")


@dataclass(frozen=True)
class SlidingWindow(Op):
    """Attributes every windowed op shares; empty tuples mean the ONNX defaults."""
    auto_pad: str = "NOTSET"
    dilations: tuple = ()
    kernel_shape: tuple = ()
    pads: tuple = ()
    strides: tuple = ()
    _cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)
    window_fill: ClassVar[float] = 0.0     # "window" streaming: the pre-roll and padding value

    def window_kernel(self, facts):
        return tuple(self.kernel_shape)

    def window_along(self, facts):
        """(kernel, strides, dilations, begins, ends) over the (whole-signal) input facts:
        what "window" streaming reads to size its delay line."""
        kernel = self.window_kernel(facts)
        return self.geometry(facts[0].shape[2:], kernel, getattr(self, "ceil_mode", 0))[:5]

    def window_refusal(self, padded):
        """Why the window cannot stream along a time axis (`padded`: it has padding), or None."""
        return None

    def window(self, r, kernel):
        """(kernel, strides, dilations, pads) normalised and checked for `r` spatial axes."""
        if self.auto_pad not in AUTO_PADS:
            fail(f"auto_pad must be one of {', '.join(AUTO_PADS[:4])}, got {self.auto_pad!r}")
        kernel = tuple(kernel)
        if self.kernel_shape and tuple(self.kernel_shape) != kernel:
            fail(f"kernel_shape {list(self.kernel_shape)} does not match the weights' {list(kernel)}")
        strides = self.strides or (1,) * r
        dilations = self.dilations or (1,) * r
        pads = self.pads or (0,) * (2 * r)
        for name, values, n in (("kernel_shape", kernel, r), ("strides", strides, r),
                                ("dilations", dilations, r), ("pads", pads, 2 * r)):
            if len(values) != n or not all(isinstance(v, int) for v in values):
                fail(f"{name} {list(values)} must hold {n} integers for {r} spatial axes")
            if any(v < (0 if name == "pads" else 1) for v in values):
                fail(f"{name} {list(values)} must be {'>= 0' if name == 'pads' else 'positive'}")
        return kernel, strides, dilations, pads

    def geometry(self, sizes, kernel, ceil_mode=False):
        kernel, strides, dilations, pads = self.window(len(sizes), kernel)
        begins, ends, outs = window_geometry(sizes, kernel, strides, dilations, pads,
                                             self.auto_pad, ceil_mode)
        work = math.prod(outs) * math.prod(kernel)
        if isinstance(work, int) and work > MAX_WINDOW_WORK:
            raise ResourceError(f"{len(outs)}-D windows of {list(kernel)} over an output of "
                                f"{list(outs)} would take {work} steps per channel (pads "
                                f"{list(pads)}); at most {MAX_WINDOW_WORK} are allowed")
        return kernel, strides, dilations, begins, ends, outs


class _ConvPlan:
    """How one Conv call runs for one input shape and dtype: the algorithm (see
    `kernels.conv.choose_conv2d_algorithm`), its scalar arguments, its scratch shape (None
    without one), the im2col gather index (None for the segment fill), and whether 1-D runs as
    2-D (H == KH == 1)."""
    __slots__ = ("out_shape", "dtype", "input_dtype", "as_2d", "algorithm", "args",
                 "scratch_shape", "index", "lean", "fill_args", "fused", "cols")


class _Weights:
    """Weights and bias in the compute dtype, contiguous, prepared once per constant array;
    `taps` (conv2d_taps layout) and `w2` (the GEMM's (M, K) matrix) are made when a plan first
    needs them; `copies` maps output channels to distinct filters (None when all are)."""
    __slots__ = ("w", "b", "copies", "taps", "w2", "source")

    def __init__(self, w, b, copies=None, source=None):
        self.w, self.b, self.copies, self.source = w, b, copies, source
        self.taps = self.w2 = None


@register("Conv", since=1)
@dataclass(frozen=True)
class Conv(SlidingWindow):
    streams = "window"
    
    def window_kernel(self, facts):
        return tuple(facts[1].shape[2:])
    
    group: int = 1
    # a scalar function of kernels/scalar.py ("relu", "leaky_relu_max"...) after the bias, its
    # parameters alpha, beta: fused by pulsar.passes.conv_fusion, never an ONNX attribute
    activation: str = ""
    alpha: float = 0.0
    beta: float = 0.0
    hidden_fields: ClassVar[tuple] = ("activation", "alpha", "beta", "_cache")
    dtypes: ClassVar[tuple] = FLOATS
    dtype_text: ClassVar[str] = "float"

    @classmethod
    def from_onnx(cls, attrs, ctx):
        hidden = [k for k in attrs if k in cls.hidden_fields]
        if hidden:
            fail(f"unsupported attribute(s) {', '.join(hidden)}")
        return build_from_attrs(cls, attrs, ctx)

    def infer(self, inputs, ctx):
        x, w, b = (list(inputs) + [None])[:3]
        need_rank(x, "input X", min_rank=3)
        need_rank(w, "weights W", rank=x.rank)
        if x.dtype not in self.dtypes or w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
            fail(f"X, W and B must share one {self.dtype_text} dtype, got X {x}, W {w}, B {b}")
        if not all(isinstance(k, int) for k in w.shape[2:]):
            fail(f"the kernel size must be known: weights W are {w}")
        _check_channels(x.shape[1], w.shape[0], w.shape[1], self.group, b)
        *_, outs = self.geometry(x.shape[2:], w.shape[2:])
        check_sizes(outs)
        return [Fact(self.out_dtype(x.dtype), (x.shape[0], w.shape[0], *outs))]

    def out_dtype(self, dtype):
        return dtype

    def eval(self, x, w, b=None):
        plan = self._cache.get((x.shape, w.shape, x.dtype))
        if plan is None:
            plan = self._plan(x.shape, w.shape, x.dtype)
        weights = self._cache.get("weights")
        if weights is None or weights.source[0] is not w or weights.source[1] is not b \
                or weights.source[2] is not plan.dtype:
            weights = self._weights(w, b, plan.dtype)
        if x.dtype is not plan.dtype or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, dtype=plan.dtype)
        if weights.copies is None:
            out = np.empty(plan.out_shape, dtype=plan.dtype)
            self._run(x, weights, out, plan)
        else:
            distinct = np.empty((plan.out_shape[0], weights.w.shape[0], *plan.out_shape[2:]),
                                plan.dtype)
            self._run(x, weights, distinct, plan)
            out = np.take(distinct, weights.copies, axis=1)
        return (out if out.dtype == plan.input_dtype else out.astype(plan.input_dtype),)

    def emit(self, e):
        return emit_conv(self, e)

    def _plan(self, x_shape, w_shape, dtype) -> _ConvPlan:
        key = (x_shape, w_shape, dtype)
        plan = self._cache.get(key)
        if plan is None:
            plan = self._cache[key] = self._new_plan(x_shape, w_shape, dtype)
        return plan

    def _new_plan(self, x_shape, w_shape, dtype):
        if len(w_shape) != len(x_shape) or len(x_shape) < 3:
            fail(f"X {list(x_shape)} and W {list(w_shape)} must have one rank >= 3")
        if len(x_shape) > 5:
            fail(f"only 1-D, 2-D and 3-D convolutions are supported, X is {list(x_shape)}")
        _check_channels(x_shape[1], w_shape[0], w_shape[1], self.group, None)
        _, strides, dilations, begins, _, outs = self.geometry(x_shape[2:], w_shape[2:])
        check_sizes(outs)
        plan = _ConvPlan()
        plan.out_shape, plan.dtype = (x_shape[0], w_shape[0], *outs), compute_dtype(dtype)
        plan.input_dtype = dtype
        plan.as_2d = len(outs) == 1
        fused = (act_codes.CODES[self.activation], float(self.alpha), float(self.beta))
        plan.scratch_shape = plan.index = plan.cols = None
        plan.fused, plan.lean = fused, False
        if len(outs) == 3:
            plan.algorithm = "conv3d"
            plan.args = (*strides, *dilations, *begins, self.group, *fused)
            return plan
        sizes, kernel = x_shape[2:], w_shape[2:]
        if plan.as_2d:
            strides, dilations, begins = (1, *strides), (1, *dilations), (0, *begins)
            outs, sizes, kernel = (1, *outs), (1, *sizes), (1, *kernel)
        C, M = x_shape[1], w_shape[0]
        plan.algorithm = kconv.choose_conv2d_algorithm(C, M, self.group, *kernel, *outs,
                                                       *strides, *sizes, *begins)
        if plan.algorithm == "taps":
            plan.args = (*kernel, *dilations, *begins, *fused)
            plan.scratch_shape = kconv.taps_scratch_shape(M, *kernel, *sizes)
        elif plan.algorithm == "flat":
            plan.args = (*dilations, *begins, self.group, *fused)
        else:
            plan.args = (*strides, *dilations, *begins, self.group, *fused)
        if plan.algorithm in ("im2col", "gather"):
            plan.scratch_shape = kconv.im2col_scratch_shape(C, self.group, *kernel, *outs)
        if plan.algorithm == "gather":
            plan.index = kconv.im2col_index(*sizes, *kernel, *strides, *dilations, *begins, *outs)
        if plan.algorithm in ("im2col", "gather") and x_shape[0] == 1 and self.group == 1:
            plan.lean = True
            plan.fill_args = (*kernel, *strides, *dilations, *begins, *outs)
            if (tuple(kernel) == tuple(strides) == (1, 1) and not any(begins)
                    and tuple(outs) == tuple(sizes)):
                plan.algorithm, plan.scratch_shape = "pointwise", None
        return plan

    def _weights(self, w, b, dtype) -> _Weights:
        """Contiguous weights/bias in the compute dtype, prepared once per constant array."""
        cached = self._cache.get("weights")
        if cached is not None and cached.source[0] is w and cached.source[1] is b \
                and cached.source[2] == dtype:
            return cached
        if b is not None and b.shape != (w.shape[0],):
            fail(f"bias B must have shape [{w.shape[0]}], got {list(b.shape)}")
        wk = np.ascontiguousarray(w, dtype=dtype)
        bk = np.zeros(w.shape[0], dtype=dtype) if b is None else np.ascontiguousarray(b, dtype=dtype)
        copies = None
        if self.group == 1 and w.shape[0] > 1:
            wk, bk, copies = _distinct_filters(wk, bk)
        prepared = _Weights(wk, bk, copies, (w, b, dtype))
        self._cache["weights"] = prepared
        return prepared

    def _run(self, x, weights, out, plan):
        if plan.lean:
            self._run_gemm(x, weights, out, plan)
            return
        w, b, algorithm, args = weights.w, weights.b, plan.algorithm, plan.args
        if plan.as_2d:
            x, w, out = x[:, :, None], w[:, :, None], out[:, :, None]
        if algorithm == "taps":
            if weights.taps is None:
                weights.taps = kconv.taps_weights(w)
            kconv.conv2d_taps(x, weights.taps, b, out, *args, self._scratch(plan, x.dtype))
        elif algorithm == "flat":
            kconv.conv2d_flat(x, w, b, out, *args)
        elif algorithm == "direct":
            kconv.conv2d_direct(x, w, b, out, *args)
        elif algorithm == "conv3d":
            kconv.conv3d_direct(x, w, b, out, *args)
        else:
            kconv.conv2d_im2col(x, w, b, out, *args, self._scratch(plan, x.dtype), plan.index)

    @staticmethod
    def _run_gemm(x, weights, out, plan):
        """conv2d_im2col for one image and one group, inline: this runs once per conv node
        and step, so its few microseconds of Python matter on KWS-sized layers."""
        if weights.w2 is None:
            weights.w2 = weights.w.reshape(weights.w.shape[0], -1)
        o2 = out.reshape(out.shape[1], -1)
        if plan.algorithm == "pointwise":
            src = x.reshape(x.shape[1], -1)
        else:
            src = Conv._scratch(plan, x.dtype)
            if plan.index is not None:
                kconv.fill_im2col_gather(x.reshape(1, x.shape[1], -1), 0, 0, src, plan.index)
            else:
                kconv.fill_im2col(x[:, :, None] if plan.as_2d else x, 0, 0, src, *plan.fill_args)
        np.dot(weights.w2, src, out=o2)
        kconv.bias_activation_planes(o2, weights.b, *plan.fused)

    @staticmethod
    def _scratch(plan, dtype):
        """The plan's view of this thread's scratch buffer (made again when it was replaced)."""
        cols = plan.cols
        if cols is None or cols.base is not scratch_buffer(dtype):
            cols = plan.cols = scratch(plan.scratch_shape, dtype)
        return cols


def _distinct_filters(w, b):
    """(w, b, None), or the distinct (filter, bias) pairs and where each output channel's copy
    is. Identical filters then give bit-identical channels, as onnxruntime's do; BLAS rounds
    rows differently by their position in a register block, which a following Softmax over
    huge logits turns into a different answer (onnx's constant-weight light models)."""
    rows = np.concatenate([w.reshape(w.shape[0], -1), b[:, None]], axis=1)
    probe = np.cos(np.arange(rows.shape[1])).astype(rows.dtype)   # distinct rows, distinct sums
    _, first, inverse = np.unique(rows @ probe, return_index=True, return_inverse=True)
    if len(first) == w.shape[0]:
        return w, b, None
    if not np.array_equal(rows[first[inverse]], rows, equal_nan=True):
        _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    keep = first[order]
    return np.ascontiguousarray(w[keep]), np.ascontiguousarray(b[keep]), rank[inverse.reshape(-1)]


_SCRATCH = threading.local()


def scratch(shape, dtype) -> np.ndarray:
    """A per-thread scratch buffer shared by every Conv: plans run their steps one at a time on
    a thread, so one buffer of the largest size serves them all without page-faulting anew."""
    n = math.prod(shape)
    buf = scratch_buffer(dtype)
    if buf is None or buf.size < n:
        buf = _SCRATCH.buffers[dtype] = np.empty(n, dtype=dtype)
    return buf[:n].reshape(shape)


def scratch_buffer(dtype):
    """This thread's scratch buffer for `dtype` (None before the first)."""
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = {}
    return buffers.get(dtype)


def _check_channels(c, m, cg, group, b):
    if not isinstance(group, int) or group < 1:
        fail(f"group must be a positive integer, got {group}")
    if isinstance(m, int) and m % group:
        fail(f"output channels M={m} (W's first axis) must be a multiple of group={group}")
    if isinstance(c, int) and isinstance(cg, int) and c != cg * group:
        fail(f"input channels C={c} must equal W's second axis ({cg}) times group ({group})")
    if b is not None and (b.rank != 1 or (isinstance(m, int) and b.shape[0] != m)):
        fail(f"bias B must have shape [{m}], got {b}")


@register("ConvInteger", since=10)
@dataclass(frozen=True)
class ConvInteger(Conv):
    """Integer conv computed exactly in float64 (sums of int8 products stay below 2**53)."""
    dtypes: ClassVar[tuple] = (np.dtype(np.uint8), np.dtype(np.int8))
    dtype_text: ClassVar[str] = "uint8/int8"
    streams = None          # its padding is the zero point, not the zeros a window pre-rolls

    def emit(self, e):
        return False

    def infer(self, inputs, ctx):
        x, w, xz, wz = (list(inputs) + [None] * 2)[:4]
        for name, f in (("x_zero_point", xz), ("w_zero_point", wz)):
            if f is not None and f.rank > 1:
                fail(f"{name} must be a scalar or 1-D, got {f}")
        if x.dtype not in self.dtypes or w.dtype not in self.dtypes:
            fail(f"x and w must be uint8 or int8, got x {x}, w {w}")
        return super().infer([x, Fact(x.dtype, w.shape)], ctx)

    def out_dtype(self, dtype):
        return np.dtype(np.int32)

    def eval(self, x, w, x_zero_point=None, w_zero_point=None):
        xf = x.astype(np.float64)
        wf = w.astype(np.float64)
        if x_zero_point is not None:
            xf -= x_zero_point.astype(np.float64).reshape(-1)[0]
        if w_zero_point is not None:
            wz = w_zero_point.astype(np.float64).reshape(-1)
            wf -= wz.reshape((-1,) + (1,) * (w.ndim - 1)) if wz.size > 1 else wz[0]
        plan = self._plan(x.shape, w.shape, x.dtype)
        weights = _Weights(wf, np.zeros(w.shape[0]))
        out = np.empty(plan.out_shape, dtype=np.float64)
        self._run(xf, weights, out, plan)
        return (np.rint(out).astype(np.int32),)


@register("ConvTranspose", since=1)
@dataclass(frozen=True)
class ConvTranspose(SlidingWindow):
    """Each input frame adds a window of output frames (`stride` apart per input frame): it
    streams by overlap-add along a spatial axis (streaming/rules.py, "transposed_window")."""
    streams = "transposed_window"
    group: int = 1
    output_padding: tuple = ()
    output_shape: tuple = ()

    def window_along(self, facts):
        """(kernel, strides, dilations, begins, ends) over the whole-signal input facts; begins
        and ends are the frames cropped from the full output at each end."""
        kernel = tuple(facts[1].shape[2:])
        kernel, strides, dilations, _ = self.window(len(kernel), kernel)
        begins, ends, _ = self.transpose_geometry(facts[0].shape[2:], kernel)
        return kernel, strides, dilations, begins, ends

    def stream_refusal(self, axis, facts):
        if self.output_shape:
            return (f"its output_shape {list(self.output_shape)} fixes the output length, which "
                    "a stream of any length cannot have; give pads (or auto_pad) instead")
        return None

    def infer(self, inputs, ctx):
        x, w, b = (list(inputs) + [None])[:3]
        need_rank(x, "input X", min_rank=3)
        need_rank(w, "weights W", rank=x.rank)
        if x.dtype not in FLOATS or w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
            fail(f"X, W and B must share one float dtype, got X {x}, W {w}, B {b}")
        if not all(isinstance(k, int) for k in w.shape[2:]):
            fail(f"the kernel size must be known: weights W are {w}")
        m = w.shape[1] * self.group
        _check_transpose_channels(x.shape[1], w.shape[0], self.group)
        _check_channels(None, m, None, self.group, b)
        _, _, outs = self.transpose_geometry(x.shape[2:], w.shape[2:])
        check_sizes(outs)
        return [Fact(x.dtype, (x.shape[0], m, *outs))]

    def transpose_geometry(self, sizes, kernel):
        """(begin pads, end pads, output sizes): explicit pads, or pads derived from the size
        asked for (output_shape, or input * stride for SAME_*), the excess split as ONNX says."""
        r = len(sizes)
        kernel, strides, dilations, pads = self.window(r, kernel)
        extra = self.output_padding or (0,) * r
        wanted = tuple(self.output_shape[-r:]) if self.output_shape else None
        if len(extra) != r or (wanted is not None and len(wanted) != r):
            fail(f"output_padding {list(extra)} / output_shape {list(self.output_shape)} must "
                 f"hold {r} values")
        begins, ends, outs = [], [], []
        for i, n in enumerate(sizes):
            full = strides[i] * (n - 1) + extra[i] + (kernel[i] - 1) * dilations[i] + 1
            if wanted is not None or self.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                out = wanted[i] if wanted is not None else n * strides[i]
                total = dims.dmax(0, full - out)
                b, e = _split_pad(total, self.auto_pad)
            else:
                b, e = (0, 0) if self.auto_pad == "VALID" else (pads[i], pads[i + r])
                out = full - b - e
            begins.append(b)
            ends.append(e)
            outs.append(out)
        return begins, ends, outs

    def eval(self, x, w, b=None):
        key = (x.shape, w.shape)
        geometry = self._cache.get(key)
        if geometry is None:
            geometry = self._cache[key] = self._new_geometry(x.shape, w.shape)
        out_shape, strides, dilations, begins = geometry
        if b is not None and b.shape != out_shape[1:2]:
            fail(f"bias B must have shape [{out_shape[1]}], got {list(b.shape)}")
        dtype = compute_dtype(x.dtype)
        xk = np.ascontiguousarray(x, dtype=dtype)
        wk = np.ascontiguousarray(w, dtype=dtype)
        bk = np.zeros(out_shape[1], dtype) if b is None else np.ascontiguousarray(b, dtype=dtype)
        out = np.empty(out_shape, dtype=dtype)
        if x.ndim == 3:
            kconv.conv_transpose2d(xk[:, :, None], wk[:, :, None], bk, out[:, :, None], 1,
                                   strides[0], 1, dilations[0], 0, begins[0], self.group)
        elif x.ndim == 4:
            kconv.conv_transpose2d(xk, wk, bk, out, *strides, *dilations, *begins, self.group)
        else:
            conv_transpose_numpy(xk, wk, bk, out, strides, dilations, begins, self.group)
        return (out if out.dtype == x.dtype else out.astype(x.dtype),)

    def emit(self, e):
        """The 2-D scatter-add kernel eval calls, 1-D viewed as 2-D, on constant weights."""
        x, y = e.in_facts[0], e.out_facts[0]
        w = e.const(1)
        biased = len(e.ins) > 2 and e.ins[2] is not None
        b = e.const(2) if biased else None
        if w is None or (biased and b is None) or x.rank not in (3, 4) or \
                compute_dtype(x.dtype) != x.dtype:
            return False
        out_shape, strides, dilations, begins = self._new_geometry(tuple(x.shape), w.shape)
        if tuple(y.shape) != out_shape or (b is not None and b.shape != out_shape[1:2]):
            return False
        wk = np.ascontiguousarray(w, dtype=x.dtype)
        bk = np.zeros(out_shape[1], x.dtype) if b is None else np.ascontiguousarray(b, x.dtype)
        xs, out = e.view(e.ins[0], tuple(x.shape)), e.buffer(0)
        if x.rank == 3:
            xs = e.view(e.ins[0], (x.shape[0], x.shape[1], 1, x.shape[2]))
            out = e.view(out, (out_shape[0], out_shape[1], 1, out_shape[2]))
            wk = wk.reshape(wk.shape[0], wk.shape[1], 1, wk.shape[2])
            strides, dilations, begins = (1, *strides), (1, *dilations), (0, *begins)
        args = ", ".join(str(int(v)) for v in (*strides, *dilations, *begins, self.group))
        e.line(f"{e.kernel(kconv.conv_transpose2d)}({xs}, {e.constant(wk)}, {e.constant(bk)}, "
               f"{out}, {args})")
        return True

    def _new_geometry(self, x_shape, w_shape):
        if len(w_shape) != len(x_shape) or len(x_shape) < 3:
            fail(f"X {list(x_shape)} and W {list(w_shape)} must have one rank >= 3")
        _check_transpose_channels(x_shape[1], w_shape[0], self.group)
        kernel, strides, dilations, _ = self.window(len(x_shape) - 2, w_shape[2:])
        begins, _, outs = self.transpose_geometry(x_shape[2:], w_shape[2:])
        check_sizes(outs)
        return (x_shape[0], w_shape[1] * self.group, *outs), strides, dilations, begins


def _check_transpose_channels(c, wc, group):
    if not isinstance(group, int) or group < 1:
        fail(f"group must be a positive integer, got {group}")
    if isinstance(c, int) and isinstance(wc, int) and (c != wc or c % group):
        fail(f"input channels C={c} must equal W's first axis ({wc}) and be a multiple of "
             f"group={group}")


def conv_transpose_numpy(x, w, b, out, strides, dilations, begins, group):
    """Any-rank transposed conv by scatter-add per kernel tap (the 3-D fallback)."""
    r = x.ndim - 2
    cg, mg = x.shape[1] // group, w.shape[1]
    out[...] = b.reshape((1, -1) + (1,) * r)
    for tap in np.ndindex(*w.shape[2:]):
        src, dst = [slice(None)] * 2, [slice(None)] * 2
        for i in range(r):
            off = tap[i] * dilations[i] - begins[i]
            lo = max(0, -(off // strides[i]))
            hi = min(x.shape[2 + i], -((off - out.shape[2 + i]) // strides[i]))
            if hi <= lo:
                break
            src.append(slice(lo, hi))
            dst.append(slice(lo * strides[i] + off, (hi - 1) * strides[i] + off + 1, strides[i]))
        else:
            for g in range(group):
                xs = x[(slice(None), slice(g * cg, (g + 1) * cg), *src[2:])]
                wt = w[(slice(g * cg, (g + 1) * cg), slice(None), *tap)]
                contrib = np.moveaxis(np.tensordot(xs, wt, axes=([1], [0])), -1, 1)
                out[(slice(None), slice(g * mg, (g + 1) * mg), *dst[2:])] += contrib
