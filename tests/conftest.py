"""Test-wide settings.

Compiled plans (pulsar/compiled.py) are on by default for users; here they default to off, so
the thousands of small models the suite builds cost no Numba compilation each. Compiled mode
has its own tests (test_compiled*.py, which pass compile=True); run the whole suite compiled
with PULSAR_COMPILE=1.
"""
import os

import pytest

os.environ.setdefault("PULSAR_COMPILE", "0")


@pytest.fixture
def compiled_kernels():
    """Kernels called directly run their machine code (compiled now if need be), not the NumPy
    twins the default "auto" policy would run first: for tests of the Numba kernels."""
    from pulsar.kernels.jit import policy
    with policy("compiled"):
        yield
