"""The `Op` base class: one class per ONNX operator holds everything pulsar knows about it.

Fields of an op dataclass are its ONNX attributes (same names, ONNX defaults); `infer` maps input
facts to output facts; `eval` computes outputs from arrays (NumPy glue or a Numba kernel from
`pulsar.kernels`). Analysis folds constants by calling `eval` on known values, including object
arrays of symbolic Dims, so shape arithmetic needs no second implementation.
"""
import dataclasses
from typing import Any, ClassVar, Optional

import numpy as np

from ..errors import InferenceError
from ..fact import Fact


@dataclasses.dataclass(frozen=True)
class Scalar:
    """What an elementwise op computes per element, for the passes that fuse it into a kernel
    (elementwise fusion, conv epilogues): the scalar function `fn` of kernels/scalar.py, or an
    operator "+", "-", "*", "/", of the op's first `operands` inputs (None: all of them), then
    of `params`, floats the op takes from its attributes or constant inputs."""
    fn: str
    params: tuple = ()
    operands: Optional[int] = None

    def data_inputs(self, node) -> list:
        """The node's inputs the function takes as operands (its first `operands`)."""
        return list(node.inputs if self.operands is None else node.inputs[:self.operands])


class Op:
    onnx_name: ClassVar[str] = "?"
    foldable: ClassVar[bool] = True        # False for random ops: never evaluated at analysis
    uses_scope: ClassVar[bool] = False     # True for If/Loop/Scan: eval_scoped gets outer values
    ignored_attrs: ClassVar[tuple] = ()    # legacy attributes with no effect (consumed_inputs, ...)
    # How the op streams, read by streaming/rules.py (None: it cannot, unless the streaming layer
    # registers a rule for its type): "elementwise" (broadcasting; the stream keeps its place
    # from the right), "follows" (the stream is on the first input only and keeps its axis, see
    # `regroups`, `stream_axis`, `stream_refusal`), "window" (a SlidingWindow along time, see
    # `window_along`), "transposed_window" (each frame spreads over a window of output frames,
    # ConvTranspose: overlap-add, see `window_along`, `stream_refusal`) or "frames" (fixed
    # frames along axis 1, see `stream_frames`).
    streams: ClassVar[str | None] = None
    regroups: ClassVar[bool] = False       # "follows" by merging/splitting axes (Squeeze, Flatten)
    reduces: ClassVar[bool] = False        # "follows" unless it reduces over the stream axis

    def stream_axis(self, axis: int, rank: int):
        """The output axis carrying a stream on input axis `axis`, when the op's attributes say
        (Transpose); None: the streaming layer finds it from the shapes."""
        return None

    def stream_refusal(self, axis: int, facts: list):
        """Why the op cannot stream along input axis `axis` (`facts`: its per-pulse input
        facts, constants known), or None. Ops that mix values along an axis refuse that axis."""
        return None

    @classmethod
    def from_onnx(cls, attrs: dict[str, Any], ctx) -> "Op":
        """Build from ONNX attributes; the default maps attributes to same-named fields."""
        return build_from_attrs(cls, attrs, ctx)

    def infer(self, inputs: list, ctx) -> list[Fact]:
        raise NotImplementedError(type(self).__name__ + ".infer")

    def eval(self, *inputs):
        raise NotImplementedError(type(self).__name__ + ".eval")

    def scalar(self, node, consts: dict) -> Optional[Scalar]:
        """The op's value per element as a scalar function, for this `node` (`consts`: the
        graph's constant wires); None when it is not one (the default)."""
        return None

    def subgraphs(self) -> list:
        """Graphs held in attributes (If branches, Loop/Scan bodies)."""
        return []

    def describe(self) -> str:
        """Attributes worth printing in a dump: those differing from their defaults."""
        if not dataclasses.is_dataclass(self):
            return ""
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("_") or not f.repr or _is_default(f, value):
                continue
            parts.append(f"{f.name}={_short(value)}")
        return ",".join(parts)

    def __str__(self):
        details = self.describe()
        return f"{self.onnx_name}({details})" if details else self.onnx_name


def _is_default(f, value) -> bool:
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        return False
    if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
        return False
    try:
        return bool(value == default)
    except Exception:
        return False


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return f"tensor<{value.dtype}{list(value.shape)}>" if value.size > 4 else str(value.tolist())
    if isinstance(value, tuple):
        return "(" + ",".join(_short(v) for v in value) + ")"
    if isinstance(value, float):
        return f"{value:g}"
    if hasattr(value, "nodes"):
        return f"<graph {len(value.nodes)} nodes>"
    return str(value)


def build_from_attrs(cls, attrs: dict[str, Any], ctx):
    """Fill a dataclass op from ONNX attributes; unknown attributes are a clear error."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    attrs = {k: v for k, v in attrs.items() if k not in cls.ignored_attrs}
    unknown = [k for k in attrs if k not in names]
    if unknown:
        raise InferenceError(f"{cls.onnx_name}: unsupported attribute(s) {', '.join(unknown)}")
    kwargs = {}
    for name, value in attrs.items():
        default = names[name].default
        if isinstance(default, tuple) and not isinstance(value, tuple):
            value = (value,)
        elif isinstance(default, float) and isinstance(value, int):
            value = float(value)
        kwargs[name] = value
    return cls(**kwargs)


def mixes_along(stream_axis: int, axis: int, rank: int, from_axis_on=False):
    """`stream_refusal` of ops that normalise or accumulate along `axis` (or every axis from
    it on): any other axis streams."""
    axis %= rank
    if stream_axis >= axis if from_axis_on else stream_axis == axis:
        return f"it normalises or accumulates along the stream axis {stream_axis}"
    return None


def fail(message: str):
    """Raise an InferenceError; analysis prefixes it with the node name and op."""
    raise InferenceError(message)


def need_rank(fact: Fact, what: str, rank=None, min_rank=None):
    if rank is not None and fact.rank != rank:
        fail(f"{what} must have rank {rank}, got {fact}")
    if min_rank is not None and fact.rank < min_rank:
        fail(f"{what} must have rank >= {min_rank}, got {fact}")


def normalize_axis(axis: int, rank: int, what="axis") -> int:
    if not -rank <= axis < max(rank, 1):
        fail(f"{what} {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis
