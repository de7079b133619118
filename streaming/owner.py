"""Sessions are single-owner: one stream's state, driven by one thread at a time.

Models and plans may be shared by any number of threads (each call gets its own buffers), but a
session *is* mutable state: two threads pushing into one would interleave their chunks and
corrupt both streams silently. `exclusive` makes that a loud error instead, for the price of a
non-blocking lock per call (about 0.1 us). A re-entrant lock lets a session's own methods call
each other (push -> reset) on the owning thread.
"""
import functools
import threading

from pulsar.errors import ConcurrencyError


def exclusive(method):
    """Raise ConcurrencyError when another thread is inside any exclusive method of the object."""
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        lock = self.__dict__.get("_owner_lock")
        if lock is None:
            lock = self.__dict__.setdefault("_owner_lock", threading.RLock())
        if not lock.acquire(blocking=False):
            raise ConcurrencyError(
                f"{type(self).__name__}.{method.__name__}() called while another thread is using "
                "this session; a session holds one stream's state, so drive it from one thread "
                "at a time and give every thread its own session (models and plans may be shared)")
        try:
            return method(self, *args, **kwargs)
        finally:
            lock.release()
    return guarded
