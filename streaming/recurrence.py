"""Recurrences along time (LSTM / GRU / RNN, Scan): the state is carried from pulse to pulse.

The batch op is wrapped: each pulse runs it on the pulse's frames with its initial-state inputs
replaced by the session's state arrays, and copies the final state back in place. Frames before
the stream starts (upstream warm-up) are skipped so they never touch the state, and so are the
flush frames after its end once the stream length is known.

Which frames count is the frame-counting kernel PulsePad uses (kernels/pulse.py), on a counter
array in the state that also keeps the stream end (`bind_length`, called by the session when the
length becomes known): interpreted and compiled pulses read the end from there, since compiled
code reads arrays, not the session's symbol bindings.
"""
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pulsar.fact import StreamInfo
from pulsar.kernels.pulse import advance_frames
from pulsar.ops.loop import Scan, Scan8
from pulsar.ops.recurrent import Recurrent
from pulsar.ops.recurrent_emit import emit_steps, output, outputs_fit, prepare

from .ops import StatefulOp, frame_slice, loop_for, stream_end
from .rules import only_first_input_streams, rule


def _pad_frames(x, axis, before, after):
    pad = [(0, 0)] * x.ndim
    pad[axis] = (before, after)
    return np.pad(x, pad)


@dataclass(frozen=True, eq=False)
class Recurrence(StatefulOp):
    """Run `inner` once per pulse with state fed back: state_pairs = ((input, output), ...)."""
    onnx_name: ClassVar[str] = "Recurrence"
    inner: object = None
    state_pairs: tuple = ()
    stream_inputs: tuple = ()      # (input index, axis)
    stream_outputs: tuple = ()     # (output index, axis)
    delay: int = 0
    length: object = None          # whole-stream length of the scanned input (int | Dim)

    @property
    def uses_scope(self):
        return self.inner.uses_scope

    def infer(self, inputs, ctx):
        return self.inner.infer(inputs, ctx)

    def subgraphs(self):
        return self.inner.subgraphs()

    def init_state(self, input_facts, output_facts):
        # [frames seen, stream end (-1 while unknown), started (state initialised)], then the
        # carried state
        states = [np.array([0, stream_end(self.length, {}), 0], dtype=np.int64)]
        for i, o in self.state_pairs:
            f = input_facts[i] if input_facts[i] is not None else output_facts[o]
            value = f.value if f.value is not None else 0
            states.append(np.array(np.broadcast_to(value, f.shape), dtype=f.dtype))
        return states

    def eval_stateful(self, state, ctx, *inputs, scope=None):
        """Run on the frames of this pulse that belong to the stream: not the upstream warm-up
        before it, nor (once the stream length is known) the flush padding after it."""
        counters, carried = state[0], state[1:]
        axis0 = self.stream_inputs[0][1]
        p = inputs[self.stream_inputs[0][0]].shape[axis0]
        _, lo, hi = loop_for(advance_frames, counters.dtype)(counters, p, self.delay, 0)
        args = list(inputs)
        if lo == hi:    # no stream frame in this pulse: shape the outputs, leave the state alone
            return [np.zeros_like(o) for o in self._run(args, scope)]
        for (i, _), array in zip(self.state_pairs, carried):
            if not counters[2]:
                array[...] = np.broadcast_to(inputs[i], array.shape) if inputs[i] is not None else 0
            args[i] = array
        counters[2] = 1
        if (lo, hi) != (0, p):
            for i, axis in self.stream_inputs:
                args[i] = args[i][frame_slice(axis, args[i].ndim, lo, hi)]
        outs = self._run(args, scope)
        for (_, o), array in zip(self.state_pairs, carried):
            array[...] = outs[o]
        if (lo, hi) != (0, p):
            for o, axis in self.stream_outputs:
                outs[o] = _pad_frames(outs[o], axis, lo, p - hi)
        for (_, o), array in zip(self.state_pairs, carried):
            outs[o] = array.copy()
        return outs

    def emit(self, e) -> bool:
        """Compiled pulses of a wrapped LSTM / GRU / RNN (a wrapped Scan stays interpreted):
        the frames counted by eval_stateful's kernel on the same counters, the recurrent kernel
        run in place on the carried state."""
        inner = self.inner
        if not isinstance(inner, Recurrent) or e.state is None or len(self.stream_inputs) != 1:
            return False
        x = e.in_facts[0]
        p, batch = x.shape[self.stream_inputs[0][1]], x.shape[1 - inner.layout]
        ready = prepare(inner, e, lens=np.full(batch, p, np.int32))
        if ready is None:
            return False
        batch, hidden, weights, lens = ready
        state_shape = (1, batch, hidden) if inner.layout == 0 else (batch, 1, hidden)
        y_shape = (p, 1, batch, hidden) if inner.layout == 0 else (batch, p, 1, hidden)
        shapes = [y_shape] + [state_shape] * len(self.state_pairs)
        if not outputs_fit(e, shapes, x.dtype) or self.stream_inputs[0] != (0, inner.layout) or \
                e.state[0].shape != (3,) or e.state[0].dtype != np.int64 or \
                any(a.shape != state_shape or a.dtype != x.dtype for a in e.state[1:]):
            return False
        outs = [output(e, j, shape, x.dtype) for j, shape in enumerate(shapes)]
        counters = e.arg(e.state[0], "st")
        carried = [e.arg(a, "st") for a in e.state[1:]]
        start, lo, hi = e.fresh("start"), e.fresh("lo"), e.fresh("hi")
        e.line(f"{start}, {lo}, {hi} = {e.kernel(advance_frames)}({counters}, {p}, {self.delay}, 0)")
        e.line(f"if {lo} == {hi}:")
        for out in outs:
            e.fill(out, 0, "    ")
        e.line("else:")
        e.line(f"    if {counters}[2] == 0:")
        for (i, _), array in zip(self.state_pairs, carried):
            if i < len(e.ins) and e.ins[i] is not None:
                e.copy(array, e.ins[i], "        ")
            else:
                e.fill(array, 0, "        ")
        e.line(f"    {counters}[2] = 1")
        ys = emit_steps(inner, e, e.ins[0], outs[0], carried, weights, hidden, lens, x.dtype,
                        frames=(lo, hi), indent="    ")
        e.line(f"    {ys}[:{lo}] = 0")
        e.line(f"    {ys}[{hi}:] = 0")
        for (_, o), array in zip(self.state_pairs, carried):
            e.copy(outs[o], array, "    ")
        return True

    def bind_length(self, state, bindings):
        """Keep the stream end (known once the session is flushed) where every pulse reads it."""
        state[0][1] = stream_end(self.length, bindings)

    def done(self, state, bindings) -> bool:
        """Has every frame of the stream gone through (so the final state is final)?"""
        seen, end = int(state[0][0]), int(state[0][1])
        return end >= 0 and seen - self.delay >= end

    def _run(self, args, scope):
        return list(self.inner.eval_scoped(args, scope) if self.uses_scope else self.inner.eval(*args))

    def describe(self):
        return f"{self.inner}, state {len(self.state_pairs)}, delay={self.delay}"


