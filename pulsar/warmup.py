"""Start-up feedback: say so when a first run compiles Numba kernels, and how long it took.

Numba compiles a kernel the first time it meets a signature and caches the machine code on disk,
so only a process with a cold cache compiles (seconds per model); later processes load the cache
(a fraction of a second, no message). Compilation is detected with Numba's "numba:compile" event,
which fires on a real compile and never on a cache hit, so the message appears exactly when the
user would otherwise stare at a silent terminal, and before the wait rather than after it.
"""
import sys
import time
from contextlib import contextmanager

import numpy as np
from numba.core import event

MESSAGE = "pulsar: compiling kernels (first run only; cached afterwards)..."


class _CompileWatch(event.Listener):
    """Announces the first compile and remembers when it started."""

    def __init__(self, stream):
        self.stream = stream
        self.started = None
        self.compiles = 0

    def on_start(self, _event):
        self.compiles += 1
        if self.started is None:
            self.started = time.perf_counter()
            self.stream.write(MESSAGE)
            self.stream.flush()

    def on_end(self, _event):
        pass

    def finish(self, ok=True):
        if self.started is None:
            return
        elapsed = time.perf_counter() - self.started
        self.stream.write(f" done in {elapsed:.1f} s\n" if ok else " interrupted\n")
        self.stream.flush()


@contextmanager
def compile_notice(stream=None):
    """Within the block, print MESSAGE to `stream` (default stderr) when the first kernel
    compile starts, and at the end of the block how long it took. Yields the watch, whose
    `compiles` counts the kernels compiled (0 when everything came from the cache)."""
    watch = _CompileWatch(sys.stderr if stream is None else stream)
    event.register("numba:compile", watch)
    try:
        yield watch
    except BaseException:
        watch.finish(ok=False)
        raise
    else:
        watch.finish()
    finally:
        event.unregister("numba:compile", watch)


def warm_up(target, feeds=None, stream=None):
    """Run `target` once under `compile_notice` and return what it returned.

    target: a pulsar Model or Plan (run on `feeds`); a PulsedModel (`feeds` is one chunk pushed
    through a throwaway session, by default one pulse of zeros, so the caller's own sessions
    start clean); or a callable taking no arguments.
    """
    with compile_notice(stream):
        if hasattr(target, "session") and hasattr(target, "pulse"):
            return _push_once(target, feeds)
        if hasattr(target, "run"):
            return target.run(feeds)
        return target()


def _push_once(pulsed, chunk):
    session = pulsed.session()
    if chunk is None:
        chunk = {w: np.zeros(f.shape, f.dtype) for w, f in zip(session.inputs, session.facts)}
    return session.push(chunk)
