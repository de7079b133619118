"""Matrix products (MatMul, Gemm, MatMulInteger, QLinearMatMul, Einsum, Det): ONNX conformance,
symbolic shapes checked against onnxruntime at several bindings, legacy Gemm, error messages."""
import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import pulsar
from conformance import conformance_test, family_cases
from reference import ort_run
from models import init, model, tensor
from pulsar import dims
from pulsar.errors import InferenceError

FAMILIES = ("pulsar.ops.linalg", "pulsar.ops.einsum")
KNOWN_FAILING = {}

S, B = dims.sym("S"), dims.sym("B")


test_conformance = conformance_test(family_cases(FAMILIES), KNOWN_FAILING)


def check_against_ort(onnx_model, want_shapes, bindings, inits=None, rtol=1e-5, seed=0):
    """Facts in symbols equal `want_shapes`; every binding runs like onnxruntime."""
    m = pulsar.load(onnx_model)
    assert [o.shape for o in m.outputs] == list(want_shapes)
    rng = np.random.default_rng(seed)
    for bind in bindings:
        feeds = {i.name: rng.standard_normal([dims.evaluate(d, bind) for d in i.shape])
                 .astype(i.dtype) for i in m.inputs}
        got = m.run(feeds)
        expected = ort_run(onnx_model, feeds)
        for g, e, shape in zip(got, expected, want_shapes):
            assert g.dtype == e.dtype
            assert g.shape == e.shape == tuple(dims.evaluate(d, bind) for d in shape)
            np.testing.assert_allclose(g, e, rtol=rtol, atol=1e-5)
    return m


def matmul_model(a_shape, b_shape, b_value=None, opset=17):
    inputs = [tensor("a", list(a_shape))]
    inits = []
    if b_value is None:
        inputs.append(tensor("b", list(b_shape)))
    else:
        inits.append(init("b", b_value))
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    return model([node], inputs, [tensor("y", None)], inits, opset=opset)


@pytest.mark.parametrize("a_shape,b_shape,want", [
    ((1, "S", 32), (32, 64), (1, S, 64)),            # the streaming case: one flattened GEMM
    (("S", 5), (5,), (S,)),                            # 1-D right operand: axis dropped
    ((5,), ("B", 5, 3), (B, 3)),                       # 1-D left operand: axis dropped
    ((5,), (5,), ()),
    (("S", 1, 2, 5), (3, 5, 4), (S, 3, 2, 4)),        # batch dims broadcast
    (("B", "S", 4), ("B", 4, "S"), (B, S, S)),
])
def test_matmul_symbolic_shapes_match_onnxruntime(a_shape, b_shape, want):
    check_against_ort(matmul_model(a_shape, b_shape), [want],
                      [{"S": 1, "B": 2}, {"S": 7, "B": 3}])


def test_matmul_constant_weight_streaming_shape():
    w = np.random.default_rng(1).standard_normal((32, 64)).astype(np.float32)
    check_against_ort(matmul_model((1, "S", 32), None, b_value=w), [(1, S, 64)],
                      [{"S": 1}, {"S": 50}])


def test_matmul_inner_mismatch_names_both_inputs():
    with pytest.raises(InferenceError, match=r"inner dimensions differ: A f32\[S,5\] has 5, "
                                             r"B f32\[4,3\] has 4"):
        pulsar.load(matmul_model(("S", 5), (4, 3)))


def test_matmul_of_a_scalar_is_an_error():
    with pytest.raises(InferenceError, match="must have rank >= 1"):
        pulsar.load(matmul_model((), (3,)))


def gemm_model(a_shape, b_shape, c_shape=None, b_value=None, opset=13, **attrs):
    inputs, inits, names = [tensor("a", list(a_shape))], [], ["a", "b"]
    if b_value is None:
        inputs.append(tensor("b", list(b_shape)))
    else:
        inits.append(init("b", b_value))
    if c_shape is not None:
        inputs.append(tensor("c", list(c_shape)))
        names.append("c")
    node = helper.make_node("Gemm", names, ["y"], **attrs)
    return model([node], inputs, [tensor("y", None)], inits, opset=opset)


