"""benchmarks/run.py --smoke, in-process: every workload, start-up and memory probe runs, and each
correctness check passes (a workload whose shared files are absent may only skip)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def runner():
    """benchmarks/run.py as a module; its sibling modules leave sys.path/sys.modules afterwards."""
    path, modules = list(sys.path), set(sys.modules)
    spec = importlib.util.spec_from_file_location("pulsar_benchmarks_run", BENCHMARKS / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    yield run
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if getattr(sys.modules[name], "__file__", "") and \
                Path(sys.modules[name].__file__).parent == BENCHMARKS:
            del sys.modules[name]


def checks(results) -> dict:
    out = {f"workload {n}": r["check"] for n, r in results["workloads"].items()}
    out.update({f"start-up {n}": r["check"] for n, r in results["startup"].items()})
    out["memory"] = results["memory"]["check"]
    return out


@pytest.mark.slow
def test_smoke_run_passes_every_check(runner):
    results = runner.collect(["--smoke"])
    assert set(results["workloads"]) == set(runner.WORKLOADS)
    assert set(results["startup"]) == set(runner.startup.TARGETS)
    for name, status in checks(results).items():
        assert status == "passed" or (status.startswith("skipped") and "not present" in status), \
            f"{name}: {status}"
    for name, r in results["workloads"].items():
        if r["check"] == "passed":
            times = r["runtimes"]
            assert {"pulsar", "onnxruntime"} <= set(times) and all(
                t["median_us"] > 0 and t["p99_us"] >= t["median_us"] for t in times.values()), name
            assert r["ratio"] == pytest.approx(times["pulsar"]["median_us"] /
                                               times["onnxruntime"]["median_us"])
    text = runner.report.markdown(results)       # what a full run writes, from smoke numbers
    assert all(name in text for name in results["workloads"])
    json.dumps(results)


def test_partial_run_replaces_only_its_rows(runner):
    """`--only` results merge into the last full run: other rows, start-up and memory stay."""
    def row(ratio):
        times = {k: {"median_us": v, "p99_us": v, "calls": 1, "cpu_per_wall": 1.0}
                 for k, v in (("pulsar", ratio), ("onnxruntime", 1.0))}
        return {"check": "passed", "runtimes": times, "ratio": ratio, "target": 1.0,
                "met": ratio <= 1.0, "info": {}, "tract_ratio": None}
    meta = {"date": "2026-01-01 00:00 UTC", "commit": "aaaaaaa", "versions": {"tract": "n/a"}}
    names = list(runner.WORKLOADS)[:2]
    previous = {"meta": meta, "smoke": False, "workloads": {n: row(0.5) for n in names},
                "startup": {"wakeword": {"check": "skipped"}}, "memory": {"check": "skipped"}}
    new = {"meta": dict(meta, date="2026-02-02 00:00 UTC", commit="bbbbbbb"), "smoke": False,
           "workloads": {names[1]: row(2.0)}, "startup": {}, "memory": None, "only": "x"}
    merged = runner.merge_partial(previous, new)
    assert merged["workloads"][names[0]]["ratio"] == 0.5
    assert merged["workloads"][names[1]]["ratio"] == 2.0
    assert merged["startup"] == previous["startup"] and merged["memory"] == previous["memory"]
    lines = runner.report.per_call_table(merged["workloads"], False)
    assert any(f"{names[1]} (measured 2026-02-02 00:00 UTC)" in line and "2.00×" in line
               for line in lines)
    assert any(line.startswith(f"| {names[0]} |") and "0.50×" in line for line in lines)
