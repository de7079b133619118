"""pulsar.kernels.conv against the NumPy reference (hypothesis) and onnxruntime (fixed cases)."""
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import naive_conv as nv

pytestmark = pytest.mark.usefixtures("compiled_kernels")   # the Numba kernels, not twins

try:
    from pulsar.kernels import activation as A, conv as K
except ImportError:  # repo not installed: import the kernels package from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from kernels import activation as A, conv as K

ACT_NONE, ACT_RELU, ACT_LEAKY_RELU, ACT_CLIP = A.ACT_NONE, A.ACT_RELU, A.ACT_LEAKY_RELU, A.ACT_CLIP
ACT_SIGMOID, ACT_TANH, ACT_HARD_SIGMOID = A.ACT_SIGMOID, A.ACT_TANH, A.ACT_HARD_SIGMOID

SETTINGS = settings(max_examples=60, deadline=None)
ACT_PARAMS = {ACT_NONE: (0.0, 0.0), ACT_RELU: (0.0, 0.0), ACT_LEAKY_RELU: (0.1, 0.0),
              ACT_CLIP: (-0.5, 0.7), ACT_SIGMOID: (0.0, 0.0), ACT_TANH: (0.0, 0.0),
              ACT_HARD_SIGMOID: (0.2, 0.5)}


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


@st.composite
def conv_cases(draw, rank=2):
    """Random small ONNX Conv: returns (x, w, b, strides, dils, pads, group, act, alpha, beta)."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(1, 2))
    group = draw(st.integers(1, 3))
    depthwise = draw(st.booleans())
    cg = 1 if depthwise else draw(st.integers(1, 6 // group))
    mg = draw(st.integers(1, 3))
    one_d = rank == 2 and draw(st.booleans())          # H == KH == 1: the audio shape
    ks, ss, ds, pb, pe, sizes = [], [], [], [], [], []
    for axis in range(rank):
        if one_d and axis == 0:
            ks.append(1), ss.append(1), ds.append(1), pb.append(0), pe.append(0), sizes.append(1)
            continue
        k = draw(st.integers(1, 5 if rank == 2 else 3))
        d = draw(st.integers(1, 2))
        p0, p1 = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        ks.append(k), ss.append(draw(st.integers(1, 3))), ds.append(d), pb.append(p0), pe.append(p1)
        sizes.append(max(1, (k - 1) * d + 1 - p0 - p1) + draw(st.integers(0, 6 if rank == 2 else 2)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, cg * group, *sizes)).astype(dtype)
    w = rng.standard_normal((mg * group, cg, *ks)).astype(dtype)
    b = rng.standard_normal(mg * group).astype(dtype)
    act = draw(st.sampled_from(sorted(ACT_PARAMS)))
    return x, w, b, ss, ds, pb + pe, group, act, *ACT_PARAMS[act]


def run_conv2d(algo, x, w, b, ss, ds, pads, group, act, alpha, beta, out_shape):
    """Run one 2-D algorithm into a NaN-filled output (scratch NaN-filled too: every element
    the kernel uses must be written first)."""
    out = np.full(out_shape, np.nan, x.dtype)
    args = (ss[0], ss[1], ds[0], ds[1], pads[0], pads[1], group, act, alpha, beta)
    KH, KW = w.shape[2:]
    OH, OW = out_shape[2:]
    if algo == "direct":
        K.conv2d_direct(x, w, b, out, *args)
    elif algo == "flat":
        K.conv2d_flat(x, w, b, out, ds[0], ds[1], pads[0], pads[1], group, act, alpha, beta)
    elif algo == "taps":
        y = np.full(K.taps_scratch_shape(w.shape[0], KH, KW, *x.shape[2:]), np.nan, x.dtype)
        K.conv2d_taps(x, K.taps_weights(w), b, out, KH, KW, ds[0], ds[1], pads[0], pads[1],
                      act, alpha, beta, y)
    else:
        cols = np.full(K.im2col_scratch_shape(x.shape[1], group, KH, KW, OH, OW), np.nan, x.dtype)
        index = None if algo == "im2col" else K.im2col_index(
            *x.shape[2:], KH, KW, *ss, *ds, pads[0], pads[1], OH, OW)
        K.conv2d_im2col(x, w, b, out, *args, cols, index)
    return out


def applicable(algo, x, w, ss, group, out_shape):
    """Whether a 2-D algorithm's preconditions hold (the op layer only picks it then)."""
    stride1 = tuple(ss) == (1, 1)
    if algo == "flat":
        return stride1 and w.shape[1] == 1 and out_shape[3] == x.shape[3]
    if algo == "taps":
        return stride1 and group == 1
    return True


