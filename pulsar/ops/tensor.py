"""Ops that cut and join tensors along axes: Concat, Split, Slice, Tile.

Slicing a symbolic axis assumes the model is exported for lengths where its offsets make sense:
a concrete offset lies inside a symbolic axis (`x[:, :-1]` of length S has S-1 frames, not
max(S-1, 0)), as tract does; ends of 2**31-1 or more mean "to the end".
"""
import dataclasses
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .. import dims
from ..fact import Fact
from .base import Op, fail, normalize_axis
from .layout_emit import along, constant_ints, movable, span
from .registry import register
from .sizes import (HUGE, as_int_list, exact_div, fresh_dims, merge_dim, normalize_axes,
                    read_ints, same_dim, shape_str)


@register("Concat", since=4)
@dataclass(frozen=True)
class Concat(Op):
    axis: Optional[int] = None

    def infer(self, inputs, ctx):
        xs = [x for x in inputs if x is not None]
        if not xs:
            fail("needs at least one input")
        first = xs[0]
        axis = self._axis(first.rank)
        for i, x in enumerate(xs):
            if x.dtype != first.dtype or x.rank != first.rank:
                fail(f"input {i} is {x} but input 0 is {first}: dtypes and ranks must match")
        shape = list(first.shape)
        for i, x in enumerate(xs[1:], 1):
            for a, (d, e) in enumerate(zip(shape, x.shape)):
                if a == axis:
                    shape[a] = d + e
                elif not same_dim(d, e):
                    fail(f"input {i} has dim {e} on axis {a} but input 0 has {d} "
                         f"(concatenating on axis {axis})")
                else:
                    shape[a] = merge_dim(d, e)
        return [Fact(first.dtype, tuple(shape))]

    def _axis(self, rank):
        if self.axis is None:
            fail("the axis attribute is required")
        return normalize_axis(self.axis, rank)

    def eval(self, *xs):
        xs = [x for x in xs if x is not None]
        try:
            return (np.concatenate(xs, axis=self._axis(xs[0].ndim)),)
        except ValueError:
            fail("cannot concatenate shapes " + ", ".join(str(list(x.shape)) for x in xs))

    def emit(self, e):
        out = e.out_facts[0]
        if out.rank == 0 or not movable(out):
            return False
        axis, at = self._axis(out.rank), 0
        buf = e.buffer(0)
        for x, f in zip(e.ins, e.in_facts):
            if x is not None and f.shape[axis]:
                e.copy(f"{buf}[{along(axis, out.rank, span(at, at + f.shape[axis]))}]", x)
                at += f.shape[axis]
        return at == out.shape[axis]


@register("Concat", since=1)
@dataclass(frozen=True)
class ConcatV1(Concat):
    """Opset 1-3: axis is optional and defaults to 1."""
    axis: Optional[int] = 1


MAX_OUTPUTS = 1 << 16   # a node with more outputs than this is not a real model


def split_sizes(n, split, count: int, num_outputs):
    """Chunk lengths along the split axis (ints or Dims)."""
    if split is not None:
        if len(split) != count:
            fail(f"split {shape_str(split)} has {len(split)} entries for {count} outputs")
        if any(isinstance(d, int) and d < 0 for d in split):
            fail(f"split {shape_str(split)} holds a negative size")
        total = sum(split)
        if isinstance(total - n, int) and total != n:
            fail(f"split {shape_str(split)} sums to {total}, the axis has {n}")
        return list(split)
    if num_outputs is not None:   # opset 18: ceil-sized chunks, the last one smaller
        if not 1 <= count <= MAX_OUTPUTS:
            fail(f"num_outputs {count} is out of range")
        chunk = -((-n) // count) if isinstance(n, int) else (n + count - 1) // count
        last = n - chunk * (count - 1)
        if isinstance(last, int) and last < 0:
            fail(f"cannot split {n} into {count} chunks of {chunk}")
        return [chunk] * (count - 1) + [last]
    chunk = exact_div(n, count)
    if chunk is None:
        if isinstance(n, int):
            fail(f"cannot split an axis of {n} into {count} equal parts")
        chunk = n // count
    return [chunk] * count


@register("Split", since=13)
@dataclass(frozen=True)
class Split(Op):
    axis: int = 0
    num_outputs: Optional[int] = None
    # outputs the node asks for: eval needs it when sizes are not given
    outputs: int = dataclasses.field(default=0, repr=False)

    def infer(self, inputs, ctx):
        x = inputs[0]
        if not self.outputs:   # ImportContext does not expose the node's outputs (yet)
            object.__setattr__(self, "outputs", ctx.n_outputs)
        axis = normalize_axis(self.axis, x.rank)
        count = self.num_outputs or ctx.n_outputs
        split = self._split(inputs)
        if split is None and len(inputs) > 1 and inputs[1] is not None:
            sizes = fresh_dims(ctx, count, "split")
        else:
            sizes = split_sizes(x.shape[axis], split, count, self.num_outputs)
        return [Fact(x.dtype, x.shape[:axis] + (d,) + x.shape[axis + 1:]) for d in sizes]

    def _split(self, inputs):
        return read_ints(inputs[1], "split input") if len(inputs) > 1 else None

    def eval(self, x, split=None):
        axis = normalize_axis(self.axis, x.ndim)
        split = None if split is None else as_int_list(split, "split input")
        sizes = split_sizes(x.shape[axis], split, self.num_outputs or self.outputs,
                            self.num_outputs)
        return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))

    def emit(self, e):
        """Each output copies its part; the parts' lengths are the outputs' static facts."""
        x = e.in_facts[0]
        if x.rank == 0 or not movable(x) or any(f is None for f in e.out_facts):
            return False
        axis, at = normalize_axis(self.axis, x.rank), 0
        for j, f in enumerate(e.out_facts):
            buf, n = e.buffer(j), f.shape[axis]
            if n:
                e.copy(buf, f"{e.ins[0]}[{along(axis, x.rank, span(at, at + n))}]")
            at += n
        return at == x.shape[axis]


