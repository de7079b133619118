"""The NumPy twins of the kernels (kernels/*_numpy.py) against independent references, in tier
"interpreted", where every kernel call runs its twin and nothing compiles.

The `no_compiles` fixture makes any attempt to build a Numba dispatcher fail the test, so each
test also proves that the twins cover every kernel its model reaches. References: onnx's node
test data (the conformance allow-list) and onnxruntime (random single-node models); a child
process checks that the shared models run without importing Numba at all. The streaming ops'
per-pulse loops (kernels/delay.py, kernels/pulse.py) are also run on machine code, which must
equal the twin exactly, as both must equal a naive reference.
"""
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import pulsar
from pulsar.kernels import conv as kconv
from pulsar.kernels import delay as kdelay
from pulsar.kernels import jit as kernel_jit
from pulsar.kernels import pulse as kpulse
from reference import ort_run
from shared_data import audio_dir, models_dir

ALLOWLIST = Path(__file__).with_name("conformance_allowlist.txt")
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def no_compiles(monkeypatch):
    """Building either of a kernel's dispatchers (the first step of compiling it: `dispatcher`
    for Python's calls, `callee` for compiled callers') fails the test."""
    def refusing(slot):
        def refuse(kernel):
            made = getattr(kernel, slot)
            if made is None:
                raise AssertionError(f"{kernel!r} would compile: it has no NumPy twin")
            return made
        return property(refuse)
    monkeypatch.setattr(kernel_jit.Kernel, "dispatcher", refusing("_dispatcher"))
    monkeypatch.setattr(kernel_jit.Kernel, "callee", refusing("_callee"))


def run_interpreted(model, feeds):
    return pulsar.load(model, tier="interpreted").run(feeds)


def assert_matches_ort(model, feeds, rtol=1e-4, atol=1e-4):
    got = run_interpreted(model, feeds)
    want = ort_run(model, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def one_node(op, x_shape, inits=(), outputs=1, opset=19, elem=TensorProto.FLOAT, extra=(),
             out_types=None, **attrs):
    """A model of one `op` node reading input x then `inits` ({name: array}, in order; a None
    value leaves that input out), followed by the nodes `extra` (which read y0 and write z)."""
    inits = dict(inits)
    names = ["x"] + [("" if v is None else k) for k, v in inits.items()]
    while names and names[-1] == "":
        names.pop()
    outs = [f"y{i}" for i in range(outputs)]
    nodes = [helper.make_node(op, names, outs, **attrs)] + list(extra)
    graph_outs = ["z"] + outs[1:] if extra else outs
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", elem, list(x_shape))],
        [helper.make_tensor_value_info(o, t, None)
         for o, t in zip(graph_outs, out_types or [elem] * len(graph_outs))],
        [numpy_helper.from_array(v, k) for k, v in inits.items() if v is not None])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def onnx_reference(model, feeds):
    """onnx's own NumPy evaluator: the reference for float64 (onnxruntime lacks many float64
    kernels) and for NaN, which onnxruntime's ReduceMax/ReduceMin skip but the ONNX spec and
    pulsar's kernels propagate."""
    from onnx.reference import ReferenceEvaluator
    with np.errstate(all="ignore"):
        return ReferenceEvaluator(model).run(None, feeds)


