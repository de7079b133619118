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
