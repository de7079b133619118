"""NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss: ONNX conformance, symbolic batch and
length against onnxruntime (reductions, weights, ignore_index, log_prob), and input errors."""
import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import pulsar
from conformance import cases_for, conformance_test
from reference import ort_run
from models import model, tensor
from pulsar import dims
from pulsar.errors import InferenceError, PulsarError

N, S = dims.sym("N"), dims.sym("S")
FLOAT, INT64 = TensorProto.FLOAT, TensorProto.INT64
KNOWN_FAILING = {}


test_conformance = conformance_test(
    cases_for("NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"), KNOWN_FAILING)


def loss_model(op, x_shape, t_shape, weighted=False, outputs=("loss",), opset=13, **attrs):
    inputs = ["x", "t"] + (["w"] if weighted else [])
    graph_inputs = [tensor("x", x_shape), tensor("t", t_shape, INT64)]
    if weighted:
        graph_inputs.append(tensor("w", [x_shape[1]]))
    node = helper.make_node(op, inputs, list(outputs), **attrs)
    return model([node], graph_inputs, [tensor(o, None) for o in outputs], opset=opset)


def feeds_for(loaded, bind, rng, classes, ignore=None):
    feeds = {}
    for i in loaded.inputs:
        shape = [dims.evaluate(d, bind) for d in i.shape]
        if i.name == "t":
            t = rng.integers(0, classes, shape)
            if ignore is not None:
                t[rng.random(shape) < 0.3] = ignore
            feeds["t"] = t.astype(np.int64)
        else:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


@pytest.mark.parametrize("op", ["NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"])
@pytest.mark.parametrize("reduction,weighted,ignore", [
    ("none", False, None), ("sum", True, None), ("mean", True, 2), ("mean", False, -1),
    ("none", True, 4),
])
def test_symbolic_batch_and_length_match_onnxruntime(op, reduction, weighted, ignore):
    attrs = {"reduction": reduction} | ({} if ignore is None else {"ignore_index": ignore})
    outputs = ("loss", "log_prob") if op == "SoftmaxCrossEntropyLoss" else ("loss",)
    m = loss_model(op, ["N", 5, "S"], ["N", "S"], weighted, outputs, **attrs)
    loaded = pulsar.load(m)
    want = [(N, S) if reduction == "none" else ()] + [(N, 5, S)] * (len(outputs) - 1)
    assert [o.shape for o in loaded.outputs] == want
    rng = np.random.default_rng(len(reduction) + weighted)
    for bind in ({"N": 1, "S": 1}, {"N": 3, "S": 7}):
        feeds = feeds_for(loaded, bind, rng, 5, ignore)
        for got, expected in zip(loaded.run(feeds), ort_run(m, feeds)):
            assert got.dtype == expected.dtype and got.shape == expected.shape
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_two_dimensional_scores_give_per_sample_losses():
    m = loss_model("SoftmaxCrossEntropyLoss", ["N", 4], ["N"], reduction="none")
    loaded = pulsar.load(m)
    assert loaded.outputs[0].shape == (N,)
    feeds = feeds_for(loaded, {"N": 6}, np.random.default_rng(0), 4)
    np.testing.assert_allclose(loaded.run(feeds)[0], ort_run(m, feeds)[0], rtol=1e-5)


def test_mean_over_only_ignored_targets_is_nan_like_the_reference():
    m = loss_model("NegativeLogLikelihoodLoss", [2, 3], [2], ignore_index=1)
    feeds = {"x": np.ones((2, 3), np.float32), "t": np.array([1, 1], np.int64)}
    got = pulsar.load(m).run(feeds)[0]
    assert got.shape == () and np.isnan(got)
    with np.errstate(invalid="ignore"):
        assert np.isnan(ReferenceEvaluator(m).run(None, feeds)[0])


def test_target_out_of_range_is_a_clear_error():
    loaded = pulsar.load(loss_model("NegativeLogLikelihoodLoss", [2, 3], [2]))
    with pytest.raises(PulsarError, match=r"targets must lie in \[0, 3\)"):
        loaded.run({"x": np.zeros((2, 3), np.float32), "t": np.array([0, 3], np.int64)})


@pytest.mark.parametrize("x_shape,t_shape,weighted,attrs,message", [
    ([2, 3, 4], [2, 5], False, {}, r"target must have shape \[2,4\]"),
    ([2, 3], [2], False, {"reduction": "max"}, "reduction must be one of none, sum, mean"),
    ([2], [2], False, {}, r"input must be a float tensor \(N, C, ...\)"),
])
def test_shape_and_attribute_errors(x_shape, t_shape, weighted, attrs, message):
    m = loss_model("NegativeLogLikelihoodLoss", x_shape, t_shape, weighted, **attrs)
    with pytest.raises(InferenceError, match=message):
        pulsar.load(m)


def test_weight_must_have_one_entry_per_class():
    m = loss_model("SoftmaxCrossEntropyLoss", [2, 3], [2], weighted=True)
    m.graph.input[2].CopyFrom(tensor("w", [4]))
    with pytest.raises(InferenceError, match=r"weights must be float32\[3\]"):
        pulsar.load(m)
