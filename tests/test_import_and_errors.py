"""Loading from every kind of source, and the typed errors for bad models and bad inputs."""
import numpy as np
import onnx
import pytest
from onnx import helper

import pulsar
from models import add_mul, init, model, tensor


def test_load_from_proto_bytes_and_path(tmp_path):
    proto = add_mul()
    path = tmp_path / "m.onnx"
    onnx.save(proto, path)
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    for source in (proto, proto.SerializeToString(), str(path), path):
        (z,) = pulsar.load(source).run({"x": x, "y": x})
        np.testing.assert_array_equal(z, (x + x) * x)


def test_inputs_and_outputs_are_symbolic():
    m = pulsar.load(add_mul())
    assert [i.name for i in m.inputs] == ["x", "y"]
    assert [str(d) for d in m.inputs[0].shape] == ["1", "S"]
    assert [str(d) for d in m.outputs[0].shape] == ["1", "S"]
    assert m.outputs[0].dtype == np.float32


def test_unnamed_dims_become_fresh_symbols():
    m = pulsar.load(add_mul(shape_x=(1, None), shape_y=(1, None)))
    dx, dy = m.inputs[0].shape[1], m.inputs[1].shape[1]
    assert pulsar.dims.is_symbolic(dx) and pulsar.dims.is_symbolic(dy) and dx != dy


def test_list_inputs_and_bind():
    m = pulsar.load(add_mul()).bind(S=3)
    assert m.outputs[0].shape == (1, 3)
    x = np.ones((1, 3), np.float32)
    (z,) = m.run([x, x])
    np.testing.assert_array_equal(z, 2 * x)


def test_input_fact_override():
    m = pulsar.load(add_mul(shape_x=(1, "N"), shape_y=(1, "N")),
                    inputs={"x": "1,T", "y": "f32[1,T]"})
    assert [str(d) for d in m.outputs[0].shape] == ["1", "T"]


@pytest.mark.parametrize("data", [b"", b"garbage that is not protobuf \x00\xff\x12",
                                  b"\x08\x07\x12\x04abc"])
def test_not_onnx(data, tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(data)
    with pytest.raises(pulsar.ModelLoadError):
        pulsar.load(path)


def test_truncated_file(tmp_path):
    data = add_mul().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(pulsar.ModelLoadError):
        pulsar.load(path)


def test_missing_file():
    with pytest.raises(pulsar.ModelLoadError, match="cannot read"):
        pulsar.load("/nonexistent/model.onnx")


def test_unknown_ops_are_listed_together():
    nodes = [helper.make_node("FancyOp", ["x"], ["a"], name="first"),
             helper.make_node("Add", ["a", "x"], ["b"], name="ok"),
             helper.make_node("OtherOp", ["b"], ["c"], name="second", domain="com.example")]
    proto = model(nodes, [tensor("x", [2])], [tensor("c", None)])
    proto.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(pulsar.UnsupportedOpError) as e:
        pulsar.load(proto)
    assert "FancyOp" in str(e.value) and "first" in str(e.value)
    assert "OtherOp" in str(e.value) and "second" in str(e.value)
    assert len(e.value.missing) == 2


def test_external_data_escaping_folder_is_refused(tmp_path):
    proto = model([helper.make_node("Add", ["x", "w"], ["y"])], [tensor("x", [4])],
                  [tensor("y", None)], [init("w", np.ones(4, np.float32))])
    t = proto.graph.initializer[0]
    t.ClearField("raw_data")
    del t.float_data[:]
    t.data_location = onnx.TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    path = tmp_path / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(pulsar.ModelLoadError, match="escapes"):
        pulsar.load(path)


def test_external_data_inside_folder(tmp_path):
    w = np.arange(4, dtype=np.float32)
    proto = model([helper.make_node("Add", ["x", "w"], ["y"])], [tensor("x", [4])],
                  [tensor("y", None)], [init("w", w)])
    onnx.save(proto, tmp_path / "m.onnx", save_as_external_data=True,
              all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    (y,) = pulsar.load(tmp_path / "m.onnx").run([np.ones(4, np.float32)])
    np.testing.assert_array_equal(y, w + 1)


class TestRunErrors:
    m = None

    def setup_method(self):
        self.m = pulsar.load(add_mul())
        self.x = np.ones((1, 4), np.float32)

    def test_missing_input(self):
        with pytest.raises(pulsar.InputError, match="'y'"):
            self.m.run({"x": self.x})

    def test_unknown_input(self):
        with pytest.raises(pulsar.InputError, match="'q'"):
            self.m.run({"x": self.x, "y": self.x, "q": self.x})

    def test_wrong_dtype(self):
        with pytest.raises(pulsar.InputError, match="dtype float64.*'?y'?|'y'.*float64"):
            self.m.run({"x": self.x, "y": self.x.astype(np.float64)})

    def test_wrong_rank(self):
        with pytest.raises(pulsar.InputError, match="rank 1"):
            self.m.run({"x": self.x, "y": np.ones(4, np.float32)})

    def test_wrong_fixed_dim(self):
        with pytest.raises(pulsar.InputError, match="axis 0 is 2"):
            self.m.run({"x": self.x, "y": np.ones((2, 4), np.float32)})

    def test_symbol_bound_twice(self):
        with pytest.raises(pulsar.SymbolConflictError, match="symbol S is 4 .* but 5"):
            self.m.run({"x": self.x, "y": np.ones((1, 5), np.float32)})

    def test_wrong_count(self):
        with pytest.raises(pulsar.InputError, match="expected 2"):
            self.m.run([self.x])


def test_bind_unknown_symbol_is_an_option_error():
    with pytest.raises(pulsar.OptionError, match="Q"):
        pulsar.load(add_mul(), symbols={"Q": 3})


def test_shape_mismatch_names_node():
    nodes = [helper.make_node("Add", ["x", "y"], ["z"], name="bad_add")]
    proto = model(nodes, [tensor("x", [2, 3]), tensor("y", [4, 3])], [tensor("z", None)])
    with pytest.raises(pulsar.InferenceError, match="bad_add.*Add"):
        pulsar.load(proto)
