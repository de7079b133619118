"""LSTM / GRU / RNN in compiled plans against onnxruntime: one-node models across attributes,
the VAD-like model with its state looped back, and pulsed streams whose recurrence carries its
state in place. Every test also checks that the recurrent node really ran compiled. Each new
structure costs a Numba compilation of its generated function, so the sweeps are slow-tier."""
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

import pulsar
from models import init, model, tensor
from pulsar import streaming
from reference import ort_run
from recurrent_cases import ATTRIBUTE_CASES, assert_close

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def rnn_node_model(op, seq=6, batch=3, size=5, hidden=4, direction="forward", layout=0,
                   lens=None, with_h=False, with_p=False, weights_fed=False, attrs=None,
                   seed=0):
    """One recurrent node; weights are initializers (or graph inputs), lens a constant."""
    rng = np.random.default_rng(seed)
    d, g = (2 if direction == "bidirectional" else 1), GATES[op]
    x_shape = [seq, batch, size] if layout == 0 else [batch, seq, size]
    state = [d, batch, hidden] if layout == 0 else [batch, d, hidden]
    weights = {"W": rng.standard_normal((d, g * hidden, size)) * 0.4,
               "R": rng.standard_normal((d, g * hidden, hidden)) * 0.4,
               "B": rng.standard_normal((d, 2 * g * hidden)) * 0.3}
    if with_p:
        weights["P"] = rng.standard_normal((d, 3 * hidden)) * 0.3
    weights = {k: v.astype(np.float32) for k, v in weights.items()}
    names = ["X", "W", "R", "B", "lens" if lens is not None else "", "h0" if with_h else ""]
    inputs = [tensor("X", x_shape)]
    inits = [] if weights_fed else [init(k, v) for k, v in weights.items()]
    if weights_fed:
        inputs += [tensor(k, list(v.shape)) for k, v in weights.items()]
    if lens is not None:
        inits.append(init("lens", np.array(lens, np.int32)))
    if with_h:
        inputs.append(tensor("h0", state))
    if op == "LSTM":
        names += ["c0" if with_h else "", "P" if with_p else ""]
        if with_h:
            inputs.append(tensor("c0", state))
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, names, outs, hidden_size=hidden, direction=direction,
                            layout=layout, **(attrs or {}))
    m = model([node], inputs, [tensor(o, None) for o in outs], inits, opset=14)
    feeds = {"X": rng.standard_normal(x_shape).astype(np.float32)}
    if weights_fed:
        feeds.update(weights)
    if with_h:
        feeds["h0"] = rng.standard_normal(state).astype(np.float32)
        if op == "LSTM":
            feeds["c0"] = rng.standard_normal(state).astype(np.float32)
    return m, feeds


def ort_any_layout(op, layout, **options):
    """onnxruntime runs layout 0 only: layout 1 is checked through the layout-0 model with the
    batch and sequence axes (and the states' batch and direction axes) swapped."""
    m, feeds = rnn_node_model(op, layout=layout, **options)
    if layout == 0:
        return m, feeds, ort_run(m, feeds)
    m0, _ = rnn_node_model(op, layout=0, **options)
    swap = {"X": (1, 0, 2), "h0": (1, 0, 2), "c0": (1, 0, 2)}
    outs = ort_run(m0, {k: v.transpose(swap[k]) if k in swap else v for k, v in feeds.items()})
    return m, feeds, [outs[0].transpose(2, 0, 1, 3)] + [o.transpose(1, 0, 2) for o in outs[1:]]


def run_compiled(m, feeds) -> list:
    loaded = pulsar.load(m, compile=True)
    outs = loaded.run(feeds)
    where = {n.op.onnx_name: w for n, w in loaded.plan.execution()}
    assert set(where.values()) == {"compiled"}, where
    return outs


@pytest.mark.slow
@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("layout", [0, 1])
def test_directions_and_layouts(op, direction, layout):
    options = dict(direction=direction, with_h=True, with_p=op == "LSTM", lens=[6, 0, 3])
    m, feeds, want = ort_any_layout(op, layout, **options)
    assert_close(run_compiled(m, feeds), want)


@pytest.mark.slow
@pytest.mark.parametrize("op,attrs", ATTRIBUTE_CASES)
def test_attributes(op, attrs):
    direction = "bidirectional" if len(attrs.get("activations", [])) == 4 else "forward"
    m, feeds = rnn_node_model(op, seq=7, batch=2, direction=direction, attrs=attrs)
    assert_close(run_compiled(m, feeds), ort_run(m, feeds))


