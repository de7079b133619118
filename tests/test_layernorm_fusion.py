"""Spelled-out layer norms (as PyTorch exports them) become one LayerNormalization."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import pulsar
from reference import ort_run


def spelled_out(with_affine=True, eps=1e-5, extra_reader=False):
    rng = np.random.default_rng(0)
    c = lambda name, v: numpy_helper.from_array(np.asarray(v, np.float32), name)  # noqa: E731
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1]),
             helper.make_node("Sub", ["x", "m"], ["d"]),
             helper.make_node("Pow", ["d", "two"], ["d2"]),
             helper.make_node("ReduceMean", ["d2"], ["v"], axes=[-1]),
             helper.make_node("Add", ["v", "eps"], ["ve"]),
             helper.make_node("Sqrt", ["ve"], ["s"]),
             helper.make_node("Div", ["d", "s"], ["n"])]
    inits = [c("two", 2.0), c("eps", eps)]
    out = "n"
    if with_affine:
        nodes += [helper.make_node("Mul", ["n", "g"], ["ng"]), helper.make_node("Add", ["ng", "b"], ["y"])]
        inits += [c("g", rng.standard_normal(12)), c("b", rng.standard_normal(12))]
        out = "y"
    outputs = [out] + (["m"] if extra_reader else [])
    graph = helper.make_graph(nodes, "ln", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, "S", 12])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("with_affine", [True, False])
def test_pattern_becomes_one_node_and_matches_onnxruntime(with_affine):
    proto = spelled_out(with_affine)
    model = pulsar.load(proto)
    assert [n.op.onnx_name for n in model.graph.nodes] == ["LayerNormalization"]
    x = np.random.default_rng(1).standard_normal((2, 5, 12)).astype(np.float32) * 3
    (want,) = ort_run(proto, {"x": x})
    np.testing.assert_allclose(model.run([x])[0], want, rtol=1e-5, atol=1e-5)


def test_a_wire_read_elsewhere_blocks_the_rewrite():
    model = pulsar.load(spelled_out(extra_reader=True))
    assert "LayerNormalization" not in [n.op.onnx_name for n in model.graph.nodes]
