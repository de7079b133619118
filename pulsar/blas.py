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
    for path in _openblas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                       "openblas_set_num_threads64_", "openblas_set_num_threads"):
            fn = getattr(lib, symbol, None)
            if fn is not None:
                fn(ctypes.c_int(count))
                found = True
                break
    _done = True
    return found


def _openblas_paths() -> list:
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split()[-1] for line in f if "openblas" in line.lower()
                           and line.split()[-1].startswith("/")})
    except OSError:
        return []
