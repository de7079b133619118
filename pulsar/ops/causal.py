"""Streaming-shaped recurrences: CausalConvWithState and LinearAttention (opset 27).

Both take a carry (`past_state`, zeros when absent) and return the carry after the input
(`present_state`), so running a sequence in chunks, feeding each chunk the previous present
state, gives the same outputs as one run over the whole sequence. Outputs keep the time axis
of the input (length L or T, symbolic or not); the state shapes do not depend on it.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..fact import Fact
from ..kernels import scalar_numpy
from .attention import is_float, known_differ
from .base import Op, fail
from .registry import register

ACTIVATIONS = ("none", "silu", "swish")
UPDATE_RULES = ("linear", "gated", "delta", "gated_delta")


def _shape_text(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _check_shape(fact, what, shape):
    if fact.rank != len(shape) or any(known_differ(a, b) for a, b in zip(fact.shape, shape)):
        fail(f"{what} must have shape {_shape_text(shape)}, got {fact}")


@register("CausalConvWithState", since=27)
@dataclass(frozen=True)
class CausalConvWithState(Op):
    """Depthwise causal 1-D convolution of (B, C, L) by (C, 1, k), over [past_state, input]
    (k - 1 + L frames); present_state is the last k - 1 frames of that concatenation."""
    activation: str = "none"

    def infer(self, inputs, ctx):
        x, w, bias, past = (list(inputs) + [None] * 2)[:4]
        if self.activation not in ACTIVATIONS:
            fail(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        others = [f for f in (w, bias, past) if f is not None]
        if not is_float(x.dtype) or any(f.dtype != x.dtype for f in others):
            fail(f"input, weight, bias and past_state must share one float dtype, got "
                 f"{', '.join(str(f) for f in inputs if f is not None)}")
        if x.rank != 3 or w.rank != 3:
            fail(f"input must be (B, C, L) and weight (C, 1, k), got {x} and {w}")
        batch, channels, _ = x.shape
        k = w.shape[2]
        if not isinstance(k, int) or k < 1:
            fail(f"the kernel size must be known and >= 1: weight is {w}")
        _check_shape(w, "weight", (channels, 1, k))
        if bias is not None:
            _check_shape(bias, "bias", (channels,))
        state = (batch, channels, k - 1)
        if past is not None:
            _check_shape(past, "past_state", state)
        return [Fact(x.dtype, x.shape), Fact(x.dtype, state)]

    def eval(self, x, w, bias=None, past=None):
        batch, channels, length = x.shape
        k = w.shape[2]
        if w.shape != (channels, 1, k) or (bias is not None and bias.shape != (channels,)) or \
                (past is not None and past.shape != (batch, channels, k - 1)):
            fail(f"weight, bias, past_state do not fit input {list(x.shape)}: weight "
                 f"{list(w.shape)}, bias {None if bias is None else list(bias.shape)}, "
                 f"past_state {None if past is None else list(past.shape)}")
        lead = np.zeros((batch, channels, k - 1), x.dtype) if past is None else past
        padded = np.concatenate((lead, x), axis=2)
        work = padded.astype(np.float64 if x.dtype == np.float64 else np.float32)
        acc = np.zeros((batch, channels, length), work.dtype)
        for tap in range(k):
            acc += w[:, 0, tap].astype(work.dtype)[:, None] * work[:, :, tap:tap + length]
        if bias is not None:
            acc += bias.astype(work.dtype)[:, None]
        out = acc.astype(x.dtype)               # the convolution rounds before the activation
        if self.activation != "none":
            wide = out.astype(work.dtype)
            out = scalar_numpy.swish(wide, 1.0).astype(x.dtype)     # silu is swish, alpha 1
        return out, np.ascontiguousarray(padded[:, :, padded.shape[2] - (k - 1):])


@register("LinearAttention", since=27)
@dataclass(frozen=True)
class LinearAttention(Op):
    """Per step t, for each KV head, on a (d_k, d_v) state S (float32, as onnx's reference):
    gated rules decay S by exp(decay_t); delta rules replace v_t by beta_t * (v_t - S^T k_t);
    then S += k_t v_t^T and o_t = scale * S^T q_t (query heads share a KV head in groups).
    Inputs are packed (B, T, heads * size); `chunk_size` only tunes chunked prefill."""
    chunk_size: int = 64
    kv_num_heads: Optional[int] = None
    q_num_heads: Optional[int] = None
    scale: float = 0.0
    update_rule: str = "gated_delta"

    @property
    def gated(self) -> bool:
        return self.update_rule in ("gated", "gated_delta")

    @property
    def delta(self) -> bool:
        return self.update_rule in ("delta", "gated_delta")

    def infer(self, inputs, ctx):
        q, k, v, past, decay, beta = (list(inputs) + [None] * 3)[:6]
        hq, hkv = self.check_attributes(decay, beta)
        if not all(is_float(f.dtype) for f in inputs if f is not None) or \
                any(f is not None and f.dtype != q.dtype for f in (k, v, decay, beta)):
            fail(f"query, key, value, decay, beta must share one float dtype, got "
                 f"{', '.join(str(f) for f in inputs if f is not None)}")
        if any(f.rank != 3 for f in (q, k, v)):
            fail(f"query, key, value must be packed 3-D (B, T, heads*size), got {q}, {k}, {v}")
        batch, steps = q.shape[:2]
        for what, fact, heads in (("query", q, hq), ("value", v, hkv)):
            if isinstance(fact.shape[2], int) and fact.shape[2] % heads:
                fail(f"{what} hidden size must be a multiple of its {heads} heads, got {fact}")
        d_k, d_v = q.shape[2] // hq, v.shape[2] // hkv
        _check_shape(k, "key", (batch, steps, hkv * d_k))
        _check_shape(v, "value", (batch, steps, v.shape[2]))
        self.check_gates(decay, beta, (batch, steps), hkv, d_k)
        state = (batch, hkv, d_k, d_v)
        if past is not None:
            _check_shape(past, "past_state", state)
        return [Fact(q.dtype, (batch, steps, hq * d_v)),
                Fact(q.dtype if past is None else past.dtype, state)]

    def check_attributes(self, decay, beta):
        hq, hkv = self.q_num_heads, self.kv_num_heads
        if not hq or not hkv or hq < 1 or hkv < 1 or hq % hkv:
            fail(f"q_num_heads ({hq}) must be a positive multiple of kv_num_heads ({hkv}); "
                 "both attributes are required")
        if self.update_rule not in UPDATE_RULES:
            fail(f"update_rule must be one of {', '.join(UPDATE_RULES)}, got {self.update_rule!r}")
        if self.gated != (decay is not None) or self.delta != (beta is not None):
            fail(f"update_rule {self.update_rule!r} takes decay: {self.gated}, beta: "
                 f"{self.delta}; got decay {decay}, beta {beta}")
        return hq, hkv

    def check_gates(self, decay, beta, lead, hkv, d_k):
        if decay is not None and (decay.rank != 3 or
                                  all(known_differ(decay.shape[2], n) for n in (hkv, hkv * d_k))):
            fail(f"decay must be (B, T, {hkv}) or (B, T, {hkv * d_k}), got {decay}")
        if beta is not None and (beta.rank != 3 or
                                 all(known_differ(beta.shape[2], n) for n in (hkv, 1))):
            fail(f"beta must be (B, T, {hkv}) or (B, T, 1), got {beta}")
        for what, fact in (("decay", decay), ("beta", beta)):
            if fact is not None and any(known_differ(a, b) for a, b in zip(fact.shape, lead)):
                fail(f"{what} must share (B, T) = ({lead[0]}, {lead[1]}) with query, got {fact}")

    def eval(self, q, k, v, past=None, decay=None, beta=None):
        hq, hkv = self.q_num_heads, self.kv_num_heads
        batch, steps, _ = q.shape
        d_k, d_v = q.shape[2] // hq, v.shape[2] // hkv
        qs, ks, vs = (x.reshape(batch, steps, h, -1).astype(np.float32)
                      for x, h in ((q, hq), (k, hkv), (v, hkv)))       # (B, T, H, D)
        # decay: per head (.., H_kv, 1) or per key feature (.., H_kv, d_k); beta: (.., H_kv | 1, 1)
        decay4 = None if decay is None else decay.reshape(batch, steps, hkv, -1).astype(np.float32)
        beta4 = None if beta is None else beta.reshape(batch, steps, -1, 1).astype(np.float32)
        state = np.zeros((batch, hkv, d_k, d_v), np.float32) if past is None \
            else past.astype(np.float32)
        scale = self.scale or 1 / np.sqrt(d_k)
        out = np.empty((batch, steps, hq, d_v), np.float32)
        group = hq // hkv
        for t in range(steps):
            k_t, v_t = ks[:, t], vs[:, t]                                   # (B, H_kv, D)
            if decay4 is not None:
                state = state * np.exp(decay4[:, t])[..., None]
            if beta4 is not None:
                v_t = beta4[:, t] * (v_t - np.einsum("bhdm,bhd->bhm", state, k_t))
            state = state + k_t[..., :, None] * v_t[..., None, :]
            shared = np.repeat(state, group, axis=1) if group > 1 else state
            out[:, t] = scale * np.einsum("bhd,bhdm->bhm", qs[:, t], shared)
        present = state.astype(q.dtype if past is None else past.dtype)
        return out.reshape(batch, steps, hq * d_v).astype(q.dtype), present
