"""Shape ops (Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand) and fill ops
(ConstantOfShape, Range, EyeLike, OneHot, Trilu): ONNX conformance, symbolic facts checked
against onnxruntime, folding on object arrays of Dims, and error messages."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import pulsar
from conformance import cases_for, conformance_test
from models import init, model, tensor
from pulsar import dims
from pulsar.errors import InferenceError
from pulsar.fact import symbolic_array
from pulsar.ops.gather import Gather
from pulsar.ops.shape import Reshape, Squeeze, Unsqueeze
from symbolic_check import assert_matches_ort, untyped

S = dims.sym("S")
OPS = ("Shape", "Size", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Expand",
       "ConstantOfShape", "Range", "EyeLike", "OneHot", "Trilu")
KNOWN_FAILING = {}


test_conformance = conformance_test(cases_for(*OPS), KNOWN_FAILING, skip_unsupported=True)


def one_node(op, inputs, attrs=None, inits=(), x_shape=(1, "S", 32), x_type=TensorProto.FLOAT,
             n_out=1, opset=18):
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, inputs, outs, **(attrs or {}))
    return model([node], [tensor("x", list(x_shape), x_type)], [untyped(o) for o in outs],
                 inits, opset=opset)


X = {"x": (np.float32, (1, "S", 32))}


# --- symbolic facts, each checked against onnxruntime at several S -----------------------

def test_shape_value_is_symbolic():
    m = assert_matches_ort(one_node("Shape", ["x"]), X)
    assert m.outputs[0].shape == (3,)
    assert list(m.graph.facts["y0"].value) == [1, S, 32]


def test_shape_start_end():
    m = assert_matches_ort(one_node("Shape", ["x"], {"start": 1, "end": -1}), X)
    assert list(m.graph.facts["y0"].value) == [S]


def test_size_is_symbolic():
    m = assert_matches_ort(one_node("Size", ["x"]), X)
    assert m.graph.facts["y0"].value[()] == 32 * S


@pytest.mark.parametrize("target,expected", [
    ([0, -1], (1, 32 * S)), ([-1, 32], (S, 32)), ([1, 0, 4, 8], (1, S, 4, 8)),
    ([0, 0, 2, -1], (1, S, 2, 16)), ([-1], (32 * S,)),
])
def test_reshape_symbolic(target, expected):
    m = assert_matches_ort(one_node("Reshape", ["x", "t"], inits=[init("t", np.array(target))]), X)
    assert m.outputs[0].shape == expected


def test_reshape_hole_not_derivable_gets_fresh_symbol():
    m = pulsar.load(one_node("Reshape", ["x", "t"], inits=[init("t", np.array([-1, 2]))],
                             x_shape=(1, "S")))
    hole, two = m.outputs[0].shape
    assert two == 2 and isinstance(hole, dims.Dim) and dims.symbols(hole) != {"S"}


def test_reshape_allowzero():
    m = assert_matches_ort(one_node("Reshape", ["x", "t"], {"allowzero": 1},
                                    inits=[init("t", np.array([32, 1, -1]))]), X)
    assert m.outputs[0].shape == (32, 1, S)


@pytest.mark.parametrize("axis,expected", [(0, (1, 32 * S)), (1, (1, 32 * S)),
                                           (2, (S, 32)), (3, (32 * S, 1)), (-1, (S, 32))])
def test_flatten_symbolic(axis, expected):
    m = assert_matches_ort(one_node("Flatten", ["x"], {"axis": axis}), X)
    assert m.outputs[0].shape == expected


def test_squeeze_unsqueeze_symbolic():
    nodes = [helper.make_node("Unsqueeze", ["x", "a"], ["u"]),
             helper.make_node("Squeeze", ["u"], ["y"])]
    mdl = model(nodes, [tensor("x", [1, "S", 32])], [untyped("u"), untyped("y")],
                [init("a", np.array([-1, 0]))], opset=18)
    m = assert_matches_ort(mdl, X)
    assert [o.shape for o in m.outputs] == [(1, 1, S, 32, 1), (S, 32)]


def test_transpose_symbolic():
    m = assert_matches_ort(one_node("Transpose", ["x"], {"perm": [2, 0, 1]}), X)
    assert m.outputs[0].shape == (32, 1, S)


def test_expand_to_shape_of_input():
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Expand", ["b", "s"], ["y"])]
    mdl = model(nodes, [tensor("x", [1, "S", 32])], [untyped("y")],
                [init("b", np.arange(32, dtype=np.float32).reshape(1, 1, 32))], opset=18)
    assert assert_matches_ort(mdl, X).outputs[0].shape == (1, S, 32)


def test_constant_of_shape_symbolic():
    value = helper.make_tensor("v", TensorProto.INT64, [1], [7])
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ConstantOfShape", ["s"], ["y"], value=value)]
    mdl = model(nodes, [tensor("x", [1, "S", 32])], [untyped("y")], opset=18)
    m = assert_matches_ort(mdl, X)
    assert m.outputs[0].shape == (1, S, 32) and m.outputs[0].dtype == np.int64


def _dim_scalar(axis, out="d"):
    """Nodes computing dim `axis` of x as an int64 scalar."""
    return [helper.make_node("Shape", ["x"], ["s"]),
            helper.make_node("Gather", ["s", "ax"], [out], axis=0)], init("ax", np.array(axis))


@pytest.mark.parametrize("start,delta,expected", [(0, 1, S), (2, 3, (S + 0) // 3),
                                                  (-4, 2, (S + 5) // 2)])
def test_range_to_symbolic_limit(start, delta, expected):
    nodes, ax = _dim_scalar(1)
    nodes.append(helper.make_node("Range", ["a", "d", "b"], ["y"]))
    mdl = model(nodes, [tensor("x", [1, "S", 32])], [untyped("y")],
                [ax, init("a", np.array(start)), init("b", np.array(delta))], opset=18)
    m = assert_matches_ort(mdl, X, lengths=(1, 2, 5, 10, 11))
    assert m.outputs[0].shape == (expected,)


def test_range_down_from_symbolic_start():
    nodes, ax = _dim_scalar(1)
    nodes.append(helper.make_node("Range", ["d", "a", "b"], ["y"]))
    mdl = model(nodes, [tensor("x", [1, "S", 32])], [untyped("y")],
                [ax, init("a", np.array(0)), init("b", np.array(-1))], opset=18)
    assert assert_matches_ort(mdl, X).outputs[0].shape == (S,)


def test_one_hot_with_symbolic_depth():
    nodes, ax = _dim_scalar(1)
    nodes.append(helper.make_node("OneHot", ["i", "d", "v"], ["y"], axis=0))
    mdl = model(nodes, [tensor("x", [1, "S", 32])], [untyped("y")],
                [ax, init("i", np.array([0, 3, -1])), init("v", np.array([0.0, 1.0], np.float32))],
                opset=18)
    assert assert_matches_ort(mdl, X).outputs[0].shape == (S, 3)


# --- eval on object arrays of Dims: what constant folding of shape arithmetic relies on ----

def test_eval_on_symbolic_values():
    shape = symbolic_array([1, S, 32])
    assert list(Gather(axis=0).eval(shape, np.array([1]))[0]) == [S]
    assert Gather(axis=0).eval(shape, np.array(-2))[0][()] == S
    assert list(Unsqueeze().eval(shape, np.array([0]))[0][0]) == [1, S, 32]
    assert Squeeze().eval(shape[1:2], np.array([0]))[0][()] == S
    assert list(Reshape().eval(shape, np.array([-1]))[0]) == [1, S, 32]


# --- errors -------------------------------------------------------------------------------

def _load_error(mdl, *words):
    with pytest.raises(InferenceError) as e:
        pulsar.load(mdl)
    for word in words:
        assert word in str(e.value), str(e.value)
    return str(e.value)


def test_reshape_incompatible_size():
    _load_error(one_node("Reshape", ["x", "t"], inits=[init("t", np.array([5, 7]))],
                         x_shape=(2, 3)), "cannot reshape", "[2,3]", "[5,7]")
    _load_error(one_node("Reshape", ["x", "t"], inits=[init("t", np.array([4, -1]))],
                         x_shape=(2, 3)), "not a multiple of 4")
    _load_error(one_node("Reshape", ["x", "t"], inits=[init("t", np.array([-1, -1]))],
                         x_shape=(2, 3)), "more than one -1")


def test_reshape_incompatible_at_run_time():
    mdl = model([helper.make_node("Reshape", ["x", "t"], ["y"])],
                [tensor("x", [2, 3]), tensor("t", [2], TensorProto.INT64)], [untyped("y")])
    m = pulsar.load(mdl)
    assert m.run([np.zeros((2, 3), np.float32), np.array([3, 2])])[0].shape == (3, 2)
    with pytest.raises(InferenceError, match=r"cannot reshape data of shape \[2, 3\] to \[4, 2\]"):
        m.run([np.zeros((2, 3), np.float32), np.array([4, 2])])


def test_squeeze_and_transpose_errors():
    _load_error(one_node("Squeeze", ["x", "a"], inits=[init("a", np.array([2]))]),
                "cannot squeeze axis 2 of size 32")
    _load_error(one_node("Transpose", ["x"], {"perm": [0, 0, 1]}), "not a permutation")
    _load_error(one_node("Unsqueeze", ["x", "a"], inits=[init("a", np.array([1, 1]))]),
                "repeat an axis")


def test_range_zero_delta():
    mdl = model([helper.make_node("Range", ["a", "b", "c"], ["y"])],
                [tensor("x", [1])], [untyped("y")],
                [init("a", np.array(0)), init("b", np.array(5)), init("c", np.array(0))])
    _load_error(mdl, "delta input is 0")


# --- opsets before attributes became inputs (no conformance case covers them) -----------

def test_squeeze_unsqueeze_attribute_opset():
    nodes = [helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0, 4]),
             helper.make_node("Squeeze", ["u"], ["y"], axes=[0, 1])]
    mdl = model(nodes, [tensor("x", [1, "S", 32])], [untyped("u"), untyped("y")], opset=11)
    m = assert_matches_ort(mdl, X)
    assert [o.shape for o in m.outputs] == [(1, 1, S, 32, 1), (S, 32, 1)]


def test_reshape_attribute_opset():
    """Opset 1-4 Reshape (onnxruntime no longer loads it): checked against numpy."""
    m = pulsar.load(one_node("Reshape", ["x"], {"shape": [0, -1, 8]}, opset=4))
    assert m.outputs[0].shape == (1, 4 * S, 8)
    x = np.arange(5 * 32, dtype=np.float32).reshape(1, 5, 32)
    np.testing.assert_array_equal(m.run([x])[0], x.reshape(1, 20, 8))
