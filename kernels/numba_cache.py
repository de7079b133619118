"""Numba's on-disk cache, made safe to find broken.

Numba unpickles its index (`.nbi`) and data (`.nbc`) files with no error handling: a truncated
or garbage file raises an untyped error on every call of the kernel, in every later process.
`SafeFunctionCache` treats any failure to read an entry as a miss: it warns, removes the
function's cache files (so the next process does not trip on them again) and lets Numba compile.
A cache that cannot be created at all (no writable location) disables caching for that kernel.

Stale machine code: Numba keys an entry on its own source file's timestamp only, so a kernel
whose callee in another file changed (an activation used by every conv) would keep loading the
old code. Each entry's stamp here also carries a hash of every kernel source, so editing any
kernel (an upgrade of pulsar) recompiles instead of silently running old code.

Compiled plan segments call kernels by symbol (kernels/by_symbol.py): their entries also list
those kernels, loaded before the segment; an entry naming a kernel that has been recompiled
since is a miss like any other unreadable entry.
"""
import glob
import logging
import os

from numba.core.caching import CompileResultCacheImpl, FunctionCache

from . import by_symbol, link_only
from .digest import kernels_digest

log = logging.getLogger("pulsar.cache")


class _CallerAwareImpl(CompileResultCacheImpl):
    """An entry also lists the kernels its machine code calls by symbol (kernels/by_symbol.py),
    which must be loaded before it is."""

    def reduce(self, cres):
        """Numba's entry without its type annotation, the typed source Numba renders as text
        for `inspect_types` (5 ms a kernel; nothing of pulsar's reads it back)."""
        return super().reduce(cres._replace(type_annotation="")), by_symbol.callees(cres.library)

    def rebuild(self, target_context, payload):
        """Numba's rebuild, or link_only's for an entry holding a link-only library."""
        reduced, callees = payload
        by_symbol.load(callees)
        rebuilt = link_only.rebuild(target_context, reduced)
        return rebuilt if rebuilt is not None else super().rebuild(target_context, reduced)


class _CalleeImpl(_CallerAwareImpl):
    """Entries of a kernel compiled without its CPython entry point (jit.py `Kernel.callee`), in
    files of their own: loaded for a call from Python, such machine code would jump to a null
    entry point. They hold the module callers link, without machine code (link_only.py),
    except under PULSAR_SHARED_KERNELS, whose segments call the kernel's machine code: those
    entries have files of their own again, since a segment calling a kernel loaded without
    machine code would abort the process."""

    def get_filename_base(self, fullname, abiflags):
        kind = "-callee" if link_only.USED else "-callee-shared"
        return super().get_filename_base(fullname + kind, abiflags)


class SafeFunctionCache(FunctionCache):
    _impl_class = _CallerAwareImpl

    def __init__(self, py_func):
        super().__init__(py_func)
        stamp = self._cache_file._source_stamp
        self._cache_file._source_stamp = (stamp, kernels_digest())

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception as e:          # any corruption: pickle, EOF, struct, attribute, ...
            self._discard(f"cannot read the Numba cache of {self._name} ({type(e).__name__}: {e})")
            return None

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except Exception as e:
            self._discard(f"cannot write the Numba cache of {self._name} ({type(e).__name__}: {e})")

    def _discard(self, why: str):
        """Warn, then remove this function's index and data files; a file that cannot be removed
        only costs a recompile in each process."""
        log.warning("pulsar: %s; removing the entry and compiling without it", why)
        base = os.path.join(self._cache_path, self._impl.filename_base)
        for path in [base + ".nbi", *glob.glob(glob.escape(base) + ".*.nbc")]:
            try:
                os.unlink(path)
            except OSError:
                pass


class SafeCalleeCache(SafeFunctionCache):
    _impl_class = _CalleeImpl


def enable(dispatcher, entry_point=True) -> None:
    """Give a `cache=True` dispatcher the safe cache; no usable location leaves it uncached.
    `entry_point`: whether it compiles Numba's CPython entry point (jit.py `Kernel.callee`)."""
    try:
        cache = SafeFunctionCache if entry_point else SafeCalleeCache
        dispatcher._cache = cache(dispatcher.py_func)
    except Exception as e:              # numba: "cannot cache function ...: no locator available"
        log.warning("pulsar: kernel %s runs uncached: %s", dispatcher.py_func.__name__, e)
        from numba.core.caching import NullCache
        dispatcher._cache = NullCache()
