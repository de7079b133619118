"""Sequence ops: SequenceEmpty/Construct/At/Insert/Erase/Length, SplitToSequence,
ConcatFromSequence. At run time a sequence is a Python list of arrays.

A sequence's fact is a `SequenceFact`: `dtype` and `shape` describe every element (dims that
differ between elements are fresh symbols), `length` counts the elements (int or Dim), and
`ranked` is False while the element rank is unknown (an empty sequence, or elements of mixed
ranks). Its `value` stays None: sequence ops never fold.
"""
from dataclasses import dataclass, replace
from typing import ClassVar, Optional

import numpy as np

from .. import dims, dtypes
from ..fact import Fact, SequenceFact
from .base import Op, fail, normalize_axis
from .registry import register
from .sizes import scalar_value

INT64 = np.dtype(np.int64)


class SequenceOp(Op):
    """Sequence values are lists: never folded into constants at analysis."""
    foldable: ClassVar[bool] = False


def need_sequence(fact, what="input_sequence") -> SequenceFact:
    if not isinstance(fact, SequenceFact):
        fail(f"{what} must be a sequence, got {fact}")
    return fact


def element_fact(seq: SequenceFact) -> Fact:
    if not seq.ranked:
        fail(f"the elements of {seq} have no known rank")
    return Fact(seq.dtype, seq.shape)


def merge_sequences(a: SequenceFact, b: SequenceFact, ctx, what: str) -> SequenceFact:
    """A sequence fact covering both (If branches, loop-carried sequences)."""
    if a.dtype != b.dtype:
        fail(f"{what}: element dtypes differ, {a} vs {b}")
    length = a.length if a.length == b.length else ctx.fresh_symbol(f"{what}_length")
    if b.length == 0:
        return replace(a, length=length)
    return with_element(replace(b, length=length) if a.length == 0 else a, b, ctx, what, length)


def with_element(seq: SequenceFact, elem: Fact, ctx, what: str, length) -> SequenceFact:
    """`seq` with `elem` (a tensor, or a sequence's element) joined: `length` elements."""
    if seq.dtype != elem.dtype:
        fail(f"{what}: a {elem.dtype} tensor cannot join a sequence of {seq.dtype}")
    ranked = getattr(elem, "ranked", True)
    if seq.length == 0:
        return SequenceFact(seq.dtype, elem.shape, length=length, ranked=ranked)
    if not (seq.ranked and ranked) or len(seq.shape) != len(elem.shape):
        return SequenceFact(seq.dtype, (), length=length, ranked=False)
    shape = tuple(x if x == y else ctx.fresh_symbol(what) for x, y in zip(seq.shape, elem.shape))
    return SequenceFact(seq.dtype, shape, length=length)


def _position(value, length, what, insert=False) -> int:
    """A Python index from an ONNX position (negative counts from the end)."""
    p = int(np.asarray(value).reshape(-1)[0])
    top = length if insert else length - 1
    if not -length <= p <= top:
        fail(f"{what} {p} is out of range for a sequence of {length} elements")
    return p + length if p < 0 else p


@register("SequenceEmpty", since=11)
@dataclass(frozen=True)
class SequenceEmpty(SequenceOp):
    dtype: int = 1     # TensorProto.FLOAT

    def infer(self, inputs, ctx):
        return [SequenceFact(dtypes.from_onnx(self.dtype), (), length=0, ranked=False)]

    def eval(self):
        return ([],)


@register("SequenceConstruct", since=11)
@dataclass(frozen=True)
class SequenceConstruct(SequenceOp):
    def infer(self, inputs, ctx):
        if not inputs or any(f is None for f in inputs):
            fail("needs at least one tensor")
        seq = SequenceFact(inputs[0].dtype, inputs[0].shape, length=1)
        for i, f in enumerate(inputs[1:], 2):
            seq = with_element(seq, f, ctx, "element", i)
        return [seq]

    def eval(self, *tensors):
        return (list(tensors),)


@register("SequenceAt", since=11)
@dataclass(frozen=True)
class SequenceAt(SequenceOp):
    def infer(self, inputs, ctx):
        return [element_fact(need_sequence(inputs[0]))]

    def eval(self, seq, position):
        return (seq[_position(position, len(seq), "position")],)


@register("SequenceInsert", since=11)
@dataclass(frozen=True)
class SequenceInsert(SequenceOp):
    def infer(self, inputs, ctx):
        seq = need_sequence(inputs[0])
        if inputs[1] is None:
            fail("needs a tensor to insert")
        return [with_element(seq, inputs[1], ctx, "element", seq.length + 1)]

    def eval(self, seq, tensor, position=None):
        at = len(seq) if position is None else _position(position, len(seq), "position", True)
        return (seq[:at] + [tensor] + seq[at:],)