@pytest.mark.slow
@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_weights_fed_as_inputs(op):
    m, feeds = rnn_node_model(op, direction="bidirectional", weights_fed=True,
                              with_p=op == "LSTM")
    assert_close(run_compiled(m, feeds), ort_run(m, feeds))


@pytest.mark.slow
def test_vad_model_with_state_looped_back():
    from workloads import vad_model
    m = vad_model()
    rng = np.random.default_rng(1)
    state = {"h0": np.zeros((1, 1, 64), np.float32), "c0": np.zeros((1, 1, 64), np.float32)}
    ours = dict(state)
    loaded = pulsar.load(m, compile=True)
    for _ in range(5):
        audio = (rng.standard_normal((1, 512)) * 0.1).astype(np.float32)
        prob, ours["h0"], ours["c0"] = loaded.run({"audio": audio, **ours})
        want, state["h0"], state["c0"] = ort_run(m, {"audio": audio, **state})
        np.testing.assert_allclose(prob, want, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ours["c0"], state["c0"], rtol=1e-4, atol=1e-6)
    assert dict((n.op.onnx_name, w) for n, w in loaded.plan.execution())["LSTM"] == "compiled"
    assert np.abs(state["c0"]).max() > 1e-3     # the state really moved


def conv_rnn_model(kind, channels=3, hidden=4, seed=0):
    """[1, C, S] -> strided conv with look-ahead (so the recurrence sees warm-up frames) ->
    forward LSTM/GRU/RNN over time; outputs Y as [1, H, S'] and the final state(s)."""
    rng = np.random.default_rng(seed)
    g = GATES[kind]
    weights = {"W": (1, g * hidden, channels), "R": (1, g * hidden, hidden),
               "B": (1, 2 * g * hidden), "cw": (channels, channels, 3)}
    inits = [init(k, (rng.standard_normal(s) * 0.5).astype(np.float32))
             for k, s in weights.items()] + [init("ax", np.array([1], np.int64))]
    outs = ["y", "hn"] + (["cn"] if kind == "LSTM" else [])
    nodes = [helper.make_node("Conv", ["x", "cw"], ["xc"], kernel_shape=[3], pads=[0, 1],
                              strides=[2]),
             helper.make_node("Transpose", ["xc"], ["seq"], perm=[2, 0, 1]),
             helper.make_node(kind, ["seq", "W", "R", "B"], ["Y"] + outs[1:], hidden_size=hidden),
             helper.make_node("Squeeze", ["Y", "ax"], ["y2"]),
             helper.make_node("Transpose", ["y2"], ["y"], perm=[1, 2, 0])]
    return model(nodes, [tensor("x", [1, channels, "S"])], [tensor(o, None) for o in outs], inits)


def test_pulsed_lstm_stream_matches_whole_signal():
    check_pulsed_stream("LSTM", pulse=8, chunk=5)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("pulse,chunk", [(8, 5), (4, 11)])
def test_pulsed_stream_matches_whole_signal(kind, pulse, chunk):
    check_pulsed_stream(kind, pulse, chunk)


def check_pulsed_stream(kind, pulse, chunk):
    """NaN flush padding: a frame after the stream end reaching the carried state would show."""
    m = conv_rnn_model(kind)
    x = np.random.default_rng(2).standard_normal((1, 3, 37)).astype(np.float32)
    want = ort_run(m, {"x": x})
    pulsed = streaming.pulse(pulsar.load(m, compile=True), "S", pulse=pulse)
    session = pulsed.session(skip_warmup=True, pad_value=np.nan)
    parts = [session.push(x[:, :, i:i + chunk]) for i in range(0, x.shape[2], chunk)]
    tail = session.flush()
    where = {n.name: w for n, w in session.plan.execution()}
    assert where[f"{kind}_2"] == "compiled", where
    recurrence = next(n.op for n, _ in session.plan.execution() if n.name == f"{kind}_2")
    assert recurrence.delay > 0     # warm-up frames reach the recurrence and must be skipped
    y = np.concatenate([p[0] for p in parts] + [tail[0]], axis=2)
    np.testing.assert_allclose(y, want[0], rtol=1e-5, atol=1e-5)
    for got, expected in zip(tail[1:], want[1:]):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_pulsed_session_reset_replays_the_same_stream():
    m = conv_rnn_model("GRU")
    x = np.random.default_rng(3).standard_normal((1, 3, 20)).astype(np.float32)
    session = streaming.pulse(pulsar.load(m, compile=True), "S", pulse=4).session()
    first = [session.push(x), session.flush()]
    session.reset()
    second = [session.push(x), session.flush()]
    for a, b in zip(first, second):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
    np.testing.assert_allclose(first[1][1], ort_run(m, {"x": x})[1], rtol=1e-5, atol=1e-5)
