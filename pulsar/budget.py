"""Resource limits: how much memory one tensor (or file read) may take, and how many symbols
one analysis may create, so a hostile model fails with a typed error instead of a hang or an
out-of-memory kill.

The memory budget is `$PULSAR_MEMORY_BUDGET` (bytes; suffixes K, M, G, T allowed), else half
of physical memory, lowered to half the process's address-space limit when one is set.
"""
import functools
import os
import re

from .errors import OptionError, ResourceError

MAX_SYMBOLS = 100_000    # fresh symbols per analysis: a real model needs a few per node
MAX_RANK = 64            # NumPy's own limit on dimensions


def memory_budget() -> int:
    text = os.environ.get("PULSAR_MEMORY_BUDGET", "").strip()
    return _parse(text) if text else _default()


@functools.lru_cache(maxsize=None)
def _parse(text: str) -> int:
    m = re.fullmatch(r"(\d+)\s*([KMGT]?)(i?B)?", text, re.IGNORECASE)
    if not m:
        raise OptionError(f"PULSAR_MEMORY_BUDGET={text!r}: expected a byte count such as "
                          "2000000000 or 2G")
    return int(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " ")


@functools.lru_cache(maxsize=None)
def _default() -> int:
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 8 << 30
    budget = physical // 2
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            budget = min(budget, soft // 2)
    except (ImportError, OSError, ValueError):
        pass
    return max(budget, 1 << 20)


def nbytes(shape, dtype) -> int:
    n = 1
    for d in shape:
        n *= d
    return n * max(getattr(dtype, "itemsize", 8), 1)


def check_fact(fact, what: str) -> None:
    """Refuse a fact whose rank or (concrete) size is beyond what can be run."""
    shape = getattr(fact, "shape", None)
    if shape is None:
        return
    if len(shape) > MAX_RANK:
        raise ResourceError(f"{what} would have rank {len(shape)}; at most {MAX_RANK} is supported")
    if all(isinstance(d, int) for d in shape):
        size = nbytes(shape, fact.dtype)
        limit = memory_budget()
        if size > limit:
            raise ResourceError(f"{what} would take {size} bytes (shape {list(shape)}), over the "
                                f"memory budget of {limit} bytes (PULSAR_MEMORY_BUDGET)")


def count_symbol(count: int) -> None:
    if count > MAX_SYMBOLS:
        raise ResourceError(f"analysis created more than {MAX_SYMBOLS} symbols (a shape input "
                            "declared with a huge length?)")