ALGORITHMS_2D = ["direct", "im2col", "gather", "flat", "taps"]


@SETTINGS
@given(conv_cases(), st.sampled_from(ALGORITHMS_2D))
def test_conv2d_matches_reference(case, algo):
    x, w, b, ss, ds, pads, group, act, alpha, beta = case
    ref = nv.conv_nd(x, w, b, ss, ds, pads, group, act, alpha, beta)
    if not applicable(algo, x, w, ss, group, ref.shape):
        return
    out = run_conv2d(algo, x, w, b, ss, ds, pads, group, act, alpha, beta, ref.shape)
    np.testing.assert_allclose(out, ref, **tol(x.dtype))


@st.composite
def same_width_cases(draw):
    """Stride-1 convs whose output is as wide as the input (what "flat" and the flat form of
    "taps" need): the W pads add up to the dilated kernel width minus one."""
    x, w, b, ss, ds, pads, group, act, alpha, beta = draw(conv_cases())
    span = (w.shape[3] - 1) * ds[1]
    left = draw(st.integers(0, span))
    pads = [pads[0], left, pads[2], span - left]
    if draw(st.booleans()):               # one input channel per group: depthwise-like
        w = np.ascontiguousarray(w[:, :1])
        x = np.ascontiguousarray(x[:, :group])
    return x, w, b, (1, 1), ds, pads, group, act, alpha, beta


@SETTINGS
@given(same_width_cases(), st.sampled_from(["flat", "taps"]))
def test_flat_shift_algorithms_match_reference(case, algo):
    x, w, b, ss, ds, pads, group, act, alpha, beta = case
    ref = nv.conv_nd(x, w, b, ss, ds, pads, group, act, alpha, beta)
    if not applicable(algo, x, w, ss, group, ref.shape):
        return
    out = run_conv2d(algo, x, w, b, ss, ds, pads, group, act, alpha, beta, ref.shape)
    np.testing.assert_allclose(out, ref, **tol(x.dtype))


@settings(max_examples=25, deadline=None)
@given(conv_cases(rank=3))
def test_conv3d_matches_reference(case):
    x, w, b, ss, ds, pads, group, act, alpha, beta = case
    ref = nv.conv_nd(x, w, b, ss, ds, pads, group, act, alpha, beta)
    out = np.full(ref.shape, np.nan, x.dtype)
    K.conv3d_direct(x, w, b, out, *ss, *ds, *pads[:3], group, act, alpha, beta)
    np.testing.assert_allclose(out, ref, **tol(x.dtype))


