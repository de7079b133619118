"""Cases the fuzz campaigns found, reduced by hand: each used to raise an untyped exception."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import pulsar
from models import model, tensor
from reference import ort_session


def test_min_with_an_empty_variadic_input_is_refused_at_load():
    proto = model([helper.make_node("Min", ["a", ""], ["y"], name="min")],
                  [tensor("a", [2])], [tensor("y", None)])
    with pytest.raises(pulsar.ModelLoadError, match="'min'.*empty name"):
        pulsar.load(proto)


def test_dft_length_that_is_not_a_scalar():
    proto = model([helper.make_node("DFT", ["x", "n"], ["y"], name="dft")],
                  [tensor("x", [1, 4, 1]), tensor("n", [2], TensorProto.INT64)],
                  [tensor("y", None)], opset=17)
    m = pulsar.load(proto)
    with pytest.raises(pulsar.PulsarError, match="dft_length must be one integer"):
        m.run({"x": np.ones((1, 4, 1), np.float32), "n": np.array([4, 4])})


def test_dropout_with_a_seed_beyond_32_bits_runs():
    proto = model([helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="drop", seed=-5)],
                  [tensor("x", [64])], [tensor("y", None)],
                  [numpy_helper.from_array(np.float32(0.5), "r"),
                   numpy_helper.from_array(np.array(True), "t")], opset=13)
    x = np.ones(64, np.float32)
    (y,) = pulsar.load(proto).run({"x": x})
    assert set(np.unique(y)) <= {0.0, 2.0} and 0 < (y == 2).sum() < 64   # mask applied, scaled


def test_scan_over_a_scalar_is_a_typed_error():
    body = helper.make_graph([helper.make_node("Identity", ["s"], ["o"])], "body",
                             [tensor("s", [])], [tensor("o", [])])
    proto = model([helper.make_node("Scan", ["x"], ["y"], name="scan", body=body,
                                    num_scan_inputs=1)],
                  [tensor("x", [])], [tensor("y", None)], opset=11)
    with pytest.raises(pulsar.InferenceError, match="rank >= 1"):
        pulsar.load(proto)


def test_split_into_a_huge_number_of_outputs_is_a_typed_error():
    proto = model([helper.make_node("Split", ["x"], ["a", "b"], name="split", axis=0,
                                    num_outputs=2 ** 62)],
                  [tensor("x", [4])], [tensor("a", None), tensor("b", None)], opset=18)
    with pytest.raises(pulsar.InferenceError, match="num_outputs"):
        pulsar.load(proto)


def test_inputs_that_do_not_broadcast_at_run_time():
    proto = model([helper.make_node("Add", ["a", "b"], ["y"], name="add")],
                  [tensor("a", ["N"]), tensor("b", ["M"])], [tensor("y", None)])
    m = pulsar.load(proto)
    with pytest.raises(pulsar.InferenceError, match="'add'.*do not broadcast"):
        m.run({"a": np.ones(2, np.float32), "b": np.ones(3, np.float32)})


def test_size_of_a_tensor_whose_size_overflows_int64():
    proto = model([helper.make_node("Size", ["x"], ["y"], name="size")],
                  [tensor("x", [2 ** 40, 2 ** 40])], [tensor("y", None, TensorProto.INT64)])
    with pytest.raises(pulsar.PulsarError, match="does not fit"):
        pulsar.load(proto)


def test_dropout_with_a_non_scalar_training_flag():
    proto = model([helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="drop")],
                  [tensor("x", [4]), tensor("t", [2], TensorProto.BOOL)], [tensor("y", None)],
                  [numpy_helper.from_array(np.float32(0.5), "r")], opset=13)
    with pytest.raises(pulsar.PulsarError, match="scalars"):
        pulsar.load(proto).run({"x": np.ones(4, np.float32), "t": np.array([True, False])})


def test_roialign_with_a_negative_output_size_is_refused_at_load():
    proto = model([helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], name="roi",
                                    output_height=-1)],
                  [tensor("x", [1, 1, 4, 4]), tensor("rois", [1, 4]),
                   tensor("idx", [1], TensorProto.INT64)], [tensor("y", None)])
    with pytest.raises(pulsar.ModelLoadError, match="'output_height' must be positive"):
        pulsar.load(proto)


def test_gemm_whose_inner_dims_only_disagree_at_run_time_is_a_typed_error():
    """Two fresh symbols analysis cannot compare: the product itself finds the mismatch (as
    onnxruntime does), and the error names the node and the shapes."""
    proto = model([helper.make_node("Gemm", ["a", "b"], ["y"], name="fc")],
                  [tensor("a", [2, "K"]), tensor("b", ["J", 3])], [tensor("y", None)])
    m = pulsar.load(proto, tier="interpreted")
    a, b = np.ones((2, 4), np.float32), np.ones((5, 3), np.float32)
    with pytest.raises(pulsar.InputError, match=r"'fc' \(Gemm\).*\[2, 4\].*\[5, 3\]"):
        m.run({"a": a, "b": b})
    s = ort_session(proto)
    with pytest.raises(Exception):
        s.run(None, {"a": a, "b": b})


def test_an_op_inference_meeting_unexpected_facts_is_a_typed_error_naming_the_node():
    """Squeeze of a scalar along axis 0 (a mutated attention graph): onnxruntime refuses the
    model too; pulsar says which node, typed, instead of an IndexError from deep inside."""
    proto = model([helper.make_node("Squeeze", ["x", "axes"], ["y"], name="sq")],
                  [tensor("x", [], TensorProto.INT64)], [tensor("y", None)],
                  [numpy_helper.from_array(np.array([0], np.int64), "axes")])
    with pytest.raises(pulsar.PulsarError, match="'sq' \\(Squeeze\\)"):
        pulsar.load(proto)
    with pytest.raises(Exception):
        ort_session(proto).run(
            None, {"x": np.array(1, np.int64)})