def randn(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# --- the official node tests -------------------------------------------------------------------

def _allowlisted():
    return [line.strip() for line in ALLOWLIST.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("name", _allowlisted())
def test_conformance_case_in_tier_interpreted(name, no_compiles):
    from onnx.backend.test.runner import Runner

    from conformance import _array, all_cases
    case = all_cases()[name]
    model = pulsar.load(case.model, tier="interpreted")
    for inputs, expected in case.data_sets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outputs = model.run([_array(x) for x in inputs])
        Runner.assert_similar_outputs([_array(x) for x in expected], list(outputs),
                                      case.rtol, case.atol)


# --- convolutions ----------------------------------------------------------------------------

ACTIVATIONS = {
    "": [],
    "Relu": [helper.make_node("Relu", ["y0"], ["z"])],
    "LeakyRelu": [helper.make_node("LeakyRelu", ["y0"], ["z"], alpha=0.15)],
    "Sigmoid": [helper.make_node("Sigmoid", ["y0"], ["z"])],
    "Tanh": [helper.make_node("Tanh", ["y0"], ["z"])],
    "HardSigmoid": [helper.make_node("HardSigmoid", ["y0"], ["z"], alpha=0.3, beta=0.4)],
    "Clip": [helper.make_node("Constant", [], ["lo"], value_float=-0.5),
             helper.make_node("Constant", [], ["hi"], value_float=0.75),
             helper.make_node("Clip", ["y0", "lo", "hi"], ["z"])],
}


@st.composite
def windows(draw, rank, max_kernel=4, max_extra=6, dilate=True, pad=True, same=True):
    """Kernel, strides, dilations, pads (or auto_pad) and input sizes of a valid window op."""
    kernel = [draw(st.integers(1, max_kernel)) for _ in range(rank)]
    strides = [draw(st.integers(1, 3)) for _ in range(rank)]
    dilations = [draw(st.integers(1, 2)) if dilate else 1 for _ in range(rank)]
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    auto_pad = draw(st.sampled_from(["NOTSET", "NOTSET", "VALID"]
                                    + (["SAME_UPPER", "SAME_LOWER"] if same else [])))
    if auto_pad.startswith("SAME"):
        # onnxruntime's SAME pads ignore dilations, and go negative for strides past the kernel
        dilations, spans = [1] * rank, kernel
        strides = [min(s, k) for s, k in zip(strides, kernel)]
    pads = [0] * (2 * rank)
    if auto_pad == "NOTSET" and pad:
        pads = [draw(st.integers(0, k - 1)) for k in kernel + kernel]
    sizes = [draw(st.integers(max(1, s - pads[i] - pads[rank + i]), s + max_extra))
             for i, s in enumerate(spans)]
    attrs = dict(kernel_shape=kernel, strides=strides, dilations=dilations)
    if auto_pad == "NOTSET":
        attrs["pads"] = pads
    else:
        attrs["auto_pad"] = auto_pad
    return sizes, attrs


@st.composite
def conv_cases(draw):
    rank = draw(st.sampled_from([1, 2, 2, 3]))
    depthwise = draw(st.booleans())
    group = draw(st.integers(2, 6)) if depthwise else draw(st.sampled_from([1, 1, 2, 3]))
    cg, mg = (1, draw(st.integers(1, 2))) if depthwise else (draw(st.integers(1, 4)),
                                                             draw(st.integers(1, 3)))
    sizes, attrs = draw(windows(rank, max_kernel=3 if rank == 3 else 4,
                                max_extra=3 if rank == 3 else 8))
    batch = draw(st.integers(1, 2))
    return (batch, cg * group, *sizes), (mg * group, cg, *attrs["kernel_shape"]), group, attrs, \
        draw(st.booleans()), draw(st.sampled_from(sorted(ACTIVATIONS))), draw(st.integers(0, 99))


@SETTINGS
@given(conv_cases())
def test_conv_matches_onnxruntime(no_compiles, case):
    x_shape, w_shape, group, attrs, bias, activation, seed = case
    rng = np.random.default_rng(seed)
    inits = {"w": randn(rng, w_shape, 0.5), "b": randn(rng, w_shape[:1]) if bias else None}
    model = one_node("Conv", x_shape, inits, group=group, extra=ACTIVATIONS[activation], **attrs)
    assert_matches_ort(model, {"x": randn(rng, x_shape)})


# shapes that make choose_conv2d_algorithm pick each 2-D kernel (checked in the test)
ALGORITHMS = [
    ("direct", (1, 4, 6, 6), (4, 4, 3, 3), 1, {}),
    ("direct", (2, 6, 7, 9), (6, 2, 3, 2), 3, {"strides": [2, 1]}),
    ("flat", (1, 8, 12, 10), (8, 1, 3, 3), 8, {"pads": [1, 1, 1, 1]}),
    ("flat", (2, 4, 1, 40), (8, 1, 1, 5), 4, {"pads": [0, 4, 0, 4], "dilations": [1, 2]}),
    ("taps", (1, 16, 12, 12), (8, 16, 3, 3), 1, {"pads": [1, 1, 1, 1]}),
    ("taps", (2, 24, 1, 150), (12, 24, 1, 3), 1, {"pads": [0, 2, 0, 0], "dilations": [1, 2]}),
    ("im2col", (1, 8, 20, 20), (16, 8, 3, 3), 1, {"pads": [1, 0, 1, 2], "strides": [2, 1]}),
    ("im2col", (2, 8, 20, 20), (16, 4, 3, 3), 2, {"pads": [1, 1, 1, 1]}),
    ("im2col", (1, 32, 16, 16), (32, 32, 1, 1), 1, {}),            # pointwise
    ("gather", (1, 16, 30, 12), (32, 16, 3, 3), 1, {"pads": [1, 1, 1, 1]}),
    ("gather", (2, 16, 30, 12), (32, 16, 3, 3), 1, {"strides": [2, 1]}),
]


@pytest.mark.parametrize("algorithm,x_shape,w_shape,group,attrs", ALGORITHMS)
@pytest.mark.parametrize("activation", ["", "Relu", "Sigmoid"])
def test_each_conv_algorithm_matches_onnxruntime(no_compiles, algorithm, x_shape, w_shape, group,
                                                 attrs, activation):
    strides, dilations = attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1])
    pads = attrs.get("pads", [0] * 4)
    outs = [(x_shape[2 + i] + pads[i] + pads[2 + i] - (w_shape[2 + i] - 1) * dilations[i] - 1)
            // strides[i] + 1 for i in range(2)]
    chosen = kconv.choose_conv2d_algorithm(x_shape[1], w_shape[0], group, *w_shape[2:], *outs,
                                           *strides, *x_shape[2:], pads[0], pads[1])
    assert chosen == algorithm
    rng = np.random.default_rng(3)
    inits = {"w": randn(rng, w_shape, 0.3), "b": randn(rng, w_shape[:1])}
    model = one_node("Conv", x_shape, inits, group=group, extra=ACTIVATIONS[activation], **attrs)
    assert_matches_ort(model, {"x": randn(rng, x_shape)})


@st.composite
def conv_transpose_cases(draw):
    rank = draw(st.sampled_from([1, 2]))
    group = draw(st.sampled_from([1, 1, 2]))
    cg, mg = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 4)) for _ in range(rank)]
    strides = [draw(st.integers(1, 3)) for _ in range(rank)]
    dilations = [draw(st.integers(1, 2)) for _ in range(rank)]
    pads = [draw(st.integers(0, k - 1)) for k in kernel + kernel]
    output_padding = [draw(st.integers(0, s - 1)) for s in strides]     # onnxruntime: < stride
    sizes = [draw(st.integers(1, 7)) for _ in range(rank)]
    outs = [(n - 1) * s + (k - 1) * d + 1 + op - pads[i] - pads[rank + i]
            for i, (n, s, k, d, op) in enumerate(zip(sizes, strides, kernel, dilations,
                                                     output_padding))]
    if min(outs) < 1:
        pads = [0] * (2 * rank)
    attrs = dict(kernel_shape=kernel, strides=strides, dilations=dilations, pads=pads,
                 output_padding=output_padding)
    return (draw(st.integers(1, 2)), cg * group, *sizes), (cg * group, mg, *kernel), group, \
        attrs, draw(st.booleans()), draw(st.integers(0, 99))


