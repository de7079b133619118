"""Reductions, CumSum, Softmax/LogSoftmax/Hardmax, ArgMax/ArgMin, TopK: ONNX conformance, both
axes signatures, empty sets, symbolic shapes against onnxruntime, shape-value folding, errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from onnx import TensorProto, helper

import pulsar
from conformance import conformance_test, family_cases
from reference import ort_run
from models import init, model, tensor
from pulsar import dims
from pulsar.errors import InferenceError

FAMILIES = ("pulsar.ops.reduce", "pulsar.ops.softmax", "pulsar.ops.sort")
KNOWN_FAILING = {}

S, B = dims.sym("S"), dims.sym("B")
REDUCE_OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
              "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]


test_conformance = conformance_test(family_cases(FAMILIES), KNOWN_FAILING)


def positive(rng, shape, dtype):
    return rng.uniform(0.5, 2.0, shape).astype(dtype)


def check_against_ort(onnx_model, want_shapes, bindings, make=positive, exact=False, seed=0):
    """Facts in symbols equal `want_shapes`; every binding runs like onnxruntime."""
    m = pulsar.load(onnx_model)
    assert [o.shape for o in m.outputs] == list(want_shapes)
    rng = np.random.default_rng(seed)
    for bind in bindings:
        feeds = {i.name: make(rng, [dims.evaluate(d, bind) for d in i.shape], i.dtype)
                 for i in m.inputs}
        for got, want, shape in zip(m.run(feeds), ort_run(onnx_model, feeds), want_shapes):
            assert got.dtype == want.dtype
            assert got.shape == want.shape == tuple(dims.evaluate(d, bind) for d in shape)
            if exact:
                np.testing.assert_array_equal(got, want)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    return m


def axes_input_since(op):
    return 13 if op == "ReduceSum" else 18


def reduce_model(op, shape, axes, opset, elem=TensorProto.FLOAT, **attrs):
    """axes=None: no axes at all; as an attribute or a constant input depending on the opset."""
    inputs, inits = ["x"], []
    if axes is not None and opset >= axes_input_since(op):
        inputs.append("axes")
        inits.append(init("axes", np.array(axes, np.int64)))
    elif axes is not None:
        attrs["axes"] = axes
    node = helper.make_node(op, inputs, ["y"], **attrs)
    return model([node], [tensor("x", list(shape), elem)], [tensor("y", None, elem)], inits,
                 opset=opset)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("axes,keepdims,want", [
    ([1], 1, (B, 1, 4)),
    ([1], 0, (B, 4)),
    ([-1, 0], 0, (S,)),
    (None, 1, (1, 1, 1)),
    (None, 0, ()),
])
def test_reduce_symbolic_shapes_match_onnxruntime(op, opset, axes, keepdims, want):
    onnx_model = reduce_model(op, ("B", "S", 4), axes, opset, keepdims=keepdims)
    check_against_ort(onnx_model, [want], [{"B": 1, "S": 3}, {"B": 2, "S": 5}])


@st.composite
def reduce_cases(draw):
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), max_size=len(shape),
                         unique_by=lambda a: a % len(shape)))
    return (draw(st.sampled_from(REDUCE_OPS)), shape, axes, draw(st.integers(0, 1)),
            draw(st.sampled_from([11, 18])))


@settings(max_examples=60, deadline=None)
@given(reduce_cases())
def test_random_reductions_match_onnxruntime(case):
    op, shape, axes, keepdims, opset = case
    onnx_model = reduce_model(op, shape, axes or None, opset, keepdims=keepdims)
    x = positive(np.random.default_rng(len(shape)), shape, np.float32)
    got, = pulsar.load(onnx_model).run([x])
    want, = ort_run(onnx_model, {"x": x})
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("op", [op for op in REDUCE_OPS if op != "ReduceMean"])  # undefined
def test_reduce_over_an_empty_set_matches_onnxruntime(op):
    onnx_model = reduce_model(op, (2, 0, "S"), [1], 18)
    check_against_ort(onnx_model, [(2, 1, S)], [{"S": 3}])


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
                                "ReduceSumSquare", "ReduceL1"])
@pytest.mark.parametrize("elem,dtype", [(TensorProto.INT32, np.int32),
                                        (TensorProto.INT64, np.int64)])
def test_integer_reductions_keep_their_dtype(op, elem, dtype):
    onnx_model = reduce_model(op, ("S", 3), [0], 18, elem=elem, keepdims=0)
    check_against_ort(onnx_model, [(3,)], [{"S": 4}], exact=True,
                      make=lambda rng, shape, d: rng.integers(-4, 5, shape).astype(d))


def test_noop_with_empty_axes_is_identity():
    onnx_model = reduce_model("ReduceMean", ("S", 3), None, 18, noop_with_empty_axes=1)
    check_against_ort(onnx_model, [(S, 3)], [{"S": 2}])


def test_unknown_axes_input_keeps_the_rank():
    """Axes computed at run time: each dim becomes a fresh symbol, the rank stays right."""
    node = helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)
    onnx_model = model([node], [tensor("x", ["S", 3, 4]), tensor("axes", [1], TensorProto.INT64)],
                       [tensor("y", None)], opset=13)
    m = pulsar.load(onnx_model)
    assert len(m.outputs[0].shape) == 2
    assert all(isinstance(d, dims.Dim) for d in m.outputs[0].shape)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    axes = np.array([1], np.int64)
    got, = m.run({"x": x, "axes": axes})
    np.testing.assert_array_equal(got, ort_run(onnx_model, {"x": x, "axes": axes})[0])


def test_axes_input_of_unknown_length_is_an_error():
    node = helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)
    onnx_model = model([node], [tensor("x", ["S", 3]), tensor("axes", ["N"], TensorProto.INT64)],
                       [tensor("y", None)], opset=13)
    with pytest.raises(InferenceError, match="must be constant or of known length"):
        pulsar.load(onnx_model)


def test_repeated_axes_are_an_error():
    with pytest.raises(InferenceError, match=r"axes \[1, 1\] repeat an axis"):
        pulsar.load(reduce_model("ReduceMax", ("S", 3), [1, -1], 18))


def test_axes_attribute_after_it_became_an_input_is_an_error():
    node = helper.make_node("ReduceMean", ["x"], ["y"], axes=[0])
    with pytest.raises(pulsar.ModelLoadError, match="unknown attribute 'axes'"):
        pulsar.load(model([node], [tensor("x", [2])], [tensor("y", None)], opset=18))


def test_reduce_prod_of_a_shape_folds_symbolically():
    """Shape -> ReduceProd is how exporters compute an element count for Reshape."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("ReduceProd", ["shape"], ["n"], keepdims=0),
             helper.make_node("ReduceSum", ["shape", "zero"], ["total"], keepdims=1)]
    onnx_model = model(nodes, [tensor("x", ["S", 3, 2])],
                       [tensor("n", None, TensorProto.INT64),
                        tensor("total", None, TensorProto.INT64)],
                       [init("zero", np.array([0], np.int64))], opset=18)
    m = pulsar.load(onnx_model)
    assert m.graph.facts["n"].value[()] == 6 * S
    assert m.graph.facts["total"].value.tolist() == [S + 5]
    got = m.run([np.zeros((4, 3, 2), np.float32)])
    assert [g.tolist() for g in got] == [24, [9]]


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("elem,dtype", [(TensorProto.FLOAT, np.float32),
                                        (TensorProto.INT32, np.int32)])
