"""Ops that declare a scalar function (`Op.scalar`) compute, fused, what they compute alone.

Every registered op whose declaration names a scalar function of kernels/scalar.py (or an
operator) is turned into the one-node expression the fusion passes would write, and that
expression is run through the generated kernel, as machine code and as its NumPy twin; both
must give the op's own `eval` on arrays holding NaN, ±inf, huge and tiny values, with the
elementwise-fusion tests' tolerances. The op's `eval` computes with the NumPy definition of the
same function, and the kernel with its Numba definition: this checks that the two agree.
"""
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from onnx import helper

import pulsar
from pulsar.fact import Fact
from pulsar.graph import Node
from pulsar.kernels import activation, scalar
from pulsar.kernels.jit import policy
from pulsar.ops import registry
from pulsar.ops.binary import Elementwise
from pulsar.ops.recurrent import ACTIVATION_FUNCTIONS
from pulsar.ops.unary import Unary
from pulsar.passes.elementwise_fusion import FusedElementwise, node_expression
from reference import ort_run

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
TOLERANCE = {np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6),
             np.dtype(np.float64): dict(rtol=1e-13, atol=1e-300)}
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
PARAMETERS = [-1.5, -0.2, 0.0, 0.25, 1.0, 3.0]      # attribute values (exact in float32)


def declaring_ops():
    """Every registered op class whose default instance declares a scalar function."""
    found = []
    for (domain, name), versions in sorted(registry._REGISTRY.items()):
        for since, cls in versions:
            if not issubclass(cls, (Unary, Elementwise)):
                continue
            op = cls()
            inputs = ["x"] if isinstance(op, Unary) else ["x", "y"]
            if op.scalar(Node("n", op, inputs, ["out"]), {}) is not None:
                found.append(pytest.param(cls, id=f"{name}-{since}"))
    return found


OPS = declaring_ops()


def float_fields(cls) -> list:
    return [f.name for f in dataclasses.fields(cls) if isinstance(f.default, float)]


def special_floats(dtype):
    info = np.finfo(dtype)
    return st.one_of(
        st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 3.0, -3.0, 1e30, -1e30,
                         float(info.max), -float(info.max), float(info.tiny)]),
        st.floats(width=8 * dtype.itemsize, allow_nan=True, allow_infinity=True),
        st.floats(-20, 20, width=8 * dtype.itemsize))


@st.composite
def cases(draw, cls, dtype=None, attrs=None, constants=True):
    """(op, node, {wire: array}, {wire: constant}) for one example; without `constants`,
    every operand is a wire and Clip's bounds are fixed (one expression per op and dtype)."""
    dtype = dtype or draw(st.sampled_from(DTYPES))
    if attrs is None:
        attrs = {f: draw(st.sampled_from(PARAMETERS + [math.inf, -math.inf] * (f in ("min", "max"))))
                 for f in float_fields(cls) if draw(st.booleans())}
    op = cls(**attrs)
    n = draw(st.integers(1, 24))
    values = {"x": draw(hnp.arrays(dtype, n, elements=special_floats(dtype)))}
    consts = {}
    inputs = ["x"]
    if isinstance(op, Elementwise):
        inputs.append("y")
        if constants and draw(st.booleans()):     # a constant operand, in the expression
            kind = np.int64 if cls.onnx_name == "Pow" and draw(st.booleans()) else dtype
            consts["y"] = np.array(draw(st.sampled_from([2, 3, -1, 0])) if kind == np.int64
                                   else draw(special_floats(dtype)), kind)
        else:
            values["y"] = draw(hnp.arrays(dtype, n, elements=special_floats(dtype)))
    elif cls.onnx_name == "Clip" and not float_fields(cls):    # opset 11: constant bounds
        for wire, bound in (("lo", -1.5), ("hi", 1.0)):
            if not constants or draw(st.booleans()):
                consts[wire] = np.array(draw(st.sampled_from(PARAMETERS)) if constants else bound,
                                        dtype)
            inputs.append(wire if wire in consts else "")
        while inputs[-1] == "":
            inputs.pop()
    return op, Node("n", op, inputs, ["out"]), values, consts


def fused(op, node, values, consts, tier):
    """The node's output through the generated kernel: machine code or its twin."""
    facts = {w: Fact(a.dtype, a.shape) for w, a in values.items()}
    facts["out"] = Fact(values["x"].dtype, values["x"].shape)
    found = node_expression(node, facts, consts)
    assert found is not None, f"{op} declares {op.scalar(node, consts)} but does not fuse"
    expression, wires = found
    with policy(tier):
        return FusedElementwise(expression=expression, n_inputs=len(wires)).eval(
            *(values[w] for w in wires))[0]