@SETTINGS
@given(conv_transpose_cases())
def test_conv_transpose_matches_onnxruntime(no_compiles, case):
    x_shape, w_shape, group, attrs, bias, seed = case
    rng = np.random.default_rng(seed)
    inits = {"w": randn(rng, w_shape, 0.5),
             "b": randn(rng, (w_shape[1] * group,)) if bias else None}
    model = one_node("ConvTranspose", x_shape, inits, group=group, **attrs)
    assert_matches_ort(model, {"x": randn(rng, x_shape)})


# --- pooling -----------------------------------------------------------------------------------

@SETTINGS
@given(st.data(), st.sampled_from([1, 2, 2, 3]), st.booleans(), st.integers(0, 99))
def test_maxpool_matches_onnxruntime(no_compiles, data, rank, ceil_mode, seed):
    # dilated windows stay unpadded: a padded one can miss the input entirely (the kernels
    # give -inf there, onnxruntime the lowest float), which pulsar's sizes allow
    dilate = data.draw(st.booleans())
    sizes, attrs = data.draw(windows(rank, max_kernel=3 if rank == 3 else 4, dilate=dilate,
                                     pad=not dilate))
    indices = rank == 2 and data.draw(st.booleans())
    if indices:
        attrs["storage_order"] = data.draw(st.integers(0, 1))
    if ceil_mode and "pads" in attrs:
        attrs["ceil_mode"] = 1
    x_shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), *sizes)
    model = one_node("MaxPool", x_shape, outputs=2 if indices else 1, opset=12,
                     out_types=[TensorProto.FLOAT, TensorProto.INT64], **attrs)
    assert_matches_ort(model, {"x": randn(np.random.default_rng(seed), x_shape)})