def test_cumsum_matches_onnxruntime(exclusive, reverse, elem, dtype):
    node = helper.make_node("CumSum", ["x", "axis"], ["y"], exclusive=exclusive, reverse=reverse)
    onnx_model = model([node], [tensor("x", [2, "S", 3], elem)], [tensor("y", None, elem)],
                       [init("axis", np.int64(-2))], opset=14)
    check_against_ort(onnx_model, [(2, S, 3)], [{"S": 1}, {"S": 6}],
                      make=lambda rng, shape, d: rng.integers(-5, 6, shape).astype(d))


def row_model(op, shape, opset, **attrs):
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    return model([node], [tensor("x", list(shape))], [tensor("y", None)], opset=opset)


def with_ties(rng, shape, dtype):
    return rng.integers(-2, 3, shape).astype(dtype)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,axis", [(11, None), (11, 0), (11, 2), (11, -1), (13, None),
                                        (13, 0), (13, 1), (13, -2)])
def test_softmax_family_matches_onnxruntime(op, opset, axis):
    """Opset 11 coerces to 2-D at `axis` (rows of everything after it); 13 uses one axis."""
    attrs = {} if axis is None else {"axis": axis}
    onnx_model = row_model(op, (2, "S", 3), opset, **attrs)
    make = with_ties if op == "Hardmax" else lambda rng, s, d: rng.standard_normal(s).astype(d) * 5
    check_against_ort(onnx_model, [(2, S, 3)], [{"S": 1}, {"S": 4}], make=make)


