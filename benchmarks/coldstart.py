"""Cold start: a new user's first output, pulsar against onnxruntime, each in a fresh process.

pulsar runs with empty NUMBA_CACHE_DIR and PULSAR_CACHE_DIR (nothing compiled yet) in its
default tier ("auto": NumPy twins answer while machine code compiles in the background).
onnxruntime is timed the same way: import, session, first run. Every figure is the median of
`--runs` fresh processes, measured from before `import` to the first output.

Also measured: `import pulsar`, the openWakeWord pipeline's first score, and a live stream
through that pipeline from a cold cache, push by push, while its machine code compiles in the
background and after: no push of one 80 ms chunk may take longer than 80 ms.

    python benchmarks/coldstart.py [--runs 3] [--write]   # --write: a section of BENCHMARKS.md
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from runtimes import child_json, shared_model  # noqa: E402

MODELS = {
    "DS_CNN_S": ("mlkws", "DS_CNN_S.onnx"), "CNN_M": ("mlkws", "CNN_M.onnx"),
    "CRNN_S": ("mlkws", "CRNN_S.onnx"), "GRU_S": ("mlkws", "GRU_S.onnx"),
    "melspectrogram": ("openwakeword", "melspectrogram.onnx"),
    "embedding": ("openwakeword", "embedding_model.onnx"),
    "hey_jarvis": ("openwakeword", "hey_jarvis_v0.1.onnx"),
    "alexa": ("openwakeword", "alexa_v0.1.onnx"),
    "silero_vad": ("silero_vad", "silero_vad.onnx"),
}
NODE_TESTS = ("test_gru_defaults", "test_lstm_defaults", "test_conv_with_strides_padding",
              "test_maxpool_2d_pads", "test_softmax_axis_1", "test_layer_normalization_2d_axis0")
CHUNK = 1280


# -- children -------------------------------------------------------------------------------------
def feeds_for(inputs, rng):
    """Random inputs for declared shapes, symbols set to small sizes (1 for batch-like)."""
    feeds = {}
    for name, dtype, shape in inputs:
        dims = [d if isinstance(d, int) and d > 0 else 1 for d in shape]
        if name == "input" and len(dims) == 2 and dims[1] == 1:      # melspectrogram samples
            dims[1] = 16000
        kind = np.dtype(dtype)
        feeds[name] = (rng.normal(size=dims) if kind.kind == "f" else np.zeros(dims)).astype(kind)
    return feeds


def child_model(runtime, name, saved=""):
    """One model's first output; `saved`: an onnx node test written out by `save_node_test`."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    feeds = None
    if saved:
        source = saved
        with np.load(saved[:-5] + ".npz") as data:
            feeds = dict(data)
    else:
        source = str(shared_model(*MODELS[name]))
    values = None
    if name == "silero_vad":            # one 512-sample window with silero's 64 of context
        values = {"sr": np.array(16000, np.int64)}
        feeds = {"input": rng.normal(size=(1, 576)).astype(np.float32) * 0.1,
                 "state": np.zeros((2, 1, 128), np.float32)}
    if runtime == "pulsar":
        import pulsar
        model = pulsar.load(source, values=values)
        if feeds is None:
            feeds = feeds_for([(i.name, i.dtype, i.shape or ()) for i in model.inputs], rng)
        out = model.run(feeds)[0]
    else:
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        s = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        if values:
            feeds = {**feeds, **values}
        if feeds is None:
            types = {"tensor(float)": np.float32, "tensor(int64)": np.int64}
            feeds = feeds_for([(i.name, types.get(i.type, np.float32),
                                [d if isinstance(d, int) else 1 for d in i.shape])
                               for i in s.get_inputs()], rng)
        out = s.run(None, feeds)[0]
    return {"seconds": time.perf_counter() - t0,
            "output": np.asarray(out, float).ravel()[:4].tolist()}


def save_node_test(name, folder) -> str:
    """The node test's model and first inputs as files (collecting the tests takes seconds,
    which is the harness's time, not the runtime's)."""
    from onnx.backend.test.case.node import collect_testcases
    case = next(c for c in collect_testcases(None) if c.name == name)
    path = Path(folder) / f"{name}.onnx"
    path.write_bytes(case.model.SerializeToString())
    np.savez(path.with_suffix(".npz"), **{i.name: v for i, v in
                                          zip(case.model.graph.input, case.data_sets[0][0])})
    return str(path)


