"""Typed errors: every failure a user can fix is a `PulsarError` naming what is at fault.

The CLI maps `PulsarError` to exit code 1 and one line; anything else is a bug (traceback, 3).
"""


class PulsarError(Exception):
    """Base of every error caused by a model, an input or an option, not by pulsar itself."""


class ModelLoadError(PulsarError):
    """The file is missing, truncated, not ONNX, or refers to data it must not read."""


class UnsupportedOpError(PulsarError):
    """One or more nodes use operators pulsar does not implement (all are listed at once)."""

    def __init__(self, missing):
        self.missing = list(missing)  # [(node name, domain, op type, opset)]
        by_op = {}
        for name, domain, op, opset in self.missing:
            key = f"{domain + '::' if domain not in ('', 'ai.onnx') else ''}{op} (opset {opset})"
            by_op.setdefault(key, []).append(name or "<unnamed>")
        parts = [f"{op} in node{'s' if len(names) > 1 else ''} {', '.join(names[:5])}"
                 f"{f' and {len(names) - 5} more' if len(names) > 5 else ''}"
                 for op, names in by_op.items()]
        super().__init__(f"{len(self.missing)} node(s) use operators pulsar does not support: "
                         + "; ".join(parts))


class InferenceError(PulsarError):
    """Facts of a node's inputs are incompatible with its operator (shape, rank, dtype)."""


class InputError(PulsarError):
    """A value given to `run`/`push` does not match the model's input facts."""


class SymbolConflictError(InputError):
    """The same symbol would be bound to two different values."""


class OptionError(PulsarError):
    """A user option (fact override, symbol binding, CLI flag) is malformed."""


class PulseError(PulsarError):
    """The model cannot be streamed as asked; the message names the node and suggests a fix."""


class ConcurrencyError(PulsarError):
    """A session (one stream's state) was driven by two threads at once: give each its own."""


class ResourceError(PulsarError):
    """The model or an input would need more memory or work than allowed (see PULSAR_MEMORY_BUDGET)."""


class AudioError(InputError):
    """Audio that a model cannot take as given: a non-audio dtype (uint8, int32, ...), a float
    signal outside [-1, 1], several channels, another sample rate, an unreadable WAV file."""


class DimError(ValueError):
    """Misuse of symbolic dimensions: inexact division, bad divisor, unparsable text (a
    ValueError, as it is most often a bad argument; pulsar/dims.py raises it)."""
