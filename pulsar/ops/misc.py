"""Odds and ends: optionals, string ops, TfIdfVectorizer, Col2Im, NonMaxSuppression, BitCast,
TensorScatter.

Strings are NumPy object arrays of `str`, as onnx represents them. Optionals have no type of
their own in pulsar: an optional holding a tensor is that tensor, an empty one is `None` at run
time (facts cannot say "maybe absent", so OptionalHasElement is only folded when it has no input).
"""
import operator
import re
from dataclasses import dataclass
from itertools import product
from typing import Any, ClassVar

import numpy as np

from .. import dtypes
from ..fact import Fact
from .base import Op, fail, need_rank
from .broadcast import broadcast_shapes
from .registry import register

STRING = np.dtype(object)


def _need_strings(fact, what="input"):
    if fact.dtype != STRING:
        fail(f"{what} must be a string tensor, got {fact}")


def _first(value, default):
    """The value of an optional scalar input (absent or empty: the default)."""
    return default if value is None or not value.size else value.reshape(-1)[0]


# --- optionals -----------------------------------------------------------------------------

@register("Optional", since=15)
@dataclass(frozen=True)
class Optional(Op):
    """Wraps a value; without input it is empty (None at run time), typed by `type`."""
    foldable: ClassVar[bool] = False
    type: Any = None

    def infer(self, inputs, ctx):
        if inputs and inputs[0] is not None:
            return [inputs[0]]
        if self.type is None or not self.type.HasField("tensor_type"):
            fail("an empty Optional needs a tensor `type` attribute (sequences are not supported)")
        tensor = self.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else ctx.fresh_symbol("optional")
                 for d in tensor.shape.dim]
        return [Fact(dtypes.from_onnx(tensor.elem_type), shape)]

    def eval(self, x=None):
        return (x,)


@register("OptionalHasElement", since=18)
@dataclass(frozen=True)
class OptionalHasElement(Op):
    def infer(self, inputs, ctx):
        return [Fact(np.bool_, ())]

    def eval(self, x=None):
        return (np.array(x is not None),)


@register("OptionalGetElement", since=18)
@dataclass(frozen=True)
class OptionalGetElement(Op):
    """The held value; a plain tensor passes through (opset 18 allows it)."""

    def infer(self, inputs, ctx):
        if not inputs or inputs[0] is None:
            fail("needs an input optional")
        return [inputs[0]]

    def eval(self, x):
        if x is None:
            fail("the optional input is empty")
        return (x,)


# --- strings -------------------------------------------------------------------------------

@register("StringConcat", since=20)
@dataclass(frozen=True)
class StringConcat(Op):
    def infer(self, inputs, ctx):
        _need_strings(inputs[0], "X")
        _need_strings(inputs[1], "Y")
        return [Fact(STRING, broadcast_shapes(inputs[0].shape, inputs[1].shape))]

    def eval(self, x, y):
        return (np.asarray(np.frompyfunc(operator.add, 2, 1)(x, y), dtype=object),)


@register("RegexFullMatch", since=20)
@dataclass(frozen=True)
class RegexFullMatch(Op):
    """ONNX specifies RE2 syntax; Python's `re` accepts a superset of what models use."""
    pattern: str = ""

    def infer(self, inputs, ctx):
        _need_strings(inputs[0], "X")
        self.compiled()
        return [Fact(np.bool_, inputs[0].shape)]

    def compiled(self):
        try:
            return re.compile(self.pattern)
        except re.error as e:
            fail(f"pattern {self.pattern!r} is not a valid regular expression: {e}")

    def eval(self, x):
        regex = self.compiled()
        match = np.frompyfunc(lambda s: regex.fullmatch(s) is not None, 1, 1)
        return (np.asarray(match(x), dtype=bool).reshape(x.shape),)


@register("StringSplit", since=20)
@dataclass(frozen=True)
class StringSplit(Op):
    """Y: the pieces, padded with "" to the longest split; Z: the number of pieces.
    An empty delimiter splits on runs of whitespace, as Python's `str.split()` does."""
    delimiter: str = ""
    maxsplit: int = -1

    def infer(self, inputs, ctx):
        _need_strings(inputs[0], "X")
        x = inputs[0]
        return [Fact(STRING, x.shape + (ctx.fresh_symbol("pieces"),)), Fact(np.int64, x.shape)]

    def eval(self, x):
        pieces = [s.split(self.delimiter or None, self.maxsplit) for s in x.reshape(-1)]
        counts = np.array([len(p) for p in pieces], dtype=np.int64)
        width = int(counts.max(initial=0))
        out = np.full((len(pieces), width), "", dtype=object)
        for row, p in zip(out, pieces):
            row[:len(p)] = p
        return out.reshape(x.shape + (width,)), counts.reshape(x.shape)


