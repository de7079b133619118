"""Benchmark workloads: each returns (pulsar callable, onnxruntime callable, check callable).

Each pair computes the same thing; `check()` compares their outputs (correctness never trades
for speed). Models come from onnx.helper, onnx's light models, or ../shared/models.
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "models"
LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def ort_session(model):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    src = str(model) if isinstance(model, Path) else model.SerializeToString()
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def pair(model, feeds):
    """pulsar vs onnxruntime running one model on fixed feeds."""
    import pulsar
    m = pulsar.load(model)
    s = ort_session(model)
    order = [i.name for i in m.inputs]
    arrays = [feeds[n] for n in order]

    def check():
        for a, b in zip(m.run(arrays), s.run(None, feeds)):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    return (lambda: m.run(arrays)), (lambda: s.run(None, feeds)), check


def add_one_node():
    g = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "add",
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 16]) for n in "ab"],
                          [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 16])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    x = np.ones((1, 16), np.float32)
    return pair(model, {"a": x, "b": x})


def mlkws(name):
    def build():
        path = SHARED / "mlkws" / f"{name}.onnx"
        ref = np.load(SHARED / "mlkws" / "tf_reference.npz")
        x = ref[f"{name}/noise/fingerprint"].astype(np.float32)
        inp = onnx.load(path).graph.input[0]
        shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        return pair(path, {inp.name: x.reshape(shape)})
    return build


def light(name):
    def build():
        from onnx.backend.test.runner import Runner
        model = onnx.load(LIGHT / f"light_{name}.onnx")
        inits = {i.name for i in model.graph.initializer}
        feeds = {vi.name: Runner.generate_dummy_data(vi, seed=0, name=f"test_{name}", random=False)
                 for vi in model.graph.input if vi.name not in inits}
        return pair(model, feeds)
    return build


def vad_model(hidden=64, frame=512, hop=128):
    """A VAD-like model with explicit LSTM state: STFT as a strided conv, two convs, an LSTM cell
    over the chunk's frames with h/c in and out, a sigmoid score per frame."""
    rng = np.random.default_rng(0)

    def w(name, *shape, scale=0.1):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)
    bins, ch = 65, 32
    nodes = [
        helper.make_node("Unsqueeze", ["audio", "ax1"], ["x"]),
        helper.make_node("Conv", ["x", "stft"], ["spec"], kernel_shape=[256], strides=[hop]),
        helper.make_node("Abs", ["spec"], ["mag"]),
        helper.make_node("Conv", ["mag", "c1", "c1b"], ["h1"], kernel_shape=[3], pads=[1, 1]),
        helper.make_node("Relu", ["h1"], ["r1"]),
        helper.make_node("Conv", ["r1", "c2", "c2b"], ["h2"], kernel_shape=[3], pads=[1, 1]),
        helper.make_node("Relu", ["h2"], ["r2"]),
        helper.make_node("Transpose", ["r2"], ["seq"], perm=[2, 0, 1]),
        helper.make_node("LSTM", ["seq", "W", "R", "B", "", "h0", "c0"], ["Y", "hn", "cn"],
                         hidden_size=hidden),
        helper.make_node("Squeeze", ["Y", "ax1"], ["y"]),
        helper.make_node("MatMul", ["y", "out_w"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["prob"]),
    ]
    inits = [numpy_helper.from_array(np.array([1], np.int64), "ax1"), w("stft", 2 * bins, 1, 256),
             w("c1", ch, 2 * bins, 3), w("c1b", ch), w("c2", ch, ch, 3), w("c2b", ch),
             w("W", 1, 4 * hidden, ch), w("R", 1, 4 * hidden, hidden), w("B", 1, 8 * hidden),
             w("out_w", hidden, 1)]
    inputs = [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, frame]),
              helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, 1, hidden]),
              helper.make_tensor_value_info("c0", TensorProto.FLOAT, [1, 1, hidden])]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("prob", "hn", "cn")]
    g = helper.make_graph(nodes, "vad", inputs, outputs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def vad():
    """Per 512-sample chunk, state looped back: pulsar's explicit-state session vs onnxruntime."""
    import pulsar
    from pulsar import streaming
    model = vad_model()
    m = pulsar.load(model)
    stream = streaming.stateful(m, state={"h0": "hn", "c0": "cn"}).session()
    s = ort_session(model)
    chunk = (np.random.default_rng(1).standard_normal((1, 512)) * 0.1).astype(np.float32)
    state = {"h0": np.zeros((1, 1, 64), np.float32), "c0": np.zeros((1, 1, 64), np.float32)}

    def run_ort():
        prob, hn, cn = s.run(None, {"audio": chunk, **state})
        state["h0"], state["c0"] = hn, cn
        return prob

    def check():
        stream.reset()
        state["h0"][...] = 0
        state["c0"][...] = 0
        for _ in range(5):
            np.testing.assert_allclose(stream.push({"audio": chunk})[0], run_ort(), rtol=1e-3, atol=1e-5)
    return (lambda: stream.push({"audio": chunk})), run_ort, check


WORKLOADS = {
    "one-node Add (per call)": add_one_node,
    "ML-KWS DS_CNN_S": mlkws("DS_CNN_S"),
    "ML-KWS CNN_M": mlkws("CNN_M"),
    "ML-KWS GRU_S": mlkws("GRU_S"),
    "ML-KWS CRNN_S": mlkws("CRNN_S"),
    "VAD-like, explicit LSTM state (per 512-sample chunk)": vad,
    "light resnet50 (batch 1)": light("resnet50"),
    "light squeezenet (batch 1)": light("squeezenet"),
}