@st.composite
def conv_transpose_cases(draw):
    """Random ONNX ConvTranspose: (x, w, b, strides, dils, pads, group, output_padding)."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    group = draw(st.integers(1, 3))
    cg, mg = draw(st.integers(1, 6 // group)), draw(st.integers(1, 3))
    one_d = draw(st.booleans())
    ks, ss, ds, pb, pe, ops, sizes = [], [], [], [], [], [], []
    for axis in range(2):
        if one_d and axis == 0:
            k, s, d, p0, p1, op = 1, 1, 1, 0, 0, 0
        else:
            k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
            p0, p1, op = draw(st.integers(0, 2)), draw(st.integers(0, 2)), draw(st.integers(0, s - 1))
        size = draw(st.integers(1, 6))
        while (size - 1) * s + (k - 1) * d + 1 + op - p0 - p1 < 1:
            size += 1
        ks.append(k), ss.append(s), ds.append(d), pb.append(p0), pe.append(p1), ops.append(op)
        sizes.append(size)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((draw(st.integers(1, 2)), cg * group, *sizes)).astype(dtype)
    w = rng.standard_normal((cg * group, mg, *ks)).astype(dtype)
    b = rng.standard_normal(mg * group).astype(dtype)
    return x, w, b, ss, ds, pb + pe, group, ops


@SETTINGS
@given(conv_transpose_cases())
def test_conv_transpose2d_matches_reference(case):
    x, w, b, ss, ds, pads, group, op = case
    ref = nv.conv_transpose2d(x, w, b, ss, ds, pads, group, op)
    out = np.full(ref.shape, np.nan, x.dtype)
    K.conv_transpose2d(x, w, b, out, ss[0], ss[1], ds[0], ds[1], pads[0], pads[1], group)
    np.testing.assert_allclose(out, ref, **tol(x.dtype))


def test_conv2d_direct_non_contiguous_input():
    rng = np.random.default_rng(1)
    big = rng.standard_normal((1, 6, 9, 12))
    x = big[:, ::2, :, 1:-1]                              # strided channel + column view
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    ref = nv.conv_nd(x, w, b, (1, 2), (1, 1), (1, 1, 1, 0))
    out = np.empty(ref.shape)
    K.conv2d_direct(x, w, b, out, 1, 2, 1, 1, 1, 1, 1, ACT_NONE, 0.0, 0.0)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10)


def test_choose_conv2d_algorithm():
    choose = K.choose_conv2d_algorithm
    assert choose(144, 144, 144, 3, 3, 56, 56) == "flat"                          # depthwise
    assert choose(144, 144, 144, 3, 3, 28, 28, 2, 2, 56, 56) == "direct"          # strided dw
    assert choose(64, 64, 1, 3, 3, 56, 56) == "taps"                              # ResNet
    assert choose(64, 256, 1, 3, 3, 56, 56) == "im2col"                           # M >> C
    assert choose(64, 64, 1, 3, 3, 28, 28, 2, 2, 56, 56) == "im2col"              # strided
    assert choose(64, 48, 1, 10, 4, 16, 4, 2, 1, 40, 7) == "gather"               # short rows
    assert choose(64, 64, 1, 1, 1, 25, 5) == "im2col"                             # pointwise
    assert choose(32, 32, 1, 1, 3, 1, 100) == "im2col"                            # audio
    assert choose(1, 64, 1, 1, 3, 1, 100) == "direct"                             # front end
    # the compiled cases of test_compiled_conv.py: taps over planes as wide as the output
    # (sum_taps_flat) and wider (sum_taps_rows)
    assert choose(24, 24, 1, 3, 1, 8, 32, H=10, W=32) == "taps"
    assert choose(24, 24, 1, 3, 3, 8, 30, H=10, W=32) == "taps"
    assert K.sum_taps_kernel(32, 32) is K.sum_taps_flat
    assert K.sum_taps_kernel(32, 30) is K.sum_taps_rows
    assert K.im2col_scratch_shape(8, 2, 3, 5, 4, 7) == (60, 28)
    assert K.taps_scratch_shape(4, 1, 3, 5, 6) == (12, 30)


def test_leaky_relu_max_code():
    """ACT_LEAKY_RELU_MAX: max(leaky_relu(x), beta), NaN kept (as ONNX Max), both paths."""
    x = np.array([-3.0, -1.0, 0.0, 2.0, np.nan], np.float32)
    for alpha, beta in ((0.2, -0.4), (float(np.float32(0.2)), float(np.float32(-0.4)))):
        got = x.copy()
        A.bias_activation_span(got, 0, 5, np.float32(0), A.ACT_LEAKY_RELU_MAX, alpha, beta)
        want = np.maximum(np.where(x >= 0, x, np.float32(alpha) * x), np.float32(beta))
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert np.isnan(got[4])


def test_activation_span_matches_scalar_activation():
    """The vectorising per-code loops give apply_activation's result bit for bit, for float32
    alphas (the float32 path) and float64 ones (rounded in float64)."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        x = (rng.standard_normal(300) * 3).astype(dtype)
        x[:3] = [np.nan, np.inf, -np.inf]
        for act, (alpha, beta) in ACT_PARAMS.items():
            for a, c in ((alpha, beta), (float(np.float32(alpha)), float(np.float32(beta)))):
                got = x.copy()
                A.bias_activation_span(got, 2, 290, dtype(0.25), act, a, c)
                want = x.copy()
                for i in range(2, 290):
                    want[i] = A.apply_activation(want[i] + dtype(0.25), act, a, c)
                np.testing.assert_array_equal(got, want)


