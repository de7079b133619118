"""Run BLAS on one thread: pulsar's GEMMs are small and per-chunk, and OpenBLAS's thread pool
makes them up to 100x slower on a busy machine (threads spin and contend for the cores).

NumPy has no API for this, so the loaded OpenBLAS is found in the process's memory map and its
`openblas_set_num_threads` is called through ctypes (what threadpoolctl does). Set
PULSAR_BLAS_THREADS to choose another count; elsewhere than Linux + OpenBLAS this is a no-op.
"""
import ctypes
import os

import numpy  # noqa: F401  (loads numpy's OpenBLAS, which limit_threads finds in memory)

_done = False


def limit_threads(count=None) -> bool:
    """Set the thread count of every loaded OpenBLAS; True if one was found."""
    global _done
    if count is None:
        if _done:
            return True
        count = int(os.environ.get("PULSAR_BLAS_THREADS", "1"))
    found = False
    for lib in _libraries():
        fn = _function(lib, "set_num_threads")
        if fn is not None:
            fn(ctypes.c_int(count))
            found = True
    _done = True
    return found


def core_names() -> list:
    """The kernel set each loaded OpenBLAS runs (e.g. "Haswell"): its CPU detection's choice,
    or $OPENBLAS_CORETYPE's."""
    names = []
    for lib in _libraries():
        fn = _function(lib, "get_corename")
        if fn is not None:
            fn.restype = ctypes.c_char_p
            names.append((fn() or b"?").decode(errors="replace"))
    return names


def _libraries():
    for path in _openblas_paths():
        try:
            yield ctypes.CDLL(path)
        except OSError:
            continue


def _function(lib, name):
    """OpenBLAS's `name`, under NumPy's bundled prefix and suffix or the plain ones."""
    for symbol in (f"scipy_openblas_{name}64_", f"scipy_openblas_{name}",
                   f"openblas_{name}64_", f"openblas_{name}"):
        fn = getattr(lib, symbol, None)
        if fn is not None:
            return fn
    return None


def _openblas_paths() -> list:
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split()[-1] for line in f if "openblas" in line.lower()
                           and line.split()[-1].startswith("/")})
    except OSError:
        return []
