import pytest

from conformance import cases_for, run_case

KNOWN_FAILING = {}

OPS = ("BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization",
       "LRN", "MeanVarianceNormalization", "LpNormalization")


@pytest.mark.parametrize("name", cases_for(*OPS))
def test_conformance(name):
    if name in KNOWN_FAILING:
        pytest.xfail(KNOWN_FAILING[name])
    run_case(name)