def alone(op, node, values, consts):
    args = [values.get(w, consts.get(w)) if w else None for w in node.inputs]
    with np.errstate(all="ignore"):
        return op.eval(*args)[0]


def assert_same(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, **TOLERANCE[want.dtype])


def test_the_activations_and_arithmetic_declare_scalar_functions():
    names = {p.values[0].onnx_name for p in OPS}
    assert {"Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "Tanh", "Softplus", "Clip", "Max",
            "Min", "Add", "Sub", "Mul", "Div", "Pow", "Exp", "Log", "Sqrt", "Abs", "Neg",
            "Reciprocal", "Erf", "Elu", "Softsign", "ThresholdedRelu", "HardSwish"} <= names


@pytest.mark.parametrize("cls", OPS)
@SETTINGS
@given(data=st.data())
def test_fused_twin_equals_the_op_alone(cls, data):
    op, node, values, consts = data.draw(cases(cls))
    assert_same(fused(op, node, values, consts, "interpreted"), alone(op, node, values, consts))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("cls", OPS)
@settings(SETTINGS, max_examples=15)
@given(data=st.data())
def test_fused_kernel_equals_the_op_alone(cls, dtype, data):
    """Machine code, with one set of parameters per op (each compiles a kernel)."""
    attrs = {f: PARAMETERS[-1 - i] for i, f in enumerate(float_fields(cls))}
    op, node, values, consts = data.draw(cases(cls, dtype, attrs, constants=False))
    want = alone(op, node, values, consts)
    assert_same(fused(op, node, values, consts, "compiled"), want)


@pytest.mark.parametrize("tier", ["interpreted", "compiled"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@settings(SETTINGS, max_examples=15)
@given(data=st.data())
def test_gelu_tanh_approximation_fused_equals_the_op_alone(tier, dtype, data):
    """Gelu's scalar function follows its `approximate` attribute (the default one is covered
    with every other declaring op above)."""
    cls = registry.lookup("", "Gelu", 20)
    op, node, values, consts = data.draw(cases(cls, dtype, {}, constants=False))
    op = dataclasses.replace(op, approximate="tanh")
    node = Node("n", op, node.inputs, node.outputs)
    assert op.scalar(node, consts).fn == "gelu_tanh"
    got, want = fused(op, node, values, consts, tier), alone(op, node, values, consts)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    # where tanh(u) is near -1, 1 + tanh(u) cancels: one ulp of tanh (libm's in machine code,
    # NumPy's in the twin) becomes an error of about |x| * eps in the result
    x, eps = values["x"], np.finfo(want.dtype).eps
    finite = np.isfinite(want)
    assert np.all(np.abs(got[finite] - want[finite])
                  <= 4 * eps * np.abs(x[finite]) + TOLERANCE[want.dtype]["rtol"] * np.abs(want[finite]))
    np.testing.assert_array_equal(got[~finite], want[~finite])


# --- the conv epilogue and the recurrent gates ------------------------------------------------

EPILOGUES = [name for name in activation.CODES if name]


def test_the_epilogues_take_what_they_took_before():
    """The conv epilogue's functions and the recurrent gates' (as ONNX names them, with as many
    defaults as the function has parameters) all have a code: alpha and beta carry them."""
    before_conv = {"relu", "leaky_relu", "clip", "sigmoid", "tanh", "hard_sigmoid",
                   "leaky_relu_max"}
    assert before_conv <= set(EPILOGUES)
    assert all(scalar.arity(name) <= 3 for name in EPILOGUES)    # x, alpha, beta
    assert set(ACTIVATION_FUNCTIONS) == {"sigmoid", "tanh", "relu", "affine", "leakyrelu",
                                         "thresholdedrelu", "scaledtanh", "hardsigmoid", "elu",
                                         "softsign", "softplus"}
    for fn, defaults in ACTIVATION_FUNCTIONS.values():
        assert fn in EPILOGUES and len(defaults) == scalar.arity(fn) - 1, fn


@pytest.mark.parametrize("tier", ["interpreted", "compiled"])
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.float32])
def test_shrink_on_integers_matches_onnxruntime(tier, dtype):
    """Shrink takes integers too: its float bias is added, then the result truncated back."""
    kind = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    nodes = [helper.make_node("Shrink", ["x"], ["s"], bias=1.5, lambd=1.0),
             helper.make_node("Abs", ["s"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", kind, [7])],
                              [helper.make_tensor_value_info("y", kind, [7])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.array([-5, -2, -1, 0, 1, 2, 5]).astype(dtype)
    got = pulsar.load(model.SerializeToString(), tier=tier).run({"x": x})[0]
    np.testing.assert_array_equal(got, ort_run(model, {"x": x})[0])
