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
