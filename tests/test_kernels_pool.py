"""pulsar.kernels.pool against the NumPy reference (hypothesis) and onnxruntime (fixed cases)."""
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import naive_conv as nv

pytestmark = pytest.mark.usefixtures("compiled_kernels")   # the Numba kernels, not twins

try:
    from pulsar.kernels import pool as P
except ImportError:  # repo not installed: import the kernels package from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from kernels import pool as P

SETTINGS = settings(max_examples=60, deadline=None)


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@st.composite
def pool_cases(draw, rank=2):
    """Random ONNX pooling: (x, kernel, strides, dils, pads, ceil_mode). Pads < kernel (ORT)."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    one_d = rank == 2 and draw(st.booleans())
    ks, ss, ds, pb, pe, sizes = [], [], [], [], [], []
    for axis in range(rank):
        if one_d and axis == 0:
            ks.append(1), ss.append(1), ds.append(1), pb.append(0), pe.append(0), sizes.append(1)
            continue
        k = draw(st.integers(1, 5 if rank == 2 else 3))
        d = draw(st.integers(1, 2))
        p0, p1 = draw(st.integers(0, min(2, k - 1))), draw(st.integers(0, min(2, k - 1)))
        ks.append(k), ss.append(draw(st.integers(1, 3))), ds.append(d), pb.append(p0), pe.append(p1)
        sizes.append(max(1, (k - 1) * d + 1 - p0 - p1) + draw(st.integers(0, 6 if rank == 2 else 2)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((draw(st.integers(1, 2)), draw(st.integers(1, 4)), *sizes))
    if draw(st.booleans()):
        x = np.round(x * 2) / 2                  # many ties: exercises first-max index selection
    return x.astype(dtype), ks, ss, ds, pb + pe, draw(st.booleans())


def out_shape(x, ks, ss, ds, pads, ceil_mode):
    r = len(ks)
    return x.shape[:2] + tuple(nv.out_size(x.shape[2 + i], ks[i], ss[i], ds[i], pads[i], pads[i + r],
                                           ceil_mode) for i in range(r))


@SETTINGS
@given(pool_cases(), st.integers(0, 1))
def test_maxpool2d_matches_reference(case, storage_order):
    x, ks, ss, ds, pads, ceil_mode = case
    ref, ref_idx = nv.pool_nd(x, "max", ks, ss, ds, pads, ceil_mode, storage_order=storage_order)
    out = np.full(ref.shape, np.nan, x.dtype)
    P.maxpool2d(x, out, *ks, *ss, *ds, pads[0], pads[1])
    np.testing.assert_array_equal(out, ref)
    out[...] = np.nan
    idx = np.full(ref.shape, -7, np.int64)
    P.maxpool2d_indices(x, out, idx, *ks, *ss, *ds, pads[0], pads[1], storage_order)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(idx, ref_idx)


@SETTINGS
@given(pool_cases(), st.booleans())
def test_avgpool2d_matches_reference(case, count_include_pad):
    x, ks, ss, ds, pads, ceil_mode = case
    ref = nv.pool_nd(x, "avg", ks, ss, ds, pads, ceil_mode, count_include_pad)
    out = np.full(ref.shape, -7.0, x.dtype)
    P.avgpool2d(x, out, *ks, *ss, *ds, *pads, int(count_include_pad))
    np.testing.assert_allclose(out, ref, **tol(x.dtype))


@SETTINGS
@given(pool_cases(), st.integers(1, 3))
def test_lppool2d_matches_reference(case, p):
    x, ks, ss, ds, pads, ceil_mode = case
    ref = nv.pool_nd(x, "lp", ks, ss, ds, pads, ceil_mode, p=p)
    out = np.full(ref.shape, np.nan, x.dtype)
    P.lppool2d(x, out, *ks, *ss, *ds, pads[0], pads[1], p)
    np.testing.assert_allclose(out, ref, **tol(x.dtype))


@settings(max_examples=30, deadline=None)
@given(pool_cases(rank=3), st.booleans())
def test_pool3d_matches_reference(case, count_include_pad):
    x, ks, ss, ds, pads, ceil_mode = case
    ref, _ = nv.pool_nd(x, "max", ks, ss, ds, pads, ceil_mode)
    out = np.full(ref.shape, np.nan, x.dtype)
    P.maxpool3d(x, out, *ks, *ss, *ds, *pads[:3])
    np.testing.assert_array_equal(out, ref)
    ref = nv.pool_nd(x, "avg", ks, ss, ds, pads, ceil_mode, count_include_pad)
    P.avgpool3d(x, out, *ks, *ss, *ds, *pads, int(count_include_pad))
    np.testing.assert_allclose(out, ref, **tol(x.dtype))


def test_maxpool2d_empty_window_is_neg_inf():
    x = np.arange(3.0).reshape(1, 1, 1, 3)
    out = np.empty((1, 1, 1, 2))
    idx = np.empty((1, 1, 1, 2), np.int64)
    # kernel 2, dilation 5, pad 1: window {-1, 4} has no position inside W == 3
    P.maxpool2d_indices(x, out, idx, 1, 2, 1, 1, 1, 5, 0, 1, 0)
    assert out[0, 0, 0, 0] == -np.inf and idx[0, 0, 0, 0] == -1


def test_maxpool2d_nan_wins_only_first():
    """onnxruntime's MaxPool with Indices on this row gives these values and indices."""
    x = np.array([np.nan, 1, 2, np.nan, np.nan, 5], np.float32).reshape(1, 1, 1, 6)
    out = np.empty((1, 1, 1, 5), np.float32)
    idx = np.empty((1, 1, 1, 5), np.int64)
    P.maxpool2d(x, out, 1, 2, 1, 1, 1, 1, 0, 0)
    np.testing.assert_array_equal(out.ravel(), [np.nan, 2, 2, np.nan, np.nan])
    P.maxpool2d_indices(x, out, idx, 1, 2, 1, 1, 1, 1, 0, 0, 0)
    np.testing.assert_array_equal(out.ravel(), [np.nan, 2, 2, np.nan, np.nan])
    np.testing.assert_array_equal(idx.ravel(), [0, 2, 2, 3, 4])


