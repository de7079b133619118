"""The compile process's own loop (kernels/compile_process.py starts it): compile each kernel
asked for into the disk cache, and say so.

A module of its own, above every kernel: it finds kernels by name, generated ones included
(`pulsar_<stem>_<digest>`, from the kernel cache directory), so it imports the machinery that
makes them, and nothing in the caller's process imports it.

    python -m pulsar.kernels.compile_worker      # what CompileProcess starts
"""
import base64
import importlib
import os
import pickle
import sys

from .codegen import module_named
from .jit import prototypes


def kernel_named(module: str, qualname: str):
    if module.startswith("pulsar_"):
        return getattr(module_named(module), qualname)
    return getattr(importlib.import_module(module), qualname)


def _serve():
    """One request per line, one answer ('ok' or 'error: ...') per line."""
    try:
        os.nice(10)     # the caller's stream comes first on a busy machine
    except (AttributeError, OSError):
        pass
    for line in sys.stdin:
        try:
            module, qualname, key = pickle.loads(base64.b64decode(line))
            kernel_named(module, qualname).compile_for(key, prototypes(key))
            answer = "ok"
        except Exception as e:          # noqa: BLE001 - the caller compiles it itself then
            answer = f"error: {type(e).__name__}: {e}".replace("\n", " ")
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
