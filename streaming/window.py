"""Window mode: for models that are not causal over time (e.g. a clip relative to the global
max), run the whole model on the newest `size` frames every `hop` frames.

The window buffer is a preallocated array the session shifts in place; each run's outputs are
appended along each output's stream axis (the axis whose length depends on the window, or a
given one), so a window stage feeds the next stage of a pipeline like any other stream.
"""
import numpy as np

from pulsar import dims
from pulsar.errors import InputError, PulseError

from .ops import frame_slice
from .owner import exclusive


class WindowModel:
    """Window mode: the whole model on the newest `size` frames every `hop` (module doc).
    `start="full"` waits for a full window; "immediate" runs after `hop` frames on a buffer
    pre-filled with `fill`."""

    def __init__(self, model, size, hop, input=None, axis=None, fill=0.0, out_axes=None,
                 start="full"):
        if size < 1 or hop < 1:
            raise PulseError(f"window size and hop must be positive, got size={size} hop={hop}")
        if start not in ("full", "immediate"):
            raise PulseError("start must be 'full' (first run once `size` frames arrived) or "
                             "'immediate' (first run after `hop` frames, on a pre-filled buffer)")
        self.input = input or _single_input(model)
        fact = model.graph.facts[self.input] if model.graph is not None else None
        if fact is None:
            raise PulseError(f"input {self.input!r} has no known shape; declare it when loading")
        self.axis = _stream_axis(fact, axis, self.input)
        dim = fact.shape[self.axis]
        if isinstance(dim, int):
            if dim != size:
                raise PulseError(f"input {self.input!r} takes {dim} frames on axis {self.axis}, "
                                 f"not a window of {size}")
            self.model = model
        else:
            if len(dims.symbols(dim)) != 1 or dim != dims.sym(next(iter(dims.symbols(dim)))):
                raise PulseError(f"input {self.input!r} axis {self.axis} is {dim}; window mode "
                                 "needs a plain symbol or a fixed size there")
            self.model = model.bind(**{str(dim): size})
        self.size, self.hop, self.fill, self.start = size, hop, fill, start
        self.fact = self.model.graph.facts[self.input]
        for a, d in enumerate(self.fact.shape):
            if not isinstance(d, int):
                raise PulseError(f"input {self.input!r} axis {a} is {d}: bind it first "
                                 f"(model.bind({d}=1))")
        self.out_axes = out_axes or [_output_axis(model.graph.facts[w], dim)
                                     for w in model.graph.outputs]

    def session(self) -> "WindowSession":
        return WindowSession(self)


def _single_input(model):
    if len(model.graph.inputs) != 1:
        raise PulseError(f"the model has inputs {', '.join(model.graph.inputs)}: name the "
                         "windowed one with input=...")
    return model.graph.inputs[0]


def _stream_axis(fact, axis, name):
    if axis is not None:
        if not -fact.rank <= axis < fact.rank:
            raise PulseError(f"input {name!r} ({fact}) has no axis {axis}")
        return axis % fact.rank
    symbolic = [a for a, d in enumerate(fact.shape) if not isinstance(d, int)]
    if len(symbolic) != 1:
        raise PulseError(f"input {name!r} ({fact}): name the time axis with axis=...")
    return symbolic[0]


def _output_axis(fact, dim):
    """The output axis whose length follows the window (the run-to-run time axis), else 0."""
    names = dims.symbols(dim)
    hits = [a for a, d in enumerate(fact.shape) if names & dims.symbols(d)]
    return hits[0] if len(hits) == 1 else 0


class WindowSession:
    """push(frames) -> each output's frames from the windows completed by these frames."""

    def __init__(self, window: WindowModel):
        self.window = window
        self.plan = window.model.plan
        self.buffer = np.empty(window.fact.shape, dtype=window.fact.dtype)
        self.reset()

    @exclusive
    def reset(self):
        self.buffer[...] = self.window.fill
        self.seen = 0
        self.since_run = 0

    @exclusive
    def snapshot(self):
        return self.buffer.copy(), self.seen, self.since_run

    @exclusive
    def restore(self, snap):
        buffer, self.seen, self.since_run = snap
        self.buffer[...] = buffer

    @exclusive
    def push(self, chunk) -> list:
        """Shift frames in; run the model each time `hop` new frames completed a window."""
        chunk = self._validated(chunk)
        w, axis = self.window, self.window.axis
        if chunk.shape[axis] == w.hop and self.since_run == 0 and self.seen >= w.size - w.hop:
            self._shift_in(chunk)                   # the steady state: one window per chunk
            self.seen += w.hop
            return list(self.plan.run([self.buffer]))
        outs = [[] for _ in self.window.model.graph.outputs]
        n, done = chunk.shape[axis], 0
        while done < n:
            take = min(n - done, w.hop - self.since_run)
            self._shift_in(chunk[frame_slice(axis, chunk.ndim, done, done + take)])
            done += take
            self.seen += take
            self.since_run += take
            if self.since_run == w.hop and (self.seen >= w.size or w.start == "immediate"):
                for acc, value in zip(outs, self.plan.run([self.buffer])):
                    acc.append(value)
            if self.since_run == w.hop:
                self.since_run = 0
        return [self._join(acc, o) for o, acc in enumerate(outs)]

    @exclusive
    def flush(self) -> list:
        """End of stream. Windows run on a grid of `hop` frames, so a stream holding a full
        window but ending before the first grid point (490 frames, size 490, hop 100) would
        give nothing at all: it gets one run on its newest `size` frames. Otherwise nothing."""
        w = self.window
        first_run = w.hop * -(-w.size // w.hop)
        if w.start == "full" and w.size <= self.seen < first_run:
            return list(self.plan.run([self.buffer]))
        return [self._join([], o) for o in range(len(w.model.graph.outputs))]

    def output_axes(self) -> list:
        return list(self.window.out_axes)

    def _shift_in(self, frames):
        axis, k = self.window.axis, frames.shape[self.window.axis]
        size, rank, b = self.window.size, self.buffer.ndim, self.buffer
        keep = size - k
        if keep > 0:
            b[frame_slice(axis, rank, 0, keep)] = b[frame_slice(axis, rank, k, size)].copy()
            b[frame_slice(axis, rank, keep, size)] = frames
        else:
            b[...] = frames[frame_slice(axis, rank, k - size, k)]

    def _validated(self, chunk):
        chunk = np.asarray(chunk)
        f, axis, name = self.window.fact, self.window.axis, self.window.input
        if chunk.dtype != f.dtype:
            raise InputError(f"input {name!r}: chunk dtype {chunk.dtype}, the model takes {f.dtype}")
        if chunk.ndim != f.rank or any(a != axis and c != d for a, (c, d) in
                                       enumerate(zip(chunk.shape, f.shape))):
            raise InputError(f"input {name!r}: chunk shape {list(chunk.shape)} does not fit "
                             f"{f.shape_str()} with any length on axis {axis}")
        return chunk

    def _join(self, parts, o):
        axis = self.window.out_axes[o]
        if parts:
            return np.concatenate(parts, axis=axis) if len(parts) > 1 else parts[0]
        f = self.window.model.graph.facts[self.window.model.graph.outputs[o]]
        shape = [d if isinstance(d, int) else 0 for d in f.shape]
        shape[axis] = 0
        return np.zeros(shape, dtype=f.dtype)


def window(model, size, hop, **options) -> WindowModel:
    """Run `model` on the newest `size` frames every `hop` frames (see WindowModel)."""
    return WindowModel(model, size, hop, **options)
