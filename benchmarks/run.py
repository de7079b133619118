"""Run pulsar and its peers side by side, interleaved, in one process; write BENCHMARKS.md.

    python benchmarks/run.py            # full run: BENCHMARKS.md and benchmarks/results.json
    python benchmarks/run.py --smoke    # a few iterations per workload, no files written
    python benchmarks/run.py --only kws # workloads (or "start-up", "memory") matching a substring:
                                        # their rows replace the same rows of the last full run

Per-call workloads: every runtime's check passes first, then each round times `inner` calls of
each runtime in turn (runtimes alternate every round, so load spikes on this shared machine hit
them alike); medians and p99 over all timed calls. Start-up and memory run in new processes
(benchmarks/startup.py, benchmarks/memory.py). The exit status is 1 when a check failed.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

# Per-call figures are steady state: models compile before timing (tier "compiled"), where a
# user's default tier ("auto") would first answer on NumPy twins while compiling in the
# background. Cold starts in the default tier: benchmarks/coldstart.py. The start-up and memory
# children inherit this.
os.environ.setdefault("PULSAR_TIER", "compiled")

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import coldstart  # noqa: E402
import memory  # noqa: E402
import report  # noqa: E402
import startup  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

HERE = Path(__file__).parent
ROUND_SECONDS = 0.05


def measure(fns: dict, rounds: int, inner: int) -> dict:
    """Median/p99 per call (µs) of each callable; runtimes alternate every round. cpu_per_wall
    (process CPU time / wall time) near 1 shows a runtime really ran on one thread."""
    samples = {k: [] for k in fns}
    cpu = {k: [0.0, 0.0] for k in fns}
    for fn in fns.values():          # warm-up: compile, allocate, fill caches
        for _ in range(3):
            fn()
    clock = time.perf_counter
    for _ in range(rounds):
        for name, fn in fns.items():
            times = samples[name]
            c0, w0 = time.process_time(), clock()
            for _ in range(inner):
                t0 = clock()
                fn()
                times.append(clock() - t0)
            cpu[name][0] += time.process_time() - c0
            cpu[name][1] += clock() - w0
    return {k: {"median_us": float(np.median(v)) * 1e6, "p99_us": float(np.percentile(v, 99)) * 1e6,
                "calls": len(v), "cpu_per_wall": cpu[k][0] / cpu[k][1]} for k, v in samples.items()}


def failure(e: Exception) -> str:
    lines = str(e).strip().splitlines()
    return f"failed: {type(e).__name__}: {lines[0] if lines else ''}"


def run_workload(build, target, smoke) -> dict:
    try:
        w = build()
        w.check()
    except FileNotFoundError as e:
        return {"check": f"skipped: {e}", "target": target}
    except Exception as e:       # a crash or a wrong answer: recorded, the other workloads go on
        return {"check": failure(e), "target": target}
    slowest = 0.0
    for fn in w.runtimes.values():
        t0 = time.perf_counter()
        fn()
        slowest = max(slowest, time.perf_counter() - t0)
    inner = 1 if smoke else max(1, min(200, int(ROUND_SECONDS / max(slowest, 1e-6))))
    stats = measure(w.runtimes, 3 if smoke else 40, inner)
    if w.profile is not None:
        w.profile(20 if smoke else 400)
    ort = stats["onnxruntime"]["median_us"]
    ratio = stats["pulsar"]["median_us"] / ort
    return {"check": "passed", "runtimes": stats, "ratio": ratio, "target": target,
            "met": ratio <= target, "info": w.info,
            "tract_ratio": stats["tract"]["median_us"] / ort if "tract" in stats else None}


def section(fn, *args) -> dict:
    """A start-up or memory measurement; a missing shared file skips it, anything else fails."""
    try:
        return fn(*args)
    except FileNotFoundError as e:
        return {"check": f"skipped: {e}"}
    except Exception as e:
        return {"check": failure(e)}


def collect(argv=None) -> dict:
    """Parse run.py's arguments and run what they select; the results (results.json's content)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="few iterations, no files written")
    parser.add_argument("--only", help="substring of the workloads to run")
    args = parser.parse_args(argv)
    wanted = (lambda n: args.only.lower() in n.lower()) if args.only else (lambda n: True)
    results = {"meta": report.machine_info(), "smoke": args.smoke, "workloads": {},
               "startup": {}, "memory": None, "only": args.only}
    for name, (build, target) in WORKLOADS.items():
        if wanted(name):
            results["workloads"][name] = r = run_workload(build, target, args.smoke)
            print(report.summary_line(name, r), flush=True)
    for target in startup.TARGETS:
        if wanted(f"start-up {target}"):
            results["startup"][target] = r = section(startup.measure_target, target, args.smoke)
            print(report.startup_line(target, r), flush=True)
    if wanted("memory"):
        results["memory"] = r = section(memory.measure, 500 if args.smoke else 10_000)
        print(report.memory_line(r), flush=True)
    results["meta"]["finished"] = report.now()
    return results


def failed_checks(results) -> list:
    entries = [(f"workload {n}", r) for n, r in results["workloads"].items()]
    entries += [(f"start-up {n}", r) for n, r in results["startup"].items()]
    if results["memory"] is not None:
        entries.append(("memory", results["memory"]))
    return [f"{n}: {r['check']}" for n, r in entries if r["check"].startswith("failed")]


def merge_partial(previous: dict, new: dict) -> dict:
    """The last results with the rows an `--only` run measured replaced (each marked with its
    date), so a partial run updates BENCHMARKS.md instead of truncating it."""
    merged = dict(previous)
    stamp = f"{new['meta']['date']}, commit {new['meta']['commit']}"
    workloads = dict(previous.get("workloads", {}))
    for name, r in new["workloads"].items():
        workloads[name] = dict(r, measured=stamp)
    order = list(WORKLOADS) + [n for n in workloads if n not in WORKLOADS]
    merged["workloads"] = {n: workloads[n] for n in order if n in workloads}
    merged["startup"] = {**previous.get("startup", {}), **new["startup"]}
    if new["memory"] is not None:
        merged["memory"] = new["memory"]
    merged["meta"] = dict(previous["meta"])
    earlier = [r for r in previous["meta"].get("partial_runs", []) if r["only"] != new["only"]]
    merged["meta"]["partial_runs"] = earlier + \
        [{"only": new["only"], "date": new["meta"]["date"], "commit": new["meta"]["commit"]}]
    return merged


def main(argv=None) -> int:
    results = collect(argv)
    previous = HERE / "results.json"
    if not results["smoke"] and results["only"] and previous.exists():
        results = merge_partial(json.loads(previous.read_text()), results)
    if not results["smoke"]:
        (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        path = HERE.parent / "BENCHMARKS.md"
        kept = coldstart.section_of(path.read_text()) if path.exists() else ""
        path.write_text(report.markdown(results) + (f"\n{kept}" if kept else ""))
    failed = failed_checks(results)
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
