"""Ops declare how they stream; the streaming layer and the kernels never name an ONNX op."""
import onnx.defs

from pulsar.ops.registry import _REGISTRY
from pulsar.streaming.rules import rule_for
from tools.op_name_literals import count, op_names


def test_no_op_names_in_streaming_or_kernels():
    found = count()
    for d in ("streaming", "kernels"):
        assert found[d] == [], f"{d}/ names ONNX ops: {found[d]}"


def test_the_counter_sees_a_table_of_names(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""Relu in a docstring does not count."""\nT = ("Abs Neg Mystery" "Relu")\n'
                    'M = "Relu failed"\nN = "Conv"\n')
    from tools.op_name_literals import literals
    assert [n for _, n in literals(path, op_names())] == ["Abs", "Neg", "Conv"]


def test_elementwise_onnx_ops_stream_as_elementwise():
    """Each version of these ops reaches the generic elementwise rule through its class's
    declaration, with no list of names in between."""
    expected = {"Abs", "Add", "Relu", "Sigmoid", "Tanh", "Where", "Cast", "Clip", "Mul", "Erf"}
    assert expected <= {s.name for s in onnx.defs.get_all_schemas()}
    for name in expected:
        versions = _REGISTRY[("", name)]
        for _, cls in versions:
            assert cls.streams == "elementwise", cls
            assert rule_for(cls.__new__(cls)).__name__ == "elementwise"


def test_fusion_passes_ask_the_ops():
    """Elementwise fusion and conv activation fusion ask each op what it computes (`Op.scalar`);
    only conv_fusion's BatchNormalization folding names the ops of the pattern it recognises."""
    found = count()["pulsar"]
    assert [h for h in found if h[0] == "pulsar/passes/elementwise_fusion.py"] == []
    assert {n for f, _, n in found if f == "pulsar/passes/conv_fusion.py"} == \
        {"BatchNormalization", "Conv", "Gemm", "Add", "MatMul"}