@register("Split", since=2)
@dataclass(frozen=True)
class SplitV2(Split):
    """Opset 2-12: sizes are the `split` attribute."""
    split: tuple = ()

    def _split(self, inputs):
        return list(self.split) or None

    def eval(self, x):
        return super().eval(x, np.array(self.split, dtype=np.int64) if self.split else None)


def clamp_index(v, n, step, is_end):
    """Start/end resolved against dim n as ONNX does; symbolic values are assumed in range."""
    if isinstance(v, int) and isinstance(n, int):
        v = v + n if v < 0 else v
        return min(max(v, -1 if is_end else 0), n - 1) if step < 0 else min(max(v, 0), n)
    if isinstance(v, int) and v >= HUGE:
        return n if step > 0 else n - 1
    if isinstance(v, int) and v <= -HUGE:
        return 0 if step > 0 or not is_end else -1
    if isinstance(v, int) and v < 0 or _negative(v):
        return v + n
    if isinstance(n, int) and step > 0:
        return dims.dmin(v, n)
    return v


def _negative(v) -> bool:
    bound = dims.upper_bound(v)
    return bound is not None and bound < 0


def slice_bounds(n: int, start: int, end: int, step: int) -> tuple:
    """ONNX's clamping of a slice of an axis of n: Python's `slice.indices`, except that a start
    before the axis with a negative step clamps to 0 (Python's slices then select nothing)."""
    if step < 0 and start < -n:
        start = 0
    return slice(start, end, step).indices(n)


def as_slice(start: int, stop: int, step: int) -> slice:
    """A Python slice for `slice_bounds`' result (stop -1 there means 'through index 0')."""
    return slice(start, None if stop < 0 else stop, step)


def slice_length(n, start, end, step):
    if step == 0:
        fail("steps hold a 0")
    if not isinstance(step, int):
        return None
    if all(isinstance(v, int) for v in (n, start, end)):
        return len(range(*slice_bounds(n, start, end, step)))
    s, e = clamp_index(start, n, step, False), clamp_index(end, n, step, True)
    length = (e - s + step - 1) // step if step > 0 else (s - e - step - 1) // (-step)
    return max(length, 0) if isinstance(length, int) else length


