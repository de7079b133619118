"""LSTM / GRU / RNN ops: ONNX conformance, one-node models against onnxruntime (layouts,
directions, sequence_lens, states, activations, clip), float64 against onnx.reference,
symbolic sequence length, chunked runs with carried state, and shape errors."""
import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import pulsar
from conformance import cases_for, conformance_test
from reference import ort_run
from models import init, model, tensor
from pulsar import dims
from pulsar.errors import InferenceError
from recurrent_cases import ATTRIBUTE_CASES, assert_close
from symbolic_check import untyped

S = dims.sym("S")
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
KNOWN_FAILING = {}


test_conformance = conformance_test(cases_for("LSTM", "GRU", "RNN"), KNOWN_FAILING)


def rnn_model(op, x_shape, hidden=5, inputs=8, direction="forward", layout=0, with_lens=False,
              with_h=False, with_c=False, with_p=False, attrs=None, dtype=np.float32, seed=0,
              opset=14):
    """A one-node model: weights are initializers, X (and lens, states) are inputs."""
    rng = np.random.default_rng(seed)
    d, g = (2 if direction == "bidirectional" else 1), GATES[op]
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    batch = x_shape[1 - layout]
    state = [d, batch, hidden] if layout == 0 else [batch, d, hidden]
    inits = [init("W", (rng.standard_normal((d, g * hidden, inputs)) * 0.4).astype(dtype)),
             init("R", (rng.standard_normal((d, g * hidden, hidden)) * 0.4).astype(dtype)),
             init("B", (rng.standard_normal((d, 2 * g * hidden)) * 0.3).astype(dtype))]
    graph_in = [tensor("X", list(x_shape), elem)]
    names = ["X", "W", "R", "B", "", ""]
    if with_lens:
        names[4] = "lens"
        graph_in.append(tensor("lens", [batch], TensorProto.INT32))
    if with_h:
        names[5] = "h0"
        graph_in.append(tensor("h0", state, elem))
    if with_c or with_p:
        names.append("c0" if with_c else "")
        if with_c:
            graph_in.append(tensor("c0", state, elem))
    if with_p:
        names.append("P")
        inits.append(init("P", (rng.standard_normal((d, 3 * hidden)) * 0.3).astype(dtype)))
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    attrs = {"hidden_size": hidden, "direction": direction, **(attrs or {})}
    if opset >= 14:
        attrs["layout"] = layout
    node = helper.make_node(op, names, outs, **attrs)
    return model([node], graph_in, [untyped(o) for o in outs], inits, opset=opset)


def feeds_for(m, shapes, seed=1):
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        if name == "lens":
            out[name] = rng.integers(0, shape[1] + 1, shape[0]).astype(np.int32)
        else:
            out[name] = rng.standard_normal(shape).astype(np.float32)
    return out


def ort_layout(op, m0, feeds, layout):
    """onnxruntime runs layout 0 only: for layout 1, the same model with batch and sequence
    (and the states' batch and direction) axes swapped on the way in and out."""
    if layout == 0:
        return ort_run(m0, feeds)
    swap = {"X": (1, 0, 2), "h0": (1, 0, 2), "c0": (1, 0, 2)}
    outs = ort_run(m0, {k: v.transpose(swap[k]) if k in swap else v for k, v in feeds.items()})
    return [outs[0].transpose(2, 0, 1, 3)] + [o.transpose(1, 0, 2) for o in outs[1:]]


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("layout", [0, 1])
def test_matches_onnxruntime(op, direction, layout):
    seq, batch = 6, 3
    x_shape = (seq, batch, 8) if layout == 0 else (batch, seq, 8)
    d = 2 if direction == "bidirectional" else 1
    state = (d, batch, 5) if layout == 0 else (batch, d, 5)
    options = dict(direction=direction, with_lens=True, with_h=True, with_c=op == "LSTM",
                   with_p=op == "LSTM")
    m = rnn_model(op, x_shape, layout=layout, **options)
    shapes = {"X": x_shape, "lens": (batch, seq), "h0": state}
    if op == "LSTM":
        shapes["c0"] = state
    feeds = feeds_for(m, shapes)
    feeds["lens"][0] = 0     # an empty sequence: onnxruntime zeroes its final state
    want = ort_layout(op, rnn_model(op, (seq, batch, 8), **options), feeds, layout)
    assert_close(pulsar.load(m).run(feeds), want)


@pytest.mark.parametrize("op,attrs", ATTRIBUTE_CASES)
def test_attributes_match_onnxruntime(op, attrs):
    direction = "bidirectional" if len(attrs.get("activations", [])) == 4 else "forward"
    m = rnn_model(op, (7, 2, 8), direction=direction, attrs=attrs)
    feeds = feeds_for(m, {"X": (7, 2, 8)})
    assert_close(pulsar.load(m).run(feeds), ort_run(m, feeds))


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_float64_matches_onnx_reference(op):
    m = rnn_model(op, (5, 2, 8), direction="bidirectional", dtype=np.float64,
                  attrs={"activations": ["Tanh", "Tanh"]} if op == "RNN" else None)
    x = np.random.default_rng(3).standard_normal((5, 2, 8))
    got = pulsar.load(m).run({"X": x})
    want = ReferenceEvaluator(m).run(None, {"X": x})
    for g, w in zip(got, want):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("layout", [0, 1])
