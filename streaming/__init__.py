"""Streaming: pulse a whole-signal model into a chunk-by-chunk plan with its own state.

    from pulsar import streaming
    stream = streaming.pulse(model, symbol="S", pulse=1280)
    s = stream.session(); outs = s.push(chunk); tail = s.flush()
"""
from .pipeline import Parallel, Pipeline, parallel, pipeline
from .window import WindowModel, window

__all__ = ["pulse", "window", "stateful", "pipeline", "PulsedModel", "Session", "WindowModel",
           "StatefulModel", "Pipeline", "Parallel", "parallel"]

# session.py and explicit_state.py build on pulsar/pipeline.py, which imports this package's
# pulse transform: they load on first use, so that importing the transform does not load them.
_ON_USE = {"pulse": "session", "PulsedModel": "session", "Session": "session",
           "stateful": "explicit_state", "StatefulModel": "explicit_state"}


def __getattr__(name):
    import importlib        # here, as in pulsar/__init__.py: dir() shows only the public names
    if name not in _ON_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_ON_USE[name]}"), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
