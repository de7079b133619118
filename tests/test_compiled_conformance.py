"""Compiled plans agree with interpreted ones on onnx's official node test data.

Every op class in the registry that can `emit` is covered the moment it gains `emit`: its
backend node test cases run interpreted and compiled, and both must reproduce onnx's
expected outputs (allow-listed cases) or behave alike (the same outputs, or the same typed
error). "Interpreted" is tier interpreted (the kernels' NumPy twins), so each case checks the
generated code and the twins against onnx's expected outputs. The slow tier runs one case per
op and then the whole sweep; the default tier every fourth op's case (a Numba compilation each
on a cold cache, a few seconds apiece).
"""
import functools

import numpy as np
import pytest
from onnx.backend.test.runner import Runner

import pulsar
from conformance import _array, all_cases
from pulsar.ops import registry

ALLOWLIST = __file__.replace("test_compiled_conformance.py", "conformance_allowlist.txt")


def emitting_ops() -> set:
    """ONNX op types with at least one registered version that can emit compiled code."""
    return {op for (domain, op), versions in registry._REGISTRY.items() if domain == ""
            for _, cls in versions if callable(getattr(cls, "emit", None))}


@functools.lru_cache(maxsize=1)
def case_ops() -> dict:
    """case name -> the emitting ops it exercises (cases made only of emitting ops)."""
    ops = emitting_ops()
    chosen = {}
    for name, case in all_cases().items():
        used = {n.op_type for n in case.model.graph.node} - {"Constant"}
        if used and used <= ops:
            chosen[name] = used
    return chosen


@functools.lru_cache(maxsize=1)
def allowed() -> frozenset:
    return frozenset(open(ALLOWLIST).read().split())


def one_per_op() -> list:
    """For each emitting op, its first allow-listed single-op case (else its first case)."""
    picks = {}
    for name, used in sorted(case_ops().items()):
        if len(used) == 1:
            op = next(iter(used))
            if op not in picks or (name in allowed() and picks[op] not in allowed()):
                picks[op] = name
    return sorted(picks.values())


def outcome(name, compile):
    """('ok', outputs per data set, compiled node count) or ('error', type name, message)."""
    case = all_cases()[name]
    try:
        model = pulsar.load(case.model, tier="compiled" if compile else "interpreted")
        runs, compiled = [], 0
        for inputs, _ in case.data_sets:
            arrays = [_array(x) for x in inputs]
            runs.append(model.run(arrays))
            plan = model.plan_for(arrays)
            compiled = max(compiled, sum(w == "compiled" for _, w in plan.execution()))
        return "ok", runs, compiled
    except pulsar.PulsarError as error:
        return "error", type(error).__name__, str(error)


def check_agreement(name):
    interpreted, compiled = outcome(name, False), outcome(name, True)
    case = all_cases()[name]
    if interpreted[0] == "error" or compiled[0] == "error":
        assert interpreted[:2] == compiled[:2], f"interpreted {interpreted}, compiled {compiled}"
        return compiled
    expected = [[_array(x) for x in outs] for _, outs in case.data_sets]
    for got_i, got_c, want in zip(interpreted[1], compiled[1], expected):
        if name in allowed():       # both must match onnx's expected outputs
            Runner.assert_similar_outputs(want, list(got_i), case.rtol, case.atol)
            Runner.assert_similar_outputs(want, list(got_c), case.rtol, case.atol)
        else:                       # pulsar is not conformant here: both paths alike
            for a, b in zip(got_i, got_c):
                _assert_alike(a, b, case)
    return compiled


def _assert_alike(a, b, case):
    """Two outputs agree: arrays within the case's tolerance, sequences element by element."""
    if isinstance(a, list) or isinstance(b, list):
        assert isinstance(a, list) and isinstance(b, list) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            _assert_alike(x, y, case)
        return
    np.testing.assert_allclose(np.asarray(b, dtype=object if b.dtype == object else None),
                               a, rtol=case.rtol, atol=case.atol)


def test_every_emitting_op_has_a_case():
    """The registry drives coverage: an op that can emit but has no node test case is
    reported, so a new `emit` does not go unchecked silently."""
    covered = {op for used in case_ops().values() for op in used}
    in_some_case = {n.op_type for c in all_cases().values() for n in c.model.graph.node}
    missing = (emitting_ops() & in_some_case) - covered
    assert not missing, f"ops that emit but whose cases are never run compiled: {missing}"


@pytest.mark.parametrize("name", one_per_op()[::4])
def test_compiled_matches_interpreted(name):
    check_agreement(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for i, n in enumerate(one_per_op()) if i % 4])
def test_compiled_matches_interpreted_other_ops(name):
    check_agreement(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(case_ops()))
def test_compiled_matches_interpreted_sweep(name):
    check_agreement(name)
