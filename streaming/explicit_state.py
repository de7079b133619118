"""Explicit-state mode: models that take their state as inputs and return it as outputs
(a VAD's `state` -> `stateN`, an RNN's `h0` -> `hn`). The session loops named outputs back
into named inputs across calls, in preallocated arrays."""
import numpy as np

from pulsar.errors import InputError, PulseError
from .owner import exclusive


class StatefulModel:
    """A model whose state is explicit (inputs in, outputs out), looped back by its sessions."""

    def __init__(self, model, state: dict, init: dict = None):
        """state: {input name: output name}; init: {input name: initial array} (default zeros)."""
        g = model.graph
        if g is None:
            raise PulseError("declare the model's input shapes when loading it")
        for i, o in state.items():
            if i not in g.inputs:
                raise PulseError(f"state input {i!r} is not an input; inputs: {', '.join(g.inputs)}")
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

    def session(self) -> "StatefulSession":
        return StatefulSession(self)


class StatefulSession:
    """push(inputs) runs the model once with the carried state; reset/snapshot/restore."""

    def __init__(self, m: StatefulModel):
        self.m = m
        facts = m.model.graph.facts
        self.states = {i: np.zeros(facts[i].shape, dtype=facts[i].dtype) for i in m.state}
        self.reset()

    @exclusive
    def reset(self):
        for name, array in self.states.items():
            array[...] = self.m.init.get(name, 0)

    @exclusive
    def snapshot(self):
        return {k: v.copy() for k, v in self.states.items()}

    @exclusive
    def restore(self, snap):
        for k, v in snap.items():
            self.states[k][...] = v

    @exclusive
    def push(self, inputs) -> list:
        """Run once on `inputs` (dict, or the single data input); returns the outputs that are
        not state, in graph order. State is updated only after a successful run; an empty
        input runs nothing."""
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
        outs = self.m.model.run(feeds)
        for i, o in self.m.state.items():
            self.states[i][...] = outs[self.m.model.graph.outputs.index(o)]
        state_outputs = set(self.m.state.values())
        return [v for w, v in zip(self.m.model.graph.outputs, outs) if w not in state_outputs]

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


def stateful(model, state: dict, init: dict = None) -> StatefulModel:
    """Loop `state` = {input name: output name} back across calls (see StatefulModel)."""
    return StatefulModel(model, state, init)
