"""Execution tiers: how soon a model answers, and when it runs machine code.

Compiling a model's kernels and its compiled plan takes seconds to tens of seconds on a cold
cache, and a user's first output should not wait for it. So by default ("auto") every node
runs at once on NumPy twins of the kernels and on interpreted copies of the compiled plan's
functions, while one background thread compiles (or loads from the disk cache) the machine
code; each function switches to machine code on the first call after it is ready, between
two runs or two pulses, with the same state arrays, so nothing is lost or repeated.

    auto         answer at once, compile in the background, switch when ready (default)
    interpreted  NumPy only: never compiles (predictable, slowest per run)
    kernels      node by node on Numba kernels, compiled on first use (no generated plans)
    compiled     compile everything before the first output (what `pulsar.warmup` does)

Chosen by `pulsar.load(..., tier=...)`, else $PULSAR_TIER; `compile=True/False` (and
$PULSAR_COMPILE=0) are the older spellings of "compiled" and "kernels".
"""
import os

from .errors import OptionError

TIERS = ("auto", "interpreted", "kernels", "compiled")


def resolve(tier=None, compile=None) -> str:
    """The tier asked for, from the argument, the legacy `compile` flag or the environment."""
    if tier is None and compile is not None:
        tier = "compiled" if compile else "kernels"
    if tier is None:
        tier = os.environ.get("PULSAR_TIER", "").strip().lower() or None
    if tier is None:
        legacy = os.environ.get("PULSAR_COMPILE", "").strip().lower()
        if legacy in ("0", "false", "no", "off"):
            tier = "kernels"
        elif legacy in ("1", "true", "yes", "on"):
            tier = "compiled"
    tier = tier or "auto"
    if tier not in TIERS:
        raise OptionError(f"unknown tier {tier!r}; tiers are {', '.join(TIERS)}")
    return tier


def generates_code(tier: str) -> bool:
    """Do plans of this tier contain generated functions (compiled plans)?"""
    return tier in ("auto", "compiled")