@register("StringNormalizer", since=10)
@dataclass(frozen=True)
class StringNormalizer(Op):
    """Drops stopwords (whole elements), then changes case. [C] or [1, C] input; when every
    element is dropped the output holds one empty string, as onnxruntime does."""
    case_change_action: str = "NONE"
    is_case_sensitive: int = 0
    locale: str = ""
    stopwords: tuple = ()

    def infer(self, inputs, ctx):
        x = inputs[0]
        _need_strings(x, "X")
        if x.rank not in (1, 2) or (x.rank == 2 and isinstance(x.shape[0], int) and x.shape[0] != 1):
            fail(f"X must have shape [C] or [1, C], got {x}")
        if self.case_change_action not in ("NONE", "LOWER", "UPPER"):
            fail(f"case_change_action must be NONE, LOWER or UPPER, got {self.case_change_action!r}")
        if not self.stopwords:
            return [x]
        return [Fact(STRING, x.shape[:-1] + (ctx.fresh_symbol("kept"),))]

    def eval(self, x):
        words = list(x.reshape(-1))
        if self.stopwords:
            fold = (lambda s: s) if self.is_case_sensitive else str.lower
            stops = {fold(s) for s in self.stopwords}
            words = [w for w in words if fold(w) not in stops] or [""]
        if self.case_change_action != "NONE":
            words = [w.lower() if self.case_change_action == "LOWER" else w.upper() for w in words]
        out = np.empty(len(words), dtype=object)
        out[:] = words
        return (out.reshape(x.shape[:-1] + (len(words),)),)


# --- TfIdfVectorizer -----------------------------------------------------------------------

@register("TfIdfVectorizer", since=9)
@dataclass(frozen=True)
class TfIdfVectorizer(Op):
    """Counts the pool's n-grams (optionally skipping up to max_skip_count items between
    members) in each row; `ngram_indexes` maps the k-th pool n-gram to its output column."""
    max_gram_length: int = 1
    max_skip_count: int = 0
    min_gram_length: int = 1
    mode: str = "TF"
    ngram_counts: tuple = ()
    ngram_indexes: tuple = ()
    pool_int64s: tuple = ()
    pool_strings: tuple = ()
    weights: tuple = ()

    def infer(self, inputs, ctx):
        x = inputs[0]
        if x.rank not in (1, 2) or x.dtype not in (STRING, np.dtype(np.int32), np.dtype(np.int64)):
            fail(f"X must be a [C] or [B, C] string/int32/int64 tensor, got {x}")
        if self.mode not in ("TF", "IDF", "TFIDF") or not self.ngram_indexes:
            fail(f"needs mode TF, IDF or TFIDF and ngram_indexes, got mode {self.mode!r}")
        if self.weights and len(self.weights) != len(self.ngram_indexes):
            fail(f"weights has {len(self.weights)} entries, ngram_indexes {len(self.ngram_indexes)}")
        if min(self.ngram_indexes) < 0:
            fail(f"ngram_indexes must be >= 0, got {min(self.ngram_indexes)}")
        self.table()
        return [Fact(np.float32, x.shape[:-1] + (max(self.ngram_indexes) + 1,))]

    def table(self) -> dict:
        """n-gram tuple -> output column, for n in [min_gram_length, max_gram_length]."""
        pool = list(self.pool_int64s or self.pool_strings)
        ends = list(self.ngram_counts[1:]) + [len(pool)]
        grams, k = {}, 0
        for n, (start, end) in enumerate(zip(self.ngram_counts, ends), start=1):
            for first in range(start, end - n + 1, n):
                if k >= len(self.ngram_indexes):
                    fail(f"ngram_indexes has {len(self.ngram_indexes)} entries, "
                         "the pool holds more n-grams")
                if self.min_gram_length <= n <= self.max_gram_length:
                    grams[tuple(pool[first:first + n])] = self.ngram_indexes[k]
                k += 1
        return grams

    def eval(self, x):
        grams, width = self.table(), max(self.ngram_indexes) + 1
        rows = x.reshape(-1, x.shape[-1])
        counts = np.zeros((len(rows), width), dtype=np.float32)
        for row, out in zip(rows, counts):
            self.count_row(row.tolist(), grams, out)
        return (self.weighted(counts).reshape(x.shape[:-1] + (width,)),)

    def count_row(self, items, grams, out):
        # unigrams do not depend on the skip: counted once, at skip distance 1
        for skip in range(1, self.max_skip_count + 2):
            low = self.min_gram_length if skip == 1 else max(self.min_gram_length, 2)
            for n in range(low, self.max_gram_length + 1):
                for start in range(len(items) - skip * (n - 1)):
                    column = grams.get(tuple(items[start:start + skip * (n - 1) + 1:skip]))
                    if column is not None:
                        out[column] += 1

    def weighted(self, counts):
        """weights[k] belongs to the k-th pool n-gram, so it moves to that n-gram's column (the
        spec and onnxruntime; onnx's reference indexes weights by column instead)."""
        weights = None
        if self.weights:
            weights = np.zeros(counts.shape[-1], dtype=np.float32)
            weights[list(self.ngram_indexes)] = self.weights
        if self.mode == "TF":
            return counts
        if self.mode == "IDF":
            present = (counts > 0).astype(np.float32)
            return present * weights if weights is not None else present
        return counts * weights if weights is not None else counts


