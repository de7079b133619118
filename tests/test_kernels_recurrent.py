"""LSTM / GRU / RNN kernels against onnxruntime (one-node models) and onnx.reference.

onnxruntime runs these ops in float32 only, so float64 kernels are compared with onnxruntime on
float32-representable inputs (tolerance covers onnxruntime's float32 error) and, for the
attribute subset onnx.reference implements, with ReferenceEvaluator in float64.
"""
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from reference import ort_run

pytestmark = pytest.mark.usefixtures("compiled_kernels")   # the Numba kernels, not twins

try:
    from pulsar.kernels import activation as act
    from pulsar.kernels import recurrent as rec
    from pulsar.kernels import rnn_activation as ra
except ImportError:  # repo not installed: import the kernels package from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from kernels import activation as act
    from kernels import recurrent as rec
    from kernels import rnn_activation as ra
from pulsar.ops.recurrent import resolve_activations

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
N_ACTS = {"LSTM": 3, "GRU": 2, "RNN": 1}
ACT_NAMES = ["Sigmoid", "Tanh", "Relu", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh",
             "HardSigmoid", "Elu", "Softsign", "Softplus"]
USES_ALPHA = {"Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid", "Elu"}
USES_BETA = {"Affine", "ScaledTanh", "HardSigmoid"}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_case(op, data, dtype=None):
    """Draw one random problem: arrays (float32-representable) and ONNX attributes."""
    d = data.draw
    T, B, I, H = d(st.integers(1, 6)), d(st.integers(1, 3)), d(st.integers(1, 5)), d(st.integers(1, 5))
    direction = d(st.sampled_from(["forward", "reverse", "bidirectional"]))
    D, G = (2 if direction == "bidirectional" else 1), GATES[op]
    rng = np.random.default_rng(d(st.integers(0, 2**32 - 1)))
    rnd = lambda *shape, s=1.0: (rng.standard_normal(shape) * s).astype(np.float32)  # noqa: E731
    k = 1.0 / np.sqrt(H)
    case = dict(op=op, direction=direction, H=H, dtype=dtype or d(st.sampled_from([np.float32, np.float64])),
                X=rnd(T, B, I), W=rnd(D, G * H, I, s=k), R=rnd(D, G * H, H, s=k),
                B=rnd(D, 2 * G * H, s=0.5) if d(st.booleans()) else None,
                lens=rng.integers(1, T + 1, B).astype(np.int32) if d(st.booleans()) else None,
                h0=rnd(D, B, H) if d(st.booleans()) else None,
                clip=float(rng.uniform(0.3, 3.0)) if d(st.booleans()) else None,
                fortran=d(st.booleans()))
    attrs = dict(hidden_size=H, direction=direction)
    if d(st.booleans()):  # non-default activations, alpha/beta given explicitly
        names = [d(st.sampled_from(ACT_NAMES)) for _ in range(N_ACTS[op] * D)]
        alphas = [float(rng.uniform(0.1, 1.5)) for n in names if n in USES_ALPHA]
        betas = [float(rng.uniform(-0.5, 0.8)) for n in names if n in USES_BETA]
        attrs["activations"] = names
        if alphas:
            attrs["activation_alpha"] = alphas
        if betas:
            attrs["activation_beta"] = betas
    elif op == "RNN":
        attrs["activations"] = ["Tanh"] * D
    if case["clip"] is not None:
        attrs["clip"] = case["clip"]
    if op == "LSTM":
        case["c0"] = rnd(D, B, H) if d(st.booleans()) else None
        case["P"] = rnd(D, 3 * H, s=0.5) if d(st.booleans()) else None
        if d(st.booleans()):
            attrs["input_forget"] = 1
    if op == "GRU":
        attrs["linear_before_reset"] = d(st.integers(0, 1))
    case["attrs"] = attrs
    return case


def onnx_inputs(case):
    names = ["X", "W", "R", "B", "sequence_lens", "initial_h"] + (["initial_c", "P"] if case["op"] == "LSTM" else [])
    keys = ["X", "W", "R", "B", "lens", "h0", "c0", "P"]
    return [(n, case[k]) for n, k in zip(names, keys)]


def run_onnx(case, engine="ort", dtype=np.float32):
    """Run the one-node model; absent optional inputs become empty names."""
    inputs = onnx_inputs(case)
    while inputs[-1][1] is None:
        inputs.pop()
    n_out = 3 if case["op"] == "LSTM" else 2
    out_names = ["Y", "Y_h", "Y_c"][:n_out]
    node = helper.make_node(case["op"], [n if a is not None else "" for n, a in inputs], out_names, **case["attrs"])
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    graph_in = [helper.make_tensor_value_info(n, TensorProto.INT32 if n == "sequence_lens" else elem, a.shape)
                for n, a in inputs if a is not None]
    graph_out = [helper.make_tensor_value_info(n, elem, None) for n in out_names]
    model = helper.make_model(helper.make_graph([node], "g", graph_in, graph_out),
                              opset_imports=[helper.make_opsetid("", 14)])
    feed = {n: (a if n == "sequence_lens" else a.astype(dtype)) for n, a in inputs if a is not None}
    if engine == "reference":
        return ReferenceEvaluator(model).run(None, feed)
    return ort_run(model, feed)