@pytest.mark.parametrize("attrs", [{}, {"transA": 1}, {"transB": 1}, {"transA": 1, "transB": 1},
                                   {"alpha": 0.5, "beta": -2.0, "transB": 1}])
def test_gemm_symbolic_rows_and_transposes(attrs):
    a_shape = (6, "S") if attrs.get("transA") else ("S", 6)
    b_shape = (4, 6) if attrs.get("transB") else (6, 4)
    check_against_ort(gemm_model(a_shape, b_shape, (4,), **attrs), [(S, 4)],
                      [{"S": 1}, {"S": 9}])


def test_gemm_constant_transposed_weight():
    w = np.random.default_rng(2).standard_normal((10, 6)).astype(np.float32)
    onnx_model = gemm_model(("S", 6), None, (10,), b_value=w, transB=1)
    check_against_ort(onnx_model, [(S, 10)], [{"S": 1}, {"S": 4}])


def test_gemm_without_c_opset_11():
    check_against_ort(gemm_model(("S", 3), (3, 2), opset=11, alpha=3.0), [(S, 2)], [{"S": 2}])


@pytest.mark.parametrize("c_shape", [(1,), (1, 4), ("S", 1), ("S", 4), ()])
def test_gemm_c_broadcasts_unidirectionally(c_shape):
    check_against_ort(gemm_model(("S", 3), (3, 4), c_shape, beta=0.5), [(S, 4)],
                      [{"S": 1}, {"S": 5}])


def test_gemm_opset6_broadcast_attribute():
    """onnxruntime has no Gemm-6 kernel: onnx's reference evaluator judges."""
    onnx_model = gemm_model((2, 3), (3, 4), (4,), opset=6, broadcast=1, alpha=2.0)
    rng = np.random.default_rng(5)
    feeds = {"a": rng.standard_normal((2, 3)).astype(np.float32),
             "b": rng.standard_normal((3, 4)).astype(np.float32),
             "c": rng.standard_normal(4).astype(np.float32)}
    got, = pulsar.load(onnx_model).run(feeds)
    want, = ReferenceEvaluator(onnx_model).run(None, feeds)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_gemm_broadcast_attribute_is_rejected_from_opset_7():
    with pytest.raises(pulsar.ModelLoadError, match="unknown attribute 'broadcast'"):
        pulsar.load(gemm_model((2, 3), (3, 4), (4,), opset=9, broadcast=1))


def test_gemm_c_that_does_not_broadcast_is_an_error():
    message = r"C f32\[3\] does not broadcast to the output \[S,4\]"
    with pytest.raises(InferenceError, match=message):
        pulsar.load(gemm_model(("S", 3), (3, 4), (3,)))


def test_gemm_needs_matrices():
    with pytest.raises(InferenceError, match="A must have rank 2"):
        pulsar.load(gemm_model(("S", 2, 3), (3, 4)))


@pytest.mark.parametrize("b_type", [np.uint8, np.int8])
def test_matmul_integer_with_zero_points_is_exact(b_type):
    """Compared with int64 NumPy: onnxruntime's u8 x s8 path saturates int16 pair sums."""
    rng = np.random.default_rng(3)
    info = np.iinfo(b_type)
    a = rng.integers(0, 256, (5, 7)).astype(np.uint8)
    b = rng.integers(info.min, info.max + 1, (7, 3)).astype(b_type)
    b_zero = b_type(-3 if info.min < 0 else 3)
    node = helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])
    onnx_model = model([node], [tensor("a", ["S", 7], TensorProto.UINT8)],
                       [tensor("y", None, TensorProto.INT32)],
                       [init("b", b), init("az", np.uint8(12)), init("bz", b_zero)], opset=10)
    m = pulsar.load(onnx_model)
    assert m.outputs[0].shape == (S, 3) and m.outputs[0].dtype == np.int32
    got, = m.run([a])
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, (a.astype(np.int64) - 12) @ (b.astype(np.int64) - b_zero))


