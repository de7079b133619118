"""Benchmark workloads: each builds a `Workload`, one callable per runtime and a `check`.

The callables compute the same thing; `check()` compares their outputs (correctness never trades
for speed) and raises when they differ. Models come from onnx.helper, onnx's light models, or
../shared/models; a builder raises FileNotFoundError when its shared files are absent.
`tract` (the PyPI package, not a project dependency) joins the batch workloads when installed.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from runtimes import ort_session, shared_model, tract_runnable

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


@dataclass
class Workload:
    runtimes: dict                   # {"pulsar": fn, "onnxruntime": fn, optionally "tract": fn}
    check: Callable[[], None]
    info: dict = field(default_factory=dict)     # filled by check() and profile() for the report
    profile: Optional[Callable[[int], None]] = None     # breakdown after timing, given a size


def pair(model, feeds, with_tract=False):
    """pulsar vs onnxruntime (and tract, when asked and installed) on one model, fixed feeds."""
    import pulsar
    m = pulsar.load(model)
    s = ort_session(model)
    arrays = [feeds[i.name] for i in m.inputs]
    runtimes = {"pulsar": lambda: m.run(arrays), "onnxruntime": lambda: s.run(None, feeds)}
    t = tract_runnable(model) if with_tract else None
    if t is not None:
        runtimes["tract"] = lambda: t.run(arrays)

    def check():
        expected = s.run(None, feeds)
        for a, b in zip(m.run(arrays), expected):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4, err_msg="pulsar")
        if t is not None:
            for a, b in zip(t.run(arrays), expected):
                np.testing.assert_allclose(a.to_numpy(), b, rtol=1e-3, atol=1e-4, err_msg="tract")
    return Workload(runtimes, check)


def add_one_node():
    g = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "add",
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 16]) for n in "ab"],
                          [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 16])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    x = np.ones((1, 16), np.float32)
    return pair(model, {"a": x, "b": x}, with_tract=True)


def mlkws(name):
    def build():
        path = shared_model("mlkws", f"{name}.onnx")
        ref = np.load(shared_model("mlkws", "tf_reference.npz"))
        x = ref[f"{name}/noise/fingerprint"].astype(np.float32)
        inp = onnx.load(path).graph.input[0]
        shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        return pair(path, {inp.name: x.reshape(shape)}, with_tract=True)
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
    runtimes = {"pulsar": lambda: stream.push({"audio": chunk}), "onnxruntime": run_ort}
    return Workload(runtimes, check)


def silero():
    """silero-vad v5 per 512-sample chunk at 16 kHz: pulsar's explicit-state session (sr bound,
    64 context samples kept by the session) vs onnxruntime driven as silero's OnnxWrapper drives
    it (context concatenated, state and sr fed, state kept), on the shared speech recording."""
    import pulsar
    import wakeword_workload
    from pulsar import streaming
    path = shared_model("silero_vad", "silero_vad.onnx")
    audio = wakeword_workload.read_wav("turn_on_the_office_lights_test_clip").astype(np.float32) / 32768
    chunks = [audio[None, i:i + 512] for i in range(0, len(audio) - 511, 512)]
    sm = streaming.stateful(pulsar.load(path), state={"state": "stateN"}, constants={"sr": 16000},
                            context=64, chunk=512)
    stream = sm.session()
    s = ort_session(path)
    sr = np.array(16000, np.int64)
    ort_state = {"state": np.zeros((2, 1, 128), np.float32), "context": np.zeros((1, 64), np.float32)}
    position = {"pulsar": 0, "onnxruntime": 0}

    def next_chunk(who):
        k = position[who] = (position[who] + 1) % len(chunks)
        return chunks[k]

    def run_ort(chunk):
        x = np.concatenate([ort_state["context"], chunk], axis=1)
        prob, ort_state["state"] = s.run(None, {"input": x, "state": ort_state["state"], "sr": sr})
        ort_state["context"] = x[:, -64:]
        return prob

    def check():
        stream.reset()
        ort_state["state"][...] = 0
        ort_state["context"][...] = 0
        for chunk in chunks[:200]:
            np.testing.assert_allclose(stream.push(chunk)[0], run_ort(chunk), rtol=0, atol=2e-5)
        stream.reset()
        ort_state["state"][...] = 0
        ort_state["context"][...] = 0
    runtimes = {"pulsar": lambda: stream.push(next_chunk("pulsar")),
                "onnxruntime": lambda: run_ort(next_chunk("onnxruntime"))}
    return Workload(runtimes, check, {"compiled": sm.model.dump().splitlines()[-1]})


def classifier(stem):
    """An openWakeWord classifier per call (16 embeddings in, one score out)."""
    def build():
        path = shared_model("openwakeword", f"{stem}.onnx")
        inp = onnx.load(path).graph.input[0]
        x = (np.random.default_rng(0).standard_normal((1, 16, 96)) * 0.5).astype(np.float32)
        return pair(path, {inp.name: x})
    return build


def scan_cell(frames=20, size=8, hidden=16):
    """A Scan over a plain RNN cell, as exporters write recurrences no fused op matches:
    h = Tanh(x_t @ wx + h @ wh + b) for 20 frames, every h stacked (one call)."""
    rng = np.random.default_rng(0)

    def w(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    def info(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
    body = helper.make_graph(
        [helper.make_node("MatMul", ["x_t", "wx"], ["xw"]),
         helper.make_node("MatMul", ["h_in", "wh"], ["hw"]),
         helper.make_node("Add", ["xw", "hw"], ["s"]), helper.make_node("Add", ["s", "b"], ["a"]),
         helper.make_node("Tanh", ["a"], ["h_out"]),
         helper.make_node("Identity", ["h_out"], ["y_t"])],
        "cell", [info("h_in", [1, hidden]), info("x_t", [1, size])],
        [info("h_out", [1, hidden]), info("y_t", [1, hidden])])
    g = helper.make_graph(
        [helper.make_node("Scan", ["h0", "x"], ["h", "ys"], body=body, num_scan_inputs=1)],
        "scan_cell", [info("h0", [1, hidden]), info("x", [frames, 1, size])],
        [info("h", None), info("ys", None)], [w("wx", size, hidden), w("wh", hidden, hidden),
                                              w("b", hidden)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    feeds = {"h0": np.zeros((1, hidden), np.float32),
             "x": rng.standard_normal((frames, 1, size)).astype(np.float32)}
    return pair(model, feeds)


def wakeword():
    """openWakeWord per 80 ms chunk (benchmarks/wakeword_workload.py)."""
    import wakeword_workload
    runtimes, check, profile, info = wakeword_workload.build(ort_session)
    return Workload(runtimes, check, info, profile)


# name: (builder, target for pulsar / onnxruntime, from the "Speed" issue)
WORKLOADS = {
    "openWakeWord hey_jarvis (per 80 ms chunk)": (wakeword, 0.35),
    "one-node Add (per call)": (add_one_node, 1.0),
    "ML-KWS DS_CNN_S": (mlkws("DS_CNN_S"), 1.0),
    "ML-KWS CNN_M": (mlkws("CNN_M"), 1.0),
    "ML-KWS GRU_S": (mlkws("GRU_S"), 1.0),
    "ML-KWS CRNN_S": (mlkws("CRNN_S"), 1.0),
    "VAD-like, explicit LSTM state (per 512-sample chunk)": (vad, 0.8),
    "silero-vad v5, explicit state, sr bound, 64 context samples (per 512-sample chunk)":
        (silero, 0.8),
    "openWakeWord hey_jarvis classifier (per call)": (classifier("hey_jarvis_v0.1"), 1.0),
    "openWakeWord alexa classifier (per call)": (classifier("alexa_v0.1"), 1.0),
    "Scan over an RNN cell, 20 frames (per call)": (scan_cell, 1.0),
    "light resnet50 (batch 1)": (light("resnet50"), 1.5),
    "light squeezenet (batch 1)": (light("squeezenet"), 1.5),
}
