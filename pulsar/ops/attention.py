"""Attention (opsets 23-25): scaled dot-product attention with masks, KV cache and GQA.

Computed in NumPy in the input dtype, in the order of onnx's reference (scale Q and K by
sqrt(scale), softcap, add the bias, softmax, multiply by V): float16/bfloat16 results then round
exactly as the official expected outputs do. All masks become one additive bias of 0 / -inf
(plus a float mask's values); a query row whose bias is all -inf attends nothing and yields 0.
Causal and window rules are bottom-right aligned: the query at in-block index i sits at absolute
position i + offset, offset = the past length (internal cache) or nonpad_kv_seqlen - q_len
(external cache, per batch).
"""
from dataclasses import dataclass
from functools import reduce
from typing import NamedTuple, Optional

import numpy as np
from onnx import helper

from ..fact import Fact
from .base import Op, fail
from .registry import register

BOOL = np.dtype(bool)


def is_float(dtype) -> bool:
    """float16/32/64 and bfloat16 (an ml_dtypes extension type, kind 'V')."""
    return dtype.kind == "f" or dtype.name == "bfloat16"


def known_differ(a, b) -> bool:
    return isinstance(a, int) and isinstance(b, int) and a != b


def heads_split(x, heads):
    """(B, S, H*D) -> (B, H, S, D)."""
    b, s, _ = x.shape
    return x.reshape(b, s, heads, -1).transpose(0, 2, 1, 3)


def heads_merged(x):
    """(B, H, S, D) -> (B, S, H*D)."""
    b, h, s, d = x.shape
    return np.ascontiguousarray(x.transpose(0, 2, 1, 3)).reshape(b, s, h * d)


def matmul(a, b):
    """np.matmul, rounded back to `a`'s dtype (NumPy promotes bfloat16 products to float32)."""
    return np.matmul(a, b).astype(a.dtype, copy=False)


def softmax(x):
    """Softmax over the last axis; an all -inf row gives zeros, not NaN."""
    zero, one = x.dtype.type(0), x.dtype.type(1)
    top = x.max(axis=-1, keepdims=True)
    e = np.exp(x - np.where(np.isneginf(top), zero, top))
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total == zero, one, total)


class Layout(NamedTuple):
    """Sizes of one Attention node, as ints or Dims."""
    batch: object
    q_heads: object
    kv_heads: object
    q_len: object
    kv_len: object
    head: object
    v_head: object