@rule(Recurrent)
def rnn(node, p):
    op = node.op
    x = node.inputs[0]
    s = p.stream(x)
    layout = getattr(op, "layout", 0)
    if s.axis != layout:
        p.fail(node, f"the stream is on axis {s.axis} of X but the sequence axis is {layout}")
    if getattr(op, "direction", "forward") != "forward":
        p.fail(node, f"a {op.direction} recurrence needs the end of the signal first; "
               "run this model in window mode")
    only_first_input_streams(node, p, "X")
    if len(node.inputs) > 4 and node.inputs[4]:
        p.fail(node, "sequence_lens cannot be used while streaming")
    pairs = list(op.carried_states)
    inputs = (list(node.inputs) + [""] * len(op.input_names))[:len(op.input_names)]
    # The final state is the carried state: give it a wire even when the model leaves it unnamed.
    outputs = list(node.outputs) + [""] * (len(pairs) + 1 - len(node.outputs))
    outputs = [w or p.fresh(f"{node.name}.state{i}") for i, w in enumerate(outputs)]
    _wrap(node, p, inputs, pairs, [(0, s.axis)], [(0, s.axis)], s, outputs)


@rule(Scan, Scan8)
def scan(node, p):
    op = node.op
    n_scan = op.num_scan_inputs
    n_state = len(node.inputs) - n_scan
    if p.opsets.get("", 9) < 9:
        p.fail(node, "opset-8 Scan (with a batch axis) cannot stream")
    in_axes = list(op.scan_input_axes or [0] * n_scan)
    in_dirs = list(op.scan_input_directions or [0] * n_scan)
    n_out = len(node.outputs) - n_state
    out_axes = list(op.scan_output_axes or [0] * n_out)
    out_dirs = list(op.scan_output_directions or [0] * n_out)
    streams = []
    for k in range(n_scan):
        w = node.inputs[n_state + k]
        s = p.stream(w)
        rank = p.fact(w).rank
        if s is None or s.axis != in_axes[k] % rank or in_dirs[k]:
            p.fail(node, f"scan input {w!r} must stream forward along its scan axis "
                   f"{in_axes[k]}; got {s}")
        streams.append((n_state + k, s.axis))
    if any(out_dirs):
        p.fail(node, "reversed scan outputs need the end of the signal; use window mode")
    for w in node.inputs[:n_state]:
        if p.stream(w) is not None:
            p.fail(node, f"initial state {w!r} depends on the stream")
    wires, delay = p.aligned([node.inputs[i] for i, _ in streams], node.name)
    inputs = list(node.inputs)
    for (i, _), w in zip(streams, wires):
        inputs[i] = w
    s = p.stream(wires[0])
    outs = [(n_state + k, out_axes[k] % (p.batch.facts[node.outputs[n_state + k]].rank))
            for k in range(n_out)]
    _wrap(node, p, inputs, [(i, i) for i in range(n_state)], streams, outs, s)


def _wrap(node, p, inputs, pairs, stream_inputs, stream_outputs, s, outputs=None):
    op = Recurrence(inner=node.op, state_pairs=tuple(pairs), stream_inputs=tuple(stream_inputs),
                    stream_outputs=tuple(stream_outputs), delay=s.delay, length=s.dim)
    outputs = outputs or node.outputs
    streams = [None] * len(outputs)
    for o, axis in stream_outputs:
        if node.outputs[o]:
            streams[o] = StreamInfo(axis, p.batch.facts[node.outputs[o]].shape[axis], s.delay)
    p.add(node.name, op, inputs, outputs, streams, node.scope_inputs)
    p.notes.append((node.name, f"recurrence: {len(pairs)} state tensor(s) carried across pulses"))