def run_kernel(case, dtype):
    """Test-only wrapper: one kernel call per direction, assembled as ONNX lays out Y/Y_h/Y_c."""
    op, H, attrs, X = case["op"], case["H"], case["attrs"], case["X"].astype(dtype)
    T, B, _ = X.shape
    D, G = case["W"].shape[0], GATES[op]
    # Fortran order is the fast path; C order (float32 only, to bound compile time) must agree
    layout = np.ascontiguousarray if not case["fortran"] and dtype == np.float32 else np.asfortranarray
    bias = case["B"] if case["B"] is not None else np.zeros((D, 2 * G * H), np.float32)
    lens = case["lens"] if case["lens"] is not None else np.full(B, T, np.int32)
    zeros = np.zeros((D, B, H), np.float32)
    Y = np.full((T, D, B, H), np.nan, dtype)
    Yh = (case["h0"] if case["h0"] is not None else zeros).astype(dtype)
    Yc = (case.get("c0") if case.get("c0") is not None else zeros).astype(dtype)
    P = case.get("P") if case.get("P") is not None else np.zeros((D, 3 * H), np.float32)
    default = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}[op] * D
    acts = resolve_activations(attrs.get("activations", default), attrs.get("activation_alpha", []),
                                  attrs.get("activation_beta", []))
    clip = case["clip"] or 0.0
    for d in range(D):
        w, r = layout(case["W"][d].astype(dtype)), layout(case["R"][d].astype(dtype))
        wb, rb = bias[d, :G * H].astype(dtype), bias[d, G * H:].astype(dtype)
        reverse = attrs["direction"] == "reverse" or d == 1
        k = N_ACTS[op]
        a = acts[d * k:(d + 1) * k]
        scratch = np.full(getattr(rec, op.lower() + "_scratch_shapes")(B, H), np.nan, dtype)
        if op == "LSTM":
            rec.lstm_steps(X, w, r, wb, rb, P[d].astype(dtype), Yh[d], Yc[d], Y[:, d],
                           a[0][0], a[1][0], a[2][0], a[0][1], a[0][2], a[1][1], a[1][2], a[2][1], a[2][2],
                           clip, bool(attrs.get("input_forget", 0)), reverse, lens, scratch)
        elif op == "GRU":
            rec.gru_steps(X, w, r, wb, rb, Yh[d], Y[:, d], a[0][0], a[1][0], a[0][1], a[0][2], a[1][1], a[1][2],
                          clip, bool(attrs["linear_before_reset"]), reverse, lens, scratch)
        else:
            rec.rnn_steps(X, w, r, wb, rb, Yh[d], Y[:, d], a[0][0], a[0][1], a[0][2], clip, reverse, lens, scratch)
    return (Y, Yh, Yc) if op == "LSTM" else (Y, Yh)


def check(ours, theirs, tol):
    """Relative tolerance, plus an absolute one scaled by the largest output: unbounded gate
    activations (Relu, Affine, ...) amplify float32 rounding by the size of the state."""
    scale = max(1.0, max(float(np.abs(b).max()) for b in theirs))
    for name, a, b in zip(["Y", "Y_h", "Y_c"], ours, theirs):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=name)


def check_against_ort(case):
    theirs = run_onnx(case)
    # exotic activation mixes can blow the state up to overflow: nothing meaningful to compare
    assume(all(np.isfinite(b).all() and np.abs(b).max() < 1e3 for b in theirs))
    ours = run_kernel(case, case["dtype"])
    # float64 kernels vs float32 onnxruntime: the gap is onnxruntime's float32 rounding
    check(ours, theirs, 1e-5 if case["dtype"] == np.float32 else 2e-5)


@SETTINGS
@given(st.data())
def test_lstm_matches_onnxruntime(data):
    check_against_ort(make_case("LSTM", data))


@SETTINGS
@given(st.data())
def test_gru_matches_onnxruntime(data):
    check_against_ort(make_case("GRU", data))


