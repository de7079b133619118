"""pulsar.testing: the property-based helpers users run on their own models.

Each helper must pass on a correct model and fail on a deliberately wrong expectation (a
corrupted output fact, a wrong delay, a different reference model)."""
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import find, given, settings
from onnx import TensorProto, helper, numpy_helper

import pulsar
from pulsar import testing
from shared_data import model_path

F = TensorProto.FLOAT


def conv_model(k=5, stride=2, tail="Relu"):
    """x [1, 1, S] -> Conv(k, stride) -> tail: the output has (S-k)/stride+1 frames."""
    w = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((2, 1, k)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[k], strides=[stride]),
             helper.make_node(tail, ["c"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F, [1, 1, "S"])],
                              [helper.make_tensor_value_info("y", F, None)], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


QUICK = dict(max_examples=15, derandomize=True)


def test_symbol_values_respect_the_kernel_minimum_and_bounds():
    model = pulsar.load(conv_model(k=5))

    @settings(max_examples=40, deadline=None)
    @given(testing.symbol_values(model, bounds={"S": (2, 30)}))
    def check(values):
        assert set(values) == {"S"} and 5 <= values["S"] <= 30
    check()


def test_chunkings_sum_to_the_total_and_include_empty_and_single_chunks():
    @settings(max_examples=60, deadline=None)
    @given(testing.chunkings(37, max_chunk=9))
    def check(chunks):
        assert sum(chunks) == 37 and all(c >= 0 for c in chunks)
    check()
    assert 0 in find(testing.chunkings(20), lambda c: 0 in c)
    assert 1 in find(testing.chunkings(20), lambda c: 1 in c)


def test_shapes_follow_facts_on_a_conv_model():
    testing.assert_shapes_follow_facts(conv_model(), **QUICK)


def test_shapes_follow_facts_detects_a_wrong_output_fact():
    model = pulsar.load(conv_model(k=5, stride=2))
    fact = model.graph.facts["y"]
    s = pulsar.dims.sym("S")
    model.graph.facts["y"] = fact.with_shape((1, 2, s - 4))      # should be (S-5)/2+1
    with pytest.raises(AssertionError, match="output 'y'"):
        testing.assert_shapes_follow_facts(model, **QUICK)


def test_stream_matches_batch_on_a_conv_model():
    testing.assert_stream_matches_batch(conv_model(k=5, stride=2), pulse=4, symbol="S", **QUICK)


def test_stream_matches_batch_detects_a_wrong_delay():
    model = conv_model(k=5, stride=1, tail="Sigmoid")
    stream = pulsar.streaming.pulse(pulsar.load(model), symbol="S", pulse=3)
    with pytest.raises(AssertionError):
        testing.assert_stream_matches_batch(model, pulse=3, symbol="S",
                                            delay=stream.delay[0] + 1, **QUICK)


def test_matches_onnxruntime_on_a_conv_model():
    testing.assert_matches_onnxruntime(conv_model(), **QUICK)


def test_matches_onnxruntime_detects_a_different_model():
    model = pulsar.load(conv_model(tail="Relu"))
    with pytest.raises(AssertionError):
        testing.assert_matches_onnxruntime(model, onnx_model=conv_model(tail="Sigmoid"),
                                           **QUICK)


def test_a_pulsar_model_without_its_onnx_source_is_refused_for_onnxruntime():
    with pytest.raises(TypeError, match="onnx_model"):
        testing.assert_matches_onnxruntime(pulsar.load(conv_model()))


def test_missing_hypothesis_names_the_install_command():
    code = ("import sys; sys.modules['hypothesis'] = None\n"
            "try:\n    import pulsar.testing\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "pip install hypothesis" in out


def test_melspectrogram_shapes_and_numbers():
    """openWakeWord's mel front end: frames = (samples-400)/160+1, against onnxruntime."""
    path = model_path("openwakeword", "melspectrogram.onnx")
    bounds = {"batch_size": (1, 2), "samples": (300, 2400)}
    testing.assert_shapes_follow_facts(path, bounds=bounds, **QUICK)
    testing.assert_matches_onnxruntime(path, bounds=bounds, rtol=1e-4, atol=2e-3,
                                       max_examples=5, derandomize=True)


def test_gru_s_streams_over_a_declared_input_axis():
    """ML-KWS GRU_S: input [1, 10*T] MFCC values, a final (whole-utterance) output."""
    path = model_path("mlkws", "GRU_S.onnx")
    testing.assert_stream_matches_batch(path, pulse=20, input="Reshape:0", axis=1,
                                        lengths=(10, 400), rtol=1e-4, atol=1e-5,
                                        max_examples=5, derandomize=True)
