"""ConvTranspose streams by overlap-add along a spatial axis: each pulse of P frames gives
P*stride output frames, and the span - stride frames of partial sums after them are carried to
the next pulse (an OverlapAdd, kernels/delay.py). Checked against onnxruntime's whole-signal
output for random geometry (kernel, stride, dilation, pads or auto_pad, output padding, group,
bias, 1-D and 2-D with time on either spatial axis), pulse, length and chunking, interpreted and
compiled; and an encoder/decoder (strided Conv, then ConvTranspose) streamed the same way."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

import pulsar
from pulsar import streaming
from reference import ort_run
from streams import all_sizes_positive, assert_pushes_match, stream_through

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# every compiled example compiles a new generated function (seconds): few fixed ones here,
# more and new ones in the slow tier
COMPILED = settings(SETTINGS, max_examples=3, derandomize=True)
COMPILED_SLOW = settings(SETTINGS, max_examples=25)


def onnx_model(nodes, x_shape, inits, inputs=()):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape), *inputs],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def weights(rng, name, *shape):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


@st.composite
def conv_transposes(draw):
    """(model, input shape with "S", stream axis, carries a tail): one random ConvTranspose over
    x [1, C, S], [1, C, H, S] or [1, C, S, W]."""
    rank = draw(st.sampled_from([3, 4]))
    axis = 2 if rank == 3 else draw(st.sampled_from([2, 3]))
    group = draw(st.integers(1, 2))
    c, m = group * draw(st.integers(1, 2)), group * draw(st.integers(1, 2))
    k, s, d, extra = [], [], [], []
    for a in range(2, rank):
        stream = a == axis
        k.append(draw(st.integers(1, 5 if stream else 3)))
        s.append(draw(st.integers(1, 3 if stream else 2)))
        d.append(draw(st.integers(1, 2)))
        extra.append(draw(st.integers(0, s[-1] - 1)))
    spans = [(ki - 1) * di + 1 for ki, di in zip(k, d)]
    attrs = dict(kernel_shape=k, strides=s, dilations=d, output_padding=extra, group=group)
    padding = draw(st.sampled_from(["pads", "pads", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    if padding == "pads":
        attrs["pads"] = [draw(st.integers(0, 3)) for _ in range(2 * (rank - 2))]
    else:       # SAME: onnxruntime wants an output at least input * stride long
        assume(padding == "VALID" or all(sp + e >= st_ for sp, e, st_ in zip(spans, extra, s)))
        attrs["auto_pad"] = padding
    other = draw(st.integers(1, 3))
    if padding == "pads" and rank == 4:      # the axis that does not stream keeps an output
        j = 3 - axis
        pads = attrs["pads"]
        assume(s[j] * (other - 1) + extra[j] + spans[j] - pads[j] - pads[j + 2] >= 1)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    inits = [weights(rng, "w", c, m // group, *k)]
    if draw(st.booleans()):
        inits.append(weights(rng, "b", m))
    shape = [1, c] + ["S" if a == axis else other for a in range(2, rank)]
    node = helper.make_node("ConvTranspose", ["x"] + [i.name for i in inits], ["y"], name="up",
                            **attrs)
    return onnx_model([node], shape, inits), shape, axis, spans[axis - 2] > s[axis - 2]


def signal(model, shape, data, longest=24):
    lengths = [n for n in range(1, longest + 1) if all_sizes_positive(model, n)]
    assume(lengths)
    n = data.draw(st.sampled_from(lengths), label="signal length")
    dims = [n if d == "S" else d for d in shape]
    return np.random.default_rng(n).standard_normal(dims).astype(np.float32)


@SETTINGS
@given(case=conv_transposes(), data=st.data())
def test_conv_transpose_streams_like_onnxruntime(case, data):
    proto, shape, axis, _ = case
    model = pulsar.load(proto)
    x = signal(model, shape, data)
    pulse = data.draw(st.integers(1, 4), label="pulse")
    pm = streaming.pulse(model, symbol="S", pulse=pulse)
    (want,) = ort_run(proto, {"x": x})
    chunks = data.draw(st.lists(st.integers(1, 2 * pulse + 1), min_size=1, max_size=30))
    got = stream_through(pm, x, chunks, axis)
    assert pm.output_length(x.shape[axis])[0] == want.shape[axis]
    got = np.take(got, range(pm.delay[0], got.shape[axis]), axis=axis)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def check_push_by_push(case, data):
    proto, shape, axis, carries = case
    x = signal(pulsar.load(proto), shape, data)
    pulse = data.draw(st.integers(1, 4), label="pulse")
    chunks = data.draw(st.lists(st.integers(1, 2 * pulse + 1), max_size=30))
    stateful = {"PulsePad", "OverlapAdd"} if carries else {"PulsePad"}
    assert_pushes_match(proto, x, pulse, chunks, stateful, axis=axis)


@COMPILED
@given(case=conv_transposes(), data=st.data())
def test_conv_transpose_streams_interpreted_and_compiled_push_by_push(case, data):
    check_push_by_push(case, data)


@pytest.mark.slow
@COMPILED_SLOW
@given(case=conv_transposes(), data=st.data())
def test_conv_transpose_streams_push_by_push_many_cases(case, data):
    check_push_by_push(case, data)


def encoder_decoder():
    """x [1, 2, 6, S] (6 bins, time last) -> Conv 3x4 stride (1, 2), causal in time -> Relu ->
    ConvTranspose 3x4 stride (1, 2) with pads cropping a frame at each end: y [1, 2, 6, S] for
    even S, one frame more for odd S."""
    rng = np.random.default_rng(5)
    inits = [weights(rng, "w1", 4, 2, 3, 4), weights(rng, "b1", 4),
             weights(rng, "w2", 4, 2, 3, 4), weights(rng, "b2", 2)]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["code"], name="encode",
                              kernel_shape=[3, 4], strides=[1, 2], pads=[1, 3, 1, 0]),
             helper.make_node("Relu", ["code"], ["act"]),
             helper.make_node("ConvTranspose", ["act", "w2", "b2"], ["y"], name="decode",
                              kernel_shape=[3, 4], strides=[1, 2], pads=[1, 1, 1, 1])]
    return onnx_model(nodes, [1, 2, 6, "S"], inits)


def test_encoder_decoder_streams_like_the_whole_signal():
    """Interpreted and compiled, push by push, against onnxruntime; the plan's numbers: the
    encoder's delay line, 4 code frames per pulse of 8, the decoder's 8 frames and 2-frame tail."""
    proto = encoder_decoder()
    pm = streaming.pulse(pulsar.load(proto), symbol="S", pulse=8)
    text = pm.dump()
    assert "Delay(axis=3,delay=1,overlap=2)" in text
    assert "OverlapAdd(axis=3,overlap=2)" in text
    assert "decode: transposed window 4 stride 2 dilation 1: 8 frames per pulse, 2 carried" in text
    assert pm.graph.facts["y"].shape == (1, 2, 6, 8) and pm.delay == [1]
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 50)).astype(np.float32)
    for chunks in ([8] * 7, [1, 5, 3, 20, 2, 7]):
        assert_pushes_match(proto, x, 8, chunks, {"Delay", "PulsePad", "OverlapAdd"}, axis=3)


def test_conv_transpose_with_output_shape_is_refused_with_the_reason():
    w = numpy_helper.from_array(np.ones((1, 1, 3), np.float32), "w")
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up", strides=[2],
                            output_shape=[40])
    model = pulsar.load(onnx_model([node], [1, 1, "S"], [w]))
    with pytest.raises(pulsar.PulseError, match=r"'up' \(ConvTranspose\).*output_shape \[40\]"):
        streaming.pulse(model, symbol="S", pulse=4)


def test_conv_transpose_with_a_bias_known_only_at_run_time_is_refused():
    w = numpy_helper.from_array(np.ones((1, 1, 3), np.float32), "w")
    node = helper.make_node("ConvTranspose", ["x", "w", "bias"], ["y"], name="up", strides=[2])
    bias = helper.make_tensor_value_info("bias", TensorProto.FLOAT, [1])
    model = pulsar.load(onnx_model([node], [1, 1, "S"], [w], inputs=[bias]))
    with pytest.raises(pulsar.PulseError,
                       match=r"'up' \(ConvTranspose\).*bias 'bias' must be a constant"):
        streaming.pulse(model, symbol="S", pulse=4)


def test_reset_and_restore_bring_back_the_carried_sums():
    """The OverlapAdd's tail is session state: a restored snapshot repeats the pushes after it,
    a reset repeats the stream from its start."""
    for tier in ("interpreted", "compiled"):
        session = streaming.pulse(pulsar.load(encoder_decoder(), tier=tier), symbol="S",
                                  pulse=8).session()
        x = np.random.default_rng(1).standard_normal((1, 2, 6, 40)).astype(np.float32)
        first = session.push(x[..., :13])[0]
        snap = session.snapshot()
        rest = [session.push(x[..., 13:])[0], session.flush()[0]]
        session.restore(snap)
        again = [session.push(x[..., 13:])[0], session.flush()[0]]
        for a, b in zip(rest, again):
            np.testing.assert_array_equal(a, b)
        session.reset()
        np.testing.assert_array_equal(session.push(x[..., :13])[0], first)
