"""Streaming sessions against independent oracles: pulsed, window, explicit-state and pipeline
sessions fed chunks of any length equal onnxruntime runs of the whole model (or of each
window / each step); reset, snapshot/restore and bad chunks leave sessions consistent."""
import wave

import numpy as np
import onnx
import pytest
from onnx import helper

import pulsar
from reference import ort_run
from models import init, model, tensor
from pulsar import streaming
from pulsar.cli.main import main
from pulsar.ops.registry import lookup
from pulsar.streaming.pipeline import parallel

RNG = np.random.default_rng(7)



def needs_op(name):
    if lookup("", name, 14) is None:
        pytest.skip(f"the {name} op is not implemented yet")


def two_convs(channels=2):
    """x[1,C,S] -> centred conv k3 -> Relu -> conv k3 stride 2 -> y[1,2,(S-3)/2+1].

    The centred conv looks one frame ahead, so the pulsed model has a delay (1 frame of y)."""
    w1 = RNG.standard_normal((3, channels, 3)).astype(np.float32)
    w2 = RNG.standard_normal((2, 3, 3)).astype(np.float32)
    return model([helper.make_node("Conv", ["x", "w1"], ["h"], name="centred", kernel_shape=[3],
                                   pads=[1, 1]),
                  helper.make_node("Relu", ["h"], ["r"], name="relu"),
                  helper.make_node("Conv", ["r", "w2"], ["y"], name="strided", kernel_shape=[3],
                                   strides=[2])],
                 [tensor("x", [1, channels, "S"])], [tensor("y", None)],
                 [init("w1", w1), init("w2", w2)])


def signal(n, channels=2):
    return RNG.standard_normal((1, channels, n)).astype(np.float32)


def push_all(session, x, sizes, axis=2):
    """Push `x` in chunks of the given sizes (cycled) along `axis`, then flush; the first
    output's pieces joined along its stream axis."""
    outs, start, k = [], 0, 0
    while start < x.shape[axis]:
        n = sizes[k % len(sizes)]
        piece = np.take(x, range(start, min(start + n, x.shape[axis])), axis=axis)
        outs.append(session.push(piece)[0])
        start, k = start + n, k + 1
    outs.append(session.flush()[0])
    return np.concatenate(outs, axis=session.output_axes()[0])


@pytest.fixture(scope="module")
def convs():
    proto = two_convs()
    pm = streaming.pulse(pulsar.load(proto), symbol="S", pulse=4)
    assert pm.delay == [1]
    return proto, pm


# -- pulsed sessions --------------------------------------------------------------------------
@pytest.mark.parametrize("sizes", [[1], [3], [4], [13], [1, 7, 2, 9, 4, 30]],
                         ids=["one-frame", "non-multiple", "one-pulse", "several-pulses", "mixed"])
def test_any_chunking_equals_the_batch_run(convs, sizes):
    proto, pm = convs
    x = signal(37)
    (expected,) = ort_run(proto, {"x": x})
    got = push_all(pm.session(), x, sizes)
    assert got.shape[2] == pm.delay[0] + expected.shape[2]
    np.testing.assert_allclose(got[:, :, pm.delay[0]:], expected, rtol=1e-5, atol=1e-5)


def test_skip_warmup_starts_with_the_first_batch_frame(convs):
    proto, pm = convs
    x = signal(29)
    (expected,) = ort_run(proto, {"x": x})
    got = push_all(pm.session(skip_warmup=True), x, [5])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    configured = pm.configured(skip_warmup=True)
    got = push_all(configured.session(), x, [2])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert pm.session().skip_warmup is False           # configured() returns a copy


