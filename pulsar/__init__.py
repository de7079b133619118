"""pulsar: a streaming-first inference engine for ONNX models.

    model = pulsar.load("model.onnx")
    outs = model.run({"input": x})
"""
from .errors import (PulsarError, ModelLoadError, UnsupportedOpError, InferenceError,
                     InputError, SymbolConflictError, OptionError, PulseError)

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy: `import pulsar` must stay cheap (no numba import) for the CLI and for tooling.
    if name in ("load", "Model"):
        from . import api
        return getattr(api, name)
    if name == "streaming":
        import importlib
        return importlib.import_module("pulsar.streaming")
    raise AttributeError(f"module 'pulsar' has no attribute {name!r}")
