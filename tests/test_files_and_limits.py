"""Hostile files and sizes: only regular files are read, external data ranges are checked
against the file, and sizes beyond the memory budget are refused before anything is allocated.
Every case must end in a typed error, quickly (each FIFO case would block forever otherwise)."""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import pulsar
from reference import ort_run
from models import model, tensor

W = np.arange(6, dtype=np.float32).reshape(2, 3)


@pytest.mark.parametrize("source", [3, None, 2.5, ["m.onnx"], object()])
def test_a_source_that_is_not_a_path_is_a_typed_error(source):
    with pytest.raises(pulsar.ModelLoadError, match="pass a path"):
        pulsar.load(source)


def test_a_fifo_a_device_and_a_directory_are_refused(tmp_path):
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero", "/dev/null", tmp_path):
        with pytest.raises(pulsar.ModelLoadError, match="not a regular file"):
            pulsar.load(path)
    with pytest.raises(pulsar.ModelLoadError):
        pulsar.load(str(tmp_path / "a\x00b.onnx"))


def external_model(tmp_path, **entries):
    """y = x + w with w stored in tmp_path/w.bin; `entries` override the external data keys."""
    (tmp_path / "w.bin").write_bytes(W.tobytes())
    t = numpy_helper.from_array(W, "w")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for key, value in {"location": "w.bin", "offset": "0", "length": str(W.nbytes),
                       **entries}.items():
        if value is not None:
            e = t.external_data.add()
            e.key, e.value = key, value
    proto = model([helper.make_node("Add", ["x", "w"], ["y"], name="add")],
                  [tensor("x", [2, 3])], [tensor("y", None)], [t])
    path = tmp_path / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    return path


def test_well_formed_external_data_agrees_with_onnxruntime(tmp_path):
    path = external_model(tmp_path)
    x = np.ones((2, 3), np.float32)
    (got,) = pulsar.load(path).run({"x": x})
    (want,) = ort_run(path, {"x": x})
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("entries, words", [
    ({"offset": "100"}, "past the end"),
    ({"offset": "8"}, "past the end"),                  # 8 + 24 > 24
    ({"length": "8"}, "needs 24 bytes"),                # short: the tensor needs 24
    ({"length": "-4"}, "not a non-negative integer"),
    ({"length": str(2 ** 62)}, "past the end"),
    ({"offset": "twelve"}, "not a non-negative integer"),
    ({"offset": "1e3"}, "not a non-negative integer"),
    ({"location": "w.bin\x00.txt"}, "NUL byte"),
    ({"location": ""}, "malformed external data location"),
    ({"location": "../w.bin"}, "escapes"),
    ({"location": "/etc/passwd"}, "escapes"),
])
def test_malformed_external_data_is_a_typed_error(tmp_path, entries, words):
    with pytest.raises(pulsar.ModelLoadError, match=words):
        pulsar.load(external_model(tmp_path, **entries))


def test_external_data_that_is_a_fifo_is_refused(tmp_path):
    path = external_model(tmp_path, location="pipe.bin")
    os.mkfifo(tmp_path / "pipe.bin")
    with pytest.raises(pulsar.ModelLoadError, match="not a regular file"):
        pulsar.load(path)


def test_outputs_beyond_the_memory_budget_are_refused_at_load(monkeypatch):
    monkeypatch.setenv("PULSAR_MEMORY_BUDGET", "1M")
    shape = numpy_helper.from_array(np.array([1024, 1024], np.int64), "shape")
    proto = model([helper.make_node("ConstantOfShape", ["shape"], ["c"], name="fill"),
                   helper.make_node("Add", ["x", "c"], ["y"], name="add")],
                  [tensor("x", [1], TensorProto.FLOAT)], [tensor("y", None)], [shape])
    with pytest.raises(pulsar.ResourceError, match="'fill'.*memory budget"):
        pulsar.load(proto)
    monkeypatch.setenv("PULSAR_MEMORY_BUDGET", "8M")           # fits: the result is ORT's
    x = np.ones(1, np.float32)
    (got,) = pulsar.load(proto).run({"x": x})
    (want,) = ort_run(proto, {"x": x})
    np.testing.assert_array_equal(got, want)


