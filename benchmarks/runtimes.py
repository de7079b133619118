"""The runtimes pulsar is measured against, configured once for every workload.

onnxruntime runs on one thread, sequentially (pulsar runs on one thread). tract is optional: the
PyPI package `tract` is not a project dependency; when it is not installed its column says n/a.
This module imports neither onnx nor the runtimes at import time, so start-up children
(benchmarks/startup.py) pay only for what they use.
"""
import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PULSAR_MODELS", REPO.parent / "shared" / "models"))


def shared_model(*parts) -> Path:
    """A file of ../shared/models (or $PULSAR_MODELS); FileNotFoundError skips the workload."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} not present")
    return path


def ort_session(model):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    src = str(model) if isinstance(model, Path) else model.SerializeToString()
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def tract_runnable(model):
    """A tract runnable of `model` (path or ModelProto), or None when tract is not installed."""
    try:
        import tract
    except ImportError:
        return None
    if isinstance(model, Path):
        return tract.onnx().load(str(model)).into_model().into_runnable()
    fd, path = tempfile.mkstemp(suffix=".onnx")     # tract loads from files only
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
        return tract.onnx().load(path).into_model().into_runnable()
    finally:
        os.unlink(path)


def child_json(script, args, what, env=None, timeout=1800) -> dict:
    """Run `script args` in a new Python process and return the JSON on its last output line.
    A child that found no shared files raises FileNotFoundError (the workload is skipped);
    any other failure raises RuntimeError naming `what` and the child's last error line."""
    import json
    import subprocess
    import sys
    done = subprocess.run([sys.executable, str(script), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        if "FileNotFoundError" in tail[0]:
            raise FileNotFoundError(tail[0])
        raise RuntimeError(f"{what} failed: {tail[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
