"""Broadcasting elementwise ops (arithmetic, comparison, logic, bit ops, Where, variadic):
ONNX conformance, symbolic broadcasting and shape-value folding, dtype rules, legacy attributes."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import pulsar
from conformance import conformance_test, family_cases
from reference import ort_run
from models import init, model, tensor
from pulsar import dims
from pulsar.errors import InferenceError

FAMILY = "pulsar.ops.binary"
KNOWN_FAILING = {}


test_conformance = conformance_test(family_cases([FAMILY]), KNOWN_FAILING)


def two_inputs(op, a_shape, b_shape, elem=TensorProto.FLOAT, out=None, opset=17, **attrs):
    node = helper.make_node(op, ["a", "b"], ["y"], **attrs)
    return model([node], [tensor("a", list(a_shape), elem), tensor("b", list(b_shape), elem)],
                 [tensor("y", None, out or elem)], opset=opset)


S, T = dims.sym("S"), dims.sym("T")


@pytest.mark.parametrize("op,out", [("Add", None), ("Sub", None), ("Mul", None), ("Div", None),
                                    ("Max", None), ("Less", TensorProto.BOOL),
                                    ("Equal", TensorProto.BOOL)])
@pytest.mark.parametrize("a_shape,b_shape,want", [
    ((1, "S"), (4, 1), (4, S)),
    (("S", 3), (3,), (S, 3)),
    (("S", 1, "T"), (1, 5, 1), (S, 5, T)),
    (("S",), ("S",), (S,)),
])
def test_symbolic_broadcast_matches_onnxruntime(op, out, a_shape, b_shape, want):
    onnx_model = two_inputs(op, a_shape, b_shape, out=out)
    m = pulsar.load(onnx_model)
    assert m.outputs[0].shape == want
    rng = np.random.default_rng(0)
    for bind in ({"S": 1, "T": 2}, {"S": 6, "T": 3}):
        a, b = (rng.integers(1, 5, [dims.evaluate(d, bind) for d in i.shape]).astype(np.float32)
                for i in m.inputs)
        got, = m.run([a, b])
        expected, = ort_run(onnx_model, {"a": a, "b": b})
        assert got.dtype == expected.dtype
        assert got.shape == tuple(dims.evaluate(d, bind) for d in want) == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_scalar_shape_values_fold():
    """A 0-d object result (one Dim) comes back from NumPy bare; it must stay a value."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Gather", ["shape", "one"], ["n"], axis=0),
             helper.make_node("Mul", ["n", "three"], ["n3"]),
             helper.make_node("Sub", ["n3", "one"], ["n3m1"]),
             helper.make_node("Div", ["n3m1", "two"], ["half"]),
             helper.make_node("Mod", ["n3", "two"], ["parity"])]
    inits = [init("one", np.int64(1)), init("two", np.int64(2)), init("three", np.int64(3))]
    onnx_model = model(nodes, [tensor("x", [2, "S"])],
                       [tensor("half", None, TensorProto.INT64),
                        tensor("parity", None, TensorProto.INT64)], inits)
    m = pulsar.load(onnx_model)
    assert m.graph.facts["n3m1"].value[()] == 3 * S - 1
    assert m.graph.facts["half"].value[()] == (3 * S - 1) // 2
    assert m.graph.facts["parity"].value[()] == (3 * S) % 2
    for s in (1, 4, 7):
        x = np.zeros((2, s), np.float32)
        for got, want in zip(m.run([x]), ort_run(onnx_model, {"x": x})):
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)


def test_integer_div_truncates_and_mod_follows_the_divisor():
    a = np.array([7, -7, 7, -7, 0], np.int32)
    b = np.array([2, 2, -2, -2, 3], np.int32)
    for op, fmod in (("Div", None), ("Mod", 0), ("Mod", 1)):
        attrs = {} if fmod is None else {"fmod": fmod}
        onnx_model = two_inputs(op, (5,), (5,), elem=TensorProto.INT32, **attrs)
        got, = pulsar.load(onnx_model).run([a, b])
        want, = ort_run(onnx_model, {"a": a, "b": b})
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)


def test_integer_pow_is_exact():
    a = np.array([3, -2, 7], np.int64)
    b = np.array([39, 63, 0], np.int64)
    got, = pulsar.load(two_inputs("Pow", (3,), (3,), elem=TensorProto.INT64)).run([a, b])
    assert got.tolist() == [3 ** 39, (-2) ** 63, 1]


