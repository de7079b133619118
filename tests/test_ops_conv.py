import pytest

from conformance import cases_for, run_case

KNOWN_FAILING = {}


@pytest.mark.parametrize("name", cases_for("Conv", "ConvTranspose", "ConvInteger"))
def test_conformance(name):
    if name in KNOWN_FAILING:
        pytest.xfail(KNOWN_FAILING[name])
    run_case(name)
