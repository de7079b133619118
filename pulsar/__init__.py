"""pulsar: a streaming-first inference engine for ONNX models.

    model = pulsar.load("model.onnx")
    outs = model.run({"input": x})
"""
from .errors import (PulsarError, ModelLoadError, UnsupportedOpError, InferenceError,
                     InputError, SymbolConflictError, OptionError, PulseError, AudioError)

__version__ = "0.1.0"
__all__ = ["load", "Model", "TensorInfo", "PulsarError", "ModelLoadError", "UnsupportedOpError",
           "InferenceError", "InputError", "SymbolConflictError", "OptionError", "PulseError",
           "streaming", "dims", "__version__"]


_SUBMODULES = ("dims", "streaming", "backend", "api", "fact", "graph", "plan", "pipeline")


def __getattr__(name):
    # Lazy: `import pulsar` must stay cheap (no numba import) for the CLI and for tooling.
    import importlib
    if name in ("load", "Model", "TensorInfo"):
        return getattr(importlib.import_module("pulsar.api"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"pulsar.{name}")
    raise AttributeError(f"module 'pulsar' has no attribute {name!r}")
