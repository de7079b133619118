"""Conv in compiled plans against onnxruntime, over the shapes that pick each algorithm
(direct, flat, taps, im2col, gather, pointwise, narrow dot products, repeated filters); and
ConvTranspose, whose one kernel serves 1-D and 2-D."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto

import pulsar
from models import one_node
from reference import ort_run

F = TensorProto.FLOAT


def check(x_shape, w, b, op="Conv", **attrs):
    inits = {"w": w} if b is None else {"w": w, "b": b}
    m = one_node(op, [("x", F, list(x_shape))], inits, opset=17, **attrs)
    loaded = pulsar.load(m, compile=True)
    assert [where for _, where in loaded.plan.execution()] == ["compiled"]
    x = np.random.default_rng(len(x_shape)).standard_normal(x_shape).astype(np.float32)
    (got,) = loaded.run([x])
    (want,) = ort_run(m, {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


CASES = [  # (x shape, w shape, attributes)
    ((1, 1, 512), (130, 1, 256), dict(strides=[128])),                    # STFT-like, narrow
    ((1, 130, 3), (32, 130, 3), dict(pads=[1, 1])),                       # narrow, padded
    ((1, 64, 25, 5), (64, 64, 1, 1), {}),                                 # pointwise
    ((1, 64, 25, 5), (64, 1, 3, 3), dict(group=64, pads=[1, 1, 1, 1])),   # depthwise: flat
    ((1, 24, 10, 32), (24, 24, 3, 1), {}),                                # taps, OW == W
    ((1, 24, 10, 32), (24, 24, 3, 3), {}),                                # taps, OW < W
    ((1, 64, 40, 7), (48, 64, 10, 4), dict(strides=[2, 1])),              # gather
    ((1, 3, 30, 40), (8, 3, 3, 3), dict(pads=[1, 1, 1, 1])),              # im2col
    ((2, 4, 6, 6), (6, 2, 3, 3), dict(group=2, pads=[1, 1, 1, 1])),       # batch 2, groups
    ((1, 96, 2, 2), (96, 96, 1, 3), dict(pads=[0, 1, 0, 1])),             # narrow 2-D
    ((1, 1, 1760), (257, 1, 512), dict(strides=[160])),                   # mel STFT: 8 frames
    ((1, 18, 3, 5), (30, 18, 2, 2), {}),                                  # narrow: 8 positions
    ((1, 13, 16), (7, 13, 1), {}),                                        # narrow pointwise: 16
    ((1, 5, 17), (9, 5, 3), {}),                                          # narrow: 15 positions
    ((1, 2, 4, 4, 4), (3, 2, 2, 2, 2), {}),                               # 3-D
]


@pytest.mark.parametrize("x_shape,w_shape,attrs", CASES)
def test_conv_algorithms_compiled_match_onnxruntime(x_shape, w_shape, attrs):
    rng = np.random.default_rng(0)
    w = rng.standard_normal(w_shape).astype(np.float32) * 0.3
    check(x_shape, w, rng.standard_normal(w_shape[0]).astype(np.float32), **attrs)


TRANSPOSE_CASES = [  # (x shape, w shape, attributes)
    ((1, 3, 7), (3, 2, 4), dict(strides=[2], pads=[1, 2], output_padding=[1])),
    ((1, 2, 5), (2, 1, 3), dict(dilations=[2], auto_pad="SAME_UPPER")),
    ((2, 4, 5, 6), (4, 3, 3, 2), dict(strides=[2, 1], dilations=[1, 2], group=2,
                                      pads=[1, 0, 0, 1])),
]


@pytest.mark.parametrize("x_shape,w_shape,attrs", TRANSPOSE_CASES)
@pytest.mark.parametrize("biased", [False, True])
def test_conv_transpose_compiled_matches_onnxruntime(x_shape, w_shape, attrs, biased):
    rng = np.random.default_rng(2)
    w = rng.standard_normal(w_shape).astype(np.float32)
    m = w_shape[1] * attrs.get("group", 1)
    check(x_shape, w, rng.standard_normal(m).astype(np.float32) if biased else None,
          op="ConvTranspose", **attrs)


def test_repeated_filters_compile_and_copy_channels():
    """Identical filters are computed once (as eval does) and copied to every channel."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 2, 3)).astype(np.float32)
    w = w[[0, 1, 0, 2, 1, 0]]
    check((1, 2, 9), w, np.array([0.5, 1, 0.5, 2, 1, 0.5], np.float32), pads=[1, 1])


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # ~10 s a compile
@given(st.data())
def test_random_1d_convs_compiled_match_onnxruntime(data):
    d = data.draw
    c, m, k = d(st.integers(1, 8)), d(st.integers(1, 8)), d(st.integers(1, 5))
    stride, dil = d(st.integers(1, 3)), d(st.integers(1, 2))
    span = (k - 1) * dil + 1
    length = d(st.integers(span, span + 12))
    pads = [d(st.integers(0, k - 1)), d(st.integers(0, k - 1))]
    rng = np.random.default_rng(d(st.integers(0, 99)))
    w = rng.standard_normal((m, c, k)).astype(np.float32)
    bias = rng.standard_normal(m).astype(np.float32) if d(st.booleans()) else None
    check((1, c, length), w, bias, strides=[stride], dilations=[dil], pads=pads)
