"""Pipelines: chain streaming stages so one stage's output stream feeds the next.

Each stage is anything with `.session()` whose sessions `push`/`flush` lists of arrays (pulsed,
window or explicit-state models). Between stages an adapter maps a stage's outputs to the next
stage's chunk (default: its first output), e.g. openWakeWord's mel scaling and reshapes.
A `parallel` stage feeds one stream to several stages (e.g. one classifier per wake word on
shared features) and returns all their outputs.
"""
import numpy as np

from pulsar.errors import PulseError


class Pipeline:
    """Stages run in order on one stream; `adapters[i]` maps stage i's outputs to stage i+1's
    chunk. A stage is a pulsed, window or explicit-state model (anything with `.session()`)."""

    def __init__(self, stages, adapters=None):
        self.stages = list(stages)
        if not self.stages:
            raise PulseError("a pipeline needs at least one stage")
        for i, stage in enumerate(self.stages):
            check_stage(stage, i)
        self.adapters = list(adapters or [None] * (len(self.stages) - 1))
        if len(self.adapters) != len(self.stages) - 1:
            raise PulseError(f"{len(self.stages)} stages need {len(self.stages) - 1} adapters, "
                             f"got {len(self.adapters)}")

    def session(self) -> "PipelineSession":
        return PipelineSession(self)


def check_stage(stage, index):
    """A raw `pulsar.Model` is the usual mistake: say how to make it a stage."""
    if not callable(getattr(stage, "session", None)):
        hint = (": make it a stage with streaming.pulse(model, ...), streaming.window(model, ...) "
                "or streaming.stateful(model, ...)" if type(stage).__name__ == "Model" else "")
        raise PulseError(f"pipeline stage {index} is a {type(stage).__name__}, not a streaming "
                         f"stage{hint}")


class SessionGroup:
    """Reset, snapshot and restore of a session made of other sessions (`self.sessions`)."""

    def reset(self):
        for s in self.sessions:
            s.reset()

    def snapshot(self):
        return [s.snapshot() for s in self.sessions]

    def restore(self, snap):
        for s, v in zip(self.sessions, snap):
            s.restore(v)


class PipelineSession(SessionGroup):
    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.sessions = [s.session() for s in pipeline.stages]

    def push(self, chunk) -> list:
        """Push raw input; returns the last stage's new outputs (possibly zero frames)."""
        return self._run(lambda s, c: s.push(c), chunk)

    def flush(self) -> list:
        """End of stream: flush each stage in turn, forwarding what the previous one released."""
        carried = None
        for i, s in enumerate(self.sessions):
            pushed = self._forward(i, carried) if carried is not None else None
            tail = s.flush()
            if pushed is None:
                carried = tail
            else:
                carried = [np.concatenate([a, b], axis=ax) for a, b, ax in
                           zip(pushed, tail, s.output_axes())]
        return carried

    def _run(self, step, chunk) -> list:
        outs = step(self.sessions[0], chunk)
        for i, s in enumerate(self.sessions[1:], start=1):
            outs = self._forward(i, outs)
        return outs

    def _forward(self, i, outs) -> list:
        adapt = self.pipeline.adapters[i - 1]
        chunk = adapt(outs) if adapt else outs[0]
        return self.sessions[i].push(chunk)

    def output_axes(self) -> list:
        return self.sessions[-1].output_axes()


class Parallel:
    """Stages that all take the same chunk; outputs are the branches' outputs, in order."""

    def __init__(self, stages):
        self.stages = list(stages)
        if not self.stages:
            raise PulseError("a parallel stage needs at least one branch")

    def session(self) -> "ParallelSession":
        return ParallelSession(self)


class ParallelSession(SessionGroup):
    def __init__(self, parallel: Parallel):
        self.sessions = [s.session() for s in parallel.stages]

    def push(self, chunk) -> list:
        return [out for s in self.sessions for out in s.push(chunk)]

    def flush(self) -> list:
        return [out for s in self.sessions for out in s.flush()]

    def output_axes(self) -> list:
        return [axis for s in self.sessions for axis in s.output_axes()]



def pipeline(*stages, adapters=None) -> Pipeline:
    """`Pipeline(stages, adapters)`: chain streaming stages (see Pipeline)."""
    return Pipeline(stages, adapters)


def parallel(*stages) -> Parallel:
    """One stream into several stages; their outputs side by side (see Parallel)."""
    return Parallel(stages)