@register("Attention", since=23)
@dataclass(frozen=True)
class Attention(Op):
    """One class serves opsets 23-25: nonpad_kv_seqlen (24) is an optional input and the window
    attributes (25) default to 'unbounded'."""
    is_causal: int = 0
    kv_num_heads: Optional[int] = None
    q_num_heads: Optional[int] = None
    qk_matmul_output_mode: int = 0
    scale: Optional[float] = None
    softcap: float = 0.0
    softmax_precision: Optional[int] = None
    left_window_size: int = -1
    right_window_size: int = -1

    def infer(self, inputs, ctx):
        q, k, v, mask, past_k, past_v, nonpad = (list(inputs) + [None] * 7)[:7]
        self.check_attributes()
        lay = self.layout(q, k, v)
        past = self.check_past(lay, past_k, past_v, nonpad, k.dtype, v.dtype)
        total = past + lay.kv_len
        if mask is not None:
            check_mask(mask, lay, total, q.dtype)
        if nonpad is not None and (nonpad.dtype != np.int64 or nonpad.rank != 1
                                   or known_differ(nonpad.shape[0], lay.batch)):
            fail(f"nonpad_kv_seqlen must be int64 of shape [{lay.batch}], got {nonpad}")
        b, hq, hkv = lay.batch, lay.q_heads, lay.kv_heads
        y = (b, hq, lay.q_len, lay.v_head) if q.rank == 4 else (b, lay.q_len, hq * lay.v_head)
        outs = [Fact(q.dtype, y), Fact(k.dtype, (b, hkv, total, lay.head)),
                Fact(v.dtype, (b, hkv, total, lay.v_head)),
                Fact(q.dtype, (b, hq, lay.q_len, total))]
        return outs[:max(1, ctx.n_outputs)]

    def check_attributes(self):
        if self.qk_matmul_output_mode not in (0, 1, 2, 3):
            fail(f"qk_matmul_output_mode must be 0..3, got {self.qk_matmul_output_mode}")
        if self.softmax_precision is not None and self.softmax_precision not in (1, 10, 11, 16):
            fail(f"softmax_precision must be 1, 10, 11 or 16, got {self.softmax_precision}")
        if min(self.left_window_size, self.right_window_size) < -1:
            fail("window sizes must be -1 (unbounded) or >= 0, got "
                 f"left {self.left_window_size}, right {self.right_window_size}")

    def layout(self, q, k, v) -> Layout:
        if not all(is_float(f.dtype) for f in (q, k, v)) or k.dtype != q.dtype:
            fail(f"Q, K must share one float dtype and V must be float, got Q {q}, K {k}, V {v}")
        if not q.rank == k.rank == v.rank or q.rank not in (3, 4):
            fail(f"Q, K, V must all be 4-D (B, H, S, D) or all 3-D (B, S, H*D), got "
                 f"Q {q}, K {k}, V {v}")
        if q.rank == 4:
            lay = Layout(q.shape[0], q.shape[1], k.shape[1], q.shape[2], k.shape[2],
                         q.shape[3], v.shape[3])
            if known_differ(k.shape[3], lay.head) or known_differ(v.shape[1], lay.kv_heads) \
                    or known_differ(v.shape[2], lay.kv_len):
                fail(f"K must be (B, H_kv, S_kv, {lay.head}) and V (B, H_kv, S_kv, D_v), got "
                     f"K {k}, V {v}")
        else:
            lay = self.packed_layout(q, k, v)
        if any(known_differ(f.shape[0], lay.batch) for f in (k, v)):
            fail(f"Q, K, V must share the batch size, got Q {q}, K {k}, V {v}")
        if isinstance(lay.q_heads, int) and isinstance(lay.kv_heads, int) \
                and (lay.kv_heads < 1 or lay.q_heads % lay.kv_heads):
            fail(f"query heads ({lay.q_heads}) must be a multiple of key/value heads "
                 f"({lay.kv_heads})")
        return lay

    def packed_layout(self, q, k, v) -> Layout:
        hq, hkv = self.q_num_heads, self.kv_num_heads
        if not hq or not hkv or hq < 1 or hkv < 1:
            fail("3-D inputs need the q_num_heads and kv_num_heads attributes")
        for what, fact, heads in (("Q", q, hq), ("K", k, hkv), ("V", v, hkv)):
            if isinstance(fact.shape[2], int) and fact.shape[2] % heads:
                fail(f"{what} hidden size must be a multiple of its {heads} heads, got {fact}")
        lay = Layout(q.shape[0], hq, hkv, q.shape[1], k.shape[1], q.shape[2] // hq,
                     v.shape[2] // hkv)
        if known_differ(k.shape[2] // hkv, lay.head) or known_differ(v.shape[1], lay.kv_len):
            fail(f"K must have head size {lay.head} and V the length of K, got K {k}, V {v}")
        return lay

    def check_past(self, lay, past_k, past_v, nonpad, k_dtype, v_dtype):
        """The past length (0 without a cache), after checking the cache shapes."""
        if (past_k is None) != (past_v is None):
            fail("past_key and past_value must be given together")
        if past_k is None:
            return 0
        if nonpad is not None:
            fail("nonpad_kv_seqlen (external cache) cannot be combined with past_key/past_value")
        want = {"past_key": (past_k, k_dtype, lay.head),
                "past_value": (past_v, v_dtype, lay.v_head)}
        for what, (fact, dtype, size) in want.items():
            if fact.dtype != dtype or fact.rank != 4 or \
                    any(known_differ(a, b) for a, b in zip(fact.shape, (lay.batch, lay.kv_heads,
                                                                        past_k.shape[2], size))):
                fail(f"{what} must be {dtype}[{lay.batch},{lay.kv_heads},P,{size}], got {fact}")
        if known_differ(past_v.shape[2], past_k.shape[2]):
            fail(f"past_key and past_value lengths differ: {past_k} and {past_v}")
        return past_k.shape[2]

    def eval(self, q, k, v, mask=None, past_k=None, past_v=None, nonpad=None):
        packed = q.ndim == 3
        if packed:
            q, k, v = (heads_split(q, self.q_num_heads), heads_split(k, self.kv_num_heads),
                       heads_split(v, self.kv_num_heads))
        past_len = 0 if past_k is None else past_k.shape[2]
        if past_k is not None:
            k, v = np.concatenate((past_k, k), axis=2), np.concatenate((past_v, v), axis=2)
        present_k, present_v = k, v
        if nonpad is not None and nonpad.shape != (q.shape[0],):
            fail(f"nonpad_kv_seqlen must hold one length per batch ({q.shape[0]}), "
                 f"got shape {list(nonpad.shape)}")
        bias = self.bias(mask, nonpad, q.shape[2], k.shape[2], past_len, q.dtype)
        group = q.shape[1] // k.shape[1]
        if group > 1:                           # GQA: KV head h serves query heads h*g..h*g+g-1
            k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
        probs, scores = self.probabilities(q, k, bias)
        y = np.matmul(probs, v).astype(q.dtype, copy=False)
        return (heads_merged(y) if packed else y), present_k, present_v, scores

    def probabilities(self, q, k, bias):
        """(softmax probabilities, the qk_matmul_output the mode asks for), in Q's dtype."""
        dtype = q.dtype
        scale = self.scale if self.scale is not None else 1 / np.sqrt(q.shape[3])
        root = dtype.type(np.sqrt(scale))       # sqrt(scale) on both sides keeps Q.K^T in range
        raw = matmul(q * root, np.swapaxes(k * root, 2, 3))
        capped = np.tanh(raw / self.softcap) * self.softcap if self.softcap > 0 else raw
        logits = capped + bias
        stash = logits if self.softmax_precision is None else \
            logits.astype(helper.tensor_dtype_to_np_dtype(self.softmax_precision))
        probs = softmax(stash)
        # a row with no attendable key is decided on the bias, not on (maybe NaN) logits
        unattended = np.isneginf(bias.max(axis=-1, keepdims=True))
        probs = np.where(unattended, probs.dtype.type(0), probs).astype(dtype, copy=False)
        # mode 0 is the raw product as the spec and onnxruntime say (onnx's reference returns
        # the softcapped one there)
        scores = (raw, capped, logits, probs)[self.qk_matmul_output_mode]
        return probs, scores.astype(dtype, copy=False)

    def bias(self, mask, nonpad, q_len, kv_len, past_len, dtype):
        """The additive bias, broadcastable to (B, H_q, q_len, kv_len)."""
        bias = np.zeros((q_len, kv_len), dtype)
        if mask is not None:
            if mask.shape[-1] > kv_len:
                fail(f"attn_mask covers {mask.shape[-1]} keys, more than the {kv_len} there are")
            bias = bias + additive_mask(mask, kv_len, dtype)
        allowed = self.allowed(nonpad, q_len, kv_len, past_len)
        if allowed is not None:
            bias = bias + np.where(allowed, dtype.type(0), dtype.type(-np.inf))
        return bias

    def allowed(self, nonpad, q_len, kv_len, past_len):
        """Where the causal rule, the window and the padding let query i see key j (or None:
        everywhere). Shape (q_len, kv_len), or (B, 1, q_len, kv_len) with nonpad_kv_seqlen."""
        i, j = np.arange(q_len)[:, None], np.arange(kv_len)[None, :]
        valid = None if nonpad is None else nonpad.astype(np.int64).reshape(-1, 1, 1, 1)
        position = i + past_len if valid is None else i + (valid - q_len)
        rules = []
        if self.is_causal:
            rules.append(j <= position)
        if self.left_window_size >= 0:
            rules.append(position - j <= self.left_window_size)
        if self.right_window_size >= 0:
            rules.append(j - position <= self.right_window_size)
        if valid is not None:
            rules.append(j < valid)
        return reduce(np.logical_and, rules) if rules else None


def check_mask(mask, lay, total, q_dtype):
    if mask.dtype != BOOL and mask.dtype != q_dtype:
        fail(f"attn_mask must be bool or {q_dtype} like Q, got {mask}")
    if not 1 <= mask.rank <= 4:
        fail(f"attn_mask must have rank 1..4, got {mask}")
    if isinstance(mask.shape[-1], int) and isinstance(total, int) and mask.shape[-1] > total:
        fail(f"attn_mask covers {mask.shape[-1]} keys, more than the {total} past + new keys")
    lead = (lay.batch, lay.q_heads, lay.q_len)[4 - mask.rank:]
    if any(d != 1 and known_differ(d, t) for d, t in zip(mask.shape[:-1], lead)):
        fail(f"attn_mask {mask} does not broadcast to (B, H_q, S_q) = "
             f"({lay.batch}, {lay.q_heads}, {lay.q_len})")


def additive_mask(mask, kv_len, dtype):
    """Bool (True attends) or float mask -> additive bias; short masks are padded with -inf."""
    if mask.dtype == BOOL:
        add = np.where(mask, dtype.type(0), dtype.type(-np.inf))
    else:
        add = mask.astype(dtype, copy=False)
    short = kv_len - add.shape[-1]
    if short > 0:
        add = np.pad(add, [(0, 0)] * (add.ndim - 1) + [(0, short)], constant_values=-np.inf)
    return add


@register("RotaryEmbedding", since=23)
@dataclass(frozen=True)
class RotaryEmbedding(Op):
    """Rotates the first `rotary_embedding_dim` features of each head by position angles:
    pairs are (d, d + rot/2) or, interleaved, (2d, 2d + 1). 4-D X is (B, H, S, D); 3-D X is
    (B, S, H*D). The caches are (max_position, rot/2) indexed by position_ids (B, S), or already
    gathered (B, S, rot/2) without position_ids."""
    interleaved: int = 0
    num_heads: int = 0
    rotary_embedding_dim: int = 0

    def infer(self, inputs, ctx):
        x, cos, sin, pos = (list(inputs) + [None])[:4]
        if not is_float(x.dtype) or cos.dtype != x.dtype or sin.dtype != x.dtype:
            fail(f"X, cos_cache and sin_cache must share one float dtype, got {x}, {cos}, {sin}")
        if x.rank not in (3, 4) or (x.rank == 3 and self.num_heads < 1):
            fail(f"X must be 4-D (B, H, S, D), or 3-D (B, S, H*D) with num_heads, got {x}")
        batch, seq = (x.shape[0], x.shape[2]) if x.rank == 4 else x.shape[:2]
        head = x.shape[3] if x.rank == 4 else x.shape[2] // self.num_heads
        rot = self.rotary_embedding_dim or head
        if isinstance(rot, int) and (rot % 2 or (isinstance(head, int) and rot > head)):
            fail(f"rotary_embedding_dim {rot} must be even and at most the head size {head}")
        if pos is not None and (pos.dtype != np.int64 or pos.rank != 2):
            fail(f"position_ids must be int64 (B, S), got {pos}")
        want = ("P", rot // 2) if pos is not None else (batch, seq, rot // 2)
        for what, cache in (("cos_cache", cos), ("sin_cache", sin)):
            if cache.rank != len(want) or known_differ(cache.shape[-1], rot // 2):
                fail(f"{what} must be ({', '.join(map(str, want))}), got {cache}")
        return [Fact(x.dtype, x.shape)]

    def eval(self, x, cos, sin, pos=None):
        seq_major = x.transpose(0, 2, 1, 3) if x.ndim == 4 else \
            x.reshape(x.shape[0], x.shape[1], self.num_heads, -1)      # (B, S, H, D)
        rot = self.rotary_embedding_dim or seq_major.shape[3]
        if pos is not None:
            if pos.size and (pos.min() < 0 or pos.max() >= cos.shape[0]):
                fail(f"position_ids must lie in [0, {cos.shape[0]}), got {pos.min()}..{pos.max()}")
            cos, sin = cos[pos], sin[pos]
        cos, sin = cos[:, :, None, :], sin[:, :, None, :]
        part = seq_major[..., :rot]
        if self.interleaved:
            first, second = part[..., 0::2], part[..., 1::2]
        else:
            first, second = part[..., :rot // 2], part[..., rot // 2:]
        real, imag = cos * first - sin * second, sin * first + cos * second
        turned = np.stack((real, imag), axis=-1).reshape(part.shape) if self.interleaved \
            else np.concatenate((real, imag), axis=-1)
        out = np.concatenate((turned, seq_major[..., rot:]), axis=-1).astype(x.dtype, copy=False)
        return (np.ascontiguousarray(out.transpose(0, 2, 1, 3)) if x.ndim == 4
                else out.reshape(x.shape),)


@register("SwiGLU", since=28)
@dataclass(frozen=True)
class SwiGLU(Op):
    """Y = A * sigmoid(alpha * A) * B, A and B of one shape (no broadcasting)."""
    streams = "elementwise"
    alpha: float = 1.0

    def infer(self, inputs, ctx):
        a, b = inputs
        if not is_float(a.dtype) or b.dtype != a.dtype:
            fail(f"A and B must share one float dtype, got {a} and {b}")
        if a.rank != b.rank or any(known_differ(p, q) for p, q in zip(a.shape, b.shape)):
            fail(f"A and B must have the same shape (SwiGLU does not broadcast), got {a} and {b}")
        return [Fact(a.dtype, a.shape)]

    def eval(self, a, b):
        if a.shape != b.shape:
            fail(f"A and B must have the same shape, got {list(a.shape)} and {list(b.shape)}")
        gate = (1 / (1 + np.exp(-self.alpha * a))).astype(a.dtype, copy=False)
        return ((a * gate * b).astype(a.dtype, copy=False),)
