"""Facts: what analysis knows about a wire — dtype, symbolic shape, maybe a constant value.

A shape is a tuple of `int | Dim`. A constant `value` may be an object array holding Dims:
that is how shape arithmetic (`Shape -> Gather -> Concat -> Reshape`) folds symbolically.
`stream` is filled by the pulse transform (streaming/) and says which axis carries time.
"""
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from . import dims, dtypes
from .errors import OptionError


@dataclass(frozen=True)
class StreamInfo:
    """The wire carries a stream along `axis`: full length `dim`, first `delay` frames warm-up."""
    axis: int
    dim: object          # int | Dim: the whole-signal length of this axis
    delay: int = 0

    def __str__(self):
        return f"stream(axis={self.axis}, len={self.dim}, delay={self.delay})"


@dataclass(frozen=True, eq=False)
class Fact:
    dtype: np.dtype
    shape: tuple
    value: Optional[np.ndarray] = None
    stream: Optional[StreamInfo] = None

    def __post_init__(self):
        object.__setattr__(self, "dtype", np.dtype(self.dtype))
        object.__setattr__(self, "shape", tuple(dims.to_dim(d) for d in self.shape))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_const(self) -> bool:
        return self.value is not None

    @property
    def is_concrete(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    def with_shape(self, shape) -> "Fact":
        return replace(self, shape=tuple(shape))

    def with_stream(self, stream) -> "Fact":
        return replace(self, stream=stream)

    def shape_str(self) -> str:
        return ",".join(str(d) for d in self.shape)

    def __str__(self):
        text = f"{dtypes.short_name(self.dtype)}[{self.shape_str()}]"
        if self.value is not None:
            text += "=" + _value_summary(self.value)
        if self.stream is not None:
            text += f" {self.stream}"
        return text

    __repr__ = __str__


@dataclass(frozen=True, eq=False)
class SequenceFact(Fact):
    """A sequence of tensors: `dtype`/`shape` describe every element (dims that differ between
    elements are fresh symbols), `length` counts them, `ranked` is False while the element rank
    is unknown. At run time a sequence is a Python list of arrays."""
    length: object = 0
    ranked: bool = True

    def __str__(self):
        element = f"{dtypes.short_name(self.dtype)}[{self.shape_str() if self.ranked else '?'}]"
        return f"seq({element}, len={self.length})"

    __repr__ = __str__


def const(value, dtype=None) -> Fact:
    """A fact for a known tensor (object arrays of Dims keep their declared integer dtype)."""
    value = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if dtype is None:
        dtype = np.int64 if value.dtype == object and _all_dims(value) else value.dtype
    return Fact(dtype, value.shape, value)


def _all_dims(arr) -> bool:
    return all(isinstance(v, (int, np.integer, dims.Dim)) for v in arr.flat)


def symbolic_array(values, dtype=np.int64) -> np.ndarray:
    """An int array if every entry is concrete, else an object array of `int | Dim`."""
    items = [dims.to_dim(v) for v in values]
    if all(isinstance(v, int) for v in items):
        return np.array(items, dtype=dtype)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def concretize(value):
    """Turn an object array whose entries all became ints back into an int64 array."""
    if isinstance(value, np.ndarray) and value.dtype == object and value.size and \
            all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value.flat):
        return value.astype(np.int64)
    return value


def _value_summary(value) -> str:
    if value.size <= 8:
        flat = ",".join(str(v) for v in value.reshape(-1))
        return f"[{flat}]" if value.ndim else flat
    return "const"


def _top_level_split(text: str) -> list:
    """Split on commas outside parentheses, so `1,min(S,4),32` is three dims."""
    parts, depth, current = [], 0, ""
    for c in text:
        depth += (c == "(") - (c == ")")
        if c == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += c
    return parts + [current]


def parse_fact(text: str, default_dtype=None) -> Fact:
    """Parse `1,S,32,1`, `f32[1,S,32,1]` or `f32,1,S,32,1` (the override syntax of the CLI/API)."""
    text = text.strip()
    dtype = default_dtype
    if "[" in text:
        head, _, rest = text.partition("[")
        if not rest.endswith("]"):
            raise OptionError(f"malformed fact {text!r}: expected dtype[dims]")
        dtype, text = dtypes.parse(head), rest[:-1]
    else:
        first = _top_level_split(text)[0].strip()
        if first in dtypes.SHORT_NAMES:
            dtype, text = dtypes.parse(first), text[len(first):].lstrip(",")
    if dtype is None:
        raise OptionError(f"fact {text!r} has no dtype and the input has none declared")
    parts = [p.strip() for p in _top_level_split(text) if p.strip()] if text.strip() else []
    try:
        shape = tuple(dims.parse(p) for p in parts)
    except dims.DimError as e:
        raise OptionError(f"malformed dimension in fact {text!r}: {e}") from e
    return Fact(dtype, shape)


@dataclass(frozen=True, eq=False)
class DynamicFact(Fact):
    """A wire whose rank depends on which branch of an `If` runs: ONNX lets the branches
    disagree, and only the run decides. `alternatives` are the facts it may take (one per
    analysed case). Ops never infer from it: analysis splits into one case per branch
    (pulsar/divergence.py), and this fact is what the cases leave after merging. Its `shape`
    is empty only so generic code can print it; nothing compiles or fuses through it."""
    alternatives: tuple = ()

    def __str__(self):
        return f"{dtypes.short_name(self.dtype)}[?] (one of " + \
            " | ".join(str(a) for a in self.alternatives) + ")"

    __repr__ = __str__


def dynamic(alternatives) -> Fact:
    """A DynamicFact over `alternatives` (nested DynamicFacts are flattened, duplicates by
    shape dropped); a single alternative is returned as it is."""
    flat = []
    for a in alternatives:
        for b in (a.alternatives if isinstance(a, DynamicFact) else (a,)):
            if not any(b.dtype == c.dtype and b.shape == c.shape for c in flat):
                flat.append(replace(b, value=None) if b.value is not None else b)
    if len(flat) == 1:
        return flat[0]
    return DynamicFact(flat[0].dtype, (), alternatives=tuple(flat))