def test_matmul_integer_per_row_zero_point():
    """The spec allows a per-row zero point for A (onnxruntime does not implement it)."""
    rng = np.random.default_rng(6)
    a = rng.integers(0, 256, (4, 6)).astype(np.uint8)
    b = rng.integers(0, 256, (6, 3)).astype(np.uint8)
    az = np.array([1, 2, 3, 4], np.uint8)
    node = helper.make_node("MatMulInteger", ["a", "b", "az"], ["y"])
    onnx_model = model([node], [tensor("a", [4, 6], TensorProto.UINT8)],
                       [tensor("y", None, TensorProto.INT32)], [init("b", b), init("az", az)],
                       opset=10)
    got, = pulsar.load(onnx_model).run([a])
    want = (a.astype(np.int64) - az[:, None]) @ b.astype(np.int64)
    np.testing.assert_array_equal(got, want)


def test_qlinear_matmul_matches_onnxruntime():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (2, 4, 6)).astype(np.uint8)
    b = rng.integers(0, 256, (6, 5)).astype(np.uint8)
    node = helper.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])
    inits = [init("b", b), init("sa", np.float32(0.02)), init("za", np.uint8(120)),
             init("sb", np.float32(0.01)), init("zb", np.uint8(130)),
             init("sy", np.float32(0.05)), init("zy", np.uint8(128))]
    onnx_model = model([node], [tensor("a", [2, "S", 6], TensorProto.UINT8)],
                       [tensor("y", None, TensorProto.UINT8)], inits, opset=10)
    m = pulsar.load(onnx_model)
    assert m.outputs[0].shape == (2, S, 5)
    got, = m.run([a])
    want, = ort_run(onnx_model, {"a": a})
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)


def einsum_model(equation, *shapes):
    names = [f"x{i}" for i in range(len(shapes))]
    node = helper.make_node("Einsum", names, ["y"], equation=equation)
    return model([node], [tensor(n, list(s)) for n, s in zip(names, shapes)],
                 [tensor("y", None)], opset=12)


@pytest.mark.parametrize("equation,shapes,want", [
    ("bij,bjk->bik", [("S", 2, 3), ("S", 3, 4)], (S, 2, 4)),
    ("ij->ji", [("S", 3)], (3, S)),
    ("ij", [("S", 3)], (S, 3)),                           # implicit: letters sorted
    ("ba", [("S", 3)], (3, S)),
    ("i,i", [("S",), ("S",)], ()),
    ("...ij,...jk", [("B", 1, 2, 3), (1, "S", 3, 4)], (B, S, 2, 4)),
    ("...ii->...i", [("S", 3, 3)], (S, 3)),
    ("bsh,hd->bsd", [(1, "S", 8), (8, 5)], (1, S, 5)),
    ("i,j->ij", [("S",), (4,)], (S, 4)),
])
def test_einsum_symbolic_shapes_match_onnxruntime(equation, shapes, want):
    check_against_ort(einsum_model(equation, *shapes), [want],
                      [{"S": 1, "B": 2}, {"S": 5, "B": 1}], rtol=1e-4)


def test_einsum_letter_size_conflict_is_an_error():
    with pytest.raises(InferenceError, match="letter 'j' is 3 in one operand and 4 in another"):
        pulsar.load(einsum_model("ij,jk->ik", ("S", 3), (4, 5)))


def test_einsum_term_count_must_match_inputs():
    with pytest.raises(InferenceError, match="has 1 operand term"):
        pulsar.load(einsum_model("ij->ji", (2, 3), (3, 2)))


def test_det_symbolic_batch_matches_onnxruntime():
    node = helper.make_node("Det", ["x"], ["y"])
    onnx_model = model([node], [tensor("x", ["S", 3, 3])], [tensor("y", None)], opset=11)
    check_against_ort(onnx_model, [(S,)], [{"S": 1}, {"S": 4}], rtol=1e-4)


def test_det_needs_square_matrices():
    node = helper.make_node("Det", ["x"], ["y"])
    with pytest.raises(InferenceError, match="square"):
        pulsar.load(model([node], [tensor("x", [2, 3])], [tensor("y", None)], opset=11))
