"""Ops that exist only in pulsed plans: the delay line and the stream-position pad.

Both are stateful: their state is a list of preallocated arrays the session owns (so reset,
snapshot and restore are one loop over arrays), updated in place once per pulse. Both also
`emit` into compiled plans, reading and writing the same arrays, so interpreted and compiled
pulses can follow each other on one session.
"""
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from pulsar import dims
from pulsar.fact import Fact
from pulsar.ops.base import Op
from pulsar.ops.layout_emit import frames3, movable, scalar, view3


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

    def init_state(self, input_facts, output_facts):
        x = input_facts[0]
        shape = list(x.shape)
        shape[self.axis] = self.delay + self.overlap
        fill = self.fill if x.dtype.kind == "f" else 0
        return [np.full(shape, fill, dtype=x.dtype)]

    def eval_stateful(self, state, ctx, x):
        (buffer,) = state
        kept, p, n = self.delay + self.overlap, x.shape[self.axis], x.shape[self.axis] + self.overlap
        rank, axis = x.ndim, self.axis
        out = np.empty(x.shape[:axis] + (n,) + x.shape[axis + 1:], dtype=x.dtype)
        head = min(kept, n)
        out[frame_slice(axis, rank, 0, head)] = buffer[frame_slice(axis, rank, 0, head)]
        if n > kept:
            out[frame_slice(axis, rank, kept, n)] = x[frame_slice(axis, rank, 0, n - kept)]
        if p >= kept:
            buffer[...] = x[frame_slice(axis, rank, p - kept, p)]
        else:
            buffer[frame_slice(axis, rank, 0, kept - p)] = buffer[frame_slice(axis, rank, p, kept)].copy()
            buffer[frame_slice(axis, rank, kept - p, kept)] = x
        return (out,)

    def emit(self, e):
        """eval_stateful over (outer, frames, inner) views; the history shifts in place."""
        x, out, axis = e.in_facts[0], e.out_facts[0], self.axis
        if e.state is None or not movable(x) or x.rank == 0:
            return False
        (buffer,) = e.state
        kept, p = self.delay + self.overlap, x.shape[axis]
        n = p + self.overlap
        history = tuple(x.shape[:axis]) + (kept,) + tuple(x.shape[axis + 1:])
        if buffer.shape != history or buffer.dtype != x.dtype or out.shape[axis] != n:
            return False
        o3 = view3(e, e.buffer(0), out.shape, axis, contiguous=True)
        x3 = view3(e, e.ins[0], x.shape, axis)
        b3 = view3(e, e.arg(buffer, "state"), buffer.shape, axis, contiguous=True)
        head = min(kept, n)
        if head:
            e.line(f"{o3}[:, 0:{head}, :] = {b3}[:, 0:{head}, :]")
        if n > kept:
            e.line(f"{o3}[:, {kept}:{n}, :] = {x3}[:, 0:{n - kept}, :]")
        if p >= kept:
            if kept:
                e.line(f"{b3}[...] = {x3}[:, {p - kept}:{p}, :]")
            return True
        # keep the newest kept - p frames: a forward element loop, since a slice assignment
        # between overlapping parts of one array would allocate a temporary copy
        outer, _, inner = frames3(buffer.shape, axis)
        b2, o, k = e.fresh("h"), e.fresh("o"), e.fresh("k")
        e.line(f"{b2} = {b3}.reshape(({outer}, {kept * inner}))")
        e.line(f"for {o} in range({outer}):")
        e.line(f"    for {k} in range({(kept - p) * inner}):")
        e.line(f"        {b2}[{o}, {k}] = {b2}[{o}, {k} + {p * inner}]")
        e.line(f"{b3}[:, {kept - p}:{kept}, :] = {x3}")
        return True

    def describe(self):
        fill = f",fill={self.fill:g}" if self.fill else ""
        return f"axis={self.axis},delay={self.delay},overlap={self.overlap}{fill}"


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
        # frames seen so far on this wire; the stream end (-1 while unknown), kept in an array
        # because compiled code reads arrays, not the session's symbol bindings
        return [np.zeros(1, dtype=np.int64), np.array([self._end({})], dtype=np.int64)]

    def bind_length(self, state, bindings):
        """The session calls this once the stream length (hence `end`) is known."""
        state[1][0] = self._end(bindings)

    def _end(self, bindings) -> int:
        end = None if self.end is None else dims.evaluate(self.end, bindings)
        return end if isinstance(end, int) else -1

    def eval_stateful(self, state, ctx, x):
        seen, end = state
        p = x.shape[self.axis]
        start = int(seen[0]) - self.delay      # stream index of this pulse's first frame
        seen[0] += p
        low = max(0, min(p, self.begin - start))
        high = p if end[0] < 0 else max(low, min(p, int(end[0]) - start))
        if low == 0 and high == p:
            return (x,)
        out = x.copy()
        rank = x.ndim
        if low > 0:
            if self.prefix is None:
                out[frame_slice(self.axis, rank, 0, low)] = self.value
            else:
                self._write_prefix(out, start, low)
        if high < p:
            out[frame_slice(self.axis, rank, high, p)] = self.value
        return (out,)

    def emit(self, e):
        """eval_stateful with the pulse's bounds computed at run time from the state arrays."""
        x, axis = e.in_facts[0], self.axis
        if e.state is None or len(e.state) != 2 or not movable(x) or x.rank == 0 or \
                (x.dtype.kind != "f" and not np.isfinite(self.value)):
            return False
        p, fill = x.shape[axis], scalar(self.value, x.dtype)
        prefix = None if self.prefix is None else np.ascontiguousarray(self.prefix, x.dtype)
        if prefix is not None and (prefix.ndim != x.rank or any(
                a != axis and d != n for a, (d, n) in enumerate(zip(prefix.shape, x.shape)))):
            return False
        seen, end = (e.arg(a, "state") for a in e.state)
        start, low, high = e.fresh("start"), e.fresh("low"), e.fresh("high")
        e.line(f"{start} = {seen}[0] - {self.delay}")
        e.line(f"{seen}[0] += {p}")
        e.line(f"{low} = max(0, min({p}, {self.begin} - {start}))")
        e.line(f"{high} = {p} if {end}[0] < 0 else max({low}, min({p}, {end}[0] - {start}))")
        out = e.buffer(0)
        e.line(f"{out}[...] = {e.ins[0]}")
        o3 = view3(e, out, x.shape, axis, contiguous=True)
        if prefix is None:
            e.line(f"{o3}[:, :{low}, :] = {fill}")
        else:
            head, i, j = view3(e, e.arg(prefix, "w"), prefix.shape, axis, contiguous=True), \
                e.fresh("i"), e.fresh("j")
            e.line(f"for {i} in range({low}):")
            e.line(f"    {j} = {start} + {i}")
            e.line(f"    if 0 <= {j} < {prefix.shape[axis]}:")
            e.line(f"        {o3}[:, {i}, :] = {head}[:, {j}, :]")
            e.line("    else:")
            e.line(f"        {o3}[:, {i}, :] = {fill}")
        e.line(f"{o3}[:, {high}:, :] = {fill}")
        return True

    def _write_prefix(self, out, start, low):
        rank, n = out.ndim, self.prefix.shape[self.axis]
        for i in range(low):
            j = start + i
            if 0 <= j < n:
                out[frame_slice(self.axis, rank, i, i + 1)] = self.prefix[frame_slice(self.axis, rank, j, j + 1)]
            else:
                out[frame_slice(self.axis, rank, i, i + 1)] = self.value

    def describe(self):
        prefix = "" if self.prefix is None else f",prefix={self.prefix.shape[self.axis]}"
        return f"axis={self.axis},delay={self.delay},begin={self.begin},end={self.end},value={self.value:g}{prefix}"
