"""onnxruntime as the independent reference for op tests: one thread, quiet."""
import onnxruntime as ort


def ort_session(model, optimise=True):
    """An onnxruntime session of `model` (an onnx.ModelProto, its bytes or a path) on one
    thread, quiet. `optimise=False` turns off onnxruntime's own graph rewrites, for checks of
    pulsar's fusions against a reference that fuses nothing."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    if not optimise:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    source = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model) \
        if not isinstance(model, bytes) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def ort_run(model, feeds, outputs=None, optimise=True) -> list:
    """Outputs of `model` on `feeds` computed by onnxruntime (see `ort_session`): all of them,
    or those named in `outputs`."""
    return ort_session(model, optimise).run(outputs, feeds)
