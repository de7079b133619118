"""Ops that exist only in pulsed plans: the delay line, its transpose the overlap-add, and the
stream-position pad.

All are stateful: their state is a list of preallocated arrays the session owns (so reset,
snapshot and restore are one loop over arrays), updated in place once per pulse. Each pulse's
loop is a kernel (kernels/delay.py, kernels/pulse.py) that `eval_stateful` calls and `emit`
writes a call to, on the same arrays, so interpreted and compiled pulses compute the same thing
and can follow each other on one session.
"""
import functools
import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from pulsar import dims
from pulsar.emit import COMPILED_DTYPES
from pulsar.fact import Fact
from pulsar.kernels.delay import delay_line_push, overlap_add_push
from pulsar.kernels.jit import current_policy
from pulsar.kernels.pulse import advance_frames, pad_frames
from pulsar.ops.base import Op
from pulsar.ops.layout_emit import movable, scalar, view3


class StatefulOp(Op):
    """An op whose `eval_stateful(state, ctx, *inputs)` reads and updates `state` in place."""
    stateful: ClassVar[bool] = True
    foldable: ClassVar[bool] = False

    def init_state(self, input_facts, output_facts) -> list:
        raise NotImplementedError

    def eval(self, *inputs):
        raise TypeError(f"{self.onnx_name} runs only inside a pulsed plan (it has state)")

    eval_scoped = eval


def frame_slice(axis, rank, start, stop):
    """An index selecting frames [start, stop) along `axis` of a rank-`rank` array."""
    index = [slice(None)] * rank
    index[axis] = slice(start, stop)
    return tuple(index)


@functools.lru_cache(maxsize=256)
def frames3(shape, axis) -> tuple:
    """(outer, frames, inner): `shape` viewed around `axis`, the layout the kernels take.
    Cached: the shapes of a pulsed plan are fixed, and this runs every pulse."""
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])


@functools.lru_cache(maxsize=256)
def with_frames(shape, axis, n) -> tuple:
    """`shape` with `n` frames along `axis`."""
    return shape[:axis] + (n,) + shape[axis + 1:]


@functools.lru_cache(maxsize=64)
def no_frames(dtype, outer, inner):
    """An (outer, 0, inner) array: holds nothing, so one serves every caller."""
    return np.empty((outer, 0, inner), dtype)


def stream_end(end, bindings) -> int:
    """The stream end `end` (an int, a Dim or None) as the frame counters keep it: -1 while
    unknown. A known end below 0 is 0: the stream ends before its first frame."""
    end = None if end is None else dims.evaluate(end, bindings)
    return max(0, end) if isinstance(end, int) else -1


def loop_for(kernel, dtype):
    """What runs `kernel` this pulse: its NumPy twin in tier interpreted, and for dtypes Numba
    cannot compile (float16, strings: the twins' frame copies take any dtype); else the kernel
    (machine code, or its twin until compiled, as the tier says). Going straight to the twin
    spares a kernel call's typing of its arguments (~1 us an array), which is more than these
    once-per-pulse loops cost on small pulses."""
    if dtype not in COMPILED_DTYPES or current_policy() == "interpreted":
        return kernel.twin
    return kernel


def run_frame_buffer(kernel, axis, x, buffer, out_frames):
    """`kernel(x, buffer, out)` on (outer, frames, inner) views along `axis`: one pulse of a
    stateful op whose state is a buffer of frames (Delay, OverlapAdd); returns out, shaped as
    x with `out_frames` frames."""
    outer, p, inner = frames3(x.shape, axis)
    out = np.empty((outer, out_frames, inner), x.dtype)
    # the views' outer and inner sizes agree by construction; reshape checks the buffer's
    loop_for(kernel, x.dtype)(x.reshape(outer, p, inner),
                              buffer.reshape(outer, buffer.shape[axis], inner), out)
    return out.reshape(with_frames(x.shape, axis, out_frames))


