"""Elementwise fusion: chains of float elementwise nodes run as one generated kernel, with the
outputs onnxruntime gives, one FusedElementwise node in the dump, and a kernel file cached once."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import pulsar
from reference import ort_run
from pulsar import streaming

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def kernel_cache(tmp_path_factory):
    """Generated kernels of this module go to a private directory, not the user's cache."""
    path = tmp_path_factory.mktemp("kernels")
    old = os.environ.get("PULSAR_CACHE_DIR")
    os.environ["PULSAR_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        del os.environ["PULSAR_CACHE_DIR"]
    else:
        os.environ["PULSAR_CACHE_DIR"] = old


class Chain:
    """Builds a random chain over inputs x and z (same shape); every step is fusible."""

    UNARY = [("Relu", {}), ("LeakyRelu", {"alpha": 0.2}), ("Sigmoid", {}), ("Tanh", {}),
             ("Abs", {}), ("Neg", {}), ("Softplus", {}), ("Erf", {}),
             ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("Elu", {"alpha": 0.5}), ("Selu", {}),
             ("Softsign", {}), ("ThresholdedRelu", {"alpha": 0.3}), ("HardSwish", {}),
             ("Mish", {})]
    BINARY = ["Add", "Sub", "Mul", "Div", "Max", "Min"]

    def __init__(self, rng, dtype=TensorProto.FLOAT):
        self.rng, self.dtype = rng, dtype
        self.np_dtype = np.float32 if dtype == TensorProto.FLOAT else np.float64
        self.nodes, self.inits = [], []

    def node(self, op, inputs, **attrs):
        out = f"t{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def const(self, value):
        name = f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.array(value, self.np_dtype), name))
        return name

    def step(self, cur):
        kind = self.rng.integers(6)
        if kind == 0:
            op, attrs = self.UNARY[self.rng.integers(len(self.UNARY))]
            return self.node(op, [cur], **attrs)
        if kind in (1, 2):
            op = self.BINARY[self.rng.integers(len(self.BINARY))]
            other = self.const(round(float(self.rng.uniform(-2, 2)), 3)) if kind == 1 \
                else ["x", "z"][self.rng.integers(2)]
            return self.node(op, [cur, other] if self.rng.integers(2) else [other, cur])
        if kind == 3:        # log and sqrt of a positive value, so NaNs don't hide everything
            pos = self.node("Add", [self.node("Abs", [cur]), self.const(0.5)])
            return self.node(["Log", "Sqrt"][self.rng.integers(2)], [pos])
        if kind == 4:        # exp of a bounded value: exp(exp(x)) would amplify 1-ulp errors
            return self.node("Exp", [self.node("Tanh", [cur])])
        if self.rng.integers(2):
            return self.node("Pow", [cur, self.const([2.0, 3.0][self.rng.integers(2)])])
        return self.node("Clip", [cur, self.const(-1.5), self.const(1.25)])

    def model(self, output, shape=(2, "S"), outputs=None):
        inputs = [helper.make_tensor_value_info(n, self.dtype, list(shape)) for n in ("x", "z")]
        outs = [helper.make_tensor_value_info(o, self.dtype, None) for o in (outputs or [output])]
        graph = helper.make_graph(self.nodes, "chain", inputs, outs, self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])    # Mish


def feeds(rng, shape=(2, 37), dtype=np.float32):
    return {"x": rng.standard_normal(shape).astype(dtype),
            "z": rng.standard_normal(shape).astype(dtype)}


def fused_nodes(model):
    return [n for n in model.graph.nodes if n.op.onnx_name == "FusedElementwise"]


