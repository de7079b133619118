"""Resampling ops: Resize, Upsample, GridSample, AffineGrid.

Oracles: onnx's node tests, onnxruntime, and onnx's ReferenceEvaluator where onnxruntime departs
from the onnx spec/reference (align_corners with fractional scales, half_pixel_symmetric).
"""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import pulsar
from reference import ort_run
from conformance import cases_for, conformance_test
from pulsar import dims
from pulsar.errors import InferenceError

KNOWN_FAILING = {}
F32 = TensorProto.FLOAT


test_conformance = conformance_test(
    cases_for("Resize", "Upsample", "GridSample", "AffineGrid"), KNOWN_FAILING)


def one_node(op, inputs, inits=None, opset=19, order=None, **attrs):
    """inputs: [(name, elem type, shape)] fed at run time; inits: {name: array} constants;
    order: the node's input names ('' for a skipped optional input), default inputs + inits."""
    inits = inits or {}
    names = order if order is not None else [n for n, _, _ in inputs] + list(inits)
    node = helper.make_node(op, names, ["y"], **attrs)
    out_type = inputs[0][1] if inputs else F32
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info("y", out_type, None)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])



def f32(v):
    return np.array(v, dtype=np.float32)


RNG = np.random.default_rng(0)
IMAGE = RNG.standard_normal((1, 2, 5, 7)).astype(np.float32)


def resize_model(x, scales=None, sizes=None, opset=19, **attrs):
    inits = {"scales": f32(scales)} if scales is not None else {"sizes": np.array(sizes, np.int64)}
    order = ["x", "", "scales"] if scales is not None else ["x", "", "", "sizes"]
    return one_node("Resize", [("x", F32, list(x.shape))], inits, opset=opset, order=order, **attrs)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("coordinates", ["half_pixel", "pytorch_half_pixel", "asymmetric"])