# alpha, beta for every function the epilogue takes (the others take (0.7, 0.3))
EPILOGUE_PARAMS = {"clip": (-0.5, 0.7), "leaky_relu_max": (0.1, -0.4),
                   "hard_sigmoid": (0.2, 0.5), "selu": (1.6732632, 1.0507010)}


@pytest.mark.parametrize("name", [n for n in A.CODES if n])
def test_every_epilogue_function_matches_its_numpy_definition(name):
    """Each code: apply_activation is the scalar function in float64, the vectorising span
    loop gives its result bit for bit, and the NumPy twin of the span agrees."""
    from pulsar.kernels import scalar, scalar_numpy
    code, (alpha, beta) = A.CODES[name], EPILOGUE_PARAMS.get(name, (0.7, 0.3))
    n_params = scalar.arity(name) - 1
    rng = np.random.default_rng(0)
    x = np.concatenate([[np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30],
                        rng.standard_normal(200) * 4])
    with np.errstate(all="ignore"):
        want64 = getattr(scalar_numpy, name)(x, *(alpha, beta)[:n_params])
    got64 = np.array([A.apply_activation(v, code, alpha, beta) for v in x])
    np.testing.assert_allclose(got64, want64, rtol=1e-14, atol=1e-300)
    for dtype in (np.float32, np.float64):
        for a, c in ((alpha, beta), (float(np.float32(alpha)), float(np.float32(beta)))):
            xs = x.astype(dtype)
            got = xs.copy()
            A.bias_activation_span(got, 2, 190, dtype(0.25), code, a, c)
            want = xs.copy()
            for i in range(2, 190):
                want[i] = A.apply_activation(want[i] + dtype(0.25), code, a, c)
            np.testing.assert_array_equal(got, want)
            twin = xs.copy()
            A.bias_activation_span.twin(twin, 2, 190, dtype(0.25), code, a, c)
            np.testing.assert_array_equal(np.isnan(twin), np.isnan(got))
            np.testing.assert_allclose(twin, got, rtol=1e-6 if dtype == np.float32 else 1e-14)


# --- onnxruntime as the independent oracle -------------------------------------------------

pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import reference  # noqa: E402

ACT_NODES = {ACT_RELU: ("Relu", {}), ACT_LEAKY_RELU: ("LeakyRelu", {"alpha": 0.1}),
             ACT_SIGMOID: ("Sigmoid", {}), ACT_TANH: ("Tanh", {}),
             ACT_HARD_SIGMOID: ("HardSigmoid", {"alpha": 0.2, "beta": 0.5})}


