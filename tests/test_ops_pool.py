import pytest

from conformance import cases_for, run_case

KNOWN_FAILING = {}

OPS = ("MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool",
       "MaxUnpool")


@pytest.mark.parametrize("name", cases_for(*OPS))
def test_conformance(name):
    if name in KNOWN_FAILING:
        pytest.xfail(KNOWN_FAILING[name])
    run_case(name)