@pytest.mark.parametrize("scales", [[1, 1, 2, 3], [1, 1, 0.5, 0.6], [1, 1, 1.5, 0.25]])
def test_resize_matches_onnxruntime(mode, coordinates, scales):
    model = resize_model(IMAGE, scales, mode=mode, coordinate_transformation_mode=coordinates)
    got, want = pulsar.load(model).run([IMAGE])[0], ort_run(model, {"x": IMAGE})[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("scales", [[1, 1, 0.5, 0.6], [1, 1, 0.2, 1], [1, 1, 2, 0.4]])
@pytest.mark.parametrize("exclude_outside", [0, 1])
def test_antialias_matches_onnxruntime(mode, scales, exclude_outside):
    model = resize_model(IMAGE, scales, mode=mode, antialias=1, exclude_outside=exclude_outside)
    got, want = pulsar.load(model).run([IMAGE])[0], ort_run(model, {"x": IMAGE})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("coordinates", ["align_corners", "half_pixel_symmetric"])
@pytest.mark.parametrize("scales", [[1, 1, 0.5, 0.6], [1, 1, 1.5, 0.25]])
def test_fractional_scales_follow_the_onnx_reference(mode, coordinates, scales):
    """With a fractional output length these modes divide by scale * length, as the onnx
    reference and its node tests do; onnxruntime divides by the rounded length instead."""
    model = resize_model(IMAGE, scales, mode=mode, coordinate_transformation_mode=coordinates)
    want = ReferenceEvaluator(model).run(None, {"x": IMAGE})[0]
    np.testing.assert_allclose(pulsar.load(model).run([IMAGE])[0], want, rtol=1e-5, atol=1e-5)


def test_resize_rounds_and_saturates_integers():
    x = RNG.integers(0, 256, (1, 1, 4, 5)).astype(np.uint8)
    model = one_node("Resize", [("x", TensorProto.UINT8, [1, 1, 4, 5])], {"scales": f32([1, 1, 1.7, 2.3])},
                     order=["x", "", "scales"], mode="linear")
    got, want = pulsar.load(model).run([x])[0], ort_run(model, {"x": x})[0]
    assert got.dtype == np.uint8
    assert np.abs(got.astype(int) - want).max() <= 1


@pytest.mark.parametrize("op,opset", [("Resize", 10), ("Upsample", 9), ("Upsample", 7)])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_legacy_resize_and_upsample_match_onnxruntime(op, opset, mode):
    scales = [1.0, 1.0, 2.0, 3.0] if op == "Upsample" else [1.0, 1.0, 0.5, 2.5]
    if opset == 7:
        model = one_node(op, [("x", F32, list(IMAGE.shape))], opset=7, mode=mode, scales=scales)
    else:
        model = one_node(op, [("x", F32, list(IMAGE.shape))], {"s": f32(scales)}, opset=opset, mode=mode)
    got, want = pulsar.load(model).run([IMAGE])[0], ort_run(model, {"x": IMAGE})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_scaled_dims_are_symbolic():
    model = one_node("Resize", [("x", F32, [1, 3, "H", "W"])], {"scales": f32([1, 1, 2, 0.6])},
                     order=["x", "", "scales"], mode="linear")
    loaded = pulsar.load(model)
    h = dims.sym("H")
    shape = loaded.outputs[0].shape
    assert shape[:3] == (1, 3, 2 * h)
    for hv, wv in [(3, 5), (4, 10), (7, 13)]:
        x = RNG.standard_normal((1, 3, hv, wv)).astype(np.float32)
        got = loaded.run([x])[0]
        assert got.shape == ort_run(model, {"x": x})[0].shape
        assert got.shape == tuple(dims.evaluate(d, {"H": hv, "W": wv}) for d in shape)


def test_sizes_with_axes_keep_other_dims():
    model = one_node("Resize", [("x", F32, ["N", 3, "H", 8])], {"sizes": np.array([16, 5], np.int64)},
                     order=["x", "", "", "sizes"], axes=[3, 2])
    assert pulsar.load(model).outputs[0].shape == (dims.sym("N"), 3, 5, 16)


def test_resize_errors_name_the_problem():
    both = one_node("Resize", [("x", F32, [1, 1, 4, 4])], {"s": f32([1, 1, 2, 2]),
                                                            "z": np.array([1, 1, 8, 8], np.int64)},
                    order=["x", "", "s", "z"])
    with pytest.raises(InferenceError, match="exactly one of scales and sizes"):
        pulsar.load(both)
    with pytest.raises(InferenceError, match="antialias applies to linear and cubic"):
        pulsar.load(resize_model(IMAGE, [1, 1, 2, 2], antialias=1))
    with pytest.raises(InferenceError, match="one entry per resized axis"):
        pulsar.load(resize_model(IMAGE, [2, 2], axes=[1, 2, 3]))


GRID = (RNG.standard_normal((1, 4, 6, 2)) * 1.3).astype(np.float32)


@pytest.mark.parametrize("opset,mode", [(16, "bilinear"), (16, "nearest"), (16, "bicubic"),
                                        (20, "linear"), (20, "cubic")])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_gridsample_matches_onnxruntime(opset, mode, padding, align):
    x = RNG.standard_normal((1, 3, 5, 6)).astype(np.float32)
    model = one_node("GridSample", [("x", F32, list(x.shape)), ("g", F32, list(GRID.shape))],
                     opset=opset, mode=mode, padding_mode=padding, align_corners=align)
    got, want = pulsar.load(model).run([x, GRID])[0], ort_run(model, {"x": x, "g": GRID})[0]
    assert got.shape == (1, 3, 4, 6)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["linear", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_volumetric_gridsample_matches_the_onnx_reference(mode, padding):
    x = RNG.standard_normal((1, 2, 3, 4, 5)).astype(np.float32)
    grid = (RNG.standard_normal((1, 2, 3, 4, 3)) * 1.2).astype(np.float32)
    model = one_node("GridSample", [("x", F32, list(x.shape)), ("g", F32, list(grid.shape))],
                     opset=20, mode=mode, padding_mode=padding)
    want = ReferenceEvaluator(model).run(None, {"x": x, "g": grid})[0]
    np.testing.assert_allclose(pulsar.load(model).run([x, grid])[0], want, rtol=1e-5, atol=1e-5)


def test_affine_grid_size_is_read_from_its_constant():
    model = one_node("AffineGrid", [("theta", F32, ["N", 2, 3])], {"size": np.array([2, 3, 5, 6], np.int64)},
                     opset=20, align_corners=1)
    loaded = pulsar.load(model)
    assert loaded.outputs[0].shape == (dims.sym("N"), 5, 6, 2)
    theta = RNG.standard_normal((2, 2, 3)).astype(np.float32)
    want = ReferenceEvaluator(model).run(None, {"theta": theta})[0]
    np.testing.assert_allclose(loaded.run([theta])[0], want, rtol=1e-5, atol=1e-6)