def ort_run(op, x, w, b, act=ACT_NONE, **attrs):
    """One ONNX node (Conv/ConvTranspose) + optional activation node, run by onnxruntime."""
    ty = TensorProto.FLOAT if x.dtype == np.float32 else TensorProto.DOUBLE
    nodes = [helper.make_node(op, ["X", "W", "B"], ["Y0"], **attrs)]
    inits = [helper.make_tensor("W", ty, w.shape, w.ravel()), helper.make_tensor("B", ty, b.shape, b)]
    if act == ACT_CLIP:
        inits += [helper.make_tensor("lo", ty, [], [-0.5]), helper.make_tensor("hi", ty, [], [0.7])]
        nodes.append(helper.make_node("Clip", ["Y0", "lo", "hi"], ["Y"]))
    elif act != ACT_NONE:
        name, kw = ACT_NODES[act]
        nodes.append(helper.make_node(name, ["Y0"], ["Y"], **kw))
    else:
        nodes[0].output[0] = "Y"
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", ty, x.shape)],
                              [helper.make_tensor_value_info("Y", ty, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return reference.ort_run(model, {"X": x})[0]


CONV_ORT_CASES = [
    # x shape, w shape, strides, dilations, pads (ONNX order), group, act
    ((1, 3, 11, 9), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1, ACT_RELU),
    ((2, 4, 10, 13), (6, 2, 3, 4), (2, 3), (2, 1), (0, 2, 1, 1), 2, ACT_LEAKY_RELU),
    ((1, 6, 8, 8), (6, 1, 5, 5), (2, 2), (1, 1), (2, 2, 2, 2), 6, ACT_CLIP),       # depthwise
    ((1, 6, 8, 8), (12, 1, 3, 3), (1, 1), (2, 2), (2, 1, 2, 1), 6, ACT_HARD_SIGMOID),
    ((1, 8, 40), (16, 8, 3), (1,), (2,), (2, 2), 1, ACT_SIGMOID),                  # 1-D audio
    ((2, 4, 33), (4, 2, 5), (3,), (1,), (1, 4), 2, ACT_TANH),
    ((1, 5, 7, 7), (3, 5, 1, 1), (2, 2), (1, 1), (0, 0, 0, 0), 1, ACT_NONE),       # 1x1 stride 2
    ((1, 5, 7, 7), (3, 5, 1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1, ACT_RELU),       # pointwise
]


@pytest.mark.parametrize("dtype", [np.float32])     # onnxruntime has no float64 Conv on CPU
@pytest.mark.parametrize("case", CONV_ORT_CASES, ids=range(len(CONV_ORT_CASES)))
def test_conv_against_onnxruntime(case, dtype):
    xs, ws, ss, ds, pads, group, act = case
    rng = np.random.default_rng(7)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    ref = ort_run("Conv", x, w, b, act, strides=list(ss), dilations=list(ds), pads=list(pads),
                  group=group)
    if x.ndim == 3:                                    # 1-D conv runs as 2-D with H == 1
        x4, w4 = x[:, :, None], w[:, :, None]
        ss, ds, pads = (1,) + ss, (1,) + ds, (0, pads[0], 0, pads[1])
    else:
        x4, w4 = x, w
    alpha, beta = ACT_PARAMS[act]
    out_shape = ref.reshape(ref.shape[:2] + (-1, ref.shape[-1])).shape
    for algo in ALGORITHMS_2D:
        if applicable(algo, x4, w4, ss, group, out_shape):
            out = run_conv2d(algo, x4, w4, b, ss, ds, pads, group, act, alpha, beta, out_shape)
            np.testing.assert_allclose(out.reshape(ref.shape), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32])
def test_conv3d_against_onnxruntime(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 4, 5, 6, 7)).astype(dtype)
    w = rng.standard_normal((6, 2, 2, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    ref = ort_run("Conv", x, w, b, ACT_RELU, strides=[1, 2, 1], dilations=[2, 1, 1],
                  pads=[1, 0, 1, 0, 2, 1], group=2)
    out = np.empty(ref.shape, dtype)
    K.conv3d_direct(x, w, b, out, 1, 2, 1, 2, 1, 1, 1, 0, 1, 2, ACT_RELU, 0.0, 0.0)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32])
@pytest.mark.parametrize("case", [
    # x shape, w shape, strides, dilations, pads, group, output_padding
    ((1, 4, 5, 6), (4, 3, 3, 3), (2, 2), (1, 1), (1, 1, 1, 1), 1, (1, 1)),
    ((2, 6, 4, 5), (6, 2, 3, 2), (3, 2), (2, 1), (0, 1, 2, 0), 3, (2, 0)),
    ((1, 4, 1, 20), (4, 8, 1, 4), (1, 2), (1, 1), (0, 1, 0, 1), 1, (0, 1)),        # 1-D upsample
])
def test_conv_transpose2d_against_onnxruntime(case, dtype):
    xs, ws, ss, ds, pads, group, op = case
    rng = np.random.default_rng(5)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[1] * group).astype(dtype)
    ref = ort_run("ConvTranspose", x, w, b, strides=list(ss), dilations=list(ds),
                  pads=list(pads), group=group, output_padding=list(op))
    out = np.empty(ref.shape, dtype)
    K.conv_transpose2d(x, w, b, out, ss[0], ss[1], ds[0], ds[1], pads[0], pads[1], group)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
