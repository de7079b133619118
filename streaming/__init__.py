"""Streaming: pulse a whole-signal model into a chunk-by-chunk plan with its own state.

    from pulsar import streaming
    stream = streaming.pulse(model, symbol="S", pulse=1280)
    s = stream.session(); outs = s.push(chunk); tail = s.flush()
"""
from .session import PulsedModel, Session, pulse

__all__ = ["pulse", "PulsedModel", "Session"]
