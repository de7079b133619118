"""The central streaming property: a pulsed model, fed any chunking of a signal, emits the
whole-signal outputs delayed by its computed delay. The tail pulse is padded with NaN, so any
leak of invalid frames into valid ones fails the comparison. The stateful streaming ops (Delay,
PulsePad, Recurrence, OverlapAdd) are also checked push by push, interpreted and compiled, against
onnxruntime's whole-signal output."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

import pulsar
from pulsar import streaming, testing
from reference import ort_run
from streams import all_sizes_positive, assert_pushes_match, causal_models, stateful_models, \
    stream_through

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# every example compiles a new generated function (seconds): few fixed examples here (a warm
# cache serves them again), more and new ones in the slow tier
STATEFUL = settings(SETTINGS, max_examples=3, derandomize=True)
STATEFUL_SLOW = settings(SETTINGS, max_examples=30)
STATEFUL_OPS = {"Delay", "PulsePad", "Recurrence", "OverlapAdd"}


@SETTINGS
@given(case=causal_models(), data=st.data())
def test_random_causal_graphs_stream_like_the_batch(case, data):
    proto, channels, stride = case
    model = pulsar.load(proto)
    pulse = stride * data.draw(st.integers(1, 3), label="pulse multiple")
    pm = streaming.pulse(model, symbol="S", pulse=pulse)
    lengths = [n for n in range(1, 80) if all_sizes_positive(model, n)]
    if not lengths:
        return
    n = data.draw(st.sampled_from(lengths), label="signal length")
    x = np.random.default_rng(n).standard_normal((1, channels, n)).astype(np.float32)
    (expected,) = model.run([x])
    chunks = data.draw(st.lists(st.integers(1, 2 * pulse + 1), min_size=1, max_size=40))
    got = stream_through(pm, x, chunks, axis=2)
    axis = pm.output_streams[0].axis
    assert pm.output_length(n)[0] == expected.shape[axis]
    got = np.take(got, range(pm.delay[0], got.shape[axis]), axis=axis)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def check_stateful_ops_push_by_push(case, data):
    """Every stateful streaming op, interpreted and compiled, push by push against onnxruntime
    (streams.assert_pushes_match)."""
    proto, channels, stride = case
    pulse = stride * data.draw(st.integers(1, 3), label="pulse multiple")
    batch = pulsar.load(proto, tier="interpreted")
    lengths = [n for n in range(1, 60) if all_sizes_positive(batch, n)]
    assume(lengths)
    n = data.draw(st.sampled_from(lengths), label="signal length")
    x = np.random.default_rng(n).standard_normal((1, channels, n)).astype(np.float32)
    chunks = data.draw(st.lists(st.integers(1, 2 * pulse + 1), max_size=30))
    assert_pushes_match(proto, x, pulse, chunks, STATEFUL_OPS)


@STATEFUL
@given(case=stateful_models(), data=st.data())
def test_stateful_ops_stream_like_onnxruntime_interpreted_and_compiled(case, data):
    check_stateful_ops_push_by_push(case, data)


@pytest.mark.slow
@STATEFUL_SLOW
@given(case=stateful_models(), data=st.data())
def test_stateful_ops_stream_like_onnxruntime_many_cases(case, data):
    check_stateful_ops_push_by_push(case, data)


def test_strided_causal_stack_with_public_helpers():
    """A fixed conv/pool stack through pulsar.testing: chunkings with empty and one-frame
    chunks, NaN tail, symbolic output lengths evaluated against the real ones."""
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], kernel_shape=[3], strides=[2],
                              pads=[2, 0]),
             helper.make_node("MaxPool", ["c1"], ["p"], kernel_shape=[2], strides=[1]),
             helper.make_node("Conv", ["p", "w2"], ["y"], kernel_shape=[2], dilations=[2])]
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("w1", (2, 1, 3)), ("w2", (1, 2, 2)))]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                         [1, 1, "S"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              inits)
    model = pulsar.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    testing.assert_shapes_follow_facts(model, max_examples=15, derandomize=True)
    testing.assert_stream_matches_batch(model, pulse=4, symbol="S", max_examples=25,
                                        derandomize=True)


def test_pulse_not_multiple_of_stride_names_node_and_numbers():
    b = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3], strides=[4], name="framing")
    w = numpy_helper.from_array(np.ones((1, 1, 3), np.float32), "w")
    graph = helper.make_graph([b], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "S"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    model = pulsar.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    with pytest.raises(pulsar.PulseError, match=r"framing.*6.*stride 4"):
        streaming.pulse(model, symbol="S", pulse=6)


def test_stft_framing_streams_with_a_delay_line():
    """400-sample frames every 160 in pulses of 1280: Delay(delay=80, overlap=240), 8 frames
    per pulse, 2 frames of delay (the numbers a hand-written audio front end would use)."""
    win = numpy_helper.from_array(np.hanning(400).astype(np.float32), "win")
    step = numpy_helper.from_array(np.array(160, np.int64), "step")
    graph = helper.make_graph([helper.make_node("STFT", ["x", "step", "win"], ["y"], name="stft")],
                              "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "S", 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [step, win])
    model = pulsar.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    pm = streaming.pulse(model, symbol="S", pulse=1280)
    text = pm.dump()
    assert "Delay(axis=1,delay=80,overlap=240)" in text
    assert pm.delay == [2] and pm.graph.facts["y"].shape[1] == 8
    testing.assert_stream_matches_batch(model, pulse=1280, symbol="S", lengths=(400, 6000),
                                        max_examples=8, derandomize=True)


@SETTINGS
@given(start=st.integers(0, 4), drop=st.integers(1, 6), pulse=st.integers(1, 5),
       n=st.integers(1, 40), chunks=st.lists(st.integers(0, 9), max_size=20))
def test_a_slice_ending_before_the_stream_end_streams_like_onnxruntime(start, drop, pulse, n,
                                                                       chunks):
    """Slice(start, -drop) along time then a window: a push cannot know its last frames are
    among the `drop` the whole signal loses, so the output is held back `drop` frames."""
    assume(n - start - drop >= 3)
    w = np.random.default_rng(0).standard_normal((2, 2, 3)).astype(np.float32)
    nodes = [helper.make_node("Slice", ["x", "s", "e", "a"], ["c"]),
             helper.make_node("Conv", ["c", "w"], ["y"], kernel_shape=[3])]
    inits = [numpy_helper.from_array(np.array(v, np.int64), k)
             for k, v in (("s", [start]), ("e", [-drop]), ("a", [2]))] + \
        [numpy_helper.from_array(w, "w")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                         [1, 2, "S"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.random.default_rng(n).standard_normal((1, 2, n)).astype(np.float32)
    (want,) = ort_run(proto, {"x": x})
    pm = streaming.pulse(pulsar.load(proto), symbol="S", pulse=pulse)
    got = stream_through(pm, x, chunks, axis=2)
    assert pm.delay[0] >= drop
    got = got[:, :, pm.delay[0]:]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
