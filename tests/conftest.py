"""Test-wide settings.

Users get tier "auto" (pulsar/tiers.py). Here the default is tier "interpreted": the thousands
of small models the suite builds run on the kernels' NumPy twins and compile nothing, so the
suite costs no Numba compilation per model. The Numba kernels have their own tests
(test_kernels_*.py, through the `compiled_kernels` fixture), compiled plans theirs
(test_compiled*.py and others pass compile=True or a tier), and `pytest -m slow` runs the onnx
node tests on the kernels too. Run the whole suite in another tier with PULSAR_TIER=...
"""
import os

import pytest

os.environ.setdefault("PULSAR_TIER", "interpreted")
os.environ.setdefault("PULSAR_VERIFY", "1")     # graph.verify after every optimisation pass


@pytest.fixture
def compiled_kernels():
    """Kernels called directly run their machine code (compiled now if need be), not their
    NumPy twins: for tests of the Numba kernels."""
    from pulsar.kernels.jit import policy
    with policy("compiled"):
        yield
