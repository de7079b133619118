"""Inputs bound at load (`values=`, `--value`) and `If`s of known condition inlined: random
nested branches reading outer wires (some returning one directly, which onnxruntime refuses),
checked against the onnx reference evaluator fed the same value."""
import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import pulsar
from models import init, model, tensor
from pulsar.cli.main import main
from pulsar.errors import InputError, OptionError
from reference import ort_run

F, I64 = TensorProto.FLOAT, TensorProto.INT64
UNARY = ("Relu", "Neg", "Sigmoid", "Abs")


def ops_chain(prefix, source, ops):
    """Unary ops applied in turn to `source` (an outer wire); returns (nodes, last wire)."""
    nodes, wire = [], source
    for i, op in enumerate(ops):
        nodes.append(helper.make_node(op, [wire], [f"{prefix}_{i}"], name=f"{prefix}_n{i}"))
        wire = f"{prefix}_{i}"
    return nodes, wire


def branch(prefix, ops, inner=None):
    """A branch of unary ops on the outer `x`; with `inner` (a node), it ends by adding the
    inner If's output, so the nested If's branches read this branch's wires too."""
    nodes, wire = ops_chain(prefix, "x", ops)
    if inner is not None:
        nodes.append(inner)
        nodes.append(helper.make_node("Add", [wire, inner.output[0]], [f"{prefix}_sum"]))
        wire = f"{prefix}_sum"
    return helper.make_graph(nodes, prefix, [], [helper.make_tensor_value_info(wire, F, None)])


def folding_model(then_ops, else_ops, inner_then, inner_else, k_test):
    """y = If(k == 1, then=ops + If(k == k_test, ...), else=ops) * 2, with k an int input."""
    inner = helper.make_node("If", ["inner_cond"], ["inner_y"], name="inner_if",
                             then_branch=branch("it", inner_then), else_branch=branch("ie", inner_else))
    nodes = [helper.make_node("Equal", ["k", "one"], ["cond"]),
             helper.make_node("Equal", ["k", "k_test"], ["inner_cond"]),
             helper.make_node("If", ["cond"], ["y"], name="outer_if",
                              then_branch=branch("t", then_ops, inner), else_branch=branch("e", else_ops)),
             helper.make_node("Mul", ["y", "two"], ["z"])]
    return model(nodes, [tensor("x", [2, 3]), tensor("k", [], I64)], [tensor("z", None)],
                 [init("one", np.int64(1)), init("k_test", np.int64(k_test)),
                  init("two", np.float32(2))])


ops = st.lists(st.sampled_from(UNARY), min_size=0, max_size=3)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops, ops, ops, ops, st.integers(0, 2), st.integers(0, 2))
def test_bound_input_folds_nested_ifs_into_a_plain_graph(a, b, c, d, k_test, k):
    m = folding_model(a, b, c, d, k_test)
    loaded = pulsar.load(m, values={"k": k})
    assert [i.name for i in loaded.inputs] == ["x"]
    assert not [n for n in loaded.graph.nodes if n.op.onnx_name == "If"]
    folded = loaded.dump()
    assert "# folded: input k bound to %d" % k in folded
    assert "# folded: outer_if (If): condition is %s" % (k == 1) in folded
    if k == 1:
        assert "# folded: inner_if (If): condition is %s" % (k == k_test) in folded
    x = np.random.default_rng(k).standard_normal((2, 3)).astype(np.float32)
    want = ReferenceEvaluator(m).run(None, {"x": x, "k": np.array(k)})[0]
    np.testing.assert_allclose(loaded.run({"x": x})[0], want, rtol=1e-6, atol=1e-6)


def test_unbound_input_keeps_the_if_and_both_branches_run():
    m = folding_model(["Relu"], ["Neg"], ["Abs"], ["Neg"], 1)
    loaded = pulsar.load(m)
    assert [n for n in loaded.graph.nodes if n.op.onnx_name == "If"]
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    for k in (0, 1):
        want = ort_run(m, {"x": x, "k": np.array(k)})[0]
        np.testing.assert_allclose(loaded.run({"x": x, "k": np.array(k)})[0], want, rtol=1e-6)


def test_bound_input_errors_are_typed():
    m = folding_model([], [], [], [], 1)
    with pytest.raises(OptionError, match="cannot give input 'q' a value"):
        pulsar.load(m, values={"q": 1})
    with pytest.raises(OptionError, match=r"value for input 'k' has shape \[2\]"):
        pulsar.load(m, values={"k": [1, 2]})
    loaded = pulsar.load(m, values={"k": 1})
    with pytest.raises(InputError, match="'k'.*given a value when loading"):
        loaded.run({"x": np.zeros((2, 3), np.float32), "k": np.array(1)})


def test_cli_value_binds_and_dump_shows_the_folding(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(folding_model(["Relu"], ["Neg"], ["Abs"], ["Sigmoid"], 1), path)
    assert main(["dump", str(path), "--value", "k=1"]) == 0
    text = capsys.readouterr().out
    assert "# folded: input k bound to 1" in text
    assert "# folded: outer_if (If): condition is True, then_branch inlined" in text
    assert "# folded: inner_if (If): condition is True, then_branch inlined" in text
    assert " = If(" not in text
    assert main(["run", str(path), "--value", "k=0"]) == 0
    assert main(["dump", str(path), "--value", "k"]) == 1
