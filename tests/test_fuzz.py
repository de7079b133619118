"""Mutated models (protobuf- and byte-level) must end in a result or a typed PulsarError: never
an untyped exception, a crash, a hang or a memory blow-up. Cases run in a worker process with an
address-space limit, a CPU limit and a wall deadline (tests/fuzz/runner.py); a failing case is
written to the test's tmp dir so it can be reproduced with `pulsar.load(path)`.

The default tier runs a small fixed budget; `-m slow` runs a larger one. Campaigns comparing with
onnxruntime: `python tests/fuzz/campaign.py --cases 20000`.
"""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz import mutate, runner, seeds

ACCEPTED = ("ok", "typed")


@pytest.fixture(scope="module")
def worker():
    w = runner.Worker("pulsar")
    yield w
    w.close()


def check(worker, index, data, out_dir):
    corpus = seeds.node_seeds() + seeds.shared_seeds()
    name, raw, feeds = corpus[index % len(corpus)]
    mutated, done = mutate.mutate(raw, mutate.HypothesisDraw(data))
    outcome = worker.run((0, mutated, feeds))
    if outcome.split(":")[0] not in ACCEPTED:
        path = out_dir / f"case-{index}.onnx"
        path.write_bytes(mutated)
        pytest.fail(f"{outcome} for {name} mutated by {done}; model written to {path}")


SETTINGS = dict(derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))


@settings(max_examples=150, **SETTINGS)
@given(index=st.integers(0, 10 ** 6), data=st.data())
def test_mutated_models_fail_typed(worker, tmp_path_factory, index, data):
    check(worker, index, data, tmp_path_factory.getbasetemp())


@pytest.mark.slow
@settings(max_examples=3000, **{**SETTINGS, "derandomize": False})
@given(index=st.integers(0, 10 ** 6), data=st.data())
def test_many_mutated_models_fail_typed(worker, tmp_path_factory, index, data):
    check(worker, index, data, tmp_path_factory.getbasetemp())


def test_the_runner_reports_crashes_hangs_and_untyped_errors():
    """The harness itself: a case that kills its worker, one that spins, one that raises an
    untyped error, each reported as such, and the worker replaced for the cases after them."""
    import onnx
    from onnx import helper
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", 1, [2])],
                              [helper.make_tensor_value_info("y", 1, [2])])
    good = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    assert isinstance(onnx.load_from_string(good), onnx.ModelProto)
    outcomes = dict(runner.Pool("probe", 1, wall_seconds=3, cpu_seconds=2).run(
        [(0, good, None), (1, b"crash", None), (2, good, None), (3, b"spin", None),
         (4, b"raise", None), (5, good, None)]))
    assert outcomes[0] == outcomes[2] == outcomes[5] == "ok"
    assert outcomes[1].startswith("crash:SIG")
    assert outcomes[3] == "hang"
    assert outcomes[4].startswith("untyped:KeyError")
