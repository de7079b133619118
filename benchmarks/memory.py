"""Memory in steady-state streaming: pushing chunks must not accumulate anything.

In a new process (so no other workload's freed memory can hide growth), the openWakeWord pipeline
takes `chunks` chunks of real audio (the recording, repeated):
  1. RSS (/proc/self/statm) at 10%, 50% and 100% of the chunks; flat = growth < 1 MB from the
     first checkpoint to the last;
  2. then, with tracemalloc on, as many chunks again: blocks still allocated at the end minus at
     the first checkpoint (Python objects and NumPy buffers alike; tracemalloc traces both).

    python benchmarks/memory.py 10000        # the child: prints one JSON line
"""
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLAT_MB = 1.0


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def checkpoints(chunks) -> list:
    return sorted({max(1, chunks // 10), max(1, chunks // 2), chunks})


def child(chunks):
    sys.path.insert(0, str(HERE))
    import numpy as np
    import wakeword_workload as ww
    runner = ww.PulsarWakeWord(ww.model_files())
    next_chunk = ww.chunk_cycle(ww.read_wav())
    marks = checkpoints(chunks)
    runner.push(next_chunk())           # compiles on a cold cache: not part of the steady state
    rss, scores, t0 = {}, [], time.perf_counter()
    for i in range(1, chunks + 1):
        score = runner.push(next_chunk())
        if score is not None:
            scores.append(score)
        if i in marks:
            rss[i] = rss_mb()
    seconds = (time.perf_counter() - t0) / chunks
    tracemalloc.start()
    blocks = {}
    for i in range(1, chunks + 1):
        runner.push(next_chunk())
        if i in marks:
            blocks[i] = traced_blocks()
    tracemalloc.stop()
    print(json.dumps({"rss_mb": rss, "traced_blocks": blocks, "ms_per_chunk": seconds * 1e3,
                      "scores_finite": bool(np.isfinite(scores).all()) and len(scores) > 0}))


def traced_blocks() -> list:
    """[blocks, bytes] allocated since tracemalloc started and still alive (its own excluded)."""
    own = tracemalloc.Filter(False, tracemalloc.__file__)
    snap = tracemalloc.take_snapshot().filter_traces([own])
    stats = snap.statistics("filename")
    return [sum(s.count for s in stats), sum(s.size for s in stats)]


def measure(chunks=10_000) -> dict:
    from runtimes import child_json
    data = child_json(Path(__file__).resolve(), [chunks], "memory run", timeout=3600)
    assert data["scores_finite"], "the pipeline's scores during the memory run were not finite"
    rss = {int(k): v for k, v in data["rss_mb"].items()}
    traced = {int(k): v for k, v in data["traced_blocks"].items()}
    first, last = min(rss), max(rss)
    growth = rss[last] - rss[first]
    return {"chunks": chunks, "rss_mb": rss, "rss_growth_mb": growth,
            "traced_blocks": {k: v[0] for k, v in traced.items()},
            "net_blocks": traced[last][0] - traced[first][0],
            "net_bytes": traced[last][1] - traced[first][1],
            "ms_per_chunk": data["ms_per_chunk"], "target_mb": FLAT_MB,
            "met": growth < FLAT_MB, "check": "passed"}


if __name__ == "__main__":
    child(int(sys.argv[1]))
