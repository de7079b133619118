"""Models that break their operators' schemas are refused at load with a typed error that names
the node and the input or attribute at fault. onnx's own checker is the independent reference:
each broken model here is one it rejects too (except 0/1 flags, which it does not check), and
each unbroken variant loads and agrees with onnxruntime."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import pulsar
from reference import ort_run
from models import model, tensor

X = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7


def reduce_model(**attrs):
    return model([helper.make_node("ReduceMax", ["x"], ["y"], name="rmax", **attrs)],
                 [tensor("x", [2, 3, 4])], [tensor("y", None)], opset=17)


def checker_rejects(proto) -> bool:
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception:
        return True
    return False


def assert_refused(proto, *words, reference=True):
    with pytest.raises(pulsar.ModelLoadError) as e:
        pulsar.load(proto.SerializeToString())
    for w in words:
        assert w in str(e.value)
    if reference:
        assert checker_rejects(proto)


def test_the_unbroken_model_loads_and_agrees_with_onnxruntime():
    proto = reduce_model(axes=[1], keepdims=0)
    (got,) = pulsar.load(proto).run({"x": X})
    (want,) = ort_run(proto, {"x": X})
    np.testing.assert_allclose(got, want)


def test_an_attribute_of_the_wrong_type():
    proto = reduce_model(axes=[1.0, 2.0])
    assert_refused(proto, "'rmax'", "ReduceMax", "'axes'", "FLOATS", "INTS")
    proto = model([helper.make_node("Softmax", ["x"], ["y"], name="sm", axis="one")],
                  [tensor("x", [2, 3, 4])], [tensor("y", None)])
    assert_refused(proto, "'sm'", "'axis'", "STRING")


@pytest.mark.parametrize("value", [2, -1, 1 << 40])
def test_a_flag_outside_0_1(value):
    assert_refused(reduce_model(keepdims=value), "'keepdims'", "0 or 1", reference=False)


def test_unknown_and_missing_attributes():
    assert_refused(reduce_model(colour=3), "'rmax'", "unknown attribute 'colour'")
    proto = model([helper.make_node("Cast", ["x"], ["y"], name="cast")],
                  [tensor("x", [2])], [tensor("y", None)])
    assert_refused(proto, "'cast'", "required attribute 'to'")


def test_wrong_input_counts_and_empty_required_inputs():
    def add(inputs):
        return model([helper.make_node("Add", inputs, ["z"], name="add")],
                     [tensor("x", [2]), tensor("y", [2])], [tensor("z", None)])
    assert_refused(add(["x"]), "'add'", "1 input(s)", "2")
    assert_refused(add(["x", "y", "x"]), "'add'", "3 input(s)")
    assert_refused(add(["x", ""]), "'add'", "required input 1 (B)", "empty name")


def test_an_empty_name_on_an_optional_input_is_fine():
    proto = model([helper.make_node("Clip", ["x", "", "hi"], ["y"], name="clip")],
                  [tensor("x", [2, 3, 4])], [tensor("y", None)],
                  [numpy_helper.from_array(np.float32(1.5), "hi")])
    (got,) = pulsar.load(proto).run({"x": X})
    (want,) = ort_run(proto, {"x": X})
    np.testing.assert_array_equal(got, want)


def test_non_positive_sizes():
    def pool(**attrs):
        return model([helper.make_node("MaxPool", ["x"], ["y"], name="pool", **attrs)],
                     [tensor("x", [1, 1, 8, 8])], [tensor("y", None)])
    assert_refused(pool(kernel_shape=[0, 2]), "'pool'", "'kernel_shape'", "positive",
                   reference=False)
    assert_refused(pool(kernel_shape=[2, 2], strides=[-1, 1]), "'strides'", reference=False)
    assert_refused(pool(kernel_shape=[2, 2], pads=[-1, 0, 0, 0]), "'pads'", "non-negative",
                   reference=False)


def bad_initializer(mutate):
    t = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    mutate(t)
    return model([helper.make_node("Add", ["x", "w"], ["y"], name="add")],
                 [tensor("x", [2, 3])], [tensor("y", None)], [t])


@pytest.mark.parametrize("mutate, words", [
    (lambda t: t.dims.__setitem__(0, 5), ["needs 60 bytes", "has 24"]),
    (lambda t: setattr(t, "raw_data", t.raw_data[:10]), ["raw_data", "has 10"]),
    (lambda t: t.dims.__setitem__(0, -2), ["negative dimension"]),
    (lambda t: setattr(t, "data_type", TensorProto.DOUBLE), ["needs 48 bytes"]),
    (lambda t: setattr(t, "data_type", 99), ["unknown data type 99"]),
    (lambda t: t.dims.extend([1 << 30, 1 << 30]), ["more than"]),
])
def test_an_initializer_whose_dims_dtype_and_data_disagree(mutate, words):
    assert_refused(bad_initializer(mutate), "initializer 'w'", *words)


def test_typed_field_length_must_match_dims():
    def mutate(t):
        t.raw_data = b""
        t.float_data.extend([1.0, 2.0])
    assert_refused(bad_initializer(mutate), "needs 6 values in float_data, has 2")


def test_a_constant_whose_value_disagrees_with_its_dims():
    value = helper.make_tensor("c", TensorProto.FLOAT, [2], [1.0, 2.0])
    value.dims[0] = 4
    proto = model([helper.make_node("Constant", [], ["c"], name="const", value=value),
                   helper.make_node("Add", ["x", "c"], ["y"], name="add")],
                  [tensor("x", [4])], [tensor("y", None)])
    assert_refused(proto, "'const'", "'value'", "needs 4 values")


def test_names_that_are_not_utf8():
    data = reduce_model(axes=[1]).SerializeToString()
    for name in (b"rmax", b"ReduceMax", b"axes"):
        bad = data.replace(name, name[:-1] + b"\xff")
        with pytest.raises(pulsar.ModelLoadError, match="not valid UTF-8"):
            pulsar.load(bad)


def test_subgraphs_are_validated():
    body = helper.make_graph([helper.make_node("ReduceMax", ["x"], ["r"], name="inner", keepdims=7)],
                             "then", [], [tensor("r", None)])
    proto = model([helper.make_node("If", ["c"], ["y"], name="if", then_branch=body,
                                    else_branch=body)],
                  [tensor("c", [], TensorProto.BOOL), tensor("x", [2, 3, 4])], [tensor("y", None)])
    assert_refused(proto, "'inner'", "'keepdims'", "subgraph", reference=False)


def test_custom_domains_pass_through_to_unsupported():
    proto = model([helper.make_node("Frobnicate", ["x"], ["y"], name="f", domain="com.example",
                                    anything=3.0)],
                  [tensor("x", [2])], [tensor("y", None)])
    proto.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(pulsar.UnsupportedOpError):
        pulsar.load(proto)
