"""A child process that compiles kernels into the disk cache, so the caller's process only loads.

Compiling in a thread of the caller's process competes with its stream for the GIL, and Numba's
compiles leave garbage whose collections (gen-2, 100-200 ms each on openWakeWord's pipeline)
stop every thread. A child has its own interpreter and heap: it compiles a kernel for the
argument types asked, Numba writes the machine code to the shared disk cache, and the caller's
background thread then loads it (milliseconds, little garbage). Where the cache cannot be
written the load compiles in the caller instead: slower, never wrong.

Requests are (module, qualname, key) of kernels/jit.py, pickled one per line over the child's
stdin; a generated module (`pulsar_<stem>_<digest>`) is found in the kernel cache directory.

    python -m pulsar.kernels.compile_worker      # what CompileProcess starts
"""
import base64
import importlib
import logging
import os
import pickle
import subprocess
import sys
import threading

log = logging.getLogger("pulsar")
ENABLED = os.environ.get("PULSAR_COMPILE_PROCESS", "1").strip().lower() not in ("0", "off", "no")


def kernel_named(module: str, qualname: str):
    if module.startswith("pulsar_"):
        from .codegen import module_named
        return getattr(module_named(module), qualname)
    return getattr(importlib.import_module(module), qualname)


def _serve():
    """The child's loop: one request per line, one answer ('ok' or 'error: ...') per line."""
    try:
        os.nice(10)     # the caller's stream comes first on a busy machine
    except (AttributeError, OSError):
        pass
    from .jit import policy, prototypes
    for line in sys.stdin:
        try:
            module, qualname, key = pickle.loads(base64.b64decode(line))
            with policy("compiled"):
                kernel = kernel_named(module, qualname)
                kernel.compile_for(key, prototypes(key))
            answer = "ok"
        except Exception as e:          # noqa: BLE001 - the caller compiles it itself then
            answer = f"error: {type(e).__name__}: {e}".replace("\n", " ")
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()


class CompileProcess:
    """The caller's end: `compile(module, qualname, key)` returns once the child is done
    (True) or failed (False); the child starts on first use and ends with the caller."""

    def __init__(self):
        self._child = None
        self._lock = threading.Lock()
        self.broken = False

    def compile(self, module, qualname, key) -> bool:
        if self.broken or not ENABLED:
            return False
        with self._lock:
            try:
                child = self._started()
                request = base64.b64encode(pickle.dumps((module, qualname, key))) + b"\n"
                child.stdin.write(request)
                child.stdin.flush()
                answer = child.stdout.readline().decode().strip()
            except (OSError, ValueError, pickle.PicklingError):
                self.broken = True
                return False
        if not answer:                  # the child died
            self.broken = True
        if answer != "ok":
            log.info("pulsar: the compile process did not compile %s.%s (%s); compiling it here",
                     module, qualname, answer or "it exited")
        return answer == "ok"

    def _started(self):
        if self._child is None or self._child.poll() is not None:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "pulsar.kernels.compile_worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=dict(os.environ))
        return self._child

    def close(self):
        if self._child is not None and self._child.poll() is None:
            try:
                self._child.stdin.close()
                self._child.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._child.kill()


if __name__ == "__main__":
    _serve()
