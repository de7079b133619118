"""Normalisation: BatchNormalization, InstanceNormalization, LayerNormalization,
GroupNormalization, LRN, MeanVarianceNormalization, LpNormalization.

Statistics are accumulated in float64 (float32 sums over long rows drift past onnxruntime's
tolerance); outputs keep the input dtype. Parameters must match the channel count exactly:
a wrong-length scale would otherwise broadcast silently or read out of bounds in a kernel.
Batch (inference), instance and layer normalisation also `emit` into compiled plans as calls
of the same kernels, on float32/float64 inputs.
"""
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..fact import Fact
from ..kernels import norm as knorm
from .base import Op, fail, mixes_along, need_rank, normalize_axis
from .conv import FLOATS, compute_dtype
from .registry import register


def _check_float(fact, what):
    if fact.dtype not in FLOATS:
        fail(f"{what} must be float16/float32/float64, got {fact}")


def _check_param(fact, what, shape):
    """A per-channel parameter must have exactly `shape` when both are known."""
    if fact is None:
        return
    _check_float(fact, what)
    if fact.rank != len(shape) or any(isinstance(a, int) and isinstance(b, int) and a != b
                                      for a, b in zip(fact.shape, shape)):
        fail(f"{what} must have shape [{','.join(str(d) for d in shape)}], got {fact}")


def _check_lengths(c, **params):
    """Run-time guard before a kernel indexes parameters by channel (symbolic C is unchecked
    at analysis)."""
    for name, p in params.items():
        if p.shape != (c,):
            fail(f"{name} must have shape [{c}] for input channels C={c}, got {list(p.shape)}")


def _channel_view(param, ndim):
    """(C,) -> (1, C, 1, ...) for broadcasting against an (N, C, ...) array."""
    return param.reshape((1, -1) + (1,) * (ndim - 2))


def _as_rows(x, rows):
    """x in its kernel dtype, viewed as (rows, -1) (or (N, C, L) when rows is a tuple)."""
    shape = rows if isinstance(rows, tuple) else (rows, -1)
    return np.ascontiguousarray(x, dtype=compute_dtype(x.dtype)).reshape(shape)


KERNEL_TYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _emit_channel_params(e, first, c) -> list:
    """Names of inputs first.. as (C,) float64 arrays: constants converted once and bound,
    run-time inputs converted in the generated code (their facts are checked to be (C,))."""
    names = []
    for i in range(first, len(e.ins)):
        value = e.const(i)
        if value is not None:
            names.append(e.constant(np.ascontiguousarray(value.reshape(c), dtype=np.float64)))
        else:
            names.append(f"{e.view(e.ins[i], (c,))}.astype(np.float64)")
    return names


def _emit_ncl(op, e, kernel, n_params) -> bool:
    """`emit` of a normalisation over an (N, C, L) view with per-channel parameters."""
    x = e.in_facts[0]
    if x.dtype not in KERNEL_TYPES or len(e.ins) != n_params + 1 or None in e.ins \
            or len(e.outs) != 1 or x.rank < 2 or not math.prod(x.shape):
        return False
    if any(f.shape != x.shape[1:2] for f in e.in_facts[1:]):
        return False
    ncl = (x.shape[0], x.shape[1], math.prod(x.shape[2:]))
    params = _emit_channel_params(e, 1, x.shape[1])
    buf = e.buffer(0)
    e.line(f"{e.kernel(kernel)}({e.view(e.ins[0], ncl)}, "
           f"{', '.join(params)}, {e.view(buf, ncl)}, {float(op.epsilon)!r})")
    return True


def _stats(x, axes):
    """(mean, variance) in float64 over `axes`, kept as size-1 axes."""
    xd = x.astype(np.float64)
    mean = xd.mean(axis=axes, keepdims=True)
    var = np.square(xd - mean).mean(axis=axes, keepdims=True)
    return mean, var


