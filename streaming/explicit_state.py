"""Explicit-state mode: models that take their state as inputs and return it as outputs
(a VAD's `state` -> `stateN`, an RNN's `h0` -> `hn`). The session loops named outputs back
into named inputs across calls, in preallocated arrays.

Exporters leave such models general where a stream is not: a batch symbol in the state's
shape, a sample-rate input fed the same value on every call, a chunk length left symbolic.
`stateful` settles them once: a state symbol is bound to 1 (one stream), `constants` are bound
at load (an `If` on the sample rate folds away), `chunk` fixes the chunk length. Silero v5
expects each chunk prefixed with the last samples of the previous input (its "context": 64
samples at 16 kHz before each 512-sample chunk, 32 at 8 kHz before 256); `context=` declares
that, and the session keeps and prepends those samples itself.
"""
import numpy as np

from pulsar import dims, pipeline
from pulsar.api import Model
from pulsar.errors import InputError, PulseError
from .owner import exclusive


class StatefulModel:
    """A model whose state is explicit (inputs in, outputs out), looped back by its sessions."""

    def __init__(self, model, state: dict, init: dict = None, constants: dict = None,
                 context: int = 0, chunk: int = None):
        """state: {input name: output name}; init: {input name: initial array} (default zeros);
        constants: {input name: value} fed on every call (bound at load, e.g. {"sr": 16000});
        context: samples of the previous input prepended to each chunk (last axis);
        chunk: samples per pushed chunk (binds the data input's length symbol to
        chunk + context)."""
        self.notes = []
        self.context = int(context)
        model = self._settled(model, state, constants or {}, int(context), chunk)
        g = model.graph
        if g is None:
            raise PulseError("declare the model's input shapes when loading it")
        for i, o in state.items():
            if o not in g.outputs:
                raise PulseError(f"state output {o!r} is not an output; outputs: {', '.join(g.outputs)}")
            fi, fo = g.facts[i], g.facts[o]
            if not fi.is_concrete:
                raise PulseError(f"state input {i!r} ({fi}) must have a concrete shape: bind its "
                                 "symbols when loading (symbols={...})")
            if fi.dtype != fo.dtype or (fo.is_concrete and fi.shape != fo.shape):
                raise PulseError(f"state output {o!r} ({fo}) does not match input {i!r} ({fi})")
        self.model = model
        self.state = dict(state)
        self.init = {k: np.asarray(v, dtype=g.facts[k].dtype) for k, v in (init or {}).items()}
        self.data_inputs = [w for w in g.inputs if w not in state]
        self.state_slots = [(g.inputs.index(i), g.outputs.index(o)) for i, o in state.items()]
        self.signal = signal_input(self.data_inputs, g.facts)
        if self.context and self.signal is None:
            raise PulseError(f"context= needs one data input with a time axis, the model has "
                             f"{', '.join(self.data_inputs) or 'none'}")

    def _settled(self, model, state, constants, context, chunk):
        """The model with constants bound, then state symbols bound to 1 and the chunk length
        fixed (each noted for `dump`)."""
        inputs = model.raw_graph.inputs
        for i in state:
            if i not in inputs:
                raise PulseError(f"state input {i!r} is not an input; inputs: {', '.join(inputs)}")
        compile = model.compile
        if constants:
            declared = {w: f for w, f in model.declared.items() if w not in constants}
            model = Model(pipeline.bind_values(model.raw_graph, constants), model.opsets,
                          declared, model.optimize, False)
            self.notes.append("constant inputs bound at load: " +
                              ", ".join(f"{k}={v}" for k, v in constants.items()))
        bind = {}
        if chunk is not None:
            self._bind_chunk(model, state, chunk + context, bind)
        for i in state:
            fact = model.declared[i]
            for d in () if fact is None else fact.shape:
                name = _plain_symbol(d)
                if name is not None and name not in bind:
                    bind[name] = 1
                    self.notes.append(f"{name}=1 bound: state {i!r} is {fact} (one stream)")
        if not constants and not bind:
            extra = self._state_output_symbols(model, state)
            return _rebound(model, extra, compile) if extra else model
        if bind:        # analysed only: compiled once, after the last binding
            model = _rebound(model, bind, False)
        return _rebound(model, self._state_output_symbols(model, state), compile)

    def _state_output_symbols(self, model, state) -> dict:
        """Input symbols that a state output's shape uses where its input has a number
        (silero's default file names the batch differently in `input` and `state`)."""
        g = model.graph
        if g is None:
            return {}
        known = set().union(*(dims.symbols(d) for f in model.declared.values()
                              if f is not None for d in f.shape))
        bind = {}
        for i, o in state.items():
            fi, fo = g.facts[i], g.facts.get(o)
            if fo is None or fo.rank != fi.rank:
                continue
            for di, do in zip(fi.shape, fo.shape):
                name = _plain_symbol(do)
                if isinstance(di, int) and name in known and name not in bind:
                    bind[name] = di
                    self.notes.append(f"{name}={di} bound: state output {o!r} is {fo}, "
                                      f"its input {i!r} {fi}")
        return bind

    def _bind_chunk(self, model, state, length, bind):
        data = [w for w in model.raw_graph.inputs if w not in state]
        name = signal_input(data, model.declared)
        if name is None:
            raise PulseError(f"chunk= needs one data input with a time axis, the model has "
                             f"{', '.join(data) or 'none'}")
        fact = model.declared[name]
        d = fact.shape[-1]
        if _plain_symbol(d) is not None:
            bind[_plain_symbol(d)] = length
            self.notes.append(f"{d}={length} bound: {name!r} gets {length} samples per call")
        elif d != length:
            raise PulseError(f"chunk + context is {length} samples but {name!r} takes {fact}")

    def dump(self) -> str:
        """The model's dump, then the state loop, what was bound, and the context."""
        lines = [self.model.dump(), "# explicit state: " +
                 ", ".join(f"{o} -> {i}" for i, o in self.state.items())]
        lines += [f"# {note}" for note in self.notes]
        if self.context:
            lines.append(f"# context: the last {self.context} samples of each call's input "
                         f"are prepended to the next chunk (zeros at the start)")
        return "\n".join(lines)

    def session(self) -> "StatefulSession":
        return StatefulSession(self)


