"""`pulsar demo`: build a small audio model in memory, analyse it symbolically, run it.

No files and no network: the model is made with onnx.helper from seeded random weights, so the
demo shows the whole path (import -> symbolic facts -> optimise -> plan -> kernels) anywhere.
"""
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from ..api import load

NAME = "demo"
HELP = "analyse and run a built-in audio model (no files needed)"


def add_arguments(parser):
    parser.add_argument("--samples", type=int, default=16000,
                        help="signal length to bind S to when running (default: 1 s at 16 kHz)")


def demo_model():
    """waveform[1,S] -> framing conv (400/160) -> conv -> mean over time -> 4 class scores."""
    rng = np.random.default_rng(0)

    def init(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name)

    nodes = [
        helper.make_node("Unsqueeze", ["waveform", "axis1"], ["signal"], name="to_channels"),
        helper.make_node("Conv", ["signal", "w1", "b1"], ["frames"], name="frontend",
                         kernel_shape=[400], strides=[160]),
        helper.make_node("Relu", ["frames"], ["frames_relu"], name="frontend_relu"),
        helper.make_node("Conv", ["frames_relu", "w2", "b2"], ["features"], name="context",
                         kernel_shape=[3], pads=[0, 0]),
        helper.make_node("Relu", ["features"], ["features_relu"], name="context_relu"),
        helper.make_node("ReduceMean", ["features_relu"], ["pooled"], name="pool",
                         axes=[2], keepdims=0),
        helper.make_node("Gemm", ["pooled", "w3", "b3"], ["logits"], name="classifier", transB=1),
        helper.make_node("Softmax", ["logits"], ["scores"], name="softmax", axis=-1),
    ]
    inits = [numpy_helper.from_array(np.array([1], np.int64), "axis1"),
             init("w1", 16, 1, 400), init("b1", 16), init("w2", 16, 16, 3), init("b2", 16),
             init("w3", 4, 16), init("b3", 4)]
    graph = helper.make_graph(
        nodes, "demo", [helper.make_tensor_value_info("waveform", TensorProto.FLOAT, [1, "S"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def main(args) -> int:
    proto = demo_model()
    model = load(proto)
    print("A built-in model: 16 kHz waveform -> 25 ms/10 ms framing conv -> conv -> mean -> 4 scores")
    print(f"\n{model}\n\nAnalysed graph (every shape is written in the signal length S):")
    print(model.dump())
    t = np.arange(args.samples, dtype=np.float32) / 16000.0
    wave = np.sin(2 * np.pi * (200 + 400 * t) * t)[None, :].astype(np.float32)
    bound = model.bind(S=args.samples)
    frames = bound.graph.facts[_frontend_output(bound)].shape[2]
    print(f"\nBound S={args.samples}: the framing conv yields {frames} frames.")
    start = time.perf_counter()
    (scores,) = model.run({"waveform": wave})
    first = time.perf_counter() - start
    start = time.perf_counter()
    model.run({"waveform": wave})
    again = time.perf_counter() - start
    print(f"scores = {np.array2string(scores[0], precision=4)}  "
          f"(first run {first * 1e3:.1f} ms, then {again * 1e3:.2f} ms; machine code compiles in "
          f"the background meanwhile: pulsar warmup builds it ahead)")
    compare_with_onnxruntime(proto, wave, scores)
    return 0


def _frontend_output(model):
    """The framing conv's output wire (its Relu may have been fused into it)."""
    return next(n.outputs[0] for n in model.graph.nodes if n.name == "frontend")


def compare_with_onnxruntime(proto, wave, scores):
    try:
        import onnxruntime
    except ImportError:
        print("(install onnxruntime to compare: pip install onnxruntime)")
        return
    session = onnxruntime.InferenceSession(proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"waveform": wave})
    print(f"onnxruntime agrees: max abs diff {np.max(np.abs(expected - scores)):.2e}")
