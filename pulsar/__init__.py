"""pulsar: a streaming-first inference engine for ONNX models.

    model = pulsar.load("model.onnx")
    outs = model.run({"input": x})

Streaming plans: `pulsar.streaming`; wake words and voice activity: `pulsar.audio`.
"""
from .errors import (PulsarError, ModelLoadError, UnsupportedOpError, InferenceError,
                     InputError, SymbolConflictError, OptionError, PulseError, ConcurrencyError,
                     ResourceError, AudioError)

__version__ = "0.1.0"
__all__ = ["load", "Model", "TensorInfo", "warmup", "PulsarError", "ModelLoadError", "UnsupportedOpError",
           "InferenceError", "InputError", "SymbolConflictError", "OptionError", "PulseError",
           "ConcurrencyError", "ResourceError", "AudioError",
           "streaming", "audio", "dims", "__version__"]


_SUBMODULES = ("dims", "streaming", "audio", "backend", "api", "fact", "graph", "plan",
               "pipeline")


def __dir__():
    # The lazy names (load, Model, streaming, audio, ...) are not in globals() until first use.
    return sorted(set(globals()) | set(__all__))


def __getattr__(name):
    # Lazy: `import pulsar` must stay cheap (no numba import) for the CLI and for tooling.
    import importlib
    if name in ("load", "Model", "TensorInfo"):
        return getattr(importlib.import_module("pulsar.api"), name)
    if name == "warmup":
        return importlib.import_module("pulsar.warming").warmup
    if name in _SUBMODULES:
        return importlib.import_module(f"pulsar.{name}")
    raise AttributeError(f"module 'pulsar' has no attribute {name!r}")
