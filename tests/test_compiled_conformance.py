"""Compiled plans against onnx's official node test data: every case whose op can emit runs
as a generated Numba function and must reproduce onnx's expected outputs."""
import pytest

from conformance import all_cases, run_case

COMPILED_OPS = ("Conv", "Gemm", "MatMul", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
                "Identity", "Transpose", "Cast", "Add", "Sub", "Mul", "Div", "Max", "Min",
                "Sum", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Equal", "And", "Or",
                "Xor", "Abs", "Neg", "Exp", "Log", "Sqrt", "Sin", "Cos", "Tanh", "Sigmoid",
                "Relu", "LeakyRelu", "HardSigmoid", "Clip", "Floor", "Ceil", "Reciprocal",
                "Concat", "Slice", "Split", "Pad", "Gather", "Expand", "Where", "Tile",
                "LSTM", "GRU", "RNN",
                "LayerNormalization", "BatchNormalization", "InstanceNormalization", "Softmax",
                "LogSoftmax", "Hardmax", "MaxPool", "AveragePool", "LpPool",
                "GlobalAveragePool", "GlobalMaxPool", "ReduceMax", "ReduceMin", "ReduceMean",
                "ReduceSum")


def cases():
    allow = set(open(__file__.replace("test_compiled_conformance.py",
                                      "conformance_allowlist.txt")).read().split())
    return sorted(name for name, c in all_cases().items() if name in allow
                  and [n.op_type for n in c.model.graph.node][-1:] and
                  {n.op_type for n in c.model.graph.node} <= set(COMPILED_OPS) | {"Constant"})


@pytest.mark.slow
@pytest.mark.parametrize("name", cases())
def test_compiled_case(name):
    compiled = run_case(name, compile=True)
    if compiled == 0:
        pytest.skip("nothing compiles here (symbolic shapes, dtype, or constant-folded)")