def emit_frame_buffer(e, kernel, axis, buffer_frames, out_frames) -> bool:
    """`run_frame_buffer` as a line of generated code, on the node's one state array; False
    when the facts do not fit (state, input or output not of the frames given)."""
    x, out = e.in_facts[0], e.out_facts[0]
    if e.state is None or not movable(x) or x.rank == 0:
        return False
    (buffer,) = e.state
    shape = tuple(x.shape)
    if buffer.shape != with_frames(shape, axis, buffer_frames) or buffer.dtype != x.dtype or \
            tuple(out.shape) != with_frames(shape, axis, out_frames(shape[axis])):
        return False
    x3 = view3(e, e.ins[0], x.shape, axis)
    b3 = view3(e, e.arg(buffer, "state"), buffer.shape, axis, contiguous=True)
    o3 = view3(e, e.buffer(0), out.shape, axis, contiguous=True)
    e.line(f"{e.kernel(kernel)}({x3}, {b3}, {o3})")
    return True


@dataclass(frozen=True)
class Delay(StatefulOp):
    """Delay a stream by `delay` frames and give each pulse `overlap` frames of history.

    Input pulse p frames -> output p + overlap frames: the last `delay + overlap` input frames
    are kept in a zero-initialised buffer (silence is the only sensible pre-roll), so a window
    op downstream sees every frame it needs exactly once per pulse.
    """
    onnx_name: ClassVar[str] = "Delay"
    axis: int = 0
    delay: int = 0
    overlap: int = 0
    fill: float = 0.0           # pre-roll value: the padding value of the window op it feeds

    def infer(self, inputs, ctx):
        x = inputs[0]
        shape = list(x.shape)
        shape[self.axis] = shape[self.axis] + self.overlap
        return [Fact(x.dtype, tuple(shape))]

    def __post_init__(self):
        if self.delay < 0 or self.overlap < 0:     # the kernel relies on out <= history + pulse
            raise ValueError(f"Delay needs delay, overlap >= 0, got {self.delay}, {self.overlap}")

    def init_state(self, input_facts, output_facts):
        x = input_facts[0]
        shape = list(x.shape)
        shape[self.axis] = self.delay + self.overlap
        fill = self.fill if x.dtype.kind == "f" else 0
        return [np.full(shape, fill, dtype=x.dtype)]

    def eval_stateful(self, state, ctx, x):
        return (run_frame_buffer(delay_line_push, self.axis, x, state[0],
                                 x.shape[self.axis] + self.overlap),)

    def emit(self, e):
        """The delay-line kernel on (outer, frames, inner) views of input, history and output."""
        return emit_frame_buffer(e, delay_line_push, self.axis, self.delay + self.overlap,
                                 lambda p: p + self.overlap)

    def describe(self):
        fill = f",fill={self.fill:g}" if self.fill else ""
        return f"axis={self.axis},delay={self.delay},overlap={self.overlap}{fill}"


@dataclass(frozen=True)
class OverlapAdd(StatefulOp):
    """Complete a transposed window's output: add the partial sums carried from earlier pulses.

    Input pulse n + overlap frames -> output n frames: the input is one pulse's own output of a
    window spreading each frame forward (a ConvTranspose run on that pulse alone), whose last
    `overlap` frames still miss the contributions of the next pulses. They are kept in a
    zero-initialised buffer and added to the next pulses' first frames.
    """
    onnx_name: ClassVar[str] = "OverlapAdd"
    axis: int = 0
    overlap: int = 0

    def __post_init__(self):
        if self.overlap < 1:       # nothing to carry: the window op needs no OverlapAdd
            raise ValueError(f"OverlapAdd needs overlap >= 1, got {self.overlap}")

    def infer(self, inputs, ctx):
        x = inputs[0]
        shape = list(x.shape)
        shape[self.axis] = shape[self.axis] - self.overlap
        return [Fact(x.dtype, tuple(shape))]

    def init_state(self, input_facts, output_facts):
        x = input_facts[0]
        return [np.zeros(with_frames(tuple(x.shape), self.axis, self.overlap), dtype=x.dtype)]

    def eval_stateful(self, state, ctx, x):
        return (run_frame_buffer(overlap_add_push, self.axis, x, state[0],
                                 x.shape[self.axis] - self.overlap),)

    def emit(self, e):
        """The overlap-add kernel on (outer, frames, inner) views of input, tail and output."""
        return emit_frame_buffer(e, overlap_add_push, self.axis, self.overlap,
                                 lambda m: m - self.overlap)

    def describe(self):
        return f"axis={self.axis},overlap={self.overlap}"


