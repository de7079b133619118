"""onnxruntime as the independent reference for op tests: one thread, quiet."""
import onnxruntime as ort


def ort_run(model, feeds) -> list:
    """Outputs of `model` (an onnx.ModelProto) on `feeds`, computed by onnxruntime."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)