@register("BatchNormalization", since=1)
@dataclass(frozen=True)
class BatchNormalization(Op):
    """Inference form, plus opset-14+ training_mode (batch statistics, updated running stats).

    Opsets < 7 `spatial=0` give per-activation parameters of shape X.shape[1:]."""
    streams = "follows"
    epsilon: float = 1e-5
    momentum: float = 0.9
    spatial: int = 1
    is_test: int = 0
    training_mode: int = 0
    ignored_attrs: ClassVar[tuple] = ("consumed_inputs",)

    def infer(self, inputs, ctx):
        if len([f for f in inputs if f is not None]) != 5:
            fail("takes 5 inputs: X, scale, B, input_mean, input_var")
        x = inputs[0]
        need_rank(x, "input X", min_rank=2)
        _check_float(x, "input X")
        shape = x.shape[1:2] if self.spatial else x.shape[1:]
        for what, fact in zip(("scale", "B", "input_mean", "input_var"), inputs[1:]):
            _check_param(fact, what, shape)
        outs = [Fact(x.dtype, x.shape)]
        if ctx.n_outputs > 1:
            if not self.training_mode:
                fail("the running-statistics outputs need training_mode=1 (opset >= 14)")
            outs += [Fact(inputs[3].dtype, inputs[3].shape), Fact(inputs[4].dtype, inputs[4].shape)]
        return outs

    def eval(self, x, scale, bias, mean, var):
        if self.training_mode:
            return self._train(x, scale, bias, mean, var)
        return (self._normalize(x, scale, bias, mean, var),)

    def _normalize(self, x, scale, bias, mean, var):
        if self.spatial and x.ndim > 1 and x.size:
            _check_lengths(x.shape[1], scale=scale, B=bias, input_mean=mean, input_var=var)
            xk = _as_rows(x, (x.shape[0], x.shape[1], -1))
            out = np.empty_like(xk)
            params = (p.astype(np.float64) for p in (scale, bias, mean, var))
            knorm.batch_norm_inference(xk, *params, out, float(self.epsilon))
            return out.reshape(x.shape).astype(x.dtype, copy=False)
        view = (lambda p: _channel_view(p, x.ndim)) if self.spatial else (lambda p: p[None])
        inv = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + self.epsilon)
        shift = bias.astype(np.float64) - mean.astype(np.float64) * inv
        ct = np.float64 if x.dtype == np.float64 else np.float32
        y = x.astype(ct, copy=False) * view(inv.astype(ct)) + view(shift.astype(ct))
        return y.astype(x.dtype, copy=False)

    def _train(self, x, scale, bias, mean, var):
        axes = (0, *range(2, x.ndim))
        batch_mean, batch_var = (s.reshape(-1) for s in _stats(x, axes))
        y = self._normalize(x, scale, bias, batch_mean, batch_var)
        m = self.momentum
        running_mean = (mean * m + batch_mean * (1 - m)).astype(mean.dtype)
        running_var = (var * m + batch_var * (1 - m)).astype(var.dtype)
        return y, running_mean, running_var

    def emit(self, e):
        """Inference form over the channel axis only (training and spatial=0 stay interpreted)."""
        if self.training_mode or not self.spatial:
            return False
        return _emit_ncl(self, e, knorm.batch_norm_inference, 4)


@register("InstanceNormalization", since=1)
@dataclass(frozen=True)
class InstanceNormalization(Op):
    epsilon: float = 1e-5
    ignored_attrs: ClassVar[tuple] = ("consumed_inputs",)

    def infer(self, inputs, ctx):
        x, scale, bias = inputs
        need_rank(x, "input X", min_rank=3)
        _check_float(x, "input X")
        _check_param(scale, "scale", x.shape[1:2])
        _check_param(bias, "B", x.shape[1:2])
        return [Fact(x.dtype, x.shape)]

    def eval(self, x, scale, bias):
        if not x.size:
            return (x.copy(),)
        _check_lengths(x.shape[1], scale=scale, B=bias)
        xk = _as_rows(x, (x.shape[0], x.shape[1], -1))
        out = np.empty_like(xk)
        knorm.instance_norm(xk, scale.astype(np.float64), bias.astype(np.float64), out,
                            float(self.epsilon))
        return (out.reshape(x.shape).astype(x.dtype, copy=False),)

    def emit(self, e):
        if e.in_facts[0].rank < 3:
            return False
        return _emit_ncl(self, e, knorm.instance_norm, 2)