@dataclass(frozen=True)
class PulsePad(StatefulOp):
    """Overwrite frames outside the valid range [begin, end) of a stream with padding.

    A frame at pulse position t is frame t - delay of the stream. Frames before `begin` become
    `value` (or the rows of `prefix`, for a Concat with a constant head); frames at or after
    `end` (an expression in the stream symbol, known once the stream has ended) become `value`.
    This is how zero padding along time survives upstream warm-up garbage and a padded tail.
    """
    onnx_name: ClassVar[str] = "PulsePad"
    axis: int = 0
    delay: int = 0
    begin: int = 0
    end: object = None          # int | Dim | None (unbounded)
    value: float = 0.0
    prefix: Optional[np.ndarray] = None

    def infer(self, inputs, ctx):
        return [inputs[0]]

    def init_state(self, input_facts, output_facts):
        # [frames seen so far on this wire, the stream end (-1 while unknown)]: in an array,
        # because compiled code reads arrays, not the session's symbol bindings
        return [np.array([0, stream_end(self.end, {})], dtype=np.int64)]

    def bind_length(self, state, bindings):
        """The session calls this once the stream length (hence `end`) is known."""
        state[0][1] = stream_end(self.end, bindings)

    def eval_stateful(self, state, ctx, x):
        p = x.shape[self.axis]
        counters = state[0]
        start, low, high = loop_for(advance_frames, counters.dtype)(counters, p, self.delay,
                                                                    self.begin)
        if low == 0 and high == p:
            return (x,)
        outer, _, inner = frames3(x.shape, self.axis)
        out = np.empty(x.shape, x.dtype)
        fill = x.dtype.type(self.value) if x.dtype in COMPILED_DTYPES else self.value
        # the views' outer and inner sizes agree by construction; reshape checks the prefix's
        loop_for(pad_frames, x.dtype)(x.reshape(outer, p, inner), out.reshape(outer, p, inner),
                                      start, low, high, fill, self._prefix3(x.dtype, outer, inner))
        return (out,)

    def emit(self, e):
        """The same kernels on the state array and (outer, frames, inner) views."""
        x, axis = e.in_facts[0], self.axis
        if e.state is None or not movable(x) or x.rank == 0 or \
                (x.dtype.kind != "f" and not np.isfinite(self.value)):
            return False
        (counters,) = e.state
        p = x.shape[axis]
        if counters.shape != (2,) or counters.dtype != np.int64 or (self.prefix is not None and (
                self.prefix.ndim != x.rank or
                with_frames(tuple(self.prefix.shape), axis, p) != tuple(x.shape))):
            return False
        outer, _, inner = frames3(tuple(x.shape), axis)
        start, low, high = e.fresh("start"), e.fresh("low"), e.fresh("high")
        x3 = view3(e, e.ins[0], x.shape, axis)
        o3 = view3(e, e.buffer(0), x.shape, axis, contiguous=True)
        e.line(f"{start}, {low}, {high} = {e.kernel(advance_frames)}("
               f"{e.arg(counters, 'state')}, {p}, {self.delay}, {self.begin})")
        prefix = e.constant(self._prefix3(x.dtype, outer, inner))
        e.line(f"{e.kernel(pad_frames)}({x3}, {o3}, {start}, {low}, {high}, "
               f"{scalar(self.value, x.dtype)}, {prefix})")
        return True

    def _prefix3(self, dtype, outer, inner):
        """The prefix as (outer, frames, inner) of `dtype`; no frames when there is none."""
        if self.prefix is None:
            return no_frames(dtype, outer, inner)
        prefix = np.ascontiguousarray(self.prefix, dtype)
        return prefix.reshape(outer, prefix.shape[self.axis], inner)

    def describe(self):
        prefix = "" if self.prefix is None else f",prefix={self.prefix.shape[self.axis]}"
        return f"axis={self.axis},delay={self.delay},begin={self.begin},end={self.end},value={self.value:g}{prefix}"