@SETTINGS
@given(st.data(), st.sampled_from([1, 2, 2, 3]), st.booleans(), st.booleans(), st.integers(0, 99))
def test_average_pool_matches_onnxruntime(no_compiles, data, rank, ceil_mode, include_pad, seed):
    sizes, attrs = data.draw(windows(rank, max_kernel=3 if rank == 3 else 4, dilate=False))
    del attrs["dilations"]
    attrs["count_include_pad"] = int(include_pad)
    if ceil_mode and "pads" in attrs:
        attrs["ceil_mode"] = 1
    x_shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), *sizes)
    model = one_node("AveragePool", x_shape, opset=12, **attrs)
    assert_matches_ort(model, {"x": randn(np.random.default_rng(seed), x_shape)})


@SETTINGS
@given(st.data(), st.sampled_from([1, 2]), st.sampled_from([1, 2, 3]), st.integers(0, 99))
def test_lp_pool_matches_onnxruntime(no_compiles, data, rank, p, seed):
    sizes, attrs = data.draw(windows(rank, dilate=False, same=False))
    del attrs["dilations"]
    x_shape = (1, data.draw(st.integers(1, 3)), *sizes)
    model = one_node("LpPool", x_shape, opset=11, p=p, **attrs)
    assert_matches_ort(model, {"x": randn(np.random.default_rng(seed), x_shape)})


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("x_shape", [(1, 3, 7), (2, 4, 5, 6), (1, 2, 3, 4, 5)])
def test_global_pools_match_onnxruntime(no_compiles, op, x_shape):
    assert_matches_ort(one_node(op, x_shape), {"x": randn(np.random.default_rng(4), x_shape)})


@pytest.mark.parametrize("op,attrs", [("AveragePool", {"kernel_shape": [5, 6]}),
                                      ("MaxPool", {"kernel_shape": [5, 6]})])
def test_whole_input_windows_match_onnxruntime(no_compiles, op, attrs):
    x = randn(np.random.default_rng(5), (2, 3, 5, 6))
    x[0, 1, 2, 3] = np.nan if op == "AveragePool" else x[0, 1, 2, 3]
    assert_matches_ort(one_node(op, x.shape, opset=12, **attrs), {"x": x})


# --- reductions, normalisation, softmax --------------------------------------------------------

def scan_extreme(x, axes, keepdims, largest):
    """onnxruntime's loop, written out: over the reduced elements in order, start from the first
    and move only to a strictly greater (smaller) one, so a NaN wins only when it is first."""
    axes = sorted(a % x.ndim for a in axes)
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, kept + axes).reshape([x.shape[a] for a in kept] + [-1])
    out = np.empty(moved.shape[:-1], x.dtype)
    for index in np.ndindex(out.shape):
        best = moved[index][0]
        for v in moved[index][1:]:
            if (v > best) if largest else (v < best):
                best = v
        out[index] = best
    return out.reshape([1 if a in axes else x.shape[a] for a in range(x.ndim)]) if keepdims \
        else out