def test_symbolic_sequence_length(op, layout):
    x_shape = ("S", 2, 8) if layout == 0 else (2, "S", 8)
    m = rnn_model(op, x_shape, direction="bidirectional", layout=layout)
    loaded = pulsar.load(m)
    y, y_h = loaded.outputs[0].shape, loaded.outputs[1].shape
    assert y == ((S, 2, 2, 5) if layout == 0 else (2, S, 2, 5))
    assert y_h == ((2, 2, 5) if layout == 0 else (2, 2, 5))
    m0 = rnn_model(op, ("S", 2, 8), direction="bidirectional")
    for n in (1, 4, 9):
        shape = tuple(n if d == "S" else d for d in x_shape)
        feeds = feeds_for(m, {"X": shape}, seed=n)
        want = ort_layout(op, m0, feeds, layout)
        got = loaded.run(feeds)
        for info, w in zip(loaded.outputs, want):
            assert tuple(dims.evaluate(d, {"S": n}) for d in info.shape) == w.shape
        assert_close(got, want)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_chunks_with_carried_state_equal_one_run(op):
    """What the streaming layer does: eval per chunk, initial_h/c = the carried final state."""
    m = rnn_model(op, (10, 2, 8), with_h=True, with_c=op == "LSTM", with_p=op == "LSTM")
    node = pulsar.load(m).graph.nodes[0]
    consts = pulsar.load(m).graph.constants()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((10, 2, 8)).astype(np.float32)
    states = [np.zeros((1, 2, 5), np.float32) for _ in range(3 if op == "LSTM" else 2)][1:]
    args = lambda xs, st: [xs, consts["W"], consts["R"], consts["B"], None] + st + (  # noqa: E731
        [consts["P"]] if op == "LSTM" else [])
    whole = node.op.eval(*args(x, [s.copy() for s in states]))
    ys = []
    for lo, hi in ((0, 3), (3, 4), (4, 10)):
        before = [s.copy() for s in states]
        outs = node.op.eval(*args(x[lo:hi], states))
        for s, b in zip(states, before):
            np.testing.assert_array_equal(s, b)      # eval never writes into its inputs
        ys.append(outs[0])
        states = list(outs[1:])
    np.testing.assert_allclose(np.concatenate(ys), whole[0], rtol=1e-6, atol=1e-6)
    for s, w in zip(states, whole[1:]):
        np.testing.assert_allclose(s, w, rtol=1e-6, atol=1e-6)


def test_float16_runs_in_float32():
    m = rnn_model("GRU", (4, 1, 8))
    m16 = rnn_model("GRU", (4, 1, 8))
    for t in m16.graph.initializer:
        t.CopyFrom(init(t.name, np.asarray(_array(t), np.float16)))
    m16.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    x = np.random.default_rng(5).standard_normal((4, 1, 8)).astype(np.float16)
    got = pulsar.load(m16).run({"X": x})
    want = pulsar.load(m).run({"X": x.astype(np.float32)})
    for g, w in zip(got, want):
        assert g.dtype == np.float16
        np.testing.assert_allclose(g.astype(np.float32), w, atol=5e-3)


def _array(t):
    from onnx import numpy_helper
    return numpy_helper.to_array(t)


# --- errors ---------------------------------------------------------------------------------

def _broken(op, **changes):
    m = rnn_model(op, (4, 2, 8), attrs=changes.pop("attrs", None), with_p=changes.pop("p", False))
    for t in m.graph.initializer:
        if t.name in changes:
            t.CopyFrom(init(t.name, changes[t.name]))
    return m


@pytest.mark.parametrize("op,changes,message", [
    ("GRU", {"W": np.zeros((1, 15, 7), np.float32)},
     r"W must be \[1,15,8\] for a forward GRU with hidden size 5 and X \[4,2,8\]"),
    ("LSTM", {"R": np.zeros((1, 20, 4), np.float32)}, r"R must be \[1,20,5\]"),
    ("RNN", {"B": np.zeros((1, 5), np.float32)}, r"B must be \[1,10\]"),
    ("LSTM", {"P": np.zeros((1, 10), np.float32), "p": True}, r"P must be \[1,15\]"),
    ("GRU", {"attrs": {"activations": ["Sigmoid"]}}, "needs 2"),
    ("RNN", {"attrs": {"activations": ["Swish"]}}, "unknown activation 'Swish'"),
    ("RNN", {"attrs": {"direction": "sideways"}}, "direction must be one of"),
])
def test_errors_name_the_input_and_shapes(op, changes, message):
    with pytest.raises(InferenceError, match=message):
        pulsar.load(_broken(op, **changes))


def test_bad_runtime_shapes_fail_before_the_kernel():
    m = rnn_model("LSTM", ("S", 2, 8), with_lens=True)
    loaded = pulsar.load(m)
    x = np.zeros((3, 2, 8), np.float32)
    with pytest.raises(InferenceError, match=r"sequence_lens must hold integers in \[0, 3\]"):
        loaded.run({"X": x, "lens": np.array([1, 4], np.int32)})
    op = loaded.graph.nodes[0].op
    w, r = np.zeros((1, 20, 8), np.float32), np.zeros((1, 20, 5), np.float32)
    with pytest.raises(InferenceError, match=r"W must be \[1,20,9\]"):
        op.eval(np.zeros((3, 2, 9), np.float32), w, r)
