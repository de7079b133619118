"""Unary ops, activations, Cast/CastLike/Identity/Dropout: ONNX conformance, symbolic facts,
agreement with onnxruntime, and the errors a user sees."""
import math

import numpy as np
import pytest
from onnx import TensorProto, helper

import pulsar
from conformance import conformance_test, family_cases
from reference import ort_run
from models import init, model, tensor
from pulsar import dims
from pulsar.errors import InferenceError
from pulsar.kernels import elementwise
from pulsar.ops import registry

FAMILY = ("pulsar.ops.unary", "pulsar.ops.activation")
HELPERS = FAMILY + ("pulsar.ops.binary",)       # expanded tests use them as building blocks

KNOWN_FAILING = {
    "test_identity_opt": "an optional of a sequence as a graph input is not supported",
}


test_conformance = conformance_test(family_cases(FAMILY, HELPERS), KNOWN_FAILING)


# --- every op against onnxruntime, on a symbolic shape ---------------------------------------

def anything(rng, shape):
    return (rng.standard_normal(shape) * 3).astype(np.float32)


def positive(rng, shape):
    return (np.abs(rng.standard_normal(shape)) * 3 + 0.1).astype(np.float32)


def unit(rng, shape):
    return rng.uniform(-0.95, 0.95, shape).astype(np.float32)


def above_one(rng, shape):
    return (1 + positive(rng, shape)).astype(np.float32)


def special(rng, shape):
    x = anything(rng, shape)
    specials = [np.nan, np.inf, -np.inf][: x.size]
    x.flat[: len(specials)] = specials
    return x


F32 = TensorProto.FLOAT
SAMPLES = [   # (op, attributes, input generator, output type)
    ("Abs", {}, anything, F32), ("Neg", {}, anything, F32), ("Sign", {}, anything, F32),
    ("Floor", {}, anything, F32), ("Ceil", {}, anything, F32), ("Round", {}, anything, F32),
    ("Sqrt", {}, positive, F32), ("Reciprocal", {}, positive, F32), ("Exp", {}, anything, F32),
    ("Log", {}, positive, F32), ("Sin", {}, anything, F32), ("Cos", {}, anything, F32),
    ("Tan", {}, unit, F32), ("Asin", {}, unit, F32), ("Acos", {}, unit, F32),
    ("Atan", {}, anything, F32), ("Sinh", {}, anything, F32), ("Cosh", {}, anything, F32),
    ("Asinh", {}, anything, F32), ("Acosh", {}, above_one, F32), ("Atanh", {}, unit, F32),
    ("Erf", {}, anything, F32), ("IsNaN", {}, special, TensorProto.BOOL),
    ("IsInf", {"detect_negative": 0}, special, TensorProto.BOOL),
    ("Relu", {}, anything, F32), ("LeakyRelu", {"alpha": 0.2}, anything, F32),
    ("Elu", {"alpha": 0.5}, anything, F32), ("Selu", {}, anything, F32),
    ("Celu", {"alpha": 2.0}, anything, F32), ("Sigmoid", {}, anything, F32),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, anything, F32), ("HardSwish", {}, anything, F32),
    ("Softplus", {}, anything, F32), ("Softsign", {}, anything, F32), ("Tanh", {}, anything, F32),
    ("ThresholdedRelu", {"alpha": 0.7}, anything, F32), ("Gelu", {}, anything, F32),
    ("Gelu", {"approximate": "tanh"}, anything, F32), ("Mish", {}, anything, F32),
    ("Shrink", {"lambd": 0.8, "bias": 0.3}, anything, F32),
    ("Swish", {"alpha": 0.7}, anything, F32),
    ("Cast", {"to": TensorProto.FLOAT16}, anything, TensorProto.FLOAT16),
    ("Cast", {"to": TensorProto.INT32}, anything, TensorProto.INT32),
    ("Identity", {}, anything, F32),
]


def one_node(op, attrs, out_type, x_type=F32, x_shape=(2, "S"), opset=24, extra=(), inits=()):
    node = helper.make_node(op, ["x", *extra], ["y"], **attrs)
    return model([node], [tensor("x", list(x_shape), x_type)], [tensor("y", None, out_type)],
                 inits, opset=opset)


@pytest.mark.parametrize("op,attrs,make,out_type", SAMPLES,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(SAMPLES)])
def test_matches_onnxruntime_on_symbolic_shape(op, attrs, make, out_type):
    onnx_model = one_node(op, attrs, out_type)
    m = pulsar.load(onnx_model)
    assert m.outputs[0].shape == (2, dims.sym("S"))
    rng = np.random.default_rng(1)
    for s in (1, 7):
        x = make(rng, (2, s))
        got, = m.run([x])
        want, = ort_run(onnx_model, {"x": x})
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op,attrs", [("Abs", {}), ("Neg", {}), ("Sign", {}), ("Relu", {}),
                                      ("BitwiseNot", {}), ("Shrink", {"lambd": 1.5, "bias": 1.0})])