@pytest.mark.parametrize("kh,sh,sw", [(1, 1, 2), (2, 2, 2), (2, 1, 1), (1, 3, 3), (2, 2, 3)])
def test_maxpool2d_pair_windows_match_reference(kh, sh, sw):
    """1x2 / 2x2 windows inside the input take maxpool2d_pairs (chosen by maxpool2d_call), one
    loop per row: the same values as the general kernel and the reference, a NaN winning only
    in a window's first position."""
    rng = np.random.default_rng(kh * 10 + sh)
    x = rng.standard_normal((2, 3, 9, 11)).astype(np.float32)
    x[0, 1, :2, :2] = np.nan
    x[1, 2, 4, 5] = np.nan
    ref, _ = nv.pool_nd(x, "max", [kh, 2], [sh, sw], [1, 1], [0, 0, 0, 0], False)
    fn, args = P.maxpool2d_call(kh, 2, sh, sw, 1, 1, 0, 0, 9, 11, *ref.shape[2:])
    assert fn is P.maxpool2d_pairs
    for kernel, kernel_args in ((fn, args), (P.maxpool2d, (kh, 2, sh, sw, 1, 1, 0, 0))):
        out = np.full(ref.shape, np.nan, np.float32)
        kernel(x, out, *kernel_args)
        np.testing.assert_array_equal(out, ref)
    if kh == 2 and sh == 2 and sw == 2:
        assert np.isnan(out[0, 1, 0, 0])


@pytest.mark.parametrize("geometry", [
    (3, 2, 1, 1, 1, 1, 0, 0),       # three rows
    (2, 2, 2, 2, 1, 2, 0, 0),       # dilated
    (2, 2, 2, 2, 1, 1, 1, 0),       # padded
])
def test_maxpool2d_call_keeps_other_windows_general(geometry):
    """Windows the pair loop cannot take (or a ceil-mode window past the input) stay with
    maxpool2d, which matches the reference."""
    kh, kw, sh, sw, dh, dw, pt, pl = geometry
    x = np.random.default_rng(1).standard_normal((1, 2, 8, 9)).astype(np.float32)
    ref, _ = nv.pool_nd(x, "max", [kh, kw], [sh, sw], [dh, dw], [pt, pl, 0, 0], False)
    fn, args = P.maxpool2d_call(*geometry, 8, 9, *ref.shape[2:])
    assert fn is P.maxpool2d
    out = np.full(ref.shape, np.nan, np.float32)
    fn(x, out, *args)
    np.testing.assert_array_equal(out, ref)
    # a last window reaching past the input (ceil_mode) is not a pair window either
    assert P.maxpool2d_call(2, 2, 2, 2, 1, 1, 0, 0, 7, 7, 4, 4)[0] is P.maxpool2d


def test_whole_window_reductions():
    """window_means_flat / window_max_flat: one row per (n, c) plane."""
    rng = np.random.default_rng(0)
    for n in (1, 3, 4, 125, 1001):
        x = rng.standard_normal((5, n)).astype(np.float32)
        x[2, 0] = np.nan
        x[3, :] = np.nan
        means = np.empty(5, np.float32)
        P.window_means_flat(x, means)
        np.testing.assert_allclose(means, x.astype(np.float64).mean(axis=1), rtol=1e-5, atol=1e-6)
        maxes = np.empty(5, np.float32)
        P.window_max_flat(x, maxes)
        skipping = np.max(np.where(np.isnan(x), -np.inf, x), axis=1)
        np.testing.assert_array_equal(maxes, np.where(np.isnan(x[:, 0]), np.nan, skipping))


# --- onnxruntime as the independent oracle -------------------------------------------------

pytest.importorskip("onnxruntime")
from reference import ort_run  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402


def ort_pool(op, x, n_outputs=1, **attrs):
    outs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)]
    if n_outputs == 2:
        outs.append(helper.make_tensor_value_info("I", TensorProto.INT64, None))
    node = helper.make_node(op, ["X"], ["Y", "I"][:n_outputs], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                          x.shape)], outs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    return ort_run(model, {"X": x})