@SETTINGS
@given(st.sampled_from(["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"]),
       st.lists(st.integers(1, 5), min_size=1, max_size=4), st.data(), st.booleans(),
       st.integers(0, 99))
def test_reductions_match_onnxruntime(no_compiles, op, shape, data, keepdims, seed):
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1,
                              max_size=len(shape), unique_by=lambda a: a % len(shape)))
    model = one_node(op, shape, {"axes": np.array(axes, np.int64)}, opset=18,
                     keepdims=int(keepdims))
    x = randn(np.random.default_rng(seed), shape, 10)
    if op in ("ReduceMax", "ReduceMin") and data.draw(st.booleans()):
        x.reshape(-1)[data.draw(st.integers(0, x.size - 1))] = np.nan
        np.testing.assert_array_equal(run_interpreted(model, {"x": x})[0],
                                      scan_extreme(x, axes, keepdims, op == "ReduceMax"))
        return
    assert_matches_ort(model, {"x": x})


@SETTINGS
@given(st.sampled_from(["Softmax", "LogSoftmax", "Hardmax"]),
       st.lists(st.integers(1, 6), min_size=1, max_size=4), st.data(), st.integers(0, 99))
def test_softmax_family_matches_onnxruntime(no_compiles, op, shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = randn(np.random.default_rng(seed), shape, 5)
    if op == "Hardmax":
        x = np.round(x)                    # ties: the first maximum wins
    assert_matches_ort(one_node(op, shape, opset=13, axis=axis), {"x": x})


@SETTINGS
@given(st.lists(st.integers(1, 6), min_size=2, max_size=4), st.data(), st.integers(0, 99))
def test_layer_norm_matches_onnxruntime(no_compiles, shape, data, seed):
    axis = data.draw(st.integers(-len(shape) + 1, len(shape) - 1))
    rng = np.random.default_rng(seed)
    norm_shape = shape[axis:]
    model = one_node("LayerNormalization", shape,
                     {"s": randn(rng, norm_shape), "b": randn(rng, norm_shape)}, opset=17,
                     axis=axis, epsilon=1e-3)
    assert_matches_ort(model, {"x": randn(rng, shape, 3) + 1})


@SETTINGS
@given(st.sampled_from(["InstanceNormalization", "BatchNormalization"]),
       st.lists(st.integers(1, 6), min_size=3, max_size=5), st.integers(0, 99))
def test_channel_norms_match_onnxruntime(no_compiles, op, shape, seed):
    rng = np.random.default_rng(seed)
    C = shape[1]
    params = {"s": randn(rng, [C]), "b": randn(rng, [C])}
    if op == "BatchNormalization":
        params.update(mean=randn(rng, [C]), var=np.abs(randn(rng, [C])) + 0.1)
    model = one_node(op, shape, params, opset=15, epsilon=1e-3)
    assert_matches_ort(model, {"x": randn(rng, shape, 2)})


# --- recurrent -----------------------------------------------------------------------------

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
RNN_ACTIVATIONS = ["Sigmoid", "Tanh", "Relu", "HardSigmoid", "Affine", "LeakyRelu",
                   "ThresholdedRelu", "ScaledTanh", "Elu", "Softsign", "Softplus"]


@SETTINGS
@given(st.sampled_from(["LSTM", "GRU", "RNN"]), st.sampled_from(["forward", "reverse",
                                                                  "bidirectional"]),
       st.integers(1, 6), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.data(),
       st.integers(0, 99))
def test_recurrent_matches_onnxruntime(no_compiles, op, direction, T, B, I, H, data, seed):
    rng = np.random.default_rng(seed)
    d, g = (2 if direction == "bidirectional" else 1), GATES[op]
    inits = {"W": randn(rng, (d, g * H, I), 0.5), "R": randn(rng, (d, g * H, H), 0.5),
             "B": randn(rng, (d, 2 * g * H), 0.3)}
    lens = data.draw(st.booleans())
    inits["lens"] = rng.integers(1, T + 1, B).astype(np.int32) if lens else None
    inits["h0"] = randn(rng, (d, B, H)) if data.draw(st.booleans()) else None
    if op == "LSTM":
        inits["c0"] = randn(rng, (d, B, H))
        inits["P"] = randn(rng, (d, 3 * H), 0.3) if data.draw(st.booleans()) else None
    attrs = {"hidden_size": H, "direction": direction}
    if data.draw(st.booleans()):
        attrs["clip"] = 0.8
    if op == "GRU":
        attrs["linear_before_reset"] = data.draw(st.integers(0, 1))
    if op != "LSTM" and data.draw(st.booleans()):
        # other activations and their alpha/beta (LSTM's cell needs bounded ones: keep defaults)
        names = [data.draw(st.sampled_from(RNN_ACTIVATIONS)) for _ in range(d * (g > 1) + d)]
        attrs.update(activations=names, activation_alpha=[0.3] * len(names),
                     activation_beta=[0.6] * len(names))
    outputs = 3 if op == "LSTM" else 2
    model = one_node(op, (T, B, I), inits, outputs=outputs, opset=14, **attrs)
    x = randn(rng, (T, B, I))
    got = run_interpreted(model, {"x": x})
    want = ort_run(model, {"x": x})
    # Unbounded activations (Softplus, Relu...) on the recurrent path can grow the state past
    # float32 within a few steps; where onnxruntime's own result overflowed to inf or NaN
    # there is no reference to compare with.
    assume(all(np.isfinite(w).all() for w in want))
    if lens:       # onnxruntime zeroes the final state of empty rows; these never are empty
        assert inits["lens"].min() >= 1
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)