@register("LayerNormalization", since=17)
@dataclass(frozen=True)
class LayerNormalization(Op):
    """Normalise over axes [axis, rank); Mean/InvStdDev keep size-1 axes there, in the stash
    type (float32 unless stash_type says otherwise, as ONNX's inference rule)."""
    streams = "follows"
    
    def stream_refusal(self, axis, facts):
        return mixes_along(axis, self.axis, facts[0].rank, from_axis_on=True)
    
    axis: int = -1
    epsilon: float = 1e-5
    stash_type: int = 1
    _cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    def infer(self, inputs, ctx):
        x, scale, bias = (list(inputs) + [None])[:3]
        need_rank(x, "input X", min_rank=1)
        _check_float(x, "input X")
        axis = normalize_axis(self.axis, x.rank)
        for what, p in (("Scale", scale), ("B", bias)):
            if p is not None and (p.dtype != x.dtype or p.rank > x.rank - axis
                                  or not _broadcasts_to(p.shape, x.shape[axis:])):
                fail(f"{what} must be {x.dtype} and broadcast to the normalised axes "
                     f"{list(x.shape[axis:])}, got {p}")
        stats = Fact(self.stash_dtype(x.dtype), (*x.shape[:axis], *([1] * (x.rank - axis))))
        return [Fact(x.dtype, x.shape), stats, stats][:max(1, ctx.n_outputs)]

    def stash_dtype(self, dtype):
        return np.dtype(np.float32) if self.stash_type == 1 else np.dtype(dtype)

    def eval(self, x, scale, bias=None):
        axis = normalize_axis(self.axis, x.ndim)
        rows = int(np.prod(x.shape[:axis]))
        stats_shape = (*x.shape[:axis], *([1] * (x.ndim - axis)))
        stash = self.stash_dtype(x.dtype)
        mean, inv_std = np.empty(rows, stash), np.empty(rows, stash)
        if not x.size:
            return x.copy(), mean.reshape(stats_shape), inv_std.reshape(stats_shape)
        xk = _as_rows(x, rows)
        scale_row, bias_row = self._params(scale, bias, x.shape[axis:], xk.dtype)
        out = np.empty_like(xk)
        knorm.layer_norm_rows(xk, scale_row, bias_row, out, float(self.epsilon), mean, inv_std)
        return (out.reshape(x.shape).astype(x.dtype, copy=False), mean.reshape(stats_shape),
                inv_std.reshape(stats_shape))

    def _params(self, scale, bias, shape, dtype):
        """Scale and bias broadcast to one full row, prepared once per constant pair."""
        cached = self._cache.get("params")
        if cached and cached[0] is scale and cached[1] is bias and cached[2] == (shape, dtype):
            return cached[3]
        try:
            rows = tuple(np.ascontiguousarray(np.broadcast_to(p, shape), dtype=dtype).reshape(-1)
                         for p in (scale, np.zeros((), dtype) if bias is None else bias))
        except ValueError:
            fail(f"Scale {list(scale.shape)} / B do not broadcast to the normalised axes {list(shape)}")
        self._cache["params"] = (scale, bias, (shape, dtype), rows)
        return rows

    def emit(self, e):
        """One layer_norm_rows call over the (rows, cols) view; Mean and InvStdDev are written
        when the node has them."""
        x = e.in_facts[0]
        if x.dtype not in KERNEL_TYPES or x.rank == 0 or not math.prod(x.shape):
            return False
        axis = normalize_axis(self.axis, x.rank)
        rows, cols = math.prod(x.shape[:axis]), math.prod(x.shape[axis:])
        params = [self._emit_row_param(e, i, x.shape[axis:], x.dtype) for i in (1, 2)]
        if None in params:
            return False
        buf = e.buffer(0)
        stats = [e.view(e.buffer(j), (rows,)) if j < len(e.outs) and e.out_facts[j]
                 else "None" for j in (1, 2)]
        x2 = e.view(e.ins[0], (rows, cols))
        e.line(f"{e.kernel(knorm.layer_norm_rows)}({x2}, {', '.join(params)}, "
               f"{e.view(buf, (rows, cols))}, {float(self.epsilon)!r}, "
               f"{', '.join(stats)})")
        return True

    @staticmethod
    def _emit_row_param(e, i, shape, dtype):
        """Scale (i = 1) or bias (i = 2) as one full (cols,) row, or None when it cannot be.
        Constants are broadcast once and bound; a run-time input must have the full shape."""
        cols = math.prod(shape)
        present = i < len(e.ins) and e.ins[i] is not None
        value = e.const(i) if present else np.zeros((), dtype)
        if value is not None:
            try:
                row = np.ascontiguousarray(np.broadcast_to(value, shape), dtype=dtype).reshape(-1)
            except ValueError:
                return None
            return e.constant(row)
        fact = e.in_facts[i]
        if fact.dtype != dtype or tuple(fact.shape) != tuple(shape):
            return None
        return e.view(e.ins[i], (cols,))