def child_import():
    """`import pulsar` in an interpreter that has imported nothing yet (this script has numpy)."""
    import subprocess
    code = "import time; t = time.perf_counter(); import pulsar; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return {"seconds": float(done.stdout.split()[-1])}


def child_wakeword(runtime):
    """Seconds to the first score of the openWakeWord pipeline (one 80 ms chunk pushed)."""
    t0 = time.perf_counter()
    chunk = (np.random.default_rng(1).normal(size=CHUNK) * 3000).astype(np.int16)
    if runtime == "pulsar":
        from pulsar import audio
        ww = audio.WakeWord([str(shared_model("openwakeword", "hey_jarvis_v0.1.onnx"))],
                            mel=str(shared_model("openwakeword", "melspectrogram.onnx")),
                            embedding=str(shared_model("openwakeword", "embedding_model.onnx")))
        score = list(ww.predict(chunk).values())[0]
    else:
        import wakeword_workload as ww
        from runtimes import ort_session
        runner = ww.OrtWakeWord(ww.model_files(), ort_session)
        score = None
        while score is None:
            score = runner.push(chunk)
    return {"seconds": time.perf_counter() - t0, "output": [float(score)]}


def child_live_stream():
    """Push the shared recording chunk by chunk from a cold cache, timing every push, until
    the background compiles are done and 50 more chunks have run on machine code."""
    from pulsar import audio
    from pulsar.kernels.background import compiler
    from wakeword_workload import read_wav
    x = read_wav("stream_hey_jarvis_then_alexa")
    t0 = time.perf_counter()
    ww = audio.WakeWord([str(shared_model("openwakeword", "hey_jarvis_v0.1.onnx"))],
                        mel=str(shared_model("openwakeword", "melspectrogram.onnx")),
                        embedding=str(shared_model("openwakeword", "embedding_model.onnx")))
    pushes, done_at, i = [], None, 0
    while True:
        chunk = x[(i * CHUNK) % (len(x) - CHUNK):][:CHUNK]
        start = time.perf_counter()
        ww.predict(chunk)
        pushes.append(time.perf_counter() - start)
        time.sleep(max(0.0, CHUNK / 16000 - pushes[-1]))        # real time: one chunk per 80 ms
        i += 1
        if done_at is None and compiler().pending() == 0 and i > 5:
            done_at = i
        if done_at is not None and i >= done_at + 50:
            break
    return {"pushes": pushes, "switched_at": done_at, "seconds_to_compiled": None
            if done_at is None else float(sum(max(p, CHUNK / 16000) for p in pushes[:done_at])),
            # the wall time of the background compiler's jobs (they run in a child process)
            "compile_wall_s": compiler().seconds, "t_total": time.perf_counter() - t0}


# -- parent ---------------------------------------------------------------------------------------
def spawn(args, cold: bool) -> dict:
    env = dict(os.environ)
    env.pop("PULSAR_TIER", None)
    env.pop("PULSAR_COMPILE", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)    # an installed package has its bytecode
    cache = Path(tempfile.mkdtemp(prefix="pulsar-cold-"))
    if cold:
        env["NUMBA_CACHE_DIR"] = str(cache / "numba")
        env["PULSAR_CACHE_DIR"] = str(cache / "pulsar")
    try:
        return child_json(Path(__file__), args, " ".join(args), env=env)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def median_of(args, runs, cold=True) -> float:
    return float(np.median([spawn(args, cold)["seconds"] for _ in range(runs)]))


def bytecode():
    """Compile pulsar's modules to bytecode once, as `pip install` does: without it (an editable
    checkout under PYTHONDONTWRITEBYTECODE) every child spends ~0.5 s compiling Python source,
    which no installed user pays, while onnxruntime's bytecode is installed."""
    import compileall
    import importlib
    for name in ("pulsar", "pulsar.kernels", "pulsar.streaming"):
        compileall.compile_dir(os.path.dirname(importlib.import_module(name).__file__), quiet=1)


