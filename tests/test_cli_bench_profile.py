"""`pulsar bench`, `pulsar profile` (batch and pulsed) and the start-up compile notice."""
import os
import re
import subprocess
import sys
import wave
from pathlib import Path

import numba
import numpy as np
import onnx
import pytest
from onnx import helper

import pulsar
from models import add_mul, init, model, tensor
from pulsar.cli.main import main
from pulsar.profile import profile_model, profile_plan, profile_session
from pulsar.warming import MESSAGE, compile_notice, warm_up

ROOT = Path(__file__).resolve().parent.parent


def conv_relu():
    """x[1,1,S] -> Conv(k=3, pads 1/1) -> Relu: pulses into PulsePad, Delay and a fused conv."""
    rng = np.random.default_rng(0)
    return model([helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv",
                                   kernel_shape=[3], pads=[1, 1]),
                  helper.make_node("Relu", ["c"], ["y"], name="relu")],
                 [tensor("x", [1, 1, "S"])], [tensor("y", None)],
                 [init("w", rng.standard_normal((2, 1, 3)).astype(np.float32)),
                  init("b", np.zeros(2, np.float32))])


@pytest.fixture
def add_mul_file(tmp_path):
    path = tmp_path / "add_mul.onnx"
    onnx.save(add_mul(), path)
    return str(path)


@pytest.fixture
def conv_file(tmp_path):
    path = tmp_path / "conv.onnx"
    onnx.save(conv_relu(), path)
    return str(path)


