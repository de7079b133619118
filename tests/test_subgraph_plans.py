"""Subgraphs of If/Loop nodes whose condition is only known per run get optimised, compiled
plans of their own (pulsar/planning.py): same outputs as onnxruntime, fused and compiled
inside, and a branch that only forwards an outer value costs no plan run."""
import numpy as np
from onnx import TensorProto, helper

import pulsar
from models import init, model, tensor
from reference import ort_run

F, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
n = helper.make_node


def branch(name, nodes, out):
    return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(out, F, None)])


def if_model():
    """y = If(sum(x) > 0, then=Relu(Conv(x, w) + b) read from the outer scope, else=x) * 2."""
    then = branch("then", [n("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1]),
                           n("Relu", ["c"], ["r"], name="relu")], "r")
    other = branch("else", [n("Identity", ["x"], ["e"], name="pass")], "e")
    nodes = [n("ReduceSum", ["x"], ["s"], keepdims=0),
             n("Greater", ["s", "zero"], ["cond"]),
             n("If", ["cond"], ["picked"], then_branch=then, else_branch=other, name="if"),
             n("Mul", ["picked", "two"], ["y"])]
    rng = np.random.default_rng(0)
    return model(nodes, [tensor("x", [1, 4, 16])], [tensor("y", None)],
                 [init("zero", np.float32(0)), init("two", np.float32(2)),
                  init("w", rng.standard_normal((4, 4, 3)).astype(np.float32)),
                  init("b", rng.standard_normal(4).astype(np.float32))])


def test_if_branches_run_optimised_and_compiled():
    m = if_model()
    loaded = pulsar.load(m, compile=True)
    plans = next(iter(loaded.plan.subgraph_plans.values()))
    then = next(p for p in plans.values() if p.graph.name == "then")
    (conv,) = then.graph.nodes                         # the Relu fused into the Conv
    assert conv.op.onnx_name == "Conv" and "relu" in str(conv.op).lower()
    assert {where for _, where in then.execution()} == {"compiled"}
    assert "# execution: 4 of 4 nodes compiled into 1 function(s)" in loaded.dump()  # If inline
    for sign in (1, -1):      # both branches taken
        x = (sign * np.abs(np.random.default_rng(1).standard_normal((1, 4, 16)))).astype(np.float32)
        np.testing.assert_allclose(loaded.run([x])[0], ort_run(m, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_forwarding_branch_returns_the_outer_value():
    loaded = pulsar.load(if_model(), compile=False)
    plans = next(iter(loaded.plan.subgraph_plans.values()))
    other = next(p for p in plans.values() if p.graph.name == "else")
    x = -np.ones((1, 4, 16), np.float32)
    assert other.run([], outer={"x": x})[0] is x


def loop_model():
    """Three iterations of h = Tanh(h @ w + x) with w read from the outer scope; h stacked."""
    body = helper.make_graph(
        [n("MatMul", ["h_in", "w"], ["hw"]), n("Add", ["hw", "x"], ["a"]),
         n("Tanh", ["a"], ["h_out"]), n("Identity", ["cond_in"], ["cond_out"]),
         n("Identity", ["h_out"], ["scan"])],
        "body", [tensor("i", [], I64), tensor("cond_in", [], BOOL), tensor("h_in", [1, 8])],
        [helper.make_tensor_value_info(w, t, None) for w, t in
         (("cond_out", BOOL), ("h_out", F), ("scan", F))])
    node = n("Loop", ["three", "", "h0"], ["h", "hs"], body=body, name="loop")
    rng = np.random.default_rng(2)
    return model([node], [tensor("x", [1, 8]), tensor("h0", [1, 8])],
                 [tensor("h", None), tensor("hs", None)],
                 [init("three", np.array(3, np.int64)),
                  init("w", (rng.standard_normal((8, 8)) * 0.3).astype(np.float32))], opset=13)


def test_loop_body_runs_compiled_and_matches_onnxruntime():
    m = loop_model()
    loaded = pulsar.load(m, compile=True)
    assert "# execution: 1 of 1 nodes compiled into 1 function(s)" in loaded.dump()  # inline
    plans = next(iter(loaded.plan.subgraph_plans.values()))
    body = next(iter(plans.values()))
    assert "compiled" in {where for _, where in body.execution()}
    rng = np.random.default_rng(3)
    feeds = {k: rng.standard_normal((1, 8)).astype(np.float32) for k in ("x", "h0")}
    for got, want in zip(loaded.run(feeds), ort_run(m, feeds)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