def test_pow_of_float_base_by_integer_exponent():
    node = helper.make_node("Pow", ["a", "b"], ["y"])
    onnx_model = model([node], [tensor("a", [4]), tensor("b", [4], TensorProto.INT64)],
                       [tensor("y", None)], opset=15)
    a = np.array([1.5, -2.0, 0.5, 3.0], np.float32)
    b = np.array([2, 3, -1, 0], np.int64)
    got, = pulsar.load(onnx_model).run([a, b])
    want, = ort_run(onnx_model, {"a": a, "b": b})
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_legacy_broadcast_with_axis():
    """Opset < 7: B's dims sit at A's `axis` (here [3,4] inside [2,3,4,5])."""
    onnx_model = two_inputs("Add", (2, 3, 4, 5), (3, 4), opset=6, broadcast=1, axis=1)
    m = pulsar.load(onnx_model)
    assert m.outputs[0].shape == (2, 3, 4, 5)
    a = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    b = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(m.run([a, b])[0], a + b[None, :, :, None])


def test_legacy_broadcast_without_axis_is_numpy_broadcasting():
    m = pulsar.load(two_inputs("Mul", (2, 3), (3,), opset=6, broadcast=1))
    a = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(m.run([a, np.arange(3, dtype=np.float32)])[0], a * [0, 1, 2])


def test_legacy_axis_that_does_not_fit_is_an_error():
    message = r"B \(rank 2\) does not fit in A \(rank 3\) from axis 2"
    with pytest.raises(InferenceError, match=message):
        pulsar.load(two_inputs("Add", (2, 3, 4), (4, 5), opset=6, broadcast=1, axis=2))


def test_string_equal():
    onnx_model = two_inputs("Equal", (3,), (3,), elem=TensorProto.STRING, out=TensorProto.BOOL,
                            opset=19)
    a = np.array(["a", "bc", ""], dtype=object)
    b = np.array(["a", "b", ""], dtype=object)
    assert pulsar.load(onnx_model).run([a, b])[0].tolist() == [True, False, True]


def test_mixed_dtypes_are_an_error_naming_both():
    node = helper.make_node("Add", ["a", "b"], ["y"])
    bad = model([node], [tensor("a", [2]), tensor("b", [2], TensorProto.INT64)],
                [tensor("y", None)])
    with pytest.raises(InferenceError, match="inputs must share one dtype, got float32, int64"):
        pulsar.load(bad)


def test_shapes_that_do_not_broadcast_are_an_error():
    with pytest.raises(InferenceError, match=r"shapes \[2,3\] and \[4\] do not broadcast"):
        pulsar.load(two_inputs("Add", (2, 3), (4,)))


def test_where_equal_minus_one_on_shape_values_folds():
    """The exporter pattern `Where(Equal(shape, -1), 1, shape)`: S is never -1."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Mul", ["shape", "two"], ["sizes"]),
             helper.make_node("Equal", ["sizes", "minus_one"], ["unknown"]),
             helper.make_node("Where", ["unknown", "one", "sizes"], ["fixed"])]
    inits = [init("two", np.int64(2)), init("minus_one", np.int64(-1)), init("one", np.int64(1))]
    onnx_model = model(nodes, [tensor("x", [1, "S"])], [tensor("fixed", None, TensorProto.INT64)],
                       inits)
    m = pulsar.load(onnx_model)
    assert m.graph.facts["unknown"].value.tolist() == [False, False]
    assert list(m.graph.facts["fixed"].value) == [2, 2 * S]
    x = np.zeros((1, 5), np.float32)
    np.testing.assert_array_equal(m.run([x])[0], ort_run(onnx_model, {"x": x})[0])


def test_equal_of_a_symbol_and_a_positive_int_stays_unknown():
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Equal", ["shape", "three"], ["eq"])]
    m = pulsar.load(model(nodes, [tensor("x", [1, "S"])], [tensor("eq", None, TensorProto.BOOL)],
                          [init("three", np.int64(3))]))
    assert m.graph.facts["eq"].value is None and m.graph.facts["eq"].shape == (2,)
    assert m.run([np.zeros((1, 3), np.float32)])[0].tolist() == [False, True]
