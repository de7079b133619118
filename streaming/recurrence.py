"""Recurrences along time (LSTM / GRU / RNN, Scan): the state is carried from pulse to pulse.

The batch op is wrapped: each pulse runs it on the pulse's frames with its initial-state inputs
replaced by the session's state arrays, and copies the final state back in place. Frames before
the stream starts (upstream warm-up) are skipped so they never touch the state.
"""
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pulsar.fact import StreamInfo

from .ops import StatefulOp, _frames
from .rules import rule


@dataclass(frozen=True, eq=False)
class Recurrence(StatefulOp):
    """Run `inner` once per pulse with state fed back: state_pairs = ((input, output), ...)."""
    onnx_name: ClassVar[str] = "Recurrence"
    inner: object = None
    state_pairs: tuple = ()
    stream_inputs: tuple = ()      # (input index, axis)
    stream_outputs: tuple = ()     # (output index, axis)
    delay: int = 0

    @property
    def uses_scope(self):
        return self.inner.uses_scope

    def infer(self, inputs, ctx):
        return self.inner.infer(inputs, ctx)

    def subgraphs(self):
        return self.inner.subgraphs()

    def init_state(self, input_facts, output_facts):
        states = [np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)]  # frames seen, ready
        for i, o in self.state_pairs:
            f = input_facts[i] if input_facts[i] is not None else output_facts[o]
            value = f.value if f.value is not None else 0
            states.append(np.array(np.broadcast_to(value, f.shape), dtype=f.dtype))
        return states

    def eval_stateful(self, state, ctx, *inputs, scope=None):
        seen, ready, carried = state[0], state[1], state[2:]
        axis0 = self.stream_inputs[0][1]
        p = inputs[self.stream_inputs[0][0]].shape[axis0]
        skip = min(p, max(0, self.delay - int(seen[0])))
        seen[0] += p
        args = list(inputs)
        if skip == p:    # only warm-up frames: shape the outputs, leave the state alone
            outs = self._run(args, scope)
            return [np.zeros_like(o) for o in outs]
        for (i, _), array in zip(self.state_pairs, carried):
            if ready[0]:
                args[i] = array
            else:
                array[...] = np.broadcast_to(inputs[i], array.shape) if inputs[i] is not None else 0
                args[i] = array
        ready[0] = 1
        for i, axis in self.stream_inputs:
            if skip:
                args[i] = args[i][_frames(axis, args[i].ndim, skip, p)]
        outs = self._run(args, scope)
        for (_, o), array in zip(self.state_pairs, carried):
            array[...] = outs[o]
        if skip:
            for o, axis in self.stream_outputs:
                pad = list(outs[o].shape)
                pad[axis] = skip
                outs[o] = np.concatenate([np.zeros(pad, outs[o].dtype), outs[o]], axis=axis)
        return outs

    def _run(self, args, scope):
        return list(self.inner.eval_scoped(args, scope) if self.uses_scope else self.inner.eval(*args))

    def describe(self):
        return f"{self.inner}, state {len(self.state_pairs)}, delay={self.delay}"


@rule("LSTM", "GRU", "RNN")
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
    for w in node.inputs[1:]:
        if p.stream(w) is not None:
            p.fail(node, f"input {w!r} streams; only X may")
    if len(node.inputs) > 4 and node.inputs[4]:
        p.fail(node, "sequence_lens cannot be used while streaming")
    _no_final_state_readers(node, p, node.outputs[1:])
    pairs = [(5, 1)] + ([(6, 2)] if op.onnx_name == "LSTM" else [])
    inputs = list(node.inputs) + [""] * (8 - len(node.inputs))
    inputs = inputs[:7] if op.onnx_name == "LSTM" else inputs[:6]
    # The final state is the carried state: give it a wire even when the model leaves it unnamed.
    outputs = list(node.outputs) + [""] * (len(pairs) + 1 - len(node.outputs))
    outputs = [w or p.fresh(f"{node.name}.state{i}") for i, w in enumerate(outputs)]
    _wrap(node, p, inputs, pairs, [(0, s.axis)], [(0, s.axis)], s, outputs)


@rule("Scan")
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
    _no_final_state_readers(node, p, node.outputs[:n_state])
    wires, delay = p.aligned([node.inputs[i] for i, _ in streams], node.name)
    inputs = list(node.inputs)
    for (i, _), w in zip(streams, wires):
        inputs[i] = w
    s = p.stream(wires[0])
    outs = [(n_state + k, out_axes[k] % (p.batch.facts[node.outputs[n_state + k]].rank))
            for k in range(n_out)]
    _wrap(node, p, inputs, [(i, i) for i in range(n_state)], streams, outs, s)


def _no_final_state_readers(node, p, wires):
    used = {w for n in p.batch.nodes for w in n.inputs} | set(p.batch.outputs)
    for w in wires:
        if w and w in used:
            p.fail(node, f"its final state {w!r} is read downstream; a stream has no final "
                   "state until it ends (use an explicit-state session instead)")


def _wrap(node, p, inputs, pairs, stream_inputs, stream_outputs, s, outputs=None):
    op = Recurrence(inner=node.op, state_pairs=tuple(pairs), stream_inputs=tuple(stream_inputs),
                    stream_outputs=tuple(stream_outputs), delay=s.delay)
    outputs = outputs or node.outputs
    streams = [None] * len(outputs)
    for o, axis in stream_outputs:
        if node.outputs[o]:
            streams[o] = StreamInfo(axis, p.batch.facts[node.outputs[o]].shape[axis], s.delay)
    p.add(node.name, op, inputs, outputs, streams, node.scope_inputs)
    p.notes.append((node.name, f"recurrence: {len(pairs)} state tensor(s) carried across pulses"))