# --- Col2Im --------------------------------------------------------------------------------

@register("Col2Im", since=18)
@dataclass(frozen=True)
class Col2Im(Op):
    """[N, C * prod(block), L] columns -> [N, C, *image_shape], summing overlapping blocks."""
    dilations: tuple = ()
    pads: tuple = ()
    strides: tuple = ()

    def infer(self, inputs, ctx):
        x, image, block = inputs
        need_rank(x, "input", rank=3)
        for name, f in (("image_shape", image), ("block_shape", block)):
            if f.rank != 1 or not isinstance(f.shape[0], int):
                fail(f"{name} must be a 1-D tensor of known length, got {f}")
        n = image.shape[0]
        sizes = list(image.value) if image.value is not None else \
            [ctx.fresh_symbol(f"image_{i}") for i in range(n)]
        if block.value is None:
            return [Fact(x.dtype, (x.shape[0], ctx.fresh_symbol("channels"), *sizes))]
        kernel = int(np.prod(block.value))
        if isinstance(x.shape[1], int) and x.shape[1] % kernel:
            fail(f"input axis 1 ({x.shape[1]}) must be a multiple of prod(block_shape) = {kernel}")
        return [Fact(x.dtype, (x.shape[0], x.shape[1] // kernel, *sizes))]

    def geometry(self, image, block):
        n = len(image)
        dilations = self.dilations or (1,) * n
        pads = self.pads or (0,) * (2 * n)
        strides = self.strides or (1,) * n
        blocks = [(image[i] + pads[i] + pads[i + n] - dilations[i] * (block[i] - 1) - 1)
                  // strides[i] + 1 for i in range(n)]
        return dilations, pads, strides, blocks

    def eval(self, x, image_shape, block_shape):
        image, block = [int(v) for v in image_shape], [int(v) for v in block_shape]
        dilations, pads, strides, blocks = self.geometry(image, block)
        n, kernel = len(image), int(np.prod(block))
        if x.shape[1] % kernel or x.shape[2] != int(np.prod(blocks)) or min(blocks) < 1:
            fail(f"input {list(x.shape)} does not hold blocks {block} sliding over image "
                 f"{image} ({blocks} positions)")
        cols = x.reshape(x.shape[0], x.shape[1] // kernel, *block, *blocks)
        padded = np.zeros(x.shape[:1] + cols.shape[1:2] +
                          tuple(image[i] + pads[i] + pads[i + n] for i in range(n)), x.dtype)
        for offset in product(*(range(k) for k in block)):
            where = tuple(slice(o * d, o * d + (b - 1) * s + 1, s)
                          for o, d, b, s in zip(offset, dilations, blocks, strides))
            padded[(slice(None), slice(None)) + where] += cols[(slice(None), slice(None)) + offset]
        crop = tuple(slice(pads[i], pads[i] + image[i]) for i in range(n))
        return (padded[(slice(None), slice(None)) + crop],)


# --- NonMaxSuppression ---------------------------------------------------------------------

@register("NonMaxSuppression", since=10)
@dataclass(frozen=True)
class NonMaxSuppression(Op):
    """Greedy per (batch, class): best score first, drop boxes whose IoU with a kept box
    exceeds iou_threshold. Output rows are [batch, class, box], in selection order."""
    center_point_box: int = 0

    def infer(self, inputs, ctx):
        boxes, scores = inputs[0], inputs[1]
        need_rank(boxes, "boxes", rank=3)
        need_rank(scores, "scores", rank=3)
        pairs = [(boxes.shape[2], 4), (scores.shape[0], boxes.shape[0]), (scores.shape[2], boxes.shape[1])]
        if any(isinstance(a, int) and isinstance(b, int) and a != b for a, b in pairs):
            fail(f"need boxes [batch, boxes, 4] and scores [batch, classes, boxes], "
                 f"got {boxes} and {scores}")
        return [Fact(np.int64, (ctx.fresh_symbol("selected"), 3))]

    def eval(self, boxes, scores, max_per_class=None, iou_threshold=None, score_threshold=None):
        limit = max(int(_first(max_per_class, 0)), 0)
        iou_limit = float(_first(iou_threshold, 0.0))
        score_limit = _first(score_threshold, None)
        if boxes.shape[::2] != (scores.shape[0], 4) or boxes.shape[1] != scores.shape[2]:
            fail(f"boxes {list(boxes.shape)} and scores {list(scores.shape)} do not match")
        selected = []
        for b in range(scores.shape[0]):
            overlap = self.iou(boxes[b].astype(np.float64))
            for c in range(scores.shape[1]):
                kept = self.select(scores[b, c], overlap, limit, iou_limit, score_limit)
                selected.extend((b, c, box) for box in kept)
        return (np.array(selected, dtype=np.int64).reshape(-1, 3),)

    @staticmethod
    def select(scores, overlap, limit, iou_limit, score_limit):
        order = np.argsort(-scores, kind="stable")
        if score_limit is not None:
            order = order[scores[order] > score_limit]
        kept = []
        for i in order:
            if len(kept) >= limit:
                break
            if not any(overlap[i, k] > iou_limit for k in kept):
                kept.append(int(i))
        return kept

    def iou(self, boxes):
        """Pairwise IoU; 0 for disjoint or degenerate boxes (they never suppress)."""
        if self.center_point_box:
            half = boxes[:, 2:] / 2
            low, high = boxes[:, :2] - half, boxes[:, :2] + half
        else:
            low = np.minimum(boxes[:, :2], boxes[:, 2:])
            high = np.maximum(boxes[:, :2], boxes[:, 2:])
        sides = np.minimum(high[:, None], high[None]) - np.maximum(low[:, None], low[None])
        inter = np.where((sides > 0).all(axis=2), sides.prod(axis=2), 0.0)
        area = (high - low).prod(axis=1)
        union = area[:, None] + area[None] - inter
        valid = (inter > 0) & (area[:, None] > 0) & (area[None] > 0) & (union > 0)
        return np.where(valid, inter / np.where(valid, union, 1.0), 0.0)


# --- BitCast, TensorScatter ----------------------------------------------------------------

@register("BitCast", since=26)
@dataclass(frozen=True)
class BitCast(Op):
    """Reinterprets the bytes of each element as another type of the same width."""
    to: int = 0

    def infer(self, inputs, ctx):
        x, dtype = inputs[0], dtypes.from_onnx(self.to)
        if dtype == STRING or x.dtype == STRING or dtype.itemsize != x.dtype.itemsize:
            fail(f"cannot reinterpret {x.dtype} as {dtype}: both must be numeric of the same width")
        return [Fact(dtype, x.shape)]

    def eval(self, x):
        return ((x if x.flags.c_contiguous else x.copy()).view(dtypes.from_onnx(self.to)),)


@register("TensorScatter", since=24)
@dataclass(frozen=True)
class TensorScatter(Op):
    """A KV-cache write: update[b] goes to past_cache[b] at write_indices[b] along `axis`
    (wrapping around in circular mode). Axis 0 is the batch."""
    axis: int = -2
    mode: str = "linear"

    def infer(self, inputs, ctx):
        cache, update = inputs[0], inputs[1]
        axis = self.cache_axis(cache.rank)
        if update.rank != cache.rank or update.dtype != cache.dtype or any(
                isinstance(a, int) and isinstance(b, int) and a != b
                for i, (a, b) in enumerate(zip(cache.shape, update.shape)) if i != axis):
            fail(f"update must match past_cache except along axis {axis}: {update} vs {cache}")
        if self.mode not in ("linear", "circular"):
            fail(f"mode must be linear or circular, got {self.mode!r}")
        return [cache]

    def cache_axis(self, rank):
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            fail(f"axis {self.axis} must select a sequence axis after the batch axis (rank {rank})")
        return axis

    def eval(self, cache, update, write_indices=None):
        axis = self.cache_axis(cache.ndim)
        size, steps = cache.shape[axis], update.shape[axis]
        starts = np.zeros(cache.shape[0], np.int64) if write_indices is None else \
            write_indices.reshape(-1)
        out = cache.copy()
        for b, start in enumerate(starts):
            where = int(start) + np.arange(steps)
            if self.mode == "circular":
                where %= size
            elif start < 0 or start + steps > size:
                fail(f"batch {b}: writing {steps} steps at {start} overruns a cache of {size}")
            out[b][(slice(None),) * (axis - 1) + (where,)] = update[b]
        return (out,)