@register("GroupNormalization", since=18)
@dataclass(frozen=True)
class GroupNormalization(Op):
    """Opset 18 takes one scale/bias per group; opset 21 one per channel."""
    epsilon: float = 1e-5
    num_groups: int = 1
    stash_type: int = 1
    per_channel: ClassVar[bool] = False

    def infer(self, inputs, ctx):
        x, scale, bias = inputs
        need_rank(x, "input X", min_rank=3)
        _check_float(x, "input X")
        c = x.shape[1]
        if self.num_groups < 1 or (isinstance(c, int) and c % self.num_groups):
            fail(f"channels C={c} must be a multiple of num_groups={self.num_groups}")
        shape = (c,) if self.per_channel else (self.num_groups,)
        _check_param(scale, "scale", shape)
        _check_param(bias, "bias", shape)
        return [Fact(x.dtype, x.shape)]

    def eval(self, x, scale, bias):
        n, c = x.shape[:2]
        grouped = x.reshape(n, self.num_groups, -1)
        mean, var = _stats(grouped, (2,))
        y = ((grouped - mean) / np.sqrt(var + self.epsilon)).reshape(x.shape)
        if not self.per_channel:
            scale, bias = (np.repeat(p, c // self.num_groups) for p in (scale, bias))
        y = y * _channel_view(scale.astype(np.float64), x.ndim) + _channel_view(bias, x.ndim)
        return (y.astype(x.dtype),)


@register("GroupNormalization", since=21)
@dataclass(frozen=True)
class GroupNormalization21(GroupNormalization):
    per_channel: ClassVar[bool] = True


@dataclass(frozen=True)
class _SameShape(Op):
    min_rank: ClassVar[int] = 1

    def infer(self, inputs, ctx):
        x = inputs[0]
        need_rank(x, "input X", min_rank=self.min_rank)
        _check_float(x, "input X")
        return [Fact(x.dtype, x.shape)]


@register("LRN", since=1)
@dataclass(frozen=True)
class LRN(_SameShape):
    """x / (bias + alpha/size * sum of x^2 over a channel window)^beta; the window spans
    floor((size-1)/2) channels before and ceil((size-1)/2) after."""
    alpha: float = 1e-4
    beta: float = 0.75
    bias: float = 1.0
    size: int = 1
    min_rank: ClassVar[int] = 3

    def eval(self, x):
        if self.size < 1:
            fail(f"size must be positive, got {self.size}")
        c = x.shape[1]
        sq = np.square(x.astype(compute_dtype(x.dtype)))
        window = np.zeros_like(sq)
        # shifts of c or more reach no channel: clamping the range keeps a huge size cheap
        for shift in range(max(-((self.size - 1) // 2), -c), min(self.size // 2, c) + 1):
            lo, hi = max(0, -shift), min(c, c - shift)    # channels whose neighbour exists
            if lo < hi:
                window[:, lo:hi] += sq[:, lo + shift:hi + shift]
        y = x / (self.bias + (self.alpha / self.size) * window) ** self.beta
        return (y.astype(x.dtype),)


@register("MeanVarianceNormalization", since=9)
@dataclass(frozen=True)
class MeanVarianceNormalization(_SameShape):
    axes: tuple = (0, 2, 3)

    def eval(self, x):
        axes = tuple(normalize_axis(a, x.ndim, "axes entry") for a in self.axes)
        mean, var = _stats(x, axes)
        return (((x - mean) / (np.sqrt(var) + 1e-9)).astype(x.dtype),)


@register("LpNormalization", since=1)
@dataclass(frozen=True)
class LpNormalization(_SameShape):
    streams = "follows"
    axis: int = -1
    p: int = 2

    def infer(self, inputs, ctx):
        if self.p not in (1, 2):
            fail(f"p must be 1 or 2, got {self.p}")
        normalize_axis(self.axis, inputs[0].rank)
        return super().infer(inputs, ctx)

    def eval(self, x):
        xd = x.astype(np.float64)
        norm = np.abs(xd).sum(axis=self.axis, keepdims=True) if self.p == 1 else \
            np.sqrt(np.square(xd).sum(axis=self.axis, keepdims=True))
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(norm == 0, 0.0, xd / norm)   # 0/0 is 0, as the ONNX tests say
        return (y.astype(x.dtype),)


def _broadcasts_to(shape, target) -> bool:
    """False only when a dim of `shape` provably cannot stretch to `target`'s (onnxruntime
    and onnx's reference refuse an empty Scale for a non-empty axis)."""
    for have, want in zip(reversed(tuple(shape)), reversed(tuple(target))):
        if isinstance(have, int) and isinstance(want, int) and have not in (1, want):
            return False
    return True
