"""A child process that compiles kernels into the disk cache, so the caller's process only loads.

Compiling in a thread of the caller's process competes with its stream for the GIL, and Numba's
compiles leave garbage whose collections (gen-2, 100-200 ms each on openWakeWord's pipeline)
stop every thread. A child has its own interpreter and heap: it compiles a kernel for the
argument types asked, Numba writes the machine code to the shared disk cache, and the caller's
background thread (kernels/background.py) then loads it (milliseconds, little garbage). Where
the cache cannot be written the load compiles in the caller instead: slower, never wrong.

This is the caller's end; the child runs kernels/compile_worker.py. Requests are (module,
qualname, key) of kernels/jit.py, pickled one per line over the child's stdin; the child answers
'ok' or 'error: ...' per line.
"""
import base64
import logging
import os
import pickle
import subprocess
import sys
import threading

log = logging.getLogger("pulsar")
ENABLED = os.environ.get("PULSAR_COMPILE_PROCESS", "1").strip().lower() not in ("0", "off", "no")


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
