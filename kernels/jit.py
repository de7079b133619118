"""The one place that owns Numba options for every kernel.

- cache=True: compiled machine code is stored beside the module, so a second process starts fast;
  the cache is `numba_cache.SafeFunctionCache`, which rebuilds a corrupted entry instead of failing.
- nogil=True: kernels release the GIL, so a streaming session can run beside an audio thread.
- fastmath=False: results must agree with onnxruntime to 1e-4; reassociation breaks that on
  long reductions.
- error_model="numpy": division by zero gives inf/nan like NumPy instead of raising.
- boundscheck stays off: callers validate shapes before calling (see pulsar's op `eval`s).
"""
import numba

from . import numba_cache

OPTIONS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")


def jit(fn=None, **overrides):
    """Compile `fn` in nopython mode with pulsar's options; usable bare or with overrides."""
    options = {**OPTIONS, **overrides}
    if fn is None:
        return lambda f: _njit(f, options)
    return _njit(fn, options)


def _njit(fn, options):
    options = dict(options)
    cache = options.pop("cache", False)
    dispatcher = numba.njit(**options)(fn)
    if cache:
        numba_cache.enable(dispatcher)
    return dispatcher