@pytest.mark.parametrize("seed", range(40))
def test_random_chain_is_one_kernel_matching_onnxruntime(seed):
    rng = np.random.default_rng(seed)
    chain = Chain(rng)
    cur = "x"
    for _ in range(rng.integers(2, 7)):
        cur = chain.step(cur)
    proto = chain.model(cur)
    model = pulsar.load(proto)
    assert len(chain.nodes) >= 2 and len(model.graph.nodes) == 1, model.dump()
    assert len(fused_nodes(model)) == 1 and "FusedElementwise(" in model.dump()
    for _ in range(2):
        data = feeds(rng)
        (got,), (want,) = model.run(data), ort_run(proto, data, optimise=False)
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_float64_chain_computes_in_float64():
    rng = np.random.default_rng(1)
    chain = Chain(rng, TensorProto.DOUBLE)
    a = chain.node("Mul", ["x", chain.const(0.1)])
    b = chain.node("Sigmoid", [chain.node("Add", [a, "z"])])
    proto = chain.model(chain.node("Sub", [chain.node("Exp", [b]), chain.const(1.0)]))
    model = pulsar.load(proto)
    assert len(model.graph.nodes) == 1
    data = feeds(rng, dtype=np.float64)
    (got,), (want,) = model.run(data), ort_run(proto, data, optimise=False)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_dump_shows_the_expression():
    chain = Chain(np.random.default_rng(0))
    a = chain.node("LeakyRelu", ["x"], alpha=0.2)
    model = pulsar.load(chain.model(chain.node("Max", [a, chain.const(-0.4)])))
    assert "FusedElementwise(max(leaky_relu(x0, 0.2), -0.4))(x) -> t1: f32[2,S]" in model.dump()


def test_graph_outputs_are_not_swallowed():
    chain = Chain(np.random.default_rng(0))
    a = chain.node("Relu", ["x"])
    y = chain.node("Tanh", [chain.node("Neg", [a])])
    proto = chain.model(y, outputs=[a, y])
    model = pulsar.load(proto)
    ops = [(str(n.op), n.outputs) for n in model.graph.nodes]
    assert ops == [("Relu", [a]), ("FusedElementwise(tanh(neg(x0)))", [y])]
    data = feeds(np.random.default_rng(2))
    for got, want in zip(model.run(data), ort_run(proto, data, optimise=False)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_wire_with_two_readers_stays_a_kernel_input():
    chain = Chain(np.random.default_rng(0))
    a = chain.node("Exp", ["x"])
    b = chain.node("Sigmoid", [a])
    y = chain.node("Add", [b, chain.node("Tanh", [a])])
    model = pulsar.load(chain.model(y))
    ops = [(str(n.op), n.inputs) for n in model.graph.nodes]
    assert ops == [("Exp", ["x"]), ("FusedElementwise((sigmoid(x0) + tanh(x0)))", [a])]


def test_broadcasts_and_integers_are_not_fused():
    chain = Chain(np.random.default_rng(0))
    bias = chain.const(np.arange(37, dtype=np.float32))           # broadcasts: size 37, not 1
    chain.node("Relu", [chain.node("Add", ["x", bias])])
    chain.node("Neg", [chain.node("Mul", ["t1", "z_row"])])        # z_row [1,37] broadcasts
    proto = chain.model("t3", shape=(2, 37))
    proto.graph.input.append(helper.make_tensor_value_info("z_row", TensorProto.FLOAT, [1, 37]))
    assert not fused_nodes(pulsar.load(proto))
    ints = helper.make_graph(
        [helper.make_node("Relu", ["i"], ["r"]), helper.make_node("Neg", ["r"], ["n"])], "ints",
        [helper.make_tensor_value_info("i", TensorProto.INT32, [4])],
        [helper.make_tensor_value_info("n", TensorProto.INT32, None)])
    model = pulsar.load(helper.make_model(ints, opset_imports=[helper.make_opsetid("", 14)]))
    assert not fused_nodes(model)


def test_extreme_values_match_the_reference():
    """Overflow-safe sigmoid, inf and NaN through max/min/relu/clip as NumPy and ONNX define."""
    chain = Chain(np.random.default_rng(0))
    a = chain.node("Sigmoid", [chain.node("Mul", ["x", chain.const(100.0)])])
    b = chain.node("Relu", [chain.node("Max", ["z", chain.const(-0.5)])])
    c = chain.node("Clip", [chain.node("Min", [b, chain.const(3.0)]), chain.const(0.1),
                            chain.const(2.0)])
    proto = chain.model(chain.node("Add", [a, c]), shape=(1, "S"))
    model = pulsar.load(proto)
    assert len(model.graph.nodes) == 1
    special = np.array([[np.nan, np.inf, -np.inf, 1e4, -1e4, 0.0, -0.0, 2.5]], np.float32)
    data = {"x": special, "z": special[:, ::-1].copy()}
    with np.errstate(all="ignore"):
        (want,) = ReferenceEvaluator(proto).run(None, data)
    np.testing.assert_allclose(model.run(data)[0], want, rtol=1e-6)
    assert not np.isnan(model.run({"x": special[:, 1:], "z": special[:, 1:]})[0]).any()


def test_fused_graph_streams_like_the_batch():
    conv = helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3])
    chain = Chain(np.random.default_rng(0))
    chain.nodes.append(conv)
    chain.inits.append(numpy_helper.from_array(np.ones((1, 1, 3), np.float32), "w"))
    y = chain.node("Tanh", [chain.node("Mul", [chain.node("Sigmoid", ["c"]), chain.const(3.0)])])
    proto = chain.model(y, shape=(1, 1, "S"))
    del proto.graph.input[1]
    model = pulsar.load(proto)
    assert len(fused_nodes(model)) == 1
    pm = streaming.pulse(model, symbol="S", pulse=8)
    assert "FusedElementwise" in pm.dump()
    x = np.random.default_rng(3).standard_normal((1, 1, 50)).astype(np.float32)
    (expected,) = model.run([x])
    s = pm.session()
    got = np.concatenate([s.push(x[:, :, i:i + 7])[0] for i in range(0, 50, 7)] + [s.flush()[0]],
                         axis=2)[:, :, pm.delay[0]:]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


