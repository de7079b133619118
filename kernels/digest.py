"""The digest of the kernels' sources, in a module that imports nothing of pulsar: the Numba
cache (numba_cache.py, which jit.py uses) stamps its entries with it, and generated plans name
it in their source (pulsar/compiled.py, through codegen.py, which sits above jit.py).
"""
import hashlib
from pathlib import Path

_DIGEST = None


def kernels_digest() -> str:
    """A hash of the kernels' sources (every module of this package): generated code and
    Numba's cache entries name it, so editing any kernel never reuses stale machine code."""
    global _DIGEST
    if _DIGEST is None:
        h = hashlib.sha256()
        for path in sorted(Path(__file__).parent.glob("*.py")):
            h.update(path.read_bytes())
        _DIGEST = h.hexdigest()[:16]
    return _DIGEST
