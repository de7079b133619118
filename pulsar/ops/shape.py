"""Ops that read or rearrange shapes: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze,
Transpose, Expand.

These carry symbolic shape arithmetic: `Shape` knows its value from the input fact alone, and
every `eval` here also runs on object arrays of Dims, so `Shape -> Gather -> Concat -> Reshape`
folds into shapes written in the model's symbols.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..fact import Fact, symbolic_array
from .base import Op, fail
from .broadcast import broadcast_shapes
from ..emit import emit_reshape
from .layout_emit import emit_expand
from .registry import register
from .sizes import (as_int_list, exact_div, fresh_dims, normalize_axes, product, read_ints,
                    scalar_value, shape_str, vector_length)

INT64 = np.dtype(np.int64)


@register("Shape", since=1)
@dataclass(frozen=True)
class Shape(Op):
    start: int = 0
    end: Optional[int] = None

    def infer(self, inputs, ctx):
        dims_ = inputs[0].shape[self.start:self.end]   # ONNX clamps exactly as Python slicing
        return [Fact(INT64, (len(dims_),), symbolic_array(dims_))]

    def eval(self, x):
        return (np.array(x.shape[self.start:self.end], dtype=np.int64),)


@register("Size", since=1)
@dataclass(frozen=True)
class Size(Op):
    def infer(self, inputs, ctx):
        return [Fact(INT64, (), scalar_value(product(inputs[0].shape)))]

    def eval(self, x):
        return (np.array(x.size, dtype=np.int64),)


def reshape_target(in_shape, target, allowzero: int, ctx) -> tuple:
    """Output dims of Reshape: 0 copies the input dim (unless allowzero), -1 is inferred."""
    out, hole = [], None
    for i, d in enumerate(target):
        if isinstance(d, int) and d == 0 and not allowzero:
            if i >= len(in_shape):
                fail(f"shape {shape_str(target)} copies dim {i} (a 0) but the data has rank "
                     f"{len(in_shape)}")
            d = in_shape[i]
        elif isinstance(d, int) and d == -1:
            if hole is not None:
                fail(f"shape {shape_str(target)} has more than one -1")
            hole = i
        elif isinstance(d, int) and d < 0:
            fail(f"shape {shape_str(target)} has a negative dim {d}")
        out.append(d)
    total = product(in_shape)
    if hole is None:
        check_same_size(in_shape, out)
        return tuple(out)
    known = product(out[:hole] + out[hole + 1:])
    missing = exact_div(total, known)
    if missing is None:
        if isinstance(total, int) and isinstance(known, int):
            fail(f"cannot reshape {shape_str(in_shape)} ({total} elements) to "
                 f"{shape_str(target)}: {total} is not a multiple of {known}")
        missing = ctx.fresh_symbol("reshape")
    out[hole] = missing
    return tuple(out)


def check_same_size(in_shape, out_shape):
    diff = product(in_shape) - product(out_shape)
    if isinstance(diff, int) and diff != 0:
        fail(f"cannot reshape {shape_str(in_shape)} ({product(in_shape)} elements) to "
             f"{shape_str(out_shape)} ({product(out_shape)} elements)")


def run_reshape(x, target, allowzero: int):
    shape = [x.shape[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
    try:
        return x.reshape(shape)
    except ValueError:
        fail(f"cannot reshape data of shape {list(x.shape)} to {list(target)}")


@register("Reshape", since=5)
@dataclass(frozen=True)
class Reshape(Op):
    allowzero: int = 0
    emit = emit_reshape

    def infer(self, inputs, ctx):
        x, shape = inputs
        target = read_ints(shape, "shape input")
        if target is None:
            n = vector_length(shape, "shape input")
            return [Fact(x.dtype, fresh_dims(ctx, n, "reshape"))]
        return [Fact(x.dtype, reshape_target(x.shape, target, self.allowzero, ctx))]

    def eval(self, x, shape):
        return (run_reshape(x, as_int_list(shape, "shape input"), self.allowzero),)


@register("Reshape", since=1)
@dataclass(frozen=True)
class ReshapeV1(Op):
    """Opset 1-4: the target shape is an attribute."""
    shape: tuple = ()
    ignored_attrs = ("consumed_inputs",)
    emit = emit_reshape

    def infer(self, inputs, ctx):
        return [Fact(inputs[0].dtype, reshape_target(inputs[0].shape, list(self.shape), 0, ctx))]

    def eval(self, x):
        return (run_reshape(x, list(self.shape), 0),)


@register("Flatten", since=1)
@dataclass(frozen=True)
class Flatten(Op):
    streams = "follows"
    regroups = True
    axis: int = 1
    emit = emit_reshape

    def infer(self, inputs, ctx):
        x = inputs[0]
        axis = self._axis(x.rank)
        return [Fact(x.dtype, (product(x.shape[:axis]), product(x.shape[axis:])))]

    def _axis(self, rank):
        if not -rank <= self.axis <= rank:   # axis == rank is allowed: [N, 1]
            fail(f"axis {self.axis} is out of range for rank {rank}")
        return self.axis + rank if self.axis < 0 else self.axis

    def eval(self, x):
        axis = self._axis(x.ndim)
        return (x.reshape(product(x.shape[:axis]), product(x.shape[axis:])),)


@register("Squeeze", since=13)
@dataclass(frozen=True)
class Squeeze(Op):
    streams = "follows"
    regroups = True
    emit = emit_reshape
    def infer(self, inputs, ctx):
        x = inputs[0]
        axes = self._axes(inputs)
        if axes is None:
            n = vector_length(inputs[1], "axes input")
            return [Fact(x.dtype, fresh_dims(ctx, x.rank - n, "squeeze"))]
        if not axes:   # no axes: drop every 1; a symbolic dim is taken as not 1
            return [Fact(x.dtype, tuple(d for d in x.shape if not (isinstance(d, int) and d == 1)))]
        axes = normalize_axes(axes, x.rank)
        for a in axes:
            if isinstance(x.shape[a], int) and x.shape[a] != 1:
                fail(f"cannot squeeze axis {a} of size {x.shape[a]} (data {x})")
        return [Fact(x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in axes))]

    def _axes(self, inputs):
        if len(inputs) < 2 or inputs[1] is None:
            return []
        return read_ints(inputs[1], "axes input")

    def eval(self, x, axes=None):
        if axes is None or np.asarray(axes).size == 0:
            return (np.squeeze(x),)
        axes = normalize_axes(as_int_list(axes, "axes input"), x.ndim)
        bad = [a for a in axes if x.shape[a] != 1]
        if bad:
            fail(f"cannot squeeze axis {bad[0]} of size {x.shape[bad[0]]} (data shape "
                 f"{list(x.shape)})")
        return (np.squeeze(x, axis=tuple(axes)),)


@register("Squeeze", since=1)
@dataclass(frozen=True)
class SqueezeV1(Squeeze):
    """Opset 1-12: axes are an attribute."""
    axes: tuple = ()

    def _axes(self, inputs):
        return list(self.axes)

    def eval(self, x):
        return super().eval(x, np.array(self.axes, dtype=np.int64))


@register("Unsqueeze", since=13)
@dataclass(frozen=True)
class Unsqueeze(Op):
    streams = "follows"
    regroups = True
    emit = emit_reshape
    def infer(self, inputs, ctx):
        x = inputs[0]
        axes = self._axes(inputs)
        if axes is None:
            n = vector_length(inputs[1], "axes input")
            return [Fact(x.dtype, fresh_dims(ctx, x.rank + n, "unsqueeze"))]
        axes = normalize_axes(axes, x.rank + len(axes))
        rest = iter(x.shape)
        return [Fact(x.dtype, tuple(1 if i in axes else next(rest)
                                    for i in range(x.rank + len(axes))))]

    def _axes(self, inputs):
        return read_ints(inputs[1], "axes input")

    def eval(self, x, axes):
        axes = as_int_list(axes, "axes input")
        return (np.expand_dims(x, tuple(normalize_axes(axes, x.ndim + len(axes)))),)


@register("Unsqueeze", since=1)
@dataclass(frozen=True)
class UnsqueezeV1(Unsqueeze):
    """Opset 1-12: axes are an attribute."""
    axes: tuple = ()

    def _axes(self, inputs):
        return list(self.axes)

    def eval(self, x):
        return super().eval(x, np.array(self.axes, dtype=np.int64))


@register("Transpose", since=1)
@dataclass(frozen=True)
class Transpose(Op):
    streams = "follows"
    
    def stream_axis(self, axis, rank):
        return list(self._perm(rank)).index(axis)
    
    perm: tuple = ()

    def infer(self, inputs, ctx):
        x = inputs[0]
        return [Fact(x.dtype, tuple(x.shape[p] for p in self._perm(x.rank)))]

    def _perm(self, rank):
        if not self.perm:
            return tuple(range(rank - 1, -1, -1))
        if sorted(self.perm) != list(range(rank)):
            fail(f"perm {list(self.perm)} is not a permutation of the {rank} axes")
        return self.perm

    def eval(self, x):
        return (np.transpose(x, self._perm(x.ndim)),)

    def emit(self, e):
        perm = self._perm(e.in_facts[0].rank)
        buf = e.buffer(0)
        e.copy(buf, e.transposed(e.ins[0], perm) if len(perm) > 1 else e.ins[0])
        return True


@register("Expand", since=8)
@dataclass(frozen=True)
class Expand(Op):
    streams = "follows"
    def infer(self, inputs, ctx):
        x, shape = inputs
        target = read_ints(shape, "shape input")
        if target is None:
            n = vector_length(shape, "shape input")
            rank = max(n, x.rank)
            padded = (1,) * (rank - x.rank) + x.shape
            return [Fact(x.dtype, tuple(d if isinstance(d, int) and d != 1 else
                                        ctx.fresh_symbol("expand") for d in padded))]
        if any(isinstance(d, int) and d < 0 for d in target):
            fail(f"shape input {shape_str(target)} has a negative dim")
        return [Fact(x.dtype, broadcast_shapes(x.shape, tuple(target)))]

    def eval(self, x, shape):
        target = as_int_list(shape, "shape input")
        try:
            out_shape = np.broadcast_shapes(x.shape, tuple(target))
        except ValueError:
            fail(f"cannot expand data of shape {list(x.shape)} to {target}")
        return (np.array(np.broadcast_to(x, out_shape)),)

    def emit(self, e):
        return emit_expand(e)
