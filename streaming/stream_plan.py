"""A session's plan: a Plan whose stateful steps run on one session's state arrays.

Its own module because pulsar/pipeline.py makes these plans (its last stage) and session.py
calls pipeline.py, so session.py cannot be what pipeline.py imports.
"""
import functools

from pulsar.compiled import compile_steps
from pulsar.plan import Plan


class StreamContext:
    """What stateful ops may read at run time: symbol values once the stream length is known."""

    def __init__(self):
        self.bindings = {}


class StreamPlan(Plan):
    """A Plan whose stateful steps are bound to one session's state arrays."""

    def __init__(self, graph, compile=False, tier=None):
        super().__init__(graph, check_inputs=False, tier=tier)
        self.context = StreamContext()
        self.states = []
        self.initial = []
        self.recurrences = []
        self.length_readers = []    # (op, state) of ops keeping the stream end in their state
        by_step = {}
        for i, step in enumerate(self.steps):
            op = step.node.op
            if getattr(op, "stateful", False):
                facts = [graph.facts[w] if w else None for w in step.node.inputs]
                state = op.init_state(facts, [graph.facts.get(w) for w in step.node.outputs])
                self.states.append(state)
                by_step[i] = state
                self.initial.append([a.copy() for a in state])
                if hasattr(op, "done"):
                    self.recurrences.append((op, state))
                if hasattr(op, "bind_length"):
                    self.length_readers.append((op, state))
                step.run = functools.partial(op.eval_stateful, state, self.context)
                if step.scope is not None:
                    step.run = _scoped(op, state, self.context)
        if compile:
            self.use_steps(compile_steps(self, by_step))

    def bind(self, bindings):
        """Symbol values once the stream length is known; stateful ops that keep the length in
        a state array (which compiled code reads) get it there too."""
        self.context.bindings.update(bindings)
        for op, state in self.length_readers:
            op.bind_length(state, self.context.bindings)

    def finished(self) -> bool:
        """Has every recurrence consumed the whole stream (once its length is known)?"""
        return all(op.done(state, self.context.bindings) for op, state in self.recurrences)


def _scoped(op, state, context):
    def run(args, scope):
        return op.eval_stateful(state, context, *args, scope=scope)
    return run
