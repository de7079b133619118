"""onnxruntime as the independent reference for op tests: one thread, quiet."""
import onnxruntime as ort


def ort_run(model, feeds, outputs=None, optimise=True) -> list:
    """Outputs of `model` (an onnx.ModelProto, its bytes or a path) on `feeds`, computed by
    onnxruntime on one thread: all of them, or those named in `outputs`. `optimise=False`
    turns off onnxruntime's own graph rewrites, for checks of pulsar's fusions against a
    reference that fuses nothing."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    if not optimise:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    source = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model) \
        if not isinstance(model, bytes) else model
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    return session.run(outputs, feeds)