def measure(runs: int) -> dict:
    bytecode()
    rows = {}
    folder = tempfile.mkdtemp(prefix="pulsar-node-tests-")
    saved = {name: save_node_test(name, folder) for name in NODE_TESTS}
    for name in list(MODELS) + list(NODE_TESTS):
        extra = [saved[name]] if name in saved else []
        try:
            rows[name] = {"pulsar": median_of(["model", "pulsar", name, *extra], runs),
                          "onnxruntime": median_of(["model", "onnxruntime", name, *extra], runs,
                                                   False)}
        except FileNotFoundError:
            continue
        print(f"{name:36s} pulsar {rows[name]['pulsar']:6.2f} s   onnxruntime "
              f"{rows[name]['onnxruntime']:6.2f} s", flush=True)
    result = {"models": rows, "import_s": median_of(["import"], runs)}
    print(f"import pulsar: {result['import_s']:.2f} s", flush=True)
    try:
        result["wakeword"] = {"pulsar": median_of(["wakeword", "pulsar"], runs),
                              "onnxruntime": median_of(["wakeword", "onnxruntime"], runs, False)}
        print(f"openWakeWord first score: {result['wakeword']}", flush=True)
        live = spawn(["live"], cold=True)
        p = np.array(live["pushes"]) * 1e3
        k = live["switched_at"]
        result["live"] = {"max_ms": float(p.max()), "max_before_ms": float(p[:k].max()),
                          "median_before_ms": float(np.median(p[:k])),
                          "median_after_ms": float(np.median(p[k:])),
                          "chunks_to_compiled": k, "compile_wall_s": live["compile_wall_s"]}
        print(f"live stream: {result['live']}", flush=True)
    except FileNotFoundError:
        pass
    return result


def section(r, runs) -> str:
    lines = ["## Cold start", "",
             f"A fresh process with empty caches, median of {runs}: from before `import` to the "
             "first output (`pulsar.load` + first `run`, default tier) against onnxruntime's "
             "import, session and first run. Written by `python benchmarks/coldstart.py --write` "
             f"on {time.strftime('%Y-%m-%d')}.", "",
             "| model | pulsar (s) | onnxruntime (s) |", "|---|---|---|"]
    for name, row in r["models"].items():
        lines.append(f"| {name} | {row['pulsar']:.2f} | {row['onnxruntime']:.2f} |")
    lines += ["", f"`import pulsar`: {r['import_s']:.2f} s."]
    if "wakeword" in r:
        w = r["wakeword"]
        lines.append(f"openWakeWord pipeline (mel + embedding + hey_jarvis), first score: pulsar "
                     f"{w['pulsar']:.2f} s, onnxruntime {w['onnxruntime']:.2f} s.")
    if "live" in r:
        v = r["live"]
        lines.append(f"Live stream from a cold cache, one 80 ms chunk per 80 ms: slowest push "
                     f"{v['max_ms']:.1f} ms (median {v['median_before_ms']:.1f} ms while "
                     f"compiling in the background, {v['median_after_ms']:.2f} ms on machine code "
                     f"after {v['chunks_to_compiled']} chunks, once {v['compile_wall_s']:.0f} s "
                     "of background compiling, in a child process, were done).")
    return "\n".join(lines) + "\n"


def section_of(text) -> str:
    """The "Cold start" section of BENCHMARKS.md's text ("" if none): benchmarks/run.py
    rewrites the rest of the file and keeps this section as it was."""
    start = text.find("## Cold start")
    if start < 0:
        return ""
    end = text.find("\n## ", start + 5)
    return text[start:] if end < 0 else text[start:end + 1]


def write_section(text):
    path = HERE.parent / "BENCHMARKS.md"
    old = path.read_text()
    kept = section_of(old)
    if kept:
        old = old.replace(kept, "")
    path.write_text(old.rstrip() + "\n\n" + text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    r = measure(args.runs)
    (HERE / "coldstart.json").write_text(json.dumps(r, indent=1))
    if args.write:
        write_section(section(r, args.runs))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("model", "import", "wakeword", "live"):
        kind, rest = sys.argv[1], sys.argv[2:]
        fn = {"model": child_model, "import": child_import, "wakeword": child_wakeword,
              "live": child_live_stream}[kind]
        print(json.dumps(fn(*rest)))
    else:
        main()