def signal_input(names, facts):
    """The one input among `names` with a time axis (rank >= 1; a per-call sample rate is a
    scalar), or None."""
    ranked = [w for w in names if facts.get(w) is not None and facts[w].rank >= 1]
    return ranked[0] if len(ranked) == 1 else None


def _rebound(model, symbols: dict, compile: bool):
    """The model with `symbols` bound, planned with compilation on or off."""
    declared = pipeline.declare_inputs(model.raw_graph, model.declared, symbols)
    return Model(model.raw_graph, model.opsets, declared, model.optimize, compile)


def _plain_symbol(d):
    """The name of a dim that is one bare symbol, else None."""
    if isinstance(d, int):
        return None
    names = dims.symbols(d)
    if len(names) != 1:
        return None
    name = next(iter(names))
    return name if d == dims.sym(name) else None


class StatefulSession:
    """push(inputs) runs the model once with the carried state; reset/snapshot/restore."""

    def __init__(self, m: StatefulModel):
        self.m = m
        g = m.model.graph
        facts = g.facts
        self.states = {i: np.zeros(facts[i].shape, dtype=facts[i].dtype) for i in m.state}
        self.history = None        # the context samples, shaped on the first push
        self._direct = self._direct_layout(g)
        self.reset()

    def _direct_layout(self, g):
        """What `push(array)` needs to run the plan without dicts, when the single data input's
        shape is fixed: a chunk costs microseconds, silero's whole net ~80. The context lives
        in front of the chunk in one buffer (`history` is a view of it)."""
        if len(self.m.data_inputs) != 1 or not g.facts[self.m.data_inputs[0]].is_concrete:
            return None
        fact = g.facts[self.m.data_inputs[0]]
        arrays = [self.states.get(w) for w in g.inputs]
        data = g.inputs.index(self.m.data_inputs[0])
        joined = np.zeros(fact.shape, fact.dtype) if self.m.context else None
        if joined is not None:
            arrays[data] = joined
            self.history = joined[..., :self.m.context]
        chunk = fact.shape[:-1] + (fact.shape[-1] - self.m.context,)
        states = [(g.outputs.index(o), self.states[i]) for i, o in self.m.state.items()]
        kept = [k for k, w in enumerate(g.outputs) if w not in set(self.m.state.values())]
        return chunk, fact.dtype, arrays, data, joined, states, kept, self._compiled_call(arrays)

    def _compiled_call(self, arrays):
        """(function, its arguments, output picks) when the plan is one compiled function of
        inputs and constants whose inputs are all this session's own arrays, else None."""
        plan = self.m.model.plan
        direct = getattr(plan, "_direct", None)
        if direct is None or any(a is None for a in arrays):
            return None
        steps, sources, picks = direct
        args = [arrays[v] if is_input else v for is_input, v in sources]
        return steps, args, picks

    @exclusive
    def reset(self):
        for name, array in self.states.items():
            array[...] = self.m.init.get(name, 0)
        if self._direct is not None and self.history is not None:
            self.history[...] = 0
        else:
            self.history = None

    @exclusive
    def snapshot(self):
        snap = {k: v.copy() for k, v in self.states.items()}
        if self.m.context:
            snap[CONTEXT] = None if self.history is None else self.history.copy()
        return snap

    @exclusive
    def restore(self, snap):
        for k, v in snap.items():
            if k == CONTEXT and v is None and self._direct is not None:
                self.history[...] = 0
            elif k == CONTEXT and v is not None and self.history is not None and \
                    self.history.shape == v.shape:
                self.history[...] = v
            elif k == CONTEXT:
                self.history = None if v is None else v.copy()
            else:
                self.states[k][...] = v

    @exclusive
    def push(self, inputs) -> list:
        """Run once on `inputs` (dict, or the single data input); returns the outputs that are
        not state, in graph order. State is updated only after a successful run; an empty
        input runs nothing."""
        direct = self._direct
        if direct is not None and type(inputs) is np.ndarray and inputs.shape == direct[0] \
                and inputs.dtype == direct[1]:
            return self._push_direct(inputs, direct)
        if not isinstance(inputs, dict):
            if len(self.m.data_inputs) != 1:
                raise InputError(f"pass a dict with {', '.join(self.m.data_inputs)}")
            inputs = {self.m.data_inputs[0]: inputs}
        if any(np.size(v) == 0 for v in inputs.values()):
            return self._empty()    # e.g. an upstream pipeline stage released no frames yet
        feeds = dict(inputs)
        for name in self.states:
            if name in feeds:
                raise InputError(f"{name!r} is state kept by the session; don't pass it")
            feeds[name] = self.states[name]
        if self.m.context:
            feeds[self.m.signal] = joined = self._with_context(feeds[self.m.signal])
        outs = self.m.model.run(feeds)
        for i, o in self.m.state.items():
            self.states[i][...] = outs[self.m.model.graph.outputs.index(o)]
        if self.m.context:
            kept = joined[..., -self.m.context:]
            if self.history is not None and self.history.shape == kept.shape:
                self.history[...] = kept       # in place: the direct path's buffer holds it
            else:
                self.history = kept.copy()
        state_outputs = set(self.m.state.values())
        return [v for w, v in zip(self.m.model.graph.outputs, outs) if w not in state_outputs]

    def _push_direct(self, x, direct) -> list:
        _, _, arrays, data, joined, states, kept, call = direct
        if joined is None:
            arrays[data] = x
        else:
            joined[..., self.m.context:] = x
        plan = self.m.model.plan
        if call is not None and call[0] is plan.steps:     # not while a profiler swapped them
            results = plan.steps[0].run(*call[1])
            outs = [results[k] for k in call[2]]
        else:
            outs = plan.run(arrays)
        for k, state in states:
            state[...] = outs[k]
        if joined is not None:
            joined[..., :self.m.context] = joined[..., -self.m.context:]
        return [outs[k] for k in kept]

    def _with_context(self, x):
        x = np.asarray(x)
        shape = x.shape[:-1] + (self.m.context,)
        history = self.history
        if history is None or history.shape != shape:
            if history is not None:
                raise InputError(f"chunk of shape {list(x.shape)} after chunks of "
                                 f"{list(history.shape[:-1])} leading axes: reset() first")
            history = np.zeros(shape, x.dtype)
        return np.concatenate([history, x], axis=-1)

    @exclusive
    def flush(self) -> list:
        return self._empty()

    def _empty(self) -> list:
        g = self.m.model.graph
        outs = [w for w in g.outputs if w not in set(self.m.state.values())]
        return [np.zeros((0,) + tuple(d if isinstance(d, int) else 1 for d in g.facts[w].shape[1:]),
                         dtype=g.facts[w].dtype) for w in outs]

    def output_axes(self) -> list:
        return [0] * (len(self.m.model.graph.outputs) - len(self.m.state))


CONTEXT = "<context>"    # the snapshot key of the context samples


def stateful(model, state: dict, init: dict = None, constants: dict = None, context: int = 0,
             chunk: int = None) -> StatefulModel:
    """Loop `state` = {input name: output name} back across calls (see StatefulModel)."""
    return StatefulModel(model, state, init, constants, context, chunk)
