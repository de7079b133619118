"""The background compiler: one daemon thread that compiles kernels while NumPy twins answer.

One thread, not a pool: the machines pulsar targets have two to four cores, and the caller's
own stream needs one. Jobs run in order of priority, then of arrival (a compiled plan's
functions before the kernels of nodes that stay interpreted). A job is a kernel's own compile
(`Kernel.compile_for` in kernels/jit.py, which runs it under the "compiled" policy so that what
it calls compiles instead of queueing more twins); this scheduler knows nothing of kernels,
which is what lets jit.py hand it jobs without a loop of imports.

Where it can, a job is first compiled by a child process into the disk cache
(kernels/compile_process.py), and the thread here only loads it: the caller's process then
spends milliseconds per function instead of seconds, and none of the compile's garbage, whose
collections would pause every thread for 100-200 ms.

The objects alive when compiling starts, and after each job (the loaded machine code and
Numba's caches, which live as long as the process), are moved out of the garbage collector's
sight (`gc.freeze`): otherwise every full collection while the process grows rescans them,
pausing the stream's thread for up to 150 ms.

While jobs are pending, the interpreter's switch interval is lowered from 5 ms to 0.1 ms: Numba
spends much of a compile in Python, holding the GIL, and a caller thread that needs the GIL
back (after every NumPy call that released it, hundreds per chunk) would otherwise wait up to
5 ms each time. The compiler thread also runs at a lower OS priority where the system allows
(Linux: per-thread nice), so a stream's thread gets a core first when both want one.

At exit the queue is dropped and the interpreter waits for the job in progress: a daemon
thread still inside LLVM while the process tears down LLVM's globals crashed the interpreter
(SIGSEGV or an LLVM assertion, about one cold start in twenty).
"""
import atexit
import gc
import heapq
import itertools
import logging
import os
import sys
import threading
import time

from .compile_process import CompileProcess

log = logging.getLogger("pulsar")
SWITCH_INTERVAL = 0.0001
NICE = 10


class BackgroundCompiler:
    def __init__(self):
        self._jobs = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread = None
        self._running = None
        self._saved_interval = None
        self.done = 0
        self.seconds = 0.0
        self.errors = []
        self.process = CompileProcess()
        self._busy = threading.Lock()       # held while a job runs, and from exit on
        self._stopping = False
        atexit.register(self.process.close)
        atexit.register(self._stop)         # runs first (atexit is last in, first out)

    def submit(self, label: str, job, priority: int = 1, remote=None):
        """Run job() on the compiler thread; lower priority numbers run first. `remote`:
        (module, qualname, key) of a kernel the compile process can compile into the disk
        cache first, so that job() only loads it (kernels/compile_process.py)."""
        with self._cond:
            heapq.heappush(self._jobs, (priority, next(self._order), label, (job, remote)))
            if self._saved_interval is None:
                gc.freeze()
                self._saved_interval = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved_interval, SWITCH_INTERVAL))
                log.info("pulsar: compiling in the background; outputs come from the "
                         "interpreter until machine code is ready")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="pulsar-compiler",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._jobs) + (self._running is not None)

    def wait(self, timeout=None) -> bool:
        """Block until every queued job has finished (True) or `timeout` seconds pass."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._jobs or self._running is not None:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _work(self):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        except (AttributeError, OSError):       # not Linux, or not allowed: same priority
            pass
        while True:
            with self._cond:
                while not self._jobs:
                    self._cond.wait()
                _, _, label, (job, remote) = heapq.heappop(self._jobs)
                self._running = label
            started = time.perf_counter()
            try:
                if remote is not None:
                    self.process.compile(*remote)      # False: job() compiles it here
                with self._busy:
                    if self._stopping:
                        return
                    job()
            except Exception as e:      # noqa: BLE001 - a failed compile leaves the twin in use
                self.errors.append((label, e))
                log.warning("pulsar: background compile of %s failed (%s: %s); it keeps "
                            "running interpreted", label, type(e).__name__, e)
            elapsed = time.perf_counter() - started
            gc.freeze()     # see module doc: loaded machine code lives as long as the process
            log.debug("pulsar: compiled %s in %.2f s", label, elapsed)
            with self._cond:
                self._running = None
                self.done += 1
                self.seconds += elapsed
                if not self._jobs:
                    self._finished()
                self._cond.notify_all()

    def _stop(self):
        """At exit: no job starts any more, and the one running (if any) finishes first."""
        with self._cond:
            if self._stopping:
                return
            self._stopping = True
            self._jobs.clear()
            if self._saved_interval is not None:
                sys.setswitchinterval(self._saved_interval)
                self._saved_interval = None
        self._busy.acquire()

    def _finished(self):
        if self._saved_interval is not None:
            sys.setswitchinterval(self._saved_interval)
            self._saved_interval = None
        log.info("pulsar: background compiles done (%d functions, %.1f s so far); running "
                 "machine code", self.done, self.seconds)


_compiler = None
_compiler_lock = threading.Lock()


def compiler() -> BackgroundCompiler:
    global _compiler
    if _compiler is None:
        with _compiler_lock:
            if _compiler is None:
                _compiler = BackgroundCompiler()
    return _compiler
