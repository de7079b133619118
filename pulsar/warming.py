"""Start-up feedback: say so when a first run compiles Numba kernels, and how long it took.

Numba compiles a kernel the first time it meets a signature and caches the machine code on disk,
so only a process with a cold cache compiles (seconds per model); later processes load the cache
(a fraction of a second, no message). Compilation is detected with Numba's "numba:compile" event,
which fires on a real compile and never on a cache hit, so the message appears exactly when the
user would otherwise stare at a silent terminal, and before the wait rather than after it.
"""
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np

from .api import Model, load
from .errors import OptionError
from .kernels.background import compiler
from .kernels.jit import policy

MESSAGE = "pulsar: compiling kernels (first run only; cached afterwards)..."


class _CompileWatch:
    """Announces the first compile and remembers when it started."""

    def __init__(self, stream):
        self.stream = stream
        self.started = None
        self.compiles = 0
        self.thread = threading.current_thread()

    def on_start(self, _event):
        if threading.current_thread() is not self.thread:
            return          # the background compiler: the caller is not waiting for it
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
    from numba.core import event

    class Watch(_CompileWatch, event.Listener):
        pass
    watch = Watch(sys.stderr if stream is None else stream)
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
    """Run `target` once, compiling everything it needs first (kernel policy "compiled"),
    under `compile_notice`, and return what it returned.

    target: a pulsar Model or Plan (run on `feeds`); a PulsedModel (`feeds` is one chunk pushed
    through a throwaway session, by default one pulse of zeros, so the caller's own sessions
    start clean); or a callable taking no arguments.
    """
    with compile_notice(stream), policy("compiled"):
        if hasattr(target, "session") and hasattr(target, "pulse"):
            return _push_once(target, feeds)
        if hasattr(target, "run"):
            return target.run(feeds)
        return target()


def warmup(target, feeds=None, wait=True, **load_options):
    """Compile everything `target` needs now, so that its first output runs machine code
    (deployments that cannot have the first seconds of a stream interpreted). Machine code goes
    to the disk caches, so later processes load it instead of compiling.

    target: a path, bytes or ModelProto (loaded with `load_options`); a `Model`; a pulsed,
    window or explicit-state streaming model; or anything with a `warmup()` method (the audio
    applications). `feeds`: inputs for one run when the model's input shapes are not all
    static (default: zeros of the declared shapes). `wait`: also finish the background
    compiles already queued by earlier runs. Returns the (loaded) target.
    """
    if not isinstance(target, Model) and hasattr(target, "warmup"):
        target.warmup()
    else:
        if not isinstance(target, Model) and not _is_stream_model(target):
            target = load(target, **{"tier": "compiled", **load_options})
        elif load_options:
            raise OptionError(f"load options ({', '.join(load_options)}) apply to a path, "
                              "not to a loaded model")
        with policy("compiled"):
            _warm(target, feeds)
    if wait:
        compiler().wait()
    return target


def _is_stream_model(target) -> bool:
    return hasattr(target, "session")


def _warm(target, feeds):
    if hasattr(target, "session") and hasattr(target, "pulse"):        # PulsedModel
        _push_once(target, feeds)
    elif hasattr(target, "session") and hasattr(target, "model"):      # window, explicit state
        _warm(target.model, feeds)
    else:
        target.run(feeds if feeds is not None else _zeros(target))


def _zeros(model) -> list:
    feeds = []
    for info in model.inputs:
        if info.shape is None or not all(isinstance(d, int) for d in info.shape):
            raise OptionError(f"input {info} has no static shape: give warmup feeds=..., or "
                              "bind its symbols (pulsar.load(..., symbols={...}))")
        feeds.append(np.zeros(info.shape, info.dtype))
    return feeds


def _push_once(pulsed, chunk):
    session = pulsed.session()
    if chunk is None:
        chunk = {w: np.zeros(f.shape, f.dtype) for w, f in zip(session.inputs, session.facts)}
    return session.push(chunk)
