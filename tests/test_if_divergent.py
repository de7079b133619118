"""`If` whose branches disagree in shape or rank, nested, with conditions known only at run
time: analysis splits into one case per branch and merges; runs follow the branch taken.
Random branch shapes, checked against onnxruntime for every combination of conditions."""
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

import pulsar
from models import init, model, tensor
from reference import ort_run
from pulsar.fact import DynamicFact

F, BOOL = TensorProto.FLOAT, TensorProto.BOOL
SIZE = 24   # elements of x: every branch reshapes x to a shape of this size


@st.composite
def shapes(draw):
    """A shape of SIZE elements and rank 1..4."""
    rank = draw(st.integers(1, 4))
    left, shape = SIZE, []
    for _ in range(rank - 1):
        d = draw(st.sampled_from([k for k in (1, 2, 3, 4, 6) if left % k == 0]))
        shape.append(d)
        left //= d
    return shape + [left]


def branch(name, target):
    """A branch returning x (read from the outer scope) reshaped to `target`, times 2."""
    nodes = [helper.make_node("Constant", [], [f"{name}_s"],
                              value=helper.make_tensor("v", TensorProto.INT64, [len(target)], target)),
             helper.make_node("Reshape", ["x", f"{name}_s"], [f"{name}_r"]),
             helper.make_node("Mul", [f"{name}_r", "two"], [f"{name}_y"])]
    return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(f"{name}_y", F, None)])


def nested_model(a, b, c):
    """y = If(c1, then=If(c2, reshape a, reshape b), else=reshape c); after it, ops that work
    at any rank (Relu), one that needs the rank (Size of Shape), and a sum of everything."""
    inner = helper.make_node("If", ["c2"], ["inner_y"], then_branch=branch("a", a),
                             else_branch=branch("b", b))
    then = helper.make_graph([inner], "outer_then", [],
                             [helper.make_tensor_value_info("inner_y", F, None)])
    nodes = [helper.make_node("If", ["c1"], ["y"], then_branch=then, else_branch=branch("c", c)),
             helper.make_node("Relu", ["y"], ["relu"]),
             helper.make_node("Shape", ["y"], ["shape"]),
             helper.make_node("Size", ["shape"], ["rank"]),
             helper.make_node("ReduceSum", ["relu"], ["total"], keepdims=0)]
    outs = [helper.make_tensor_value_info(w, t, None) for w, t in
            (("relu", F), ("rank", TensorProto.INT64), ("total", F))]
    return model(nodes, [tensor("x", [2, 3, 4]), tensor("c1", [], BOOL), tensor("c2", [], BOOL)],
                 outs, [init("two", np.float32(2))])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes(), shapes(), shapes())
def test_nested_if_with_random_branch_shapes_matches_onnxruntime(a, b, c):
    m = nested_model(a, b, c)
    loaded = pulsar.load(m)
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    for c1, c2 in itertools.product((True, False), repeat=2):
        feeds = {"x": x, "c1": np.array(c1), "c2": np.array(c2)}
        want = ort_run(m, feeds)
        got = loaded.run(feeds)
        for g, w in zip(got, want):
            assert np.shape(g) == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    relu = loaded.graph.facts["relu"]
    if len({len(a), len(b), len(c)}) > 1:
        assert isinstance(relu, DynamicFact)
        assert sorted({len(f.shape) for f in relu.alternatives}) == sorted({len(a), len(b), len(c)})
    else:
        assert relu.rank == len(a)
        for axis, ds in enumerate(zip(a, b, c)):     # equal dims stay, the others are fresh
            assert (relu.shape[axis] == a[axis]) == (len(set(ds)) == 1)
    assert loaded.outputs[2].shape == ()             # the sum has one rank whatever runs


def test_divergent_if_output_is_reported_dynamic_and_stays_interpreted():
    m = nested_model([24], [2, 12], [2, 3, 4])
    loaded = pulsar.load(m, compile=True)
    assert loaded.outputs[0].shape is None
    text = loaded.dump()
    assert "relu: f32[?] (one of f32[24] | f32[2,12] | f32[2,3,4])" in text


def test_branch_that_cannot_be_analysed_is_refused_only_when_taken():
    """else multiplies [2,3] by [6,4]: analysis keeps the then branch's facts, running it
    matches the reference evaluator, and taking else is a typed error naming the failure."""
    from onnx.reference import ReferenceEvaluator
    from pulsar.errors import InputError
    then = helper.make_graph([helper.make_node("Add", ["x2", "x2"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", F, None)])
    other = helper.make_graph([helper.make_node("MatMul", ["x2", "w"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", F, None)])
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["x2"]),
             helper.make_node("If", ["c1"], ["y"], then_branch=then, else_branch=other, name="if")]
    m = model(nodes, [tensor("x", [6]), tensor("c1", [], BOOL)], [tensor("y", None)],
              [init("shape", np.array([2, 3])), init("w", np.ones((6, 4), np.float32))])
    for compile in (False, True):
        loaded = pulsar.load(m, compile=compile)
        assert loaded.outputs[0].shape == (2, 3)
        x = np.arange(6, dtype=np.float32)
        feeds = {"x": x, "c1": np.array(True)}
        np.testing.assert_array_equal(loaded.run(feeds)[0], ReferenceEvaluator(m).run(None, feeds)[0])
        with pytest.raises(InputError, match="take the else branch.*MatMul"):
            loaded.run({"x": x, "c1": np.array(False)})