@register("Slice", since=10)
@dataclass(frozen=True)
class Slice(Op):
    def infer(self, inputs, ctx):
        x = inputs[0]
        starts, ends, axes, steps = self._args(inputs)
        if axes is None:
            return [Fact(x.dtype, fresh_dims(ctx, x.rank, "slice"))]
        axes = normalize_axes(axes, x.rank)
        shape = list(x.shape)
        known = starts is not None and ends is not None and steps is not None
        if known and not len(starts) == len(ends) == len(axes) == len(steps):
            fail(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} differ in length")
        for i, a in enumerate(axes):
            n = slice_length(shape[a], starts[i], ends[i], steps[i]) if known else None
            shape[a] = ctx.fresh_symbol("slice") if n is None else n
        return [Fact(x.dtype, tuple(shape))]

    def _args(self, inputs):
        """starts, ends, axes, steps as lists (None when unknown)."""
        starts, ends = read_ints(inputs[1], "starts"), read_ints(inputs[2], "ends")
        axes_fact, steps_fact = (inputs[i] if len(inputs) > i else None for i in (3, 4))
        if axes_fact is not None:
            axes = read_ints(axes_fact, "axes")
        else:   # the first len(starts) axes, known from the static length even without values
            count = inputs[1].shape[0] if inputs[1].rank == 1 else None
            axes = list(range(count)) if isinstance(count, int) else None
        if steps_fact is not None:
            steps = read_ints(steps_fact, "steps")
        else:
            steps = None if axes is None else [1] * len(axes)
        return starts, ends, axes, steps

    def eval(self, x, starts, ends, axes=None, steps=None):
        starts, ends = as_int_list(starts, "starts"), as_int_list(ends, "ends")
        axes = list(range(len(starts))) if axes is None else as_int_list(axes, "axes")
        steps = [1] * len(axes) if steps is None else as_int_list(steps, "steps")
        if not len(starts) == len(ends) == len(axes) == len(steps):
            fail(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} differ in length")
        if 0 in steps:
            fail(f"steps {steps} hold a 0")
        index = [slice(None)] * x.ndim
        for a, s, e, step in zip(normalize_axes(axes, x.ndim), starts, ends, steps):
            index[a] = as_slice(*slice_bounds(x.shape[a], s, e, step))
        return (x[tuple(index)],)

    def emit(self, e):
        x, out = e.in_facts[0], e.out_facts[0]
        args = self._constant_args(e)
        if x.rank == 0 or not movable(x) or args is None:
            return False
        starts, ends, axes, steps = args
        if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
            return False
        index = [":"] * x.rank
        for a, s, stop, step in zip(normalize_axes(axes, x.rank), starts, ends, steps):
            start, stop, step = slice_bounds(x.shape[a], s, stop, step)
            if len(range(start, stop, step)) != out.shape[a]:
                return False
            index[a] = span(start, stop, step)
        buf = e.buffer(0)
        if all(out.shape):
            e.copy(buf, f"{e.ins[0]}[{', '.join(index)}]")
        return True

    def _constant_args(self, e):
        """starts, ends, axes, steps as int lists when all are constants, else None."""
        starts, ends = constant_ints(e.const(1)), constant_ints(e.const(2))
        given = [i for i in (3, 4) if len(e.ins) > i and e.ins[i] is not None]
        axes = constant_ints(e.const(3)) if 3 in given else \
            (None if starts is None else list(range(len(starts))))
        steps = constant_ints(e.const(4)) if 4 in given else \
            (None if axes is None else [1] * len(axes))
        return None if None in (starts, ends, axes, steps) else (starts, ends, axes, steps)


@register("Slice", since=1)
@dataclass(frozen=True)
class SliceV1(Slice):
    """Opset 1-9: starts, ends and axes are attributes; steps are 1."""
    starts: tuple = ()
    ends: tuple = ()
    axes: tuple = ()

    def _args(self, inputs):
        axes = list(self.axes) or list(range(len(self.starts)))
        return list(self.starts), list(self.ends), axes, [1] * len(axes)

    def eval(self, x):
        axes = np.array(self.axes or range(len(self.starts)), dtype=np.int64)
        return super().eval(x, np.array(self.starts, dtype=np.int64),
                            np.array(self.ends, dtype=np.int64), axes)

    def _constant_args(self, e):
        return self._args(None)


@register("Tile", since=6)
@dataclass(frozen=True)
class Tile(Op):
    streams = "follows"
    def infer(self, inputs, ctx):
        x, repeats = inputs
        reps = read_ints(repeats, "repeats input")
        if reps is None:
            return [Fact(x.dtype, fresh_dims(ctx, x.rank, "tile"))]
        self._check(reps, x.rank)
        return [Fact(x.dtype, tuple(d * r for d, r in zip(x.shape, reps)))]

    @staticmethod
    def _check(reps, rank):
        if len(reps) != rank:
            fail(f"repeats {shape_str(reps)} has {len(reps)} entries for input rank {rank}")
        if any(isinstance(r, int) and r < 0 for r in reps):
            fail(f"repeats {shape_str(reps)} hold a negative count")

    def eval(self, x, repeats):
        reps = as_int_list(repeats, "repeats input")
        self._check(reps, x.ndim)
        return (np.tile(x, reps),)

    def emit(self, e):
        """The output viewed as (r0, d0, r1, d1, ...) is the input broadcast along each r."""
        x, out = e.in_facts[0], e.out_facts[0]
        reps = constant_ints(e.const(1))
        if x.rank == 0 or not movable(x) or reps is None or len(reps) != x.rank:
            return False
        buf = e.buffer(0)
        if all(out.shape):
            split = tuple(d for pair in zip(reps, x.shape) for d in pair)
            spread = tuple(d for n in x.shape for d in (1, n))
            e.copy(e.view(buf, split), f"np.broadcast_to({e.view(e.ins[0], spread)}, {split})")
        return True
