"""Streaming: pulse a whole-signal model into a chunk-by-chunk plan with its own state.

    from pulsar import streaming
    stream = streaming.pulse(model, symbol="S", pulse=1280)
    s = stream.session(); outs = s.push(chunk); tail = s.flush()
"""
from .explicit_state import StatefulModel, stateful
from .pipeline import Parallel, Pipeline, parallel, pipeline
from .session import PulsedModel, Session, pulse
from .window import WindowModel, window

__all__ = ["pulse", "window", "stateful", "pipeline", "PulsedModel", "Session", "WindowModel",
           "StatefulModel", "Pipeline", "Parallel", "parallel"]
