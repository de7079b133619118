"""Run by test_kernel_twins.py in a fresh process (PULSAR_TIER=interpreted, empty caches): the
shared models that are present and a few synthetic ones against onnxruntime, and openWakeWord's
streaming pipeline against openWakeWord's own scores; prints one JSON line, including whether
numba was imported."""
import json
import os
import sys
import wave
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import pulsar

MODELS = Path(os.environ["PULSAR_MODELS"])
AUDIO = Path(os.environ["PULSAR_AUDIO"])
SHARED = ["mlkws/DS_CNN_S.onnx", "mlkws/GRU_S.onnx", "mlkws/CRNN_S.onnx", "mlkws/CNN_M.onnx",
          "openwakeword/melspectrogram.onnx", "openwakeword/embedding_model.onnx",
          "openwakeword/hey_jarvis_v0.1.onnx", "openwakeword/alexa_v0.1.onnx"]
rng = np.random.default_rng(0)
mismatches = []


def ort_run(model, feeds):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    source = model if isinstance(model, str) else model.SerializeToString()
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def check(label, model, atol=1e-4):
    loaded = pulsar.load(model)
    assert loaded.tier == "interpreted", loaded.tier
    feeds = {}
    for fact in loaded.inputs:
        shape = [d if isinstance(d, int) else (16000 if "sample" in str(d) else 1)
                 for d in fact.shape]
        feeds[fact.name] = rng.standard_normal(shape).astype(np.float32)
    got, want = loaded.run(feeds), ort_run(model, feeds)
    for g, w in zip(got, want):
        if g.shape != w.shape or not np.allclose(g, w, rtol=1e-4, atol=atol):
            mismatches.append(f"{label}: max |diff| "
                              f"{np.max(np.abs(g - w)) if g.shape == w.shape else 'shape'}")


def synthetic():
    """Small models over the op families the twins cover."""
    def init(name, *shape, scale=0.3):
        values = (rng.standard_normal(shape) * scale).astype(np.float32)
        return numpy_helper.from_array(values, name)

    def make(nodes, x_shape, inits):
        graph = helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    n = helper.make_node
    cnn = make([n("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
                n("Relu", ["c1"], ["r1"]),
                n("Conv", ["r1", "w2"], ["c2"], group=8, pads=[1, 1, 1, 1]),
                n("Sigmoid", ["c2"], ["s2"]),
                n("MaxPool", ["s2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
                n("AveragePool", ["p2"], ["a2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                n("ConvTranspose", ["a2", "w3"], ["t3"], strides=[2, 2]),
                n("GlobalAveragePool", ["t3"], ["g"]), n("Flatten", ["g"], ["f"]),
                n("Softmax", ["f"], ["y"])],
               [1, 3, 16, 20], [init("w1", 8, 3, 3, 3), init("b1", 8), init("w2", 8, 1, 3, 3),
                                init("w3", 8, 4, 2, 2)])
    lstm = make([n("LSTM", ["x", "W", "R", "B"], ["ys", "h"], hidden_size=6),
                 n("Squeeze", ["ys", "axis"], ["sq"]),
                 n("GRU", ["sq", "W2", "R2", "B2"], ["ys2", "h2"], hidden_size=5,
                   linear_before_reset=1),
                 n("ReduceMean", ["ys2"], ["y"], axes=[0], keepdims=0)],
                [7, 2, 4], [init("W", 1, 24, 4), init("R", 1, 24, 6), init("B", 1, 48),
                            numpy_helper.from_array(np.array([1], np.int64), "axis"),
                            init("W2", 1, 15, 6), init("R2", 1, 15, 5), init("B2", 1, 30)])
    norm = make([n("LayerNormalization", ["x", "s", "b"], ["l"], axis=-1),
                 n("Mul", ["l", "k"], ["m"]), n("Tanh", ["m"], ["t"]),
                 n("Add", ["t", "l"], ["e"]),
                 n("Erf", ["e"], ["r"]), n("LogSoftmax", ["r"], ["y"], axis=1)],
                [2, 5, 12], [init("s", 12), init("b", 12),
                             numpy_helper.from_array(np.array(1.5, np.float32), "k")])
    for label, model in (("cnn", cnn), ("recurrent", lstm), ("norm+elementwise", norm)):
        check(label, model)
    return 3


def wakeword_pipeline():
    """openWakeWord's pipeline over one recording against openWakeWord's scores."""
    from pulsar.streaming.wakeword import openwakeword
    wav, ref = AUDIO / "tts_hey_jarvis_en-gb_130.wav", AUDIO / "openwakeword_reference_scores.npz"
    paths = [MODELS / "openwakeword" / f
             for f in ("melspectrogram.onnx", "embedding_model.onnx", "hey_jarvis_v0.1.onnx")]
    if not (wav.exists() and ref.exists() and all(p.exists() for p in paths)):
        return False
    ww = openwakeword(str(paths[0]), str(paths[1]), {"hey_jarvis": str(paths[2])})
    with wave.open(str(wav), "rb") as f:
        samples = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16)
    s, n = ww.session(), len(samples) // ww.chunk
    scores = {}
    for t in range(n + 1):
        out = s.push(samples[t * ww.chunk:(t + 1) * ww.chunk]) if t < n else s.flush()
        if len(out["hey_jarvis"]):
            scores[t - ww.latency // ww.chunk] = float(out["hey_jarvis"][0])
    theirs = np.load(ref)["tts_hey_jarvis_en-gb_130/hey_jarvis_v0.1"]
    warm = 25                   # see test_openwakeword_pipeline.reference_warmup
    ours = np.array([scores[c] for c in range(warm, len(theirs))])
    diff = float(np.max(np.abs(ours - theirs[warm:])))
    if diff >= 1e-3:
        mismatches.append(f"wake-word pipeline: max |score diff| {diff:.2e}")
    return True


present = [p for p in SHARED if (MODELS / p).exists()]
for p in present:
    check(p, str(MODELS / p))
count = synthetic()
pipeline = wakeword_pipeline()
print(json.dumps({"numba_imported": "numba" in sys.modules, "shared": present,
                  "synthetic": count, "pipeline": pipeline, "mismatches": mismatches}))
