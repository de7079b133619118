"""Start-up: seconds from spawning a new Python process to its first output.

Cold: NUMBA_CACHE_DIR and PULSAR_CACHE_DIR (pulsar's generated fused-kernel sources) are new
empty folders, so every kernel the workload calls is generated and compiled. Warm: a new process
on the same folders, now filled by the cold run (Numba loads machine code).
onnxruntime is measured the same way as a reference (it has no compile cache).

    python benchmarks/startup.py ds_cnn_s pulsar      # the child: prints one JSON line
"""
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TARGETS = ("ds_cnn_s", "wakeword")
WARM_TARGET_S = 2.0


# -- the child ------------------------------------------------------------------------------------
def ds_cnn_s(runtime):
    from runtimes import ort_session, shared_model
    path = shared_model("mlkws", "DS_CNN_S.onnx")
    x = np.load(shared_model("mlkws", "tf_reference.npz"))["DS_CNN_S/noise/fingerprint"]
    x = x.astype(np.float32).reshape(1, 490)
    if runtime == "pulsar":
        import pulsar
        return pulsar.load(path).run([x])[0], 1
    s = ort_session(path)
    return s.run(None, {s.get_inputs()[0].name: x})[0], 1


def wakeword(runtime):
    """Push the recording's chunks until the first score comes out."""
    import wakeword_workload as ww
    from runtimes import ort_session
    files, samples = ww.model_files(), ww.read_wav()
    runner = ww.PulsarWakeWord(files) if runtime == "pulsar" else ww.OrtWakeWord(files, ort_session)
    for c in range(len(samples) // ww.CHUNK):
        score = runner.push(samples[c * ww.CHUNK:(c + 1) * ww.CHUNK])
        if score is not None:
            return np.array([score]), c + 1
    raise RuntimeError("no score from the whole recording")


def child(target, runtime):
    sys.path.insert(0, str(HERE))
    t0 = time.perf_counter()
    output, chunks = {"ds_cnn_s": ds_cnn_s, "wakeword": wakeword}[target](runtime)
    print(json.dumps({"t_first": time.time(), "in_process_s": time.perf_counter() - t0,
                      "output": np.asarray(output, np.float64).ravel().tolist(),
                      "chunks": chunks}))


# -- the parent -----------------------------------------------------------------------------------
def spawn(target, runtime, cache_dir=None) -> dict:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir / "numba")
        env["PULSAR_CACHE_DIR"] = str(cache_dir / "pulsar")
    t0 = time.time()
    from runtimes import child_json
    data = child_json(Path(__file__).resolve(), [target, runtime], f"{target}/{runtime} start-up",
                      env=env)
    data["seconds"] = data.pop("t_first") - t0
    return data


def check(target, data):
    """The first output is right: DS_CNN_S against TensorFlow's own output; a wake-word score is
    a probability."""
    out = np.array(data["output"])
    if target == "ds_cnn_s":
        from runtimes import shared_model
        ref = np.load(shared_model("mlkws", "tf_reference.npz"))
        want = ref["DS_CNN_S/noise/softmax"].ravel()
        np.testing.assert_allclose(out, want, atol=1e-4, err_msg="DS_CNN_S first output")
    else:
        assert out.shape == (1,) and 0.0 <= out[0] <= 1.0, f"wake-word score {out}"


def measure_target(target, smoke=False, warm_runs=5) -> dict:
    """{"pulsar": {"cold_s", "warm_s", ...}, "onnxruntime": {"warm_s"}, "check": ...}."""
    result = {}
    if smoke:       # no cold compile; one run on whatever cache the environment has
        p = spawn(target, "pulsar")
        check(target, p)
        result["pulsar"] = {"warm_s": p["seconds"], "chunks": p["chunks"]}
    else:
        cache = Path(tempfile.mkdtemp(prefix="pulsar-numba-cache-"))
        try:
            cold = spawn(target, "pulsar", cache)
            warm = [spawn(target, "pulsar", cache) for _ in range(warm_runs)]
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        for d in [cold] + warm:
            check(target, d)
        result["pulsar"] = {"cold_s": cold["seconds"],
                            "warm_s": float(np.median([w["seconds"] for w in warm])),
                            "warm_min_s": min(w["seconds"] for w in warm),
                            "warm_runs_s": [w["seconds"] for w in warm], "chunks": cold["chunks"]}
    ort_runs = [spawn(target, "onnxruntime") for _ in range(1 if smoke else warm_runs)]
    for d in ort_runs:
        check(target, d)
    result["onnxruntime"] = {"warm_s": float(np.median([d["seconds"] for d in ort_runs])),
                             "warm_min_s": min(d["seconds"] for d in ort_runs),
                             "chunks": ort_runs[0]["chunks"]}
    result["target_s"] = WARM_TARGET_S
    result["met"] = result["pulsar"]["warm_s"] <= WARM_TARGET_S
    result["check"] = "passed"
    return result


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2])