def test_integer_inputs_match_onnxruntime(op, attrs):
    onnx_model = one_node(op, attrs, TensorProto.INT32, x_type=TensorProto.INT32, opset=22)
    x = np.arange(-6, 6, dtype=np.int32).reshape(2, 6)
    got, = pulsar.load(onnx_model).run([x])
    want, = ort_run(onnx_model, {"x": x})
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
@pytest.mark.parametrize("bounds", [(None, 2), (-1, None), (3, -3), (None, None)])
def test_clip_optional_bounds_match_onnxruntime(dtype, bounds):
    names, inits = [], []
    for name, value in zip(("lo", "hi"), bounds):
        names.append(name if value is not None else "")
        if value is not None:
            inits.append(init(name, np.array(value, dtype=dtype)))
    elem = F32 if dtype == np.float32 else TensorProto.INT64
    onnx_model = one_node("Clip", {}, elem, x_type=elem, opset=13, extra=names, inits=inits)
    x = (np.arange(-8, 8) * 0.75).astype(dtype).reshape(2, 8)
    got, = pulsar.load(onnx_model).run([x])
    want, = ort_run(onnx_model, {"x": x})
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_clip_opset6_attributes():
    x = np.array([[-5.0, -0.5, 0.5, 5.0, np.inf, -np.inf]], dtype=np.float32)
    clip = pulsar.load(one_node("Clip", {"min": -1.0, "max": 2.0}, F32, x_shape=(1, 6), opset=6))
    np.testing.assert_array_equal(clip.run([x])[0], [[-1, -0.5, 0.5, 2, 2, -1]])
    unbounded = pulsar.load(one_node("Clip", {}, F32, x_shape=(1, 6), opset=6))
    flt_max = np.finfo(np.float32).max       # opset 6's defaults are ±FLT_MAX, not ±inf
    np.testing.assert_array_equal(unbounded.run([x])[0], [[-5, -0.5, 0.5, 5, flt_max, -flt_max]])


def test_cast_opset1_names_the_type():
    onnx_model = one_node("Cast", {"to": "INT32"}, TensorProto.INT32, x_shape=(3,), opset=1)
    got, = pulsar.load(onnx_model).run([np.array([1.7, -2.2, 3.0], np.float32)])
    assert got.dtype == np.int32 and got.tolist() == [1, -2, 3]


def test_cast_parses_and_prints_strings():
    strings = pulsar.load(one_node("Cast", {"to": F32}, F32, x_type=TensorProto.STRING,
                                   x_shape=(4,)))
    got, = strings.run([np.array(["1.5", "-INF", "NaN", "1e-3"], dtype=object)])
    np.testing.assert_array_equal(got, np.array([1.5, -np.inf, np.nan, 1e-3], np.float32))
    to_text = pulsar.load(one_node("Cast", {"to": TensorProto.STRING}, TensorProto.STRING,
                                   x_type=TensorProto.INT64, x_shape=(2,)))
    assert to_text.run([np.array([7, -3])])[0].tolist() == ["7", "-3"]


def test_dropout_inference_and_seeded_training():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    legacy = pulsar.load(model([helper.make_node("Dropout", ["x"], ["y", "mask"], ratio=0.3)],
                               [tensor("x", [3, 4])], [tensor("y", None), tensor("mask", None)],
                               opset=7))
    y, mask = legacy.run([x])
    np.testing.assert_array_equal(y, x)
    assert mask.dtype == np.float32 and (mask == 1).all()     # opset < 10: mask has x's type
    nodes = [helper.make_node("Dropout", ["x", "r", "t"], ["y", "mask"], seed=3)]
    inits = [init("r", np.float32(0.25)), init("t", np.bool_(True))]
    seeded = pulsar.load(model(nodes, [tensor("x", [3, 4])],
                               [tensor("y", None), tensor("mask", None, TensorProto.BOOL)], inits))
    y, mask = seeded.run([x])
    keep = np.random.RandomState(3).uniform(0, 1, x.shape) >= 0.25
    np.testing.assert_array_equal(mask, keep)
    np.testing.assert_allclose(y, x * keep / 0.75, rtol=1e-6)


def test_unseeded_training_dropout_is_never_folded():
    unseeded = registry.lookup("", "Dropout", 13)()
    assert not unseeded.foldable and registry.lookup("", "Dropout", 13)(seed=1).foldable


# --- symbolic folding: shape values through Cast and arithmetic -------------------------------