CACHE_SCRIPT = """
import numpy as np, pulsar
from pulsar.kernels import codegen
from onnx import helper, TensorProto, numpy_helper
nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Exp", ["a"], ["y1"]),
         helper.make_node("Sigmoid", ["x"], ["b"]), helper.make_node("Neg", ["b"], ["y2"]),
         helper.make_node("Relu", ["y1"], ["c"]), helper.make_node("Exp", ["c"], ["y3"])]
graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
    [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ("y1", "y2", "y3")])
model = pulsar.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
model.run([np.arange(5, dtype=np.float32)])
kernels = [codegen.kernel_for(e, 1, "float32") for e in ("exp(relu(x0))", "neg(sigmoid(x0))")]
print(sum(sum(k.dispatcher.stats.cache_misses.values()) for k in kernels),
      sum(sum(k.dispatcher.stats.cache_hits.values()) for k in kernels))
"""


def test_generated_modules_are_written_once_and_reused_by_another_process(tmp_path):
    """Two distinct expressions (one used twice) -> two files; a second process neither
    rewrites them nor compiles again."""
    env = dict(os.environ, PULSAR_CACHE_DIR=str(tmp_path / "kernels"),
               NUMBA_CACHE_DIR=str(tmp_path / "numba"), PYTHONPATH=str(ROOT),
               PULSAR_TIER="kernels")      # it counts the interpreter's direct kernel calls

    def run():
        out = subprocess.run([sys.executable, "-c", CACHE_SCRIPT], env=env, check=True,
                             capture_output=True, text=True).stdout.split()
        files = sorted((tmp_path / "kernels").glob("fused_*.py"))
        return [int(v) for v in out], {f.name: f.stat().st_mtime_ns for f in files}

    (misses, _), first = run()
    assert len(first) == 2 and misses == 2
    (misses, hits), second = run()
    assert second == first and misses == 0 and hits == 2


def test_long_chain_splits_into_bounded_kernels():
    from pulsar.passes.elementwise_fusion import MAX_NODES
    chain = Chain(np.random.default_rng(0))
    cur = "x"
    for i in range(300):
        cur = chain.node(["Relu", "Neg", "Tanh"][i % 3], [cur])
    proto = chain.model(cur)
    model = pulsar.load(proto)
    assert len(model.graph.nodes) == -(-300 // MAX_NODES)
    assert all(n.op.onnx_name == "FusedElementwise" for n in model.graph.nodes)
    data = feeds(np.random.default_rng(4))
    np.testing.assert_allclose(model.run(data)[0], ort_run(proto, data, optimise=False)[0], rtol=1e-5, atol=1e-6)
