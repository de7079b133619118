"""Tiny ONNX models built with onnx.helper for tests."""
import numpy as np
from onnx import TensorProto, helper, numpy_helper


def model(nodes, inputs, outputs, inits=(), opset=17, name="test"):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def tensor(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def add_mul(shape_x=(1, "S"), shape_y=(1, "S")):
    """z = (x + y) * x"""
    return model([helper.make_node("Add", ["x", "y"], ["s"], name="add"),
                  helper.make_node("Mul", ["s", "x"], ["z"], name="mul")],
                 [tensor("x", list(shape_x)), tensor("y", list(shape_y))], [tensor("z", None)])


def one_node(op, inputs, inits=None, out_types=(TensorProto.FLOAT,), opset=20, **attrs):
    """A single-node model. inputs: [(name, elem type, shape)] fed at run time; inits:
    {name: array} constants, fed after the inputs; outputs y0, y1, ... of `out_types`."""
    inits = inits or {}
    names = [n for n, _, _ in inputs] + list(inits)
    outs = [f"y{i}" for i in range(len(out_types))]
    graph = helper.make_graph(
        [helper.make_node(op, names, outs, **attrs)], "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(o, t, None) for o, t in zip(outs, out_types)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def mixed_model():
    """conv -> relu -> a symbolic-length reshape (stays interpreted) -> matmul -> sigmoid."""
    rng = np.random.default_rng(0)
    n = helper.make_node
    nodes = [n("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3], pads=[1, 1], name="conv"),
             n("Relu", ["c"], ["r"], name="relu"),
             n("Transpose", ["r"], ["t"], perm=[0, 2, 1], name="transpose"),
             n("MatMul", ["t", "m"], ["y"], name="matmul"),
             n("Sigmoid", ["y"], ["z"], name="sigmoid")]
    inits = [init("w", rng.standard_normal((8, 4, 3)).astype(np.float32)),
             init("b", rng.standard_normal(8).astype(np.float32)),
             init("m", rng.standard_normal((8, 2)).astype(np.float32))]
    return model(nodes, [tensor("x", [1, 4, "S"])], [tensor("z", None)], inits)
