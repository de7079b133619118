"""Pulsed models and their sessions: push chunks of any length, get each output's new frames.

A session owns the state of every stateful node (delay lines, pads' frame counters, recurrent
state) as preallocated arrays, so reset / snapshot / restore are loops over arrays. Input that
does not fill a whole pulse waits in the session until more arrives or the stream is flushed.
"""
import copy

import numpy as np

from pulsar import compiled, dims, pipeline, tiers
from pulsar.dump import dump_graph
from pulsar.errors import InputError, PulseError
from pulsar.plan import solve_single

from .declare import declare_stream_axis
from .ops import frame_slice
from .owner import exclusive


class PulsedModel:
    """A model pulsed along one symbol; `session()` streams it."""

    def __init__(self, pulsed, batch_graph, compile=None, tier=None):
        self.pulsed = pulsed
        self.tier = tiers.resolve(tier, compile)
        self.compile = tiers.generates_code(self.tier)
        self.graph = pulsed.graph
        self.batch_graph = batch_graph
        self.symbol = pulsed.symbol
        self.pulse = pulsed.pulse
        facts = self.graph.facts
        self.stream_inputs = dict(pulsed.inputs)
        # A stream output has a stream fact; a final output (None) is a value that follows the
        # whole stream, e.g. a classifier on a recurrence's final state: it is recomputed every
        # pulse and equals the whole-signal output once the stream is flushed.
        self.output_streams = [facts[w].stream for w in self.graph.outputs]
        self.output_pulses = [facts[w].shape[s.axis] if s else None for w, s in
                              zip(self.graph.outputs, self.output_streams)]
        first = next(iter(self.stream_inputs))
        self.input_dim = batch_graph.facts[first].shape[self.stream_inputs[first]]
        self.session_options = {}

    @property
    def delay(self) -> list:
        """Per output, how many leading frames of that output are warm-up."""
        return [s.delay if s else 0 for s in self.output_streams]

    @property
    def latency(self) -> list:
        """Per output, its delay in input frames (samples for an audio input)."""
        return [s.delay * self.pulse // p if s else None
                for s, p in zip(self.output_streams, self.output_pulses)]

    def bindings(self, total: int) -> dict:
        """Symbol values for a stream of `total` input frames."""
        if self.input_dim == dims.sym(self.symbol):
            return {self.symbol: total}
        solved = solve_single(self.input_dim, total)
        if solved is None:
            raise PulseError(f"a stream of {total} input frames does not fit the input length "
                             f"{self.input_dim} (for integer {self.symbol})")
        return solved

    def output_length(self, total: int) -> list:
        """Per output, the whole-signal length for `total` input frames (None: final outputs)."""
        bindings = self.bindings(total)
        return [dims.evaluate(s.dim, bindings) if s else None for s in self.output_streams]

    def session(self, pad_value=None, skip_warmup=None, preroll=None) -> "Session":
        """A new stream; options not given come from `configured(...)` (see Session)."""
        given = dict(pad_value=pad_value, skip_warmup=skip_warmup, preroll=preroll)
        options = dict(self.session_options)
        options.update({k: v for k, v in given.items() if v is not None})
        return Session(self, **options)

    def configured(self, **options) -> "PulsedModel":
        """A copy whose sessions default to `options` (pad_value, skip_warmup, preroll): how a
        pipeline stage gets its session options, since a pipeline calls `session()` bare."""
        bad = set(options) - {"pad_value", "skip_warmup", "preroll"}
        if bad:
            raise PulseError(f"unknown session option(s) {', '.join(sorted(bad))}; "
                             "use pad_value, skip_warmup or preroll")
        out = copy.copy(self)
        out.session_options = {**self.session_options, **options}
        return out

    def dump(self, sample_rate=None) -> str:
        lines = [dump_graph(self.graph)]
        for (node, note) in self.pulsed.report:
            lines.append(f"# {node}: {note}")
        plan, total = pipeline.stream_plan(self.graph, self.compile, self.tier), 0
        stateful = [st.node for st in plan.node_steps if getattr(st.node.op, "stateful", False)]
        for node, state in zip(stateful, plan.states):
            size = sum(a.nbytes for a in state)
            total += size
            shapes = ", ".join(f"{a.dtype.name}{list(a.shape)}" for a in state)
            lines.append(f"# state of {node.name}: {shapes} ({size} bytes)")
        lines.append(f"# state in all: {total} bytes, preallocated, updated in place")
        lines += compiled.summary(plan)
        for w, s, lat in zip(self.graph.outputs, self.output_streams, self.latency):
            if s is None:
                lines.append(f"# {w}: final output, recomputed every pulse, exact after flush")
                continue
            text = f"# latency of {w}: {s.delay} frames of that output = {lat} input frames"
            if sample_rate:
                text += f" = {lat / sample_rate * 1e3:.1f} ms at {sample_rate} Hz"
            lines.append(text)
        return "\n".join(lines)