def test_shape_cast_mul_div_folds_symbolically():
    """Shape(x) -> Cast(int32) -> Cast(int64) -> Mul -> Div stays exact in S; the folded value
    drives ConstantOfShape, whose output shape must then match onnxruntime for several S."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Cast", ["shape"], ["narrow"], to=TensorProto.INT32),
             helper.make_node("Cast", ["narrow"], ["wide"], to=TensorProto.INT64),
             helper.make_node("Mul", ["wide", "six_four"], ["scaled"]),
             helper.make_node("Div", ["scaled", "three_two"], ["sizes"]),
             helper.make_node("ConstantOfShape", ["sizes"], ["zeros"])]
    inits = [init("six_four", np.array([6, 4], np.int64)),
             init("three_two", np.array([3, 2], np.int64))]
    onnx_model = model(nodes, [tensor("x", [1, "S"])],
                       [tensor("sizes", None, TensorProto.INT64), tensor("zeros", None)], inits)
    m = pulsar.load(onnx_model)
    S = dims.sym("S")
    assert list(m.graph.facts["narrow"].value) == [1, S]
    assert list(m.graph.facts["sizes"].value) == [2, 2 * S]
    assert m.outputs[1].shape == (2, 2 * S)
    for s in (1, 5, 16):
        x = np.zeros((1, s), np.float32)
        got = m.run([x])
        want = ort_run(onnx_model, {"x": x})
        for g, w in zip(got, want):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)
        assert dims.evaluate(m.outputs[1].shape[1], {"S": s}) == want[1].shape[1]


def test_cast_of_shape_values_to_float_stays_unknown():
    """float(S) has no meaning: the value is dropped, the fact keeps dtype and shape."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Cast", ["shape"], ["f"], to=TensorProto.FLOAT)]
    m = pulsar.load(model(nodes, [tensor("x", [1, "S"])], [tensor("f", None)]))
    fact = m.graph.facts["f"]
    assert fact.value is None and fact.dtype == np.float32 and fact.shape == (2,)
    np.testing.assert_array_equal(m.run([np.zeros((1, 9), np.float32)])[0], [1.0, 9.0])


def test_neg_folds_shape_values():
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Neg", ["shape"], ["neg"])]
    m = pulsar.load(model(nodes, [tensor("x", [2, "S"])], [tensor("neg", None, TensorProto.INT64)]))
    assert list(m.graph.facts["neg"].value) == [-2, -dims.sym("S")]
    np.testing.assert_array_equal(m.run([np.zeros((2, 4), np.float32)])[0], [-2, -4])


# --- errors -----------------------------------------------------------------------------------

def test_float_only_op_on_integers_names_the_input():
    with pytest.raises(InferenceError, match=r"Floor.*must be float, got i32\[2,S\]"):
        pulsar.load(one_node("Floor", {}, TensorProto.INT32, x_type=TensorProto.INT32))


def test_clip_bound_must_be_a_scalar_of_the_input_type():
    bad = [init("lo", np.zeros(3, np.float32))]
    with pytest.raises(InferenceError, match=r"min must be a scalar, got f32\[3\]"):
        pulsar.load(one_node("Clip", {}, F32, extra=["lo"], inits=bad, opset=13))
    other_type = [init("lo", np.array(0, np.float64))]
    with pytest.raises(InferenceError, match=r"min must have the input's dtype float32"):
        pulsar.load(one_node("Clip", {}, F32, extra=["lo"], inits=other_type, opset=13))


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(InferenceError, match="approximate must be 'none' or 'tanh'"):
        pulsar.load(one_node("Gelu", {"approximate": "fast"}, F32, opset=20))


# --- the erf kernel against the standard library ------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_kernel_matches_math_erf(dtype):
    x = np.linspace(-6, 6, 1001).astype(dtype)
    out = np.empty_like(x)
    elementwise.erf_into(x, out)
    want = np.array([math.erf(v) for v in x.astype(np.float64)])
    np.testing.assert_allclose(out, want, rtol=2e-7 if dtype == np.float32 else 1e-15, atol=1e-7)


def test_clip_of_shape_values_stays_symbolic():
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Clip", ["shape", "", "cap"], ["capped"])]
    onnx_model = model(nodes, [tensor("x", [1, "S"])], [tensor("capped", None, TensorProto.INT64)],
                       [init("cap", np.int64(4))], opset=13)
    m = pulsar.load(onnx_model)
    assert list(m.graph.facts["capped"].value) == [1, dims.dmin(dims.sym("S"), 4)]
    for s in (2, 9):
        x = np.zeros((1, s), np.float32)
        np.testing.assert_array_equal(m.run([x])[0], ort_run(onnx_model, {"x": x})[0])