def test_inputs_that_would_exceed_the_budget_are_refused_before_running(monkeypatch):
    monkeypatch.setenv("PULSAR_MEMORY_BUDGET", "1M")
    proto = model([helper.make_node("Tile", ["x", "reps"], ["y"], name="tile")],
                  [tensor("x", ["N"])], [tensor("y", None)],
                  [numpy_helper.from_array(np.array([4096], np.int64), "reps")])
    m = pulsar.load(proto)
    assert m.run({"x": np.ones(4, np.float32)})[0].shape == (4 * 4096,)
    with pytest.raises(pulsar.ResourceError, match="memory budget"):
        m.run({"x": np.ones(1024, np.float32)})


def test_a_malformed_budget_is_an_option_error(monkeypatch):
    monkeypatch.setenv("PULSAR_MEMORY_BUDGET", "lots")
    with pytest.raises(pulsar.OptionError, match="PULSAR_MEMORY_BUDGET"):
        pulsar.load(model([helper.make_node("Tile", ["x", "r"], ["y"])], [tensor("x", [2])],
                          [tensor("y", None)], [numpy_helper.from_array(np.array([2]), "r")]))


def test_a_shape_input_declared_huge_does_not_create_a_symbol_per_element():
    proto = model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")],
                  [tensor("x", [4]), tensor("shape", [2 ** 40], TensorProto.INT64)],
                  [tensor("y", None)])
    with pytest.raises(pulsar.PulsarError, match="symbols|rank"):
        pulsar.load(proto)


def test_lrn_with_a_huge_size_follows_the_spec():
    """onnxruntime allocates size-proportional scratch here (34 GB): the reference is the
    spec's formula written out channel by channel."""
    size = 2 ** 31 - 1
    proto = model([helper.make_node("LRN", ["x"], ["y"], name="lrn", size=size)],
                  [tensor("x", [1, 5, 2, 2])], [tensor("y", None)])
    x = np.random.default_rng(0).standard_normal((1, 5, 2, 2)).astype(np.float32)
    (got,) = pulsar.load(proto).run({"x": x})
    want = np.empty_like(x, dtype=np.float64)
    for c in range(5):
        lo, hi = max(0, c - (size - 1) // 2), min(4, c + size // 2)
        square_sum = (x[:, lo:hi + 1].astype(np.float64) ** 2).sum(axis=1)
        want[:, c] = x[:, c] / (1.0 + 1e-4 / size * square_sum) ** 0.75
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("op, attrs", [
    ("MaxPool", dict(kernel_shape=[2 ** 31 - 1, 2], pads=[2 ** 30, 0, 2 ** 30, 0])),
    ("AveragePool", dict(kernel_shape=[2 ** 20, 2 ** 20], pads=[2 ** 19] * 4)),
    ("LpPool", dict(kernel_shape=[2 ** 20, 2 ** 20], pads=[2 ** 19] * 4)),
])
def test_pooling_windows_that_would_run_for_hours_are_refused(op, attrs):
    proto = model([helper.make_node(op, ["x"], ["y"], name="pool", **attrs)],
                  [tensor("x", [1, 1, 8, 8])], [tensor("y", None)])
    with pytest.raises(pulsar.ResourceError, match="'pool'.*steps"):
        pulsar.load(proto)


def test_conv_pads_beyond_the_budget_are_refused():
    proto = model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[2 ** 31] * 4)],
                  [tensor("x", [1, 1, 8, 8])], [tensor("y", None)],
                  [numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")])
    with pytest.raises(pulsar.ResourceError, match="'conv'"):
        pulsar.load(proto)