def test_preroll_is_silence_before_the_stream(convs):
    proto, pm = convs
    x = signal(21)
    (expected,) = ort_run(proto, {"x": np.concatenate([np.zeros((1, 2, 6), np.float32), x], 2)})
    for sizes in ([1], [9]):
        s = pm.session(skip_warmup=True, preroll=6)
        np.testing.assert_allclose(push_all(s, x, sizes), expected, rtol=1e-5, atol=1e-5)
        s.reset()      # the pre-roll is fed again after a reset
        np.testing.assert_allclose(push_all(s, x, sizes), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(pulsar.PulseError, match="preroll"):
        pm.session(preroll=-1)
    with pytest.raises(pulsar.PulseError, match="unknown session option"):
        pm.configured(pre_roll=4)


def test_a_refilled_buffer_is_not_aliased(convs):
    """Audio callbacks reuse one buffer: frames waiting for a full pulse must be copied."""
    proto, pm = convs
    x = signal(30)
    (expected,) = ort_run(proto, {"x": x})
    s, buffer, outs = pm.session(skip_warmup=True), np.empty((1, 2, 3), np.float32), []
    for start in range(0, 30, 3):
        buffer[...] = x[:, :, start:start + 3]
        outs.append(s.push(buffer)[0])
    outs.append(s.flush()[0])
    np.testing.assert_allclose(np.concatenate(outs, 2), expected, rtol=1e-5, atol=1e-5)


def test_reset_gives_a_fresh_stream(convs):
    _, pm = convs
    x, y = signal(25), signal(18)
    fresh = push_all(pm.session(), y, [3])
    s = pm.session()
    push_all(s, x, [5])
    s.reset()
    np.testing.assert_array_equal(push_all(s, y, [3]), fresh)
    s.reset()
    s.push(x[:, :, :7])      # reset in the middle of a stream, with frames pending
    s.reset()
    np.testing.assert_array_equal(push_all(s, y, [3]), fresh)


def test_snapshot_restore_replays_identically(convs):
    _, pm = convs
    x = signal(40)
    s = pm.session()
    s.push(x[:, :, :11])                 # 3 frames left pending in the session
    snap = s.snapshot()
    first = push_all(s, x[:, :, 11:], [6])
    s.restore(snap)
    np.testing.assert_array_equal(push_all(s, x[:, :, 11:], [6]), first)
    s.restore(snap)                      # a restore after flush reopens the stream
    np.testing.assert_array_equal(push_all(s, x[:, :, 11:], [2, 5]), first)


@pytest.mark.parametrize("bad", [np.zeros((1, 2, 4), np.float64), np.zeros((1, 3, 4), np.float32),
                                 np.zeros((2, 4), np.float32), np.zeros((1, 2, 4, 1), np.float32)],
                         ids=["dtype", "channels", "rank-2", "rank-4"])
def test_a_bad_chunk_raises_and_leaves_the_state_untouched(convs, bad):
    proto, pm = convs
    x = signal(33)
    (expected,) = ort_run(proto, {"x": x})
    s = pm.session(skip_warmup=True)
    outs = [s.push(x[:, :, :10])[0]]
    with pytest.raises(pulsar.InputError, match="'x'"):
        s.push(bad)
    outs.append(s.push(x[:, :, 10:])[0])
    outs.append(s.flush()[0])
    np.testing.assert_allclose(np.concatenate(outs, 2), expected, rtol=1e-5, atol=1e-5)


def test_push_after_flush_raises(convs):
    _, pm = convs
    s = pm.session()
    s.push(signal(8))
    s.flush()
    with pytest.raises(pulsar.InputError, match="reset"):
        s.push(signal(4))
    with pytest.raises(pulsar.InputError, match="reset"):
        s.flush()


# -- window mode ------------------------------------------------------------------------------
def peak_normalised(shape=(1, "S")):
    """x -> x - max(x) over the last axis: needs the whole window, so it runs in window mode."""
    axis = len(shape) - 1
    return model([helper.make_node("ReduceMax", ["x"], ["m"], name="peak", axes=[axis], keepdims=1),
                  helper.make_node("Sub", ["x", "m"], ["y"], name="sub")],
                 [tensor("x", list(shape))], [tensor("y", None)], opset=17)


def windows(x, size, hop, start):
    """Windows as run by the session: every `hop` frames, on the newest `size` frames."""
    padded = np.concatenate([np.zeros((1, size), np.float32), x], 1) if start == "immediate" else x
    first = size + hop if start == "immediate" else hop * -(-size // hop)
    return [padded[:, e - size:e] for e in range(first, padded.shape[1] + 1, hop)]


@pytest.mark.parametrize("size,hop,start", [(6, 4, "full"), (8, 8, "full"), (5, 2, "immediate")])
def test_window_mode_on_a_symbolic_input(size, hop, start):
    proto = peak_normalised()
    x = RNG.standard_normal((1, 41)).astype(np.float32)
    wm = streaming.window(pulsar.load(proto), size=size, hop=hop, start=start)
    assert wm.out_axes == [1]
    got = push_all(wm.session(), x, [1, 3, 10], axis=1)
    expected = [ort_run(proto, {"x": w})[0] for w in windows(x, size, hop, start)]
    np.testing.assert_allclose(got, np.concatenate(expected, 1), rtol=1e-6, atol=1e-6)


def fixed_window_mean():
    """x[1,8,3] (a model exported for 8 frames) -> mean over the frames -> y[1,3]."""
    return model([helper.make_node("ReduceMean", ["x"], ["y"], name="mean", axes=[1], keepdims=0)],
                 [tensor("x", [1, 8, 3])], [tensor("y", None)], opset=17)


def test_window_mode_on_a_fixed_size_input_and_its_output_axis():
    proto = fixed_window_mean()
    x = RNG.standard_normal((1, 30, 3)).astype(np.float32)
    expected = [ort_run(proto, {"x": np.ascontiguousarray(x[:, e - 8:e])})[0]
                for e in range(8, 31, 2)]
    model_ = pulsar.load(proto)
    rows = push_all(streaming.window(model_, size=8, hop=2, axis=1).session(), x, [5], axis=1)
    np.testing.assert_allclose(rows, np.concatenate(expected, 0), rtol=1e-6)   # default: axis 0
    wm = streaming.window(model_, size=8, hop=2, axis=1, out_axes=[1])
    cols = push_all(wm.session(), x, [7], axis=1)
    np.testing.assert_allclose(cols, np.concatenate(expected, 1), rtol=1e-6)
    with pytest.raises(pulsar.PulseError, match="takes 8 frames"):
        streaming.window(model_, size=6, hop=2, axis=1)


def test_window_session_reset_snapshot_and_bad_chunks():
    proto = peak_normalised()
    x = RNG.standard_normal((1, 30)).astype(np.float32)
    wm = streaming.window(pulsar.load(proto), size=6, hop=3)
    s = wm.session()
    expected = push_all(s, x, [4], axis=1)
    s.reset()
    s.push(x[:, :7])
    snap = s.snapshot()
    for bad in (x[:, :3].astype(np.float64), x[None, :, :3], np.zeros((2, 3), np.float32)):
        with pytest.raises(pulsar.InputError):
            s.push(bad)
    rest = push_all(s, x[:, 7:], [5], axis=1)
    s.restore(snap)
    np.testing.assert_array_equal(push_all(s, x[:, 7:], [2], axis=1), rest)
    s.reset()
    np.testing.assert_array_equal(push_all(s, x, [9], axis=1), expected)


# -- explicit state -------------------------------------------------------------------------
def leaky_integrator():
    """stateN = state * 0.9 + x; y = tanh(stateN): a model that carries its own state."""
    return model([helper.make_node("Mul", ["state", "a"], ["decayed"]),
                  helper.make_node("Add", ["decayed", "x"], ["stateN"]),
                  helper.make_node("Tanh", ["stateN"], ["y"])],
                 [tensor("x", [1, 4]), tensor("state", [1, 4])],
                 [tensor("y", [1, 4]), tensor("stateN", [1, 4])],
                 [init("a", np.float32(0.9))])


def test_explicit_state_equals_a_manual_loop():
    proto = leaky_integrator()
    steps = RNG.standard_normal((12, 1, 4)).astype(np.float32)
    init_state = np.full((1, 4), 0.5, np.float32)
    state, expected = init_state, []
    for x in steps:
        y, state = ort_run(proto, {"x": x, "state": state})
        expected.append(y)
    sm = streaming.stateful(pulsar.load(proto), {"state": "stateN"}, init={"state": init_state})
    s = sm.session()
    got = [s.push(x)[0] for x in steps[:5]]
    snap = s.snapshot()
    with pytest.raises(pulsar.InputError):
        s.push(np.zeros((1, 5), np.float32))          # bad chunk: state untouched
    with pytest.raises(pulsar.InputError, match="state"):
        s.push({"x": steps[5], "state": init_state})  # state is the session's
    assert [a.shape for a in s.push(np.zeros((1, 0), np.float32))] == [(0, 4)]  # empty: no step
    got += [s.push(x)[0] for x in steps[5:]]
    np.testing.assert_allclose(np.concatenate(got), np.concatenate(expected), rtol=1e-6)
    s.restore(snap)
    again = [s.push(x)[0] for x in steps[5:]]
    np.testing.assert_array_equal(np.concatenate(again), np.concatenate(got[5:]))
    s.reset()
    np.testing.assert_array_equal(s.push(steps[0])[0], got[0])


def lstm_weights(hidden, inputs):
    w = (RNG.standard_normal((1, 4 * hidden, inputs)) * 0.5).astype(np.float32)
    r = (RNG.standard_normal((1, 4 * hidden, hidden)) * 0.5).astype(np.float32)
    b = (RNG.standard_normal((1, 8 * hidden)) * 0.1).astype(np.float32)
    return [init("W", w), init("R", r), init("B", b)]


def test_explicit_state_lstm_step_model():
    needs_op("LSTM")
    proto = model([helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["", "hn", "cn"],
                                    hidden_size=3)],
                  [tensor("x", [2, 1, 2]), tensor("h0", [1, 1, 3]), tensor("c0", [1, 1, 3])],
                  [tensor("hn", [1, 1, 3]), tensor("cn", [1, 1, 3])], lstm_weights(3, 2), opset=14)
    steps = RNG.standard_normal((6, 2, 1, 2)).astype(np.float32)
    h = c = np.zeros((1, 1, 3), np.float32)
    expected = []
    for x in steps:
        h, c = ort_run(proto, {"x": x, "h0": h, "c0": c})
        expected.append(h)
    # hn is both an output we read and state: expose the cell state only as state.
    s = streaming.stateful(pulsar.load(proto), {"h0": "hn", "c0": "cn"}).session()
    got = []
    for x in steps:
        s.push(x)
        got.append(s.snapshot()["h0"])
    np.testing.assert_allclose(np.concatenate(got), np.concatenate(expected), rtol=1e-5, atol=1e-6)


# -- pipelines ------------------------------------------------------------------------------
def smoother(channels=2):
    """x[1,C,S] -> conv k4 (no padding) -> y[1,1,S-3]."""
    w = RNG.standard_normal((1, channels, 4)).astype(np.float32)
    return model([helper.make_node("Conv", ["x", "w"], ["y"], name="smooth", kernel_shape=[4])],
                 [tensor("x", [1, channels, "S"])], [tensor("y", None)], [init("w", w)])


def test_a_pipeline_equals_composing_the_stages_by_hand():
    first, second = two_convs(), smoother()
    x = signal(50)
    (mid,) = ort_run(first, {"x": x})
    (expected,) = ort_run(second, {"x": mid})
    a = streaming.pulse(pulsar.load(first), symbol="S", pulse=4).configured(skip_warmup=True)
    b = streaming.pulse(pulsar.load(second), symbol="S", pulse=2).configured(skip_warmup=True)
    p = streaming.pipeline(a, b)
    s = p.session()
    got = push_all(s, x, [3, 1, 8])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    s.reset()
    np.testing.assert_allclose(push_all(s, x, [50]), expected, rtol=1e-4, atol=1e-4)


def test_a_pipeline_with_an_adapter_and_parallel_branches():
    """pulsed convs -> (x2 adapter) -> [window peak-normaliser, pulsed smoother]."""
    first, second, third = two_convs(), smoother(), peak_normalised((1, 2, "S"))
    x = signal(45)
    (mid,) = ort_run(first, {"x": x})
    mid = mid * 2
    (smoothed,) = ort_run(second, {"x": mid})
    ends = range(6, mid.shape[2] + 1, 3)
    peaks = np.concatenate([ort_run(third, {"x": mid[:, :, e - 6:e]})[0] for e in ends], 2)
    stem = streaming.pulse(pulsar.load(first), symbol="S", pulse=4).configured(skip_warmup=True)
    branch_a = streaming.window(pulsar.load(third), size=6, hop=3)
    branch_b = streaming.pulse(pulsar.load(second), symbol="S", pulse=1)
    branches = parallel(branch_a, branch_b.configured(skip_warmup=True))
    s = streaming.pipeline(stem, branches, adapters=[lambda outs: outs[0] * 2]).session()
    outs = [s.push(x[:, :, i:i + 5]) for i in range(0, 45, 5)] + [s.flush()]
    np.testing.assert_allclose(np.concatenate([o[0] for o in outs], 2), peaks, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.concatenate([o[1] for o in outs], 2), smoothed,
                               rtol=1e-4, atol=1e-4)
    assert s.output_axes() == [2, 2]


# -- errors ---------------------------------------------------------------------------------
def test_a_reduction_over_time_names_the_node():
    proto = model([helper.make_node("Relu", ["x"], ["r"], name="act"),
                   helper.make_node("ReduceMean", ["r"], ["y"], name="average_over_time",
                                    axes=[2], keepdims=1)],
                  [tensor("x", [1, 2, "S"])], [tensor("y", None)], opset=17)
    with pytest.raises(pulsar.PulseError, match=r"average_over_time.*ReduceMean.*window mode"):
        streaming.pulse(pulsar.load(proto), symbol="S", pulse=4)


def test_a_pulse_not_multiple_of_an_inner_stride_names_node_and_numbers():
    proto = two_convs()     # the strided conv (stride 2) is the second node
    with pytest.raises(pulsar.PulseError, match=r"'strided'.*pulse of 3 frames.*stride 2"):
        streaming.pulse(pulsar.load(proto), symbol="S", pulse=3)


def recurrent_model(op="LSTM", direction="forward", outputs=("y", "y_h", "y_c"), hidden=3,
                    inputs=2):
    """x[S,1,2] -> LSTM/GRU -> y[S,dirs,1,3]; only y is a graph output."""
    gates = {"LSTM": 4, "GRU": 3}[op]
    n_dir = 2 if direction == "bidirectional" else 1
    w = (RNG.standard_normal((n_dir, gates * hidden, inputs)) * 0.5).astype(np.float32)
    r = (RNG.standard_normal((n_dir, gates * hidden, hidden)) * 0.5).astype(np.float32)
    b = (RNG.standard_normal((n_dir, 2 * gates * hidden)) * 0.1).astype(np.float32)
    outputs = list(outputs)[:3 if op == "LSTM" else 2]
    return model([helper.make_node(op, ["x", "W", "R", "B"], outputs, name="rnn",
                                   hidden_size=hidden, direction=direction)],
                 [tensor("x", ["S", 1, inputs])], [tensor("y", None)],
                 [init("W", w), init("R", r), init("B", b)], opset=14)


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_a_bidirectional_recurrence_cannot_pulse(op):
    needs_op(op)
    with pytest.raises(pulsar.PulseError, match=r"'rnn'.*bidirectional.*window mode"):
        streaming.pulse(pulsar.load(recurrent_model(op, "bidirectional")), symbol="S", pulse=4)


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_a_forward_recurrence_streams_like_the_batch_run(op):
    needs_op(op)
    proto = recurrent_model(op)
    x = RNG.standard_normal((23, 1, 2)).astype(np.float32)
    (expected,) = ort_run(proto, {"x": x})
    pm = streaming.pulse(pulsar.load(proto), symbol="S", pulse=4)
    for sizes in ([1], [5], [11, 2]):
        got = push_all(pm.session(skip_warmup=True), x, sizes, axis=0)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_a_recurrence_behind_a_delayed_stream_skips_the_warmup(op):
    """centred conv (delay 1) -> [S,1,C] -> LSTM/GRU: warm-up frames must not touch the state."""
    needs_op(op)
    rnn = recurrent_model(op).graph
    wc = RNG.standard_normal((2, 2, 3)).astype(np.float32)
    proto = model([helper.make_node("Conv", ["x", "wc"], ["c"], kernel_shape=[3], pads=[1, 1]),
                   helper.make_node("Transpose", ["c"], ["t"], perm=[2, 0, 1]),
                   helper.make_node(op, ["t"] + list(rnn.node[0].input[1:]),
                                    list(rnn.node[0].output), hidden_size=3, name="rnn")],
                  [tensor("x", [1, 2, "S"])], [tensor("y", None)],
                  list(rnn.initializer) + [init("wc", wc)], opset=14)
    x = signal(19)
    (expected,) = ort_run(proto, {"x": x})
    pm = streaming.pulse(pulsar.load(proto), symbol="S", pulse=4)
    assert pm.delay == [1]
    for sizes in ([1], [3], [7]):
        got = push_all(pm.session(skip_warmup=True), x, sizes)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_a_recurrence_without_named_final_states_streams():
    needs_op("LSTM")
    proto = recurrent_model("LSTM", outputs=["y"])
    x = RNG.standard_normal((9, 1, 2)).astype(np.float32)
    (expected,) = ort_run(proto, {"x": x})
    pm = streaming.pulse(pulsar.load(proto), symbol="S", pulse=4)
    np.testing.assert_allclose(push_all(pm.session(skip_warmup=True), x, [3], axis=0), expected,
                               rtol=1e-5, atol=1e-5)


# -- ML-KWS recurrent models (ONNX Scan loops) ----------------------------------------------
# The input [1, frames*10] is reshaped to a constant shape ([25,1,10] for GRU_S, [1,1,49,10] for
# CRNN_S: tf2onnx baked the frame count in); declaring the input axis streaming traces that
# split, so the stream counts MFCC frames of 10 values. The Scan's final state feeds the
# classifier: the pulsed model carries the GRU state across pulses and its final output, after
# flush, is the whole-utterance label distribution.
KWS = {"GRU_S": ("transpose", 25), "CRNN_S": ("Conv2D__25", 49)}


@pytest.mark.parametrize("name", sorted(KWS))
@pytest.mark.parametrize("pulse,chunk", [(20, 10), (20, 37), (40, 7)])
def test_mlkws_recurrent_models_stream_with_state_carried(name, pulse, chunk):
    needs_op("Scan")
    from shared_data import model_path
    path = model_path("mlkws", f"{name}.onnx")
    ref = np.load(path.parent / "tf_reference.npz")
    model_ = pulsar.load(path)
    pm = streaming.pulse(model_, input="Reshape:0", axis=1, pulse=pulse)
    assert pm.output_streams == [None]          # a final output: one label set per utterance
    for clip in ("silence", "noise"):
        x = ref[f"{name}/{clip}/fingerprint"].astype(np.float32)
        (batch,) = model_.run([x])
        s = pm.session()
        for i in range(0, x.shape[1], chunk):
            s.push(x[:, i:i + chunk])
        (final,) = s.flush()
        np.testing.assert_allclose(final, batch, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(final, ref[f"{name}/{clip}/softmax"], atol=1e-4)


def test_mlkws_pulse_must_hold_whole_frames():
    needs_op("Scan")
    from shared_data import model_path
    model_ = pulsar.load(model_path("mlkws", "GRU_S.onnx"))
    with pytest.raises(pulsar.PulseError, match=r"'transpose'.*multiple of 10"):
        streaming.pulse(model_, input="Reshape:0", axis=1, pulse=15)


@pytest.mark.parametrize("name", sorted(KWS))
def test_mlkws_recurrent_models_stream_in_window_mode(name):
    needs_op("Scan")
    from shared_data import model_path
    path = model_path("mlkws", f"{name}.onnx")
    ref = np.load(path.parent / "tf_reference.npz")
    _, frames = KWS[name]
    size = frames * 10
    stream = np.concatenate([ref[f"{name}/silence/fingerprint"],
                             ref[f"{name}/noise/fingerprint"]], 1)
    wm = streaming.window(pulsar.load(path), size=size, hop=10, axis=1)
    got = push_all(wm.session(), stream.astype(np.float32), [37], axis=1)
    assert got.shape == (frames + 1, 12)
    np.testing.assert_allclose(got[0], ref[f"{name}/silence/softmax"][0], atol=1e-4)
    np.testing.assert_allclose(got[-1], ref[f"{name}/noise/softmax"][0], atol=1e-4)
    proto = onnx.load(path)
    expected = [ort_run(proto, {"Reshape:0": stream[:, e - size:e]})[0]
                for e in range(size, 2 * size + 1, 10)]
    np.testing.assert_allclose(got, np.concatenate(expected), rtol=1e-4, atol=1e-5)


# -- command line ---------------------------------------------------------------------------
@pytest.fixture
def wav_and_model(tmp_path):
    rate, n = 16000, 4000
    t = np.arange(n) / rate
    samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    wav = tmp_path / "tone.wav"
    with wave.open(str(wav), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(samples.tobytes())
    w = RNG.standard_normal((4, 1, 400)).astype(np.float32) * 0.05
    proto = model([helper.make_node("Conv", ["x", "w"], ["y"], name="framing", kernel_shape=[400],
                                    strides=[160])],
                  [tensor("x", [1, 1, "S"])], [tensor("y", None)], [init("w", w)])
    path = tmp_path / "framing.onnx"
    onnx.save(proto, path)
    return wav, path, proto, samples


def test_cli_stream_prints_frames_and_latency(wav_and_model, capsys):
    wav, path, proto, samples = wav_and_model
    assert main(["stream", str(path), str(wav), "--pulse", "S=320", "--chunk", "500"]) == 0
    out = capsys.readouterr().out
    (expected,) = ort_run(proto, {"x": (samples / 32768.0).astype(np.float32)[None, None]})
    pm = streaming.pulse(pulsar.load(proto), symbol="S", pulse=320)
    frames = sum(int(line.split(": ")[1].split()[0]) for line in out.splitlines()
                 if line.startswith("chunk "))
    assert frames == pm.delay[0] + expected.shape[2]
    assert f"latency of y: {pm.delay[0]} frames = {pm.latency[0]} samples" in out
    assert "8 chunks of 500 samples" in out


def test_cli_dump_pulse_shows_the_delay_line(wav_and_model, capsys):
    _, path, _, _ = wav_and_model
    assert main(["dump", str(path), "--pulse", "S=320", "--sample-rate", "16000"]) == 0
    out = capsys.readouterr().out
    assert "Delay(axis=2,delay=80,overlap=240)" in out
    assert ("# latency of y: 2 frames of that output = 320 input frames = 20.0 ms at "
            "16000.0 Hz") in out


def test_cli_pulse_errors_exit_1(wav_and_model, capsys):
    wav, path, _, _ = wav_and_model
    assert main(["dump", str(path), "--pulse", "S=100"]) == 1
    err = capsys.readouterr().err
    assert "framing" in err and "100" in err and "160" in err and len(err.strip().splitlines()) == 1
    assert main(["stream", str(path), str(wav), "--pulse", "S"]) == 1
    assert "--pulse expects" in capsys.readouterr().err


def test_a_final_output_is_an_array_on_every_push():
    """No pulse completed: a final output has 0 frames (not None); then its newest value."""
    needs_op("Scan")
    from shared_data import model_path
    path = model_path("mlkws", "GRU_S.onnx")
    ref = np.load(path.parent / "tf_reference.npz")
    pm = streaming.pulse(pulsar.load(path), input="Reshape:0", axis=1, pulse=20)
    s = pm.session()
    x = ref["GRU_S/noise/fingerprint"].astype(np.float32)
    (first,) = s.push(x[:, :10])
    assert first.shape == (0, 12) and first.dtype == np.float32
    (second,) = s.push(x[:, 10:20])
    assert second.shape == (1, 12)
    for i in range(20, x.shape[1], 20):
        s.push(x[:, i:i + 20])
    np.testing.assert_allclose(s.flush()[0], ref["GRU_S/noise/softmax"], atol=1e-4)


def test_a_window_longer_than_its_grid_start_runs_once_at_flush():
    """size 490, hop 100: the first grid point is 500; a 490-frame stream still gets its one
    window at flush (DS_CNN_S on one second of MFCCs), equal to TensorFlow's softmax."""
    from shared_data import model_path
    path = model_path("mlkws", "DS_CNN_S.onnx")
    ref = np.load(path.parent / "tf_reference.npz")
    x = ref["DS_CNN_S/noise/fingerprint"].astype(np.float32)
    s = streaming.window(pulsar.load(path), size=490, hop=100, axis=1).session()
    (pushed,) = s.push(x)
    assert pushed.shape == (0, 12)
    (flushed,) = s.flush()
    np.testing.assert_allclose(flushed, ref["DS_CNN_S/noise/softmax"], atol=1e-4)
