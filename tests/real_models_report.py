"""Max abs differences of pulsar against onnxruntime / TensorFlow on the real models.

    python tests/real_models_report.py     # prints a Markdown table (appended to CONFORMANCE.md
                                           # by tests/conformance_report.py)
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from shared_data import models_dir  # noqa: E402

LIGHT = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
         "shufflenet", "squeezenet", "vgg19", "zfnet512"]


def ort_outputs(path_or_proto, feeds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    src = str(path_or_proto) if isinstance(path_or_proto, Path) else path_or_proto.SerializeToString()
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"]).run(None, feeds)


def real_rows():
    import pulsar
    rows = []
    rng = np.random.default_rng(0)
    oww = models_dir() / "openwakeword"
    cases = [("openwakeword/melspectrogram", oww / "melspectrogram.onnx",
              {"input": (rng.standard_normal((1, 16000)) * 3000).astype(np.float32)}),
             ("openwakeword/embedding_model", oww / "embedding_model.onnx",
              {"input_1": rng.standard_normal((1, 76, 32, 1)).astype(np.float32)}),
             ("openwakeword/hey_jarvis_v0.1", oww / "hey_jarvis_v0.1.onnx",
              {"x.1": rng.standard_normal((1, 16, 96)).astype(np.float32)}),
             ("openwakeword/alexa_v0.1", oww / "alexa_v0.1.onnx",
              {"onnx::Flatten_0": rng.standard_normal((1, 16, 96)).astype(np.float32)})]
    for name, path, feeds in cases:
        if not path.exists():
            continue
        try:
            got = pulsar.load(path).run(feeds)
            want = ort_outputs(path, feeds)
            diff = max(float(np.max(np.abs(g - w))) for g, w in zip(got, want))
            rows.append((name, "onnxruntime", f"{diff:.2e}"))
        except Exception as e:  # noqa: BLE001 - the report records failures
            rows.append((name, "onnxruntime", f"FAIL: {type(e).__name__}: {str(e)[:100]}"))
    ref_path = models_dir() / "mlkws" / "tf_reference.npz"
    if ref_path.exists():
        ref = np.load(ref_path)
        for name in ("DS_CNN_S", "CNN_M", "CRNN_S", "GRU_S"):
            try:
                model = pulsar.load(models_dir() / "mlkws" / f"{name}.onnx")
                diff = 0.0
                for clip in ("silence", "noise"):
                    x = ref[f"{name}/{clip}/fingerprint"].astype(np.float32)
                    (got,) = model.run([x.reshape(model.inputs[0].shape)])
                    diff = max(diff, float(np.max(np.abs(got.reshape(-1) - ref[f"{name}/{clip}/softmax"].reshape(-1)))))
                rows.append((f"mlkws/{name}", "TensorFlow", f"{diff:.2e}"))
            except Exception as e:  # noqa: BLE001
                rows.append((f"mlkws/{name}", "TensorFlow", f"FAIL: {type(e).__name__}: {str(e)[:100]}"))
    return rows


def light_rows():
    import onnx
    from onnx.backend.test.runner import Runner
    import pulsar
    base = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
    rows = []
    for name in LIGHT:
        path = base / f"light_{name}.onnx"
        model = onnx.load(path)
        try:
            feeds = {}
            inits = {i.name for i in model.graph.initializer}
            for vi in model.graph.input:
                if vi.name not in inits:
                    feeds[vi.name] = Runner.generate_dummy_data(vi, seed=0, name=f"test_{name}", random=False)
            expected = onnx.numpy_helper.to_array(onnx.load_tensor(str(base / f"light_{name}_output_0.pb")))
            (got,) = pulsar.load(model).run(feeds)
            rows.append((f"light/{name}", "onnx test data", f"{float(np.max(np.abs(got - expected))):.2e}"))
        except Exception as e:  # noqa: BLE001
            rows.append((f"light/{name}", "onnx test data", f"FAIL: {type(e).__name__}: {str(e)[:100]}"))
    return rows


def table() -> str:
    lines = ["| model | reference | max abs diff |", "|---|---|---|"]
    for row in real_rows() + light_rows():
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table())