# --- elementwise -------------------------------------------------------------------------------

UNARY = ["Relu", "Sigmoid", "Tanh", "Exp", "Abs", "Neg", "Softplus", "Erf", "Sqrt", "Log",
         "Reciprocal"]
BINARY = ["Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"]


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(UNARY), st.sampled_from(BINARY),
                          st.sampled_from(["LeakyRelu", "HardSigmoid", "Clip"])),
                min_size=2, max_size=8),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 99))
def test_fused_chains_match_onnxruntime(no_compiles, ops, dtype, seed):
    """A chain of elementwise nodes over x and constants, fused into one generated kernel."""
    rng = np.random.default_rng(seed)
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    nodes, cur = [], "x"
    for i, op in enumerate(ops):
        out = f"t{i}"
        if op in ("Sqrt", "Log"):                      # keep the operand positive
            nodes.append(helper.make_node("Abs", [cur], [f"a{i}"]))
            nodes.append(helper.make_node("Add", [f"a{i}", "one"], [f"p{i}"]))
            nodes.append(helper.make_node(op, [f"p{i}"], [out]))
        elif op in BINARY:
            c = "half" if op == "Pow" else ("two" if i % 2 else "minus")
            operands = [cur, c] if op in ("Pow", "Div") or i % 3 else [c, cur]
            if op == "Pow":
                nodes.append(helper.make_node("Abs", [cur], [f"a{i}"]))
                operands = [f"a{i}", c]
            nodes.append(helper.make_node(op, operands, [out]))
        elif op == "Clip":
            nodes.append(helper.make_node("Clip", [cur, "minus", "two"], [out]))
        elif op == "LeakyRelu":
            nodes.append(helper.make_node(op, [cur], [out], alpha=0.2))
        elif op == "HardSigmoid":
            nodes.append(helper.make_node(op, [cur], [out], alpha=0.3, beta=0.4))
        else:
            nodes.append(helper.make_node(op, [cur], [out]))
        cur = out
    nodes.append(helper.make_node("Identity", [cur], ["y"]))
    consts = [numpy_helper.from_array(np.array(v, dtype), n)
              for n, v in (("one", 1.0), ("two", 2.0), ("minus", -0.75), ("half", 0.5))]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, [3, 17])],
                              [helper.make_tensor_value_info("y", elem, None)], consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = (rng.standard_normal((3, 17)) * 2).astype(dtype)
    loaded = pulsar.load(model, tier="interpreted")
    assert any(n.op.onnx_name == "FusedElementwise" for n in loaded.graph.nodes)
    with np.errstate(all="ignore"):
        got = loaded.run({"x": x})[0]
    want = (ort_run if dtype == np.float32 else onnx_reference)(model, {"x": x})[0]
    # onnx's evaluator computes Erf in float32 precision even for float64
    exact = dtype == np.float64 and "Erf" not in ops
    np.testing.assert_allclose(got, want, rtol=1e-12 if exact else 2e-5,
                               atol=1e-12 if exact else 1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_matches_onnxruntime(no_compiles, dtype):
    x = np.concatenate([np.linspace(-7, 7, 301), [0.0, -0.0, np.inf, -np.inf, np.nan]])
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    model = one_node("Erf", [x.size], opset=13, elem=elem)
    got = run_interpreted(model, {"x": x.astype(dtype)})[0]
    reference = ort_run if dtype == np.float32 else onnx_reference
    np.testing.assert_allclose(got, reference(model, {"x": x.astype(dtype)})[0], rtol=1e-6,
                               atol=1e-7)


# --- the streaming ops' per-pulse loops: machine code, twin and a naive reference -------------

STREAM_DTYPES = [np.float32, np.float64, np.int64, np.bool_]


def stream_values(rng, shape, dtype):
    """Random values of `dtype`; floats hold a NaN and an inf, which frame copies must keep."""
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    values = rng.standard_normal(shape) * 10
    if np.dtype(dtype).kind == "f" and values.size >= 2:
        values.reshape(-1)[rng.choice(values.size, 2, replace=False)] = [np.nan, -np.inf]
    return values.astype(dtype)


def on_both(kernel, arrays, *scalars):
    """kernel(*arrays, *scalars) on machine code and on its twin, each side on its own copies of
    `arrays`: [(result, arrays after the call)] for the two sides."""
    sides = []
    for fn in (kernel, kernel.twin):
        copies = [a.copy() for a in arrays]
        sides.append((fn(*copies, *scalars), copies))
    return sides


@SETTINGS
@given(st.data())
def test_delay_line_kernel_and_twin_equal_a_concatenation(compiled_kernels, data):
    """Three pulses through one line: out = concat(history, x)[:n], history its last frames."""
    d = data.draw
    outer, inner, kept = d(st.integers(1, 3)), d(st.integers(1, 3)), d(st.integers(0, 6))
    p = d(st.integers(0, 6))
    n = p + d(st.integers(0, kept))            # the pulse and up to `kept` frames of history
    dtype = d(st.sampled_from(STREAM_DTYPES))
    rng = np.random.default_rng(d(st.integers(0, 2 ** 16)))
    history = stream_values(rng, (outer, kept, inner), dtype)
    lines = [history.copy(), history.copy()]       # the state of each side
    for _ in range(3):
        x = stream_values(rng, (outer, p, inner), dtype)
        line = np.concatenate([history, x], axis=1)
        history = line[:, line.shape[1] - kept:]
        for side, fn in enumerate((kdelay.delay_line_push, kdelay.delay_line_push.twin)):
            out = np.zeros((outer, n, inner), dtype)
            fn(x, lines[side], out)
            np.testing.assert_array_equal(out, line[:, :n])
            np.testing.assert_array_equal(lines[side], history)


@SETTINGS
@given(st.data())
def test_overlap_add_kernel_and_twin_equal_a_running_sum(compiled_kernels, data):
    """Three pulses of partial sums, pulse j starting at frame j*n of one accumulated signal:
    each pulse's output is that signal's frames [j*n, (j+1)*n) once pulse j is added, the tail
    its next `kept` frames (summed in the same order: equal to the last bit)."""
    d = data.draw
    outer, inner, kept, n = (d(st.integers(1, 3)), d(st.integers(1, 3)), d(st.integers(0, 6)),
                             d(st.integers(1, 6)))
    dtype = d(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(d(st.integers(0, 2 ** 16)))
    tails = [np.zeros((outer, kept, inner), dtype) for _ in range(2)]     # the state of each side
    total = np.zeros((outer, 3 * n + kept, inner), dtype)
    for j in range(3):
        partial = stream_values(rng, (outer, n + kept, inner), dtype)
        total[:, j * n:(j + 1) * n + kept] += partial
        for side, fn in enumerate((kdelay.overlap_add_push, kdelay.overlap_add_push.twin)):
            out = np.zeros((outer, n, inner), dtype)
            fn(partial, tails[side], out)
            np.testing.assert_array_equal(out, total[:, j * n:(j + 1) * n])
            np.testing.assert_array_equal(tails[side], total[:, (j + 1) * n:(j + 1) * n + kept])


@SETTINGS
@given(seen=st.integers(0, 40), end=st.one_of(st.just(-1), st.integers(0, 40)),
       frames=st.integers(0, 8), delay=st.integers(0, 12), begin=st.integers(0, 12),
       more=st.lists(st.integers(0, 1), max_size=1))
def test_advance_frames_kernel_and_twin_count_the_stream_frames(compiled_kernels, seen, end,
                                                                frames, delay, begin, more):
    counters = np.array([seen, end, *more], np.int64)
    sides = on_both(kpulse.advance_frames, [counters], frames, delay, begin)
    (result, (after,)), (twin_result, (twin_after,)) = sides
    assert tuple(int(v) for v in result) == twin_result
    np.testing.assert_array_equal(after, twin_after)
    assert after.tolist() == [seen + frames, end, *more]       # only the frames seen move
    start, low, high = twin_result
    inside = [t for t in range(frames) if begin <= start + t and (end < 0 or start + t < end)]
    assert start == seen - delay and 0 <= low <= high <= frames
    assert list(range(low, high)) == inside


@SETTINGS
@given(st.data())
def test_pad_frames_kernel_and_twin_equal_a_frame_loop(compiled_kernels, data):
    d = data.draw
    outer, inner, p, m = (d(st.integers(1, 3)), d(st.integers(1, 3)), d(st.integers(0, 7)),
                          d(st.integers(0, 4)))
    low = d(st.integers(0, p))
    high, start = d(st.integers(low, p)), d(st.integers(-4, 9))
    dtype = d(st.sampled_from(STREAM_DTYPES))
    rng = np.random.default_rng(d(st.integers(0, 2 ** 16)))
    x, prefix = stream_values(rng, (outer, p, inner), dtype), stream_values(rng, (outer, m, inner), dtype)
    fill = np.dtype(dtype).type(d(st.sampled_from([0.0, 1.0, -2.0] + [np.nan, -np.inf] *
                                                  (np.dtype(dtype).kind == "f"))))
    want = np.empty_like(x)
    for t in range(p):
        j = start + t
        want[:, t] = (prefix[:, j] if 0 <= j < m else fill) if t < low else \
            x[:, t] if t < high else fill
    in_place = d(st.booleans())            # out may be x itself
    for fn in (kpulse.pad_frames, kpulse.pad_frames.twin):
        source = x.copy()
        out = source if in_place else np.zeros_like(x)
        fn(source, out, start, low, high, fill, prefix)
        np.testing.assert_array_equal(out, want)


# --- whole models, without Numba ------------------------------------------------------------

CHILD = Path(__file__).with_name("twins_child.py")


def test_models_run_interpreted_without_importing_numba(tmp_path):
    """In a fresh process with PULSAR_TIER=interpreted and empty caches: the shared models
    (those present) and synthetic ones match onnxruntime, and numba is never imported."""
    env = dict(os.environ, PULSAR_TIER="interpreted", NUMBA_CACHE_DIR=str(tmp_path / "numba"),
               PULSAR_CACHE_DIR=str(tmp_path / "pulsar"), PULSAR_MODELS=str(models_dir()),
               PULSAR_AUDIO=str(audio_dir()))
    result = subprocess.run([sys.executable, str(CHILD)], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["numba_imported"] is False
    assert report["synthetic"] >= 3
    assert not report["mismatches"], report["mismatches"]