def test_softmax_large_inputs_do_not_overflow():
    onnx_model = row_model("Softmax", (1, 3), 13)
    got, = pulsar.load(onnx_model).run([np.array([[1000.0, 1001.0, -1000.0]], np.float32)])
    np.testing.assert_allclose(got, [[0.26894142, 0.7310586, 0.0]], rtol=1e-6)


def test_softmax_axis_out_of_range_is_an_error():
    with pytest.raises(InferenceError, match="axis 3 is out of range for rank 3"):
        pulsar.load(row_model("Softmax", (2, "S", 3), 13, axis=3))


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("attrs,want", [
    ({}, (1, S, 3)),
    ({"axis": 1, "keepdims": 0}, (4, 3)),
    ({"axis": -1, "select_last_index": 1}, (4, S, 1)),
    ({"axis": 1, "keepdims": 0, "select_last_index": 1}, (4, 3)),
])
def test_arg_reductions_match_onnxruntime(op, attrs, want):
    onnx_model = row_model(op, (4, "S", 3), 13, **attrs)
    onnx_model.graph.output[0].type.tensor_type.elem_type = TensorProto.INT64
    check_against_ort(onnx_model, [want], [{"S": 1}, {"S": 5}], make=with_ties, exact=True)


def topk_model(shape, opset, k=None, **attrs):
    inputs, inits = ["x"], []
    if opset >= 10:
        inputs.append("k")
        inits.append(init("k", np.array([k], np.int64)))
    else:
        attrs["k"] = k
    node = helper.make_node("TopK", inputs, ["values", "indices"], **attrs)
    return model([node], [tensor("x", list(shape))],
                 [tensor("values", None), tensor("indices", None, TensorProto.INT64)], inits,
                 opset=opset)


@pytest.mark.parametrize("opset,attrs", [(1, {}), (10, {}), (11, {}), (11, {"largest": 0}),
                                         (11, {"axis": 0}), (11, {"axis": 0, "largest": 0})])
@pytest.mark.parametrize("k", [1, 3])
def test_topk_with_ties_matches_onnxruntime(opset, attrs, k):
    """Equal values come out lowest index first, in both directions."""
    along_rows = attrs.get("axis") == 0
    onnx_model = topk_model((6, "S") if along_rows else ("S", 6), opset, k=k, **attrs)
    want = (k, S) if along_rows else (S, k)
    check_against_ort(onnx_model, [want, want], [{"S": 1}, {"S": 4}], make=with_ties, exact=True)


def test_topk_unsigned_largest():
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"])
    onnx_model = model([node], [tensor("x", [5], TensorProto.UINT64)],
                       [tensor("v", None, TensorProto.UINT64),
                        tensor("i", None, TensorProto.INT64)],
                       [init("k", np.array([3], np.int64))], opset=11)
    x = np.array([2, 2**63 + 5, 0, 7, 2**63 + 5], np.uint64)
    values, indices = pulsar.load(onnx_model).run([x])
    assert values.tolist() == [2**63 + 5, 2**63 + 5, 7] and indices.tolist() == [1, 4, 3]


def test_topk_unknown_k_gives_a_fresh_symbol():
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"])
    onnx_model = model([node], [tensor("x", [2, "S"]), tensor("k", [1], TensorProto.INT64)],
                       [tensor("v", None), tensor("i", None, TensorProto.INT64)], opset=11)
    m = pulsar.load(onnx_model)
    v_shape, i_shape = (o.shape for o in m.outputs)
    assert v_shape == i_shape and v_shape[0] == 2 and isinstance(v_shape[1], dims.Dim)
    values, indices = m.run({"x": np.array([[1, 3, 2], [0, 5, 5]], np.float32),
                             "k": np.array([2], np.int64)})
    assert values.tolist() == [[3, 2], [5, 5]] and indices.tolist() == [[1, 2], [1, 2]]


def test_topk_k_larger_than_the_axis_is_an_error():
    with pytest.raises(InferenceError, match="k = 7 is out of range for axis -1"):
        pulsar.load(topk_model(("S", 6), 11, k=7))
