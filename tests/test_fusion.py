"""BN folding and activation fusion: same outputs as onnxruntime, fewer nodes, visible in dumps."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import pulsar
from reference import ort_run
from pulsar.ops import registry

RNG = np.random.default_rng(0)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def bn_inits(prefix, c):
    return [numpy_helper.from_array(a, f"{prefix}_{n}") for n, a in (
        ("s", randn(c)), ("b", randn(c)), ("m", randn(c)), ("v", np.abs(randn(c)) + 0.1))]


def bn_node(prefix, x, y, **attrs):
    return helper.make_node("BatchNormalization", [x] + [f"{prefix}_{n}" for n in "sbmv"], [y],
                            **attrs)


def make_model(nodes, inits, x_shape, outputs=("y",), opset=13):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def conv_bn(activation=None, act_inputs=(), act_attrs=None, c=8, bias=True):
    """x -> Conv -> BN [-> activation] -> y."""
    inits = [numpy_helper.from_array(randn(c, 4, 3, 3), "w")] + bn_inits("bn", c)
    ins = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(randn(c), "cb"))
        ins.append("cb")
    nodes = [helper.make_node("Conv", ins, ["c"], pads=[1, 1, 1, 1]),
             bn_node("bn", "c", "n" if activation else "y", epsilon=1e-3)]
    if activation:
        for name, value in act_inputs:
            inits.append(numpy_helper.from_array(np.array(value, np.float32), name))
        nodes.append(helper.make_node(activation, ["n", *[n for n, _ in act_inputs]], ["y"],
                                      **(act_attrs or {})))
    return make_model(nodes, inits, [2, 4, 10, 10], opset=14)      # HardSwish: opset 14


def check_against_onnxruntime(model, x_shape, rtol=1e-4, atol=1e-4):
    loaded = pulsar.load(model)
    for _ in range(2):
        x = randn(*x_shape)
        for got, expected in zip(loaded.run([x]), ort_run(model, {"x": x}, optimise=False)):
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
    return loaded


ACTIVATIONS = [
    ("Relu", (), {}, "activation=relu"),
    ("LeakyRelu", (), {"alpha": 0.2}, "activation=leaky_relu,alpha=0.2"),
    ("Sigmoid", (), {}, "activation=sigmoid"),
    ("Tanh", (), {}, "activation=tanh"),
    ("HardSigmoid", (), {"alpha": 0.3, "beta": 0.4}, "activation=hard_sigmoid,alpha=0.3,beta=0.4"),
    ("Clip", (("lo", 0.0), ("hi", 6.0)), {}, "activation=clip,beta=6"),
    ("Clip", (("lo", 0.5),), {}, "activation=clip,alpha=0.5,beta=inf"),
    ("Clip", (("lo", 2.0), ("hi", -1.0)), {}, "activation=clip,alpha=2,beta=-1"),  # min > max
    # any op whose scalar function the epilogue has
    ("Elu", (), {"alpha": 0.5}, "activation=elu,alpha=0.5"),
    ("Softsign", (), {}, "activation=softsign"),
    ("Softplus", (), {}, "activation=softplus"),
    ("ThresholdedRelu", (), {"alpha": 0.3}, "activation=thresholded_relu,alpha=0.3"),
    ("HardSwish", (), {}, "activation=hard_swish"),
    ("Selu", (), {}, "activation=selu,alpha=1.67326,beta=1.0507"),
]


@pytest.mark.parametrize("activation,inputs,attrs,shown", ACTIVATIONS)
def test_conv_bn_activation_becomes_one_node(activation, inputs, attrs, shown):
    model = conv_bn(activation, inputs, attrs)
    loaded = check_against_onnxruntime(model, [2, 4, 10, 10])
    assert len(loaded.raw_graph.nodes) == 3
    assert [n.op.onnx_name for n in loaded.graph.nodes] == ["Conv"]
    assert shown in loaded.dump()


def test_dump_shows_the_fused_conv():
    line = [s for s in pulsar.load(conv_bn("Relu")).dump().splitlines() if "Conv(" in s][0]
    assert "Conv(pads=(1,1,1,1),activation=relu)" in line
    assert line.endswith("-> y: f32[2,8,10,10]")


def test_conv_without_bias_folds_a_bias_in():
    loaded = check_against_onnxruntime(conv_bn(bias=False), [2, 4, 10, 10])
    assert len(loaded.graph.nodes) == 1 and len(loaded.graph.nodes[0].inputs) == 3


def test_conv_output_read_twice_is_not_fused():
    inits = [numpy_helper.from_array(randn(4, 4, 3, 3), "w")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Add", ["c", "r"], ["y"])]
    loaded = check_against_onnxruntime(make_model(nodes, inits, [1, 4, 6, 6]), [1, 4, 6, 6])
    # The conv keeps no activation (its output has two readers); Relu and Add fuse into one kernel.
    assert len(loaded.graph.nodes) == 2 and "activation" not in loaded.dump()


def test_conv_output_that_is_a_graph_output_is_kept():
    inits = [numpy_helper.from_array(randn(4, 4, 3, 3), "w")] + bn_inits("bn", 4)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), bn_node("bn", "c", "n"),
             helper.make_node("Relu", ["n"], ["y"])]
    model = make_model(nodes, inits, [1, 4, 6, 6], outputs=("y", "n", "c"))
    loaded = check_against_onnxruntime(model, [1, 4, 6, 6])
    assert len(loaded.graph.nodes) == 3


def test_shared_weights_fold_into_separate_constants():
    """Two convs read one weight, each followed by its own BN: both fold, neither corrupts."""
    inits = [numpy_helper.from_array(randn(4, 4, 1, 1), "w")] + bn_inits("a", 4) + bn_inits("b", 4)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c1"]), bn_node("a", "c1", "n1"),
             helper.make_node("Conv", ["x", "w"], ["c2"]), bn_node("b", "c2", "n2"),
             helper.make_node("Add", ["n1", "n2"], ["y"])]
    loaded = check_against_onnxruntime(make_model(nodes, inits, [1, 4, 5, 5]), [1, 4, 5, 5])
    assert [n.op.onnx_name for n in loaded.graph.nodes] == ["Conv", "Conv", "Add"]


def test_training_mode_batch_norm_is_not_folded():
    inits = [numpy_helper.from_array(randn(4, 4, 1, 1), "w")] + bn_inits("bn", 4)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             bn_node("bn", "c", "y", training_mode=1)]
    loaded = pulsar.load(make_model(nodes, inits, [2, 4, 5, 5], opset=15))
    assert [n.op.onnx_name for n in loaded.graph.nodes] == ["Conv", "BatchNormalization"]


def test_non_constant_batch_norm_statistics_are_not_folded():
    inits = [numpy_helper.from_array(randn(4, 4, 1, 1), "w")] + bn_inits("bn", 4)[:3]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("Abs", ["bn_s"], ["bn_v"]),
             bn_node("bn", "c", "y")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 3, 3]),
                     helper.make_tensor_value_info("bn_s", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [i for i in inits if i.name != "bn_s"])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    assert "BatchNormalization" in pulsar.load(model).dump()


def needs(*ops):
    missing = [op for op in ops if registry.lookup("", op, 13) is None]
    return pytest.mark.skipif(bool(missing), reason=f"ops not implemented yet: {missing}")


@needs("Gemm")
@pytest.mark.parametrize("trans_b,beta,with_c", [(0, 1.0, True), (1, 0.5, True), (1, 1.0, False)])
def test_gemm_bn_folds(trans_b, beta, with_c):
    b = randn(6, 5) if trans_b else randn(5, 6)
    inits = [numpy_helper.from_array(b, "B")] + bn_inits("bn", 6)
    ins = ["x", "B"]
    if with_c:
        inits.append(numpy_helper.from_array(randn(6), "C"))
        ins.append("C")
    nodes = [helper.make_node("Gemm", ins, ["g"], transB=trans_b, beta=beta, alpha=1.5),
             bn_node("bn", "g", "y")]
    loaded = check_against_onnxruntime(make_model(nodes, inits, [3, 5]), [3, 5])
    assert [n.op.onnx_name for n in loaded.graph.nodes] == ["Gemm"]


@needs("MatMul")
def test_matmul_add_bn_folds():
    inits = [numpy_helper.from_array(randn(5, 6), "B"), numpy_helper.from_array(randn(6), "c")]
    nodes = [helper.make_node("MatMul", ["x", "B"], ["m"]), helper.make_node("Add", ["c", "m"], ["a"]),
             bn_node("bn", "a", "y")]
    loaded = check_against_onnxruntime(make_model(nodes, inits + bn_inits("bn", 6), [3, 5]), [3, 5])
    assert [n.op.onnx_name for n in loaded.graph.nodes] == ["MatMul", "Add"]


def test_fusion_keeps_symbolic_lengths():
    """A 1-D Conv -> BN -> Relu over a stream of symbolic length folds to one node whose
    output length stays a formula in S."""
    inits = [numpy_helper.from_array(randn(6, 3, 5), "w")] + bn_inits("bn", 6)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], strides=[2]), bn_node("bn", "c", "n"),
             helper.make_node("Relu", ["n"], ["y"])]
    model = make_model(nodes, inits, [1, 3, "S"])
    loaded = pulsar.load(model)
    assert [n.op.onnx_name for n in loaded.graph.nodes] == ["Conv"]
    assert str(loaded.graph.facts["y"].shape[2]) == "(S-5)/2+1"
    for s in (5, 16, 101):
        x = randn(1, 3, s)
        got, expected = loaded.run([x])[0], ort_run(model, {"x": x})[0]
        assert got.shape == expected.shape == (1, 6, (s - 5) // 2 + 1)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_leaky_relu_then_max_with_a_constant_becomes_one_conv():
    """tf2onnx's clipped leaky ReLU (LeakyRelu then Max(x, -0.4)) fuses into the conv epilogue."""
    inits = [numpy_helper.from_array(randn(4, 3, 3, 1), "w"),
             numpy_helper.from_array(np.array([-0.4], np.float32), "floor")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 1]),
             helper.make_node("LeakyRelu", ["c"], ["l"], alpha=0.2),
             helper.make_node("Max", ["l", "floor"], ["y"])]
    loaded = check_against_onnxruntime(make_model(nodes, inits, [1, 3, 8, 5]), [1, 3, 8, 5])
    assert len(loaded.graph.nodes) == 1 and "activation=leaky_relu_max" in loaded.dump()