class Session:
    """One stream through a PulsedModel.

    pad_value:   fills the last pulse at `flush()`.
    skip_warmup: drop each output's first `delay` frames, which stand for time before the stream
                 started; the outputs then start with the whole-signal frame 0, which is what a
                 downstream pipeline stage must see.
    preroll:     frames of silence (zeros) fed before the first chunk (after every reset); they
                 are part of the stream, e.g. to align a downstream window grid with another
                 implementation's.
    """

    def __init__(self, model: PulsedModel, pad_value=0.0, skip_warmup=False, preroll=0):
        if int(preroll) < 0:
            raise PulseError(f"preroll must be a number of frames >= 0, got {preroll}")
        self.model = model
        self.pad_value = pad_value
        self.skip_warmup = bool(skip_warmup)
        self.preroll = int(preroll)
        self.plan = pipeline.stream_plan(model.graph, model.compile, model.tier)
        self.inputs = list(model.graph.inputs)
        self.facts = [model.graph.facts[w] for w in self.inputs]
        # One pulse of each input, preallocated: chunks are copied in, a full pulse runs.
        self.pulse_buffers = [np.zeros(f.shape, dtype=f.dtype) for f in self.facts]
        self.reset()

    @exclusive
    def reset(self):
        for state, initial in zip(self.plan.states, self.plan.initial):
            for array, value in zip(state, initial):
                array[...] = value
        self.plan.context.bindings.clear()
        self.pending_frames = 0     # frames waiting in self.pulse_buffers for a whole pulse
        self.carried = None
        self.pushed = 0
        self.emitted = [0] * len(self.model.graph.outputs)   # frames computed, warm-up included
        self.latest = [None] * len(self.model.graph.outputs)  # newest value of final outputs
        self.ended = False
        if self.preroll:
            self.carried = self._pad(self.preroll, 0)   # returned with the first push
            self.pushed = self.preroll

    @exclusive
    def snapshot(self):
        return ([[a.copy() for a in s] for s in self.plan.states],
                [b.copy() for b in self.pulse_buffers], self.pending_frames, self.pushed,
                list(self.emitted), self.ended, dict(self.plan.context.bindings), list(self.latest))

    @exclusive
    def restore(self, snap):
        states, pending, self.pending_frames, self.pushed, emitted, self.ended, bindings, latest = snap
        self.latest = list(latest)
        for state, saved in zip(self.plan.states, states):
            for array, value in zip(state, saved):
                array[...] = value
        for buffer, saved in zip(self.pulse_buffers, pending):
            buffer[...] = saved
        self.emitted = list(emitted)
        self.plan.context.bindings.clear()
        self.plan.context.bindings.update(bindings)

    @exclusive
    def push(self, chunk) -> list:
        """Feed frames (any number); returns each output's newly computed frames."""
        if self.ended:
            raise InputError("the stream was flushed; call reset() to start a new one")
        chunks = self._validated(chunk)
        n = chunks[0].shape[self._axis(0)]
        self.pushed += n
        outs = self._feed(chunks, n)
        if self.carried is not None:
            outs = [new if s is None else np.concatenate([old, new], axis=s.axis)
                    for old, new, s in zip(self.carried, outs, self.model.output_streams)]
            self.carried = None
        return outs

    @exclusive
    def flush(self) -> list:
        """End of stream: pad the last pulse, run until every output is complete."""
        if self.ended:
            raise InputError("the stream was already flushed; call reset() to start a new one")
        self.ended = True
        self.plan.bind(self.model.bindings(self.pushed))
        want = [d + n if n is not None else 0
                for d, n in zip(self.model.delay, self.model.output_length(self.pushed))]
        outs = [[] if c is None else [c] for c in (self.carried or [None] * len(want))]
        self.carried = None
        while any(e < w for e, w in zip(self.emitted, want)) or not self.plan.finished():
            missing = self.model.pulse - self.pending_frames
            for acc, new in zip(outs, self._pad(missing, self.pad_value)):
                acc.append(new)
        result = [self._join(o, i) for i, o in enumerate(outs)]
        return self._trim(result, want)

    def output_axes(self) -> list:
        return [s.axis if s else None for s in self.model.output_streams]

    # -- internals -------------------------------------------------------------------------
    def _axis(self, i):
        return self.facts[i].stream.axis

    def _validated(self, chunk) -> list:
        if isinstance(chunk, dict):
            missing = [w for w in self.inputs if w not in chunk]
            if missing:
                raise InputError(f"missing stream input(s) {', '.join(missing)}")
            chunks = [chunk[w] for w in self.inputs]
        else:
            chunks = [chunk] if len(self.inputs) == 1 else list(chunk)
        if len(chunks) != len(self.inputs):
            raise InputError(f"expected {len(self.inputs)} chunks ({', '.join(self.inputs)})")
        out, frames = [], None
        for w, c, f in zip(self.inputs, chunks, self.facts):
            c = np.asarray(c)
            if c.dtype != f.dtype:
                raise InputError(f"input {w!r}: chunk dtype {c.dtype}, the stream takes {f.dtype}")
            if c.ndim != f.rank:
                raise InputError(f"input {w!r}: chunk of rank {c.ndim} (shape {list(c.shape)}), "
                                 f"the stream takes rank {f.rank} ({f.shape_str()} per pulse, "
                                 f"axis {f.stream.axis} of any length)")
            for a, (got, want) in enumerate(zip(c.shape, f.shape)):
                if a != f.stream.axis and got != want:
                    raise InputError(f"input {w!r}: chunk axis {a} is {got}, the stream takes "
                                     f"{want} (shape {list(c.shape)}, pulse {f.shape_str()})")
            n = c.shape[f.stream.axis]
            if frames is not None and n != frames:
                raise InputError(f"stream inputs must get chunks of equal length, got {frames} and {n}")
            frames = n
            out.append(c)
        return out

    def _pad(self, frames, value) -> list:
        fills = []
        for f in self.facts:
            shape = list(f.shape)
            shape[f.stream.axis] = frames
            fills.append(np.full(shape, value if f.dtype.kind == "f" else 0, dtype=f.dtype))
        return self._feed(fills, frames)

    def _feed(self, chunks, n) -> list:
        """Copy `n` frames of each chunk into the pulse buffers, running every full pulse."""
        pulse, done = self.model.pulse, 0
        if n == pulse and self.pending_frames == 0:     # the steady state: one whole pulse
            for buffer, chunk in zip(self.pulse_buffers, chunks):
                buffer[...] = chunk
            return self._collect([[self._detached(v)] for v in self.plan.run(self.pulse_buffers)])
        produced = [[] for _ in self.model.graph.outputs]
        while done < n:
            take = min(pulse - self.pending_frames, n - done)
            for i, (buffer, chunk) in enumerate(zip(self.pulse_buffers, chunks)):
                axis = self._axis(i)
                buffer[frame_slice(axis, buffer.ndim, self.pending_frames,
                                   self.pending_frames + take)] = \
                    chunk[frame_slice(axis, chunk.ndim, done, done + take)]
            self.pending_frames += take
            done += take
            if self.pending_frames == pulse:
                self.pending_frames = 0
                for acc, value in zip(produced, self.plan.run(self.pulse_buffers)):
                    acc.append(self._detached(value))
        return self._collect(produced)

    def _detached(self, value):
        """Outputs must not alias the pulse buffers, which the next chunk overwrites."""
        if value is not None and any(np.may_share_memory(value, b) for b in self.pulse_buffers):
            return value.copy()
        return value

    def _collect(self, produced) -> list:
        result = [self._join(acc, o) for o, acc in enumerate(produced)]
        for o, r in enumerate(result):
            if self.model.output_streams[o] is None:
                if produced[o]:
                    self.latest[o] = r
                continue
            axis = self.model.output_streams[o].axis
            n = r.shape[axis]
            skip = min(n, max(0, self.model.delay[o] - self.emitted[o]))
            self.emitted[o] += n
            if skip and self.skip_warmup:
                result[o] = r[frame_slice(axis, r.ndim, skip, n)]
        return result

    def _join(self, parts, o):
        if self.model.output_streams[o] is None:     # a final output: its newest value
            return parts[-1] if parts else self._empty(o, 0)
        axis = self.model.output_streams[o].axis
        if not parts:
            return self._empty(o, axis)
        return np.concatenate(parts, axis=axis) if len(parts) > 1 else parts[0]

    def _empty(self, o, axis):
        """Output `o` with 0 frames along `axis`: what a push that ran no pulse returns (for a
        final output, which has no stream axis, axis 0), so every output is always an array."""
        f = self.model.graph.facts[self.model.graph.outputs[o]]
        shape = [d if isinstance(d, int) else 0 for d in f.shape] or [0]
        shape[axis] = 0
        return np.zeros(shape, dtype=f.dtype)

    def _trim(self, result, want):
        out = []
        for o, r in enumerate(result):
            if self.model.output_streams[o] is None:
                out.append(self.latest[o] if self.latest[o] is not None else self._empty(o, 0))
                continue
            axis = self.model.output_streams[o].axis
            excess = self.emitted[o] - want[o]
            if excess > 0:
                r = np.take(r, range(r.shape[axis] - excess), axis=axis)
                self.emitted[o] -= excess
            out.append(r)
        return out


def pulse(model, symbol=None, pulse=None, input=None, axis=None) -> PulsedModel:
    """Pulse an analysed `pulsar.Model` along `symbol` (or a declared input axis)."""
    if pulse is None:
        raise PulseError("give a pulse size in frames of the stream input, e.g. pulse=1280")
    graph, inputs = model.graph, None
    if input is not None:
        graph, symbol = declare_stream_axis(model, input, axis, symbol)
        inputs = {input: axis}
    pulsed = pipeline.pulsed(graph, model.opsets, int(pulse), symbol, inputs)
    return PulsedModel(pulsed, graph, tier=getattr(model, "tier", None))