POOL_ORT_CASES = [
    # x shape, kernel, strides, dilations, pads (ONNX order), ceil_mode
    ((1, 2, 7, 8), (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), 1),                        # ResNet stem
    ((2, 3, 9, 7), (2, 3), (3, 2), (2, 1), (1, 0, 0, 2), 1),                        # ceil drops
    ((1, 2, 6, 11), (3, 2), (1, 3), (1, 2), (2, 1, 0, 1), 0),
    ((1, 3, 5), (3,), (2,), (1,), (1, 1), 1),                                        # 1-D
    ((1, 3, 10), (4,), (3,), (2,), (0, 2), 1),
]


def as_2d(shape_args):
    xs, ks, ss, ds, pads, ceil = shape_args
    if len(ks) == 1:
        return (1,) + tuple(ks), (1,) + tuple(ss), (1,) + tuple(ds), (0, pads[0], 0, pads[1])
    return tuple(ks), tuple(ss), tuple(ds), tuple(pads)


def shape_4d(y):
    """(N, C, OW) -> (N, C, 1, OW): 1-D pooling runs as 2-D with H == 1."""
    return y.shape if y.ndim == 4 else y.shape[:2] + (1, y.shape[-1])


def run_attrs(ks, ss, ds, pads, ceil):
    return dict(kernel_shape=list(ks), strides=list(ss), dilations=list(ds), pads=list(pads),
                ceil_mode=ceil)


@pytest.mark.parametrize("storage_order", [0, 1])
@pytest.mark.parametrize("case", POOL_ORT_CASES, ids=range(len(POOL_ORT_CASES)))
def test_maxpool_against_onnxruntime(case, storage_order):
    xs, ks, ss, ds, pads, ceil = case
    x = np.random.default_rng(2).standard_normal(xs).astype(np.float32)
    y, i = ort_pool("MaxPool", x, 2, storage_order=storage_order, **run_attrs(ks, ss, ds, pads, ceil))
    k2, s2, d2, p2 = as_2d(case)
    x4 = x.reshape(xs[:2] + (-1, xs[-1]))
    out = np.empty(shape_4d(y), np.float32)
    idx = np.empty(out.shape, np.int64)
    P.maxpool2d_indices(x4, out, idx, *k2, *s2, *d2, p2[0], p2[1], storage_order)
    np.testing.assert_array_equal(out.reshape(y.shape), y)
    np.testing.assert_array_equal(idx.reshape(i.shape), i)
    P.maxpool2d(x4, out, *k2, *s2, *d2, p2[0], p2[1])
    np.testing.assert_array_equal(out.reshape(y.shape), y)


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("case", POOL_ORT_CASES, ids=range(len(POOL_ORT_CASES)))
def test_avgpool_against_onnxruntime(case, count_include_pad):
    xs, ks, ss, ds, pads, ceil = case
    x = np.random.default_rng(2).standard_normal(xs).astype(np.float32)
    (y,) = ort_pool("AveragePool", x, count_include_pad=count_include_pad,
                    **run_attrs(ks, ss, ds, pads, ceil))
    k2, s2, d2, p2 = as_2d(case)
    x4 = x.reshape(xs[:2] + (-1, xs[-1]))
    out = np.empty(shape_4d(y), np.float32)
    P.avgpool2d(x4, out, *k2, *s2, *d2, *p2, count_include_pad)
    np.testing.assert_allclose(out.reshape(y.shape), y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lppool_against_onnxruntime(p):
    x = np.random.default_rng(4).standard_normal((1, 3, 7, 6)).astype(np.float32)
    (y,) = ort_pool("LpPool", x, p=p, kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1])
    out = np.empty(y.shape, np.float32)
    P.lppool2d(x, out, 3, 2, 2, 1, 1, 1, 1, 0, p)
    np.testing.assert_allclose(out, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ceil", [0, 1])
def test_pool3d_against_onnxruntime(ceil):
    x = np.random.default_rng(6).standard_normal((1, 2, 5, 6, 7)).astype(np.float32)
    attrs = dict(kernel_shape=[2, 3, 2], strides=[2, 1, 2], pads=[1, 1, 0, 0, 1, 1], ceil_mode=ceil)
    (y,) = ort_pool("MaxPool", x, dilations=[1, 1, 2], **attrs)
    out = np.empty(y.shape, np.float32)
    P.maxpool3d(x, out, 2, 3, 2, 2, 1, 2, 1, 1, 2, 1, 1, 0)
    np.testing.assert_array_equal(out, y)
    for cip in (0, 1):
        (y,) = ort_pool("AveragePool", x, count_include_pad=cip, **attrs)
        out = np.empty(y.shape, np.float32)
        P.avgpool3d(x, out, 2, 3, 2, 2, 1, 2, 1, 1, 1, 1, 1, 0, 0, 1, 1, cip)
        np.testing.assert_allclose(out, y, rtol=1e-5, atol=1e-6)