@register("SequenceErase", since=11)
@dataclass(frozen=True)
class SequenceErase(SequenceOp):
    def infer(self, inputs, ctx):
        seq = need_sequence(inputs[0])
        if seq.length == 0:
            fail(f"cannot erase from an empty sequence {seq}")
        return [replace(seq, length=seq.length - 1)]

    def eval(self, seq, position=None):
        at = len(seq) - 1 if position is None else _position(position, len(seq), "position")
        return (seq[:at] + seq[at + 1:],)


@register("SequenceLength", since=11)
@dataclass(frozen=True)
class SequenceLength(SequenceOp):
    def infer(self, inputs, ctx):
        return [Fact(INT64, (), scalar_value(need_sequence(inputs[0]).length))]

    def eval(self, seq):
        return (np.array(len(seq), INT64),)


@register("SplitToSequence", since=11)
@dataclass(frozen=True)
class SplitToSequence(SequenceOp):
    """Pieces of `split` along `axis`: a scalar is a piece size (the last may be shorter),
    a 1-D tensor lists the sizes; without it, pieces of 1 (squeezed unless keepdims)."""
    axis: int = 0
    keepdims: int = 1

    def infer(self, inputs, ctx):
        x, split = inputs[0], inputs[1] if len(inputs) > 1 else None
        axis = normalize_axis(self.axis, x.rank)
        n = x.shape[axis]
        if split is None:
            shape = x.shape[:axis] + ((1,) if self.keepdims else ()) + x.shape[axis + 1:]
            return [SequenceFact(x.dtype, shape, length=n)]
        if split.rank > 1 or split.dtype.kind not in "iu":
            fail(f"split must be an integer scalar or 1-D tensor, got {split}")
        piece, count = self._pieces(split, n, ctx)
        return [SequenceFact(x.dtype, x.shape[:axis] + (piece,) + x.shape[axis + 1:],
                             length=count)]

    @staticmethod
    def _pieces(split, n, ctx) -> tuple:
        """(piece size, piece count); fresh symbols where they are unknown or vary."""
        sizes = None if split.value is None else [int(v) for v in split.value.reshape(-1)]
        if sizes is not None and split.rank == 0 and sizes[0] <= 0:
            fail(f"a scalar split is a piece length and must be positive, got {sizes[0]}")
        if sizes is not None and split.rank == 0:
            if not isinstance(n, int):
                return ctx.fresh_symbol("piece"), ctx.fresh_symbol("pieces")
            sizes = [sizes[0]] * (n // sizes[0]) + ([n % sizes[0]] if n % sizes[0] else [])
        if sizes is None:
            count = split.shape[0] if split.rank == 1 else ctx.fresh_symbol("pieces")
            return ctx.fresh_symbol("piece"), count
        piece = sizes[0] if len(set(sizes)) == 1 else ctx.fresh_symbol("piece")
        return piece, len(sizes)

    def eval(self, x, split=None):
        axis = normalize_axis(self.axis, x.ndim)
        n = x.shape[axis]
        if split is None:
            pieces = np.split(x, n, axis=axis) if n else []
            return ([p if self.keepdims else np.squeeze(p, axis) for p in pieces],)
        split = np.asarray(split)
        sizes = split.reshape(-1).tolist()
        if split.ndim == 0:
            size = int(split)
            if size <= 0:
                fail(f"a scalar split is a piece length and must be positive, got {size}")
            sizes = [size] * (n // size) + ([n % size] if n % size else [])
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            fail(f"split sizes {sizes} do not add up to {n}, the length of axis {axis}")
        return (np.split(x, np.cumsum(sizes)[:-1], axis=axis),)


@register("ConcatFromSequence", since=11)
@dataclass(frozen=True)
class ConcatFromSequence(SequenceOp):
    axis: Optional[int] = None
    new_axis: int = 0

    def infer(self, inputs, ctx):
        seq = need_sequence(inputs[0])
        elem = element_fact(seq)
        if self.axis is None:
            fail("the axis attribute is required")
        axis = normalize_axis(self.axis, elem.rank + (1 if self.new_axis else 0))
        if self.new_axis:
            return [Fact(seq.dtype, elem.shape[:axis] + (seq.length,) + elem.shape[axis:])]
        total = elem.shape[axis] * seq.length if isinstance(seq.length, int) and \
            seq.length <= 1 or dims.symbols(elem.shape[axis]) == set() else \
            ctx.fresh_symbol("concat")
        return [Fact(seq.dtype, elem.shape[:axis] + (total,) + elem.shape[axis + 1:])]

    def eval(self, seq):
        if not seq:
            fail("cannot concatenate an empty sequence")
        join = np.stack if self.new_axis else np.concatenate
        return (join(seq, axis=self.axis),)