def percentages(text) -> dict:
    """{row label: % of run} from a profile table (the last column)."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^(\S.*?)\s{2,}.*\s(\d+\.\d)$", line)
        if m:
            rows[m.group(1).strip()] = float(m.group(2))
    return rows


# -- bench --------------------------------------------------------------------------------------
def test_bench_batch_prints_the_statistics(add_mul_file, capsys):
    assert main(["bench", add_mul_file, "--set", "S=16", "--runs", "5", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert "model.run, 5 timed calls after 1 warm-up" in out
    assert re.search(r"^pulsar\s+median \S+ u?s\s+p99 .* mean .* min .* [\d,]+ calls/s$", out, re.M)


def test_bench_pulsed_pushes_one_pulse_per_call(conv_file, capsys):
    argv = ["bench", conv_file, "--pulse", "S=4", "--runs", "5", "--sample-rate", "16000"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "session.push of one pulse (4 frames of S)" in out
    assert "one pulse is 0.2 ms of signal" in out and "% of real time" in out


def test_bench_pulses_cut_from_a_file(conv_file, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.ones((1, 1, 10), np.float32))
    argv = ["bench", conv_file, "--pulse", "S=4", "--runs", "3", "--inputs"]
    assert main(argv + [str(tmp_path / "x.npy")]) == 0
    np.save(tmp_path / "short.npy", np.ones((1, 1, 3), np.float32))
    assert main(argv + [str(tmp_path / "short.npy")]) == 1
    assert "less than one pulse" in capsys.readouterr().err


def test_bench_compares_with_onnxruntime(add_mul_file, capsys):
    pytest.importorskip("onnxruntime")
    assert main(["bench", add_mul_file, "--set", "S=16", "--runs", "5", "--compare-ort"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^onnxruntime \(1 thread\)\s+median", out, re.M)
    assert re.search(r"time ratio pulsar / onnxruntime: \d+\.\d\d \(median\)", out)


@pytest.mark.parametrize("extra", [["--compare-ort", "--pulse", "S=4"], ["--runs", "0"]])
def test_bench_option_errors_exit_1(conv_file, extra, capsys):
    assert main(["bench", conv_file, "--set", "S=8"] + extra) == 1
    err = capsys.readouterr().err
    assert err.startswith("pulsar: error:") and len(err.strip().splitlines()) == 1


# -- profile ------------------------------------------------------------------------------------
def test_profile_batch_tables_add_up_to_the_run(add_mul_file, capsys):
    assert main(["profile", add_mul_file, "--set", "S=64", "--runs", "7"]) == 0
    out = capsys.readouterr().out
    nodes = out.split("\n\nop type")[0]
    assert re.search(r"^mul\s+FusedElementwise\s+7\s", nodes, re.M)   # add and mul fused
    rows = percentages(out)
    overhead = rows["outside ops (plan overhead)"]
    assert rows["total (wall time of the calls)"] == 100.0
    assert abs(rows["mul"] + overhead - 100) < 0.3
    assert abs(rows["FusedElementwise"] + overhead - 100) < 0.3


def test_profile_pulsed_shows_the_stream_steps(conv_file, capsys):
    assert main(["profile", conv_file, "--pulse", "S=4", "--runs", "5", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "session.push of one pulse" in out
    ops = out.split("\n\nop type")[1]
    for op in ("PulsePad", "Delay", "Conv+relu"):
        assert re.search(rf"^{re.escape(op)}\s+1\s+5\s", ops, re.M), op
    rows = percentages(out)
    shown = [v for k, v in rows.items() if k in ("conv", "conv.pad", "conv.delay")]
    assert len(shown) == 2 and "(1 more nodes)" in rows         # --top 2
    total = sum(shown) + rows["(1 more nodes)"] + rows["outside ops (plan and session overhead)"]
    assert abs(total - 100) < 0.3


def test_profile_api_restores_the_plan(conv_file):
    m = pulsar.load(conv_file, symbols={"S": 32})
    before = [step.run for step in m.plan.steps]
    x = np.ones((1, 1, 32), np.float32)
    prof = profile_plan(m.plan, [x], runs=4)
    assert [step.run for step in m.plan.steps] == before
    assert [(n.name, n.op, n.calls) for n in prof.nodes] == [("conv", "Conv+relu", 4)]
    assert prof.overhead >= 0 and prof.inside + prof.overhead == pytest.approx(prof.wall)
    with pytest.raises(pulsar.InputError):
        profile_plan(m.plan, [x[:, :, :3]], runs=1)
    assert [step.run for step in m.plan.steps] == before
    proto = conv_relu()
    proto.graph.input[0].type.tensor_type.ClearField("shape")
    unshaped = pulsar.load(proto)                     # no input shape: planned per signature
    assert unshaped.plan is None
    assert [n.calls for n in profile_model(unshaped, {"x": x}, runs=2).nodes] == [2]


def test_profile_session_counts_one_plan_run_per_pulse(conv_file):
    pm = pulsar.streaming.pulse(pulsar.load(conv_file), symbol="S", pulse=4)
    prof = profile_session(pm.session(), np.ones((1, 1, 8), np.float32), runs=3)
    assert {n.calls for n in prof.nodes} == {6}                 # 8 frames = two pulses per push
    assert "plan and session overhead" in prof.table()


# -- start-up: the compile notice -----------------------------------------------------------------
def fresh_kernel():
    """A function numba has never compiled in this process (and never caches)."""
    return numba.njit(lambda x: x * 2.0 + 1.0)


def test_notice_only_when_something_compiles(capsys):
    kernel = fresh_kernel()
    with compile_notice() as watch:
        kernel(np.float64(1.0))
    err = capsys.readouterr().err
    assert err.startswith(MESSAGE) and re.search(r" done in \d+\.\d s\n$", err)
    assert watch.compiles == 1
    with compile_notice() as watch:
        kernel(np.float64(2.0))                     # compiled already: silent
    assert capsys.readouterr().err == "" and watch.compiles == 0


def test_warm_up_returns_the_run_and_reports_errors(add_mul_file, capsys):
    m = pulsar.load(add_mul_file)
    x = np.ones((1, 3), np.float32)
    (z,) = warm_up(m, {"x": x, "y": x})
    assert np.array_equal(z, np.full((1, 3), 2, np.float32)) and capsys.readouterr().err == ""
    kernel = fresh_kernel()

    def broken():
        kernel(1.0)
        raise pulsar.InputError("bad")
    with pytest.raises(pulsar.InputError):
        warm_up(broken)
    assert capsys.readouterr().err == MESSAGE + " interrupted\n"


def compiling_relu(monkeypatch):
    """Make Relu compile a fresh numba function on its first call, as a cold cache would."""
    from pulsar.ops.registry import lookup
    relu = lookup("", "Relu", 17)
    kernel, plain = fresh_kernel(), relu.eval
    monkeypatch.setattr(relu, "eval", lambda self, x: (kernel(1.0), plain(self, x))[1])


def write_wav(path, samples):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes(np.asarray(samples, np.int16).tobytes())


def test_verbs_print_the_notice_when_a_kernel_compiles(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PULSAR_TIER", "kernels")       # the patched Relu.eval runs interpreted
    path = tmp_path / "relu.onnx"
    onnx.save(model([helper.make_node("Relu", ["x"], ["y"])], [tensor("x", [1, 1, "S"])],
                    [tensor("y", None)]), path)
    compiling_relu(monkeypatch)
    assert main(["run", str(path), "--set", "S=8"]) == 0
    assert capsys.readouterr().err.startswith(MESSAGE)
    assert main(["run", str(path), "--set", "S=8"]) == 0
    assert capsys.readouterr().err == ""                      # compiled in this process already
    write_wav(tmp_path / "a.wav", np.arange(100) * 50)
    for argv in (["stream", str(path), str(tmp_path / "a.wav"), "--pulse", "S=16", "--quiet"],
                 ["bench", str(path), "--set", "S=8", "--runs", "2"],
                 ["profile", str(path), "--pulse", "S=4", "--runs", "2"]):
        compiling_relu(monkeypatch)
        assert main(argv) == 0
        assert capsys.readouterr().err.startswith(MESSAGE), argv


def test_cold_cache_process_says_it_compiles_and_warm_one_does_not(tmp_path):
    """A real cold start: a fresh NUMBA_CACHE_DIR, a model whose Erf runs a Numba kernel."""
    path = tmp_path / "erf.onnx"
    onnx.save(model([helper.make_node("Erf", ["x"], ["y"])], [tensor("x", [1, "S"])],
                    [tensor("y", None)]), path)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT),
               PULSAR_TIER="kernels")          # the run waits for its kernel (no twin first)
    argv = [sys.executable, "-m", "pulsar", "run", str(path), "--set", "S=5"]
    cold, warm = (subprocess.run(argv, env=env, capture_output=True, text=True) for _ in range(2))
    assert cold.returncode == 0 and warm.returncode == 0, cold.stderr + warm.stderr
    assert cold.stderr.startswith(MESSAGE) and "done in" in cold.stderr
    assert warm.stderr == "" and warm.stdout == cold.stdout