@SETTINGS
@given(st.data())
def test_rnn_matches_onnxruntime(data):
    check_against_ort(make_case("RNN", data))


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_float64_matches_onnx_reference(op, data):
    """Subset onnx.reference implements (default activations, no clip/lens/input_forget)."""
    case = make_case(op, data, dtype=np.float64)
    case["lens"], case["clip"] = None, None
    case["attrs"] = {k: v for k, v in case["attrs"].items()
                     if k in ("hidden_size", "direction", "linear_before_reset")}
    if op == "RNN":
        case["attrs"]["activations"] = ["Tanh"] * case["W"].shape[0]
    theirs = run_onnx(case, engine="reference", dtype=np.float64)
    check(run_kernel(case, np.float64), theirs, 1e-12)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streaming_chunks_equal_one_call(op, dtype):
    """State carried across calls: chunked forward run == one run over the whole sequence."""
    rng = np.random.default_rng(7)
    T, B, I, H, G = 9, 2, 3, 6, GATES[op]
    x = rng.standard_normal((T, B, I)).astype(dtype)
    w = np.asfortranarray(rng.standard_normal((G * H, I)).astype(dtype) * 0.4)
    r = np.asfortranarray(rng.standard_normal((G * H, H)).astype(dtype) * 0.4)
    wb, rb = rng.standard_normal((2, G * H)).astype(dtype) * 0.3
    scratch = np.empty(getattr(rec, op.lower() + "_scratch_shapes")(B, H), dtype)

    def run(xs, h, c, y):
        L = np.full(B, xs.shape[0], np.int32)
        if op == "LSTM":
            rec.lstm_steps(xs, w, r, wb, rb, np.zeros(3 * H, dtype), h, c, y, ra.SIGMOID, ra.TANH, ra.TANH,
                           0., 0., 0., 0., 0., 0., 0.0, False, False, L, scratch)
        elif op == "GRU":
            rec.gru_steps(xs, w, r, wb, rb, h, y, ra.SIGMOID, ra.TANH, 0., 0., 0., 0., 0.0, True, False, L, scratch)
        else:
            rec.rnn_steps(xs, w, r, wb, rb, h, y, ra.TANH, 0., 0., 0.0, False, L, scratch)

    h1, c1, y1 = np.zeros((B, H), dtype), np.zeros((B, H), dtype), np.zeros((T, B, H), dtype)
    run(x, h1, c1, y1)
    h2, c2, y2 = np.zeros((B, H), dtype), np.zeros((B, H), dtype), np.zeros((T, B, H), dtype)
    for a, b in [(0, 4), (4, 5), (5, 9)]:
        run(x[a:b], h2, c2, y2[a:b])
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(c1, c2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rnn_activation_codes(dtype):
    """The scalar helper and the span helper agree with the ONNX formulas for every function
    ONNX's recurrent layers name."""
    v = np.linspace(-6, 6, 97).astype(dtype)
    a, b = 0.7, 0.3
    expect = {
        "sigmoid": 1 / (1 + np.exp(-v)), "tanh": np.tanh(v), "relu": np.maximum(v, 0),
        "affine": a * v + b, "leaky_relu": np.where(v >= 0, v, a * v),
        "thresholded_relu": np.where(v > a, v, 0), "scaled_tanh": a * np.tanh(b * v),
        "hard_sigmoid": np.clip(a * v + b, 0, 1), "elu": np.where(v >= 0, v, a * (np.exp(v) - 1)),
        "softsign": v / (1 + np.abs(v)), "softplus": np.log1p(np.exp(v)),
    }
    tol = 5e-7 if dtype == np.float32 else 1e-14
    for name, ref in expect.items():
        code = act.CODES[name]
        scalar = np.array([act.apply_activation(x, code, a, b) for x in v])
        np.testing.assert_allclose(scalar, ref, rtol=1e-6, atol=1e-6, err_msg=name)
        buf = np.stack([v, v])
        ra.apply_rnn_activation(buf[1, 3:90], code, a, b)
        np.testing.assert_allclose(buf[1, 3:90], ref[3:90], rtol=tol, atol=tol, err_msg=name)
        np.testing.assert_array_equal(buf[0], v)
        np.testing.assert_array_equal(buf[1, :3], v[:3])


def test_resolve_activations_defaults_and_order():
    c = act.CODES
    got = resolve_activations(["HardSigmoid", "tanh", "LeakyRelu", "Affine"], [0.3, 0.9], [0.1])
    assert got == [(c["hard_sigmoid"], 0.3, 0.1), (c["tanh"], 0.0, 0.0),
                   (c["leaky_relu"], 0.9, 0.0), (c["affine"], 0.0, 0.0)]
    assert resolve_activations(["LeakyRelu", "HardSigmoid"]) == [(c["leaky_relu"], 0.01, 0.0),
                                                                (c["hard_sigmoid"], 0.2, 0.5)]
    with pytest.raises(KeyError):
        resolve_activations(["Gelu"])
