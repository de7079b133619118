"""Execution tiers (pulsar/tiers.py): the first output never waits for a compile, machine code
takes over by itself, and a stream gives the whole-signal output whichever pulses ran on which
tier. References: onnxruntime."""
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper

import pulsar
from pulsar import streaming
from pulsar.kernels.background import BackgroundCompiler, compiler
from pulsar.kernels.jit import policy
from models import init, model, tensor
from reference import ort_run


def conv_gru_stream_model():
    """A strided conv (a Delay in the pulsed plan) into a GRU (a recurrence) over time S."""
    rng = np.random.default_rng(7)
    c, h = 4, 3
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3], strides=[2],
                              name="conv"),
             helper.make_node("Transpose", ["c"], ["t"], perm=[2, 0, 1], name="tr"),
             helper.make_node("GRU", ["t", "W", "R"], ["y"], hidden_size=h, name="gru"),
             helper.make_node("Squeeze", ["y", "one"], ["z"], name="sq")]
    inits = [init("w", rng.normal(size=(c, 2, 3)).astype(np.float32)),
             init("W", rng.normal(size=(1, 3 * h, c)).astype(np.float32) * 0.5),
             init("R", rng.normal(size=(1, 3 * h, h)).astype(np.float32) * 0.5),
             init("one", np.array([1], np.int64))]
    return model(nodes, [tensor("x", [1, 2, "S"])], [tensor("z", None)], inits)


def runs_machine_code(plan) -> bool:
    """Does every generated function of the plan run its machine code (not its twin)?"""
    hot = [getattr(step.run, "hot", None) for step in plan.steps]
    return all(h for h in hot if h is not None) and any(h is not None for h in hot)


def test_first_output_comes_without_waiting_for_compiles_then_machine_code_takes_over(tmp_path):
    """In a fresh process with empty caches: the first run returns while the background
    compiler is still busy, equal to onnxruntime; once it is done, runs use machine code."""
    proto = tmp_path / "m.onnx"
    proto.write_bytes(conv_gru_stream_model().SerializeToString())
    x = np.random.default_rng(0).normal(size=(1, 2, 40)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    child = textwrap.dedent(f"""
        import numpy as np, pulsar
        from pulsar.kernels.background import compiler
        m = pulsar.load({str(proto)!r}, symbols={{"S": 40}})
        y = m.run([np.load({str(tmp_path / 'x.npy')!r})])[0]
        busy = compiler().pending()
        np.save({str(tmp_path / 'y.npy')!r}, y)
        assert compiler().wait(600)
        m.run([np.load({str(tmp_path / 'x.npy')!r})])
        hot = [getattr(s.run, "hot", None) for s in m.plan.steps]
        print("BUSY", busy, "HOT", all(h for h in hot if h is not None), "ERRORS",
              len(compiler().errors))
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
           "PULSAR_CACHE_DIR": str(tmp_path / "pulsar")}
    env.pop("PULSAR_COMPILE", None)
    env.pop("PULSAR_TIER", None)
    done = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    words = done.stdout.split()
    assert int(words[words.index("BUSY") + 1]) > 0, "the first run waited for the compiler"
    assert words[words.index("HOT") + 1] == "True" and words[words.index("ERRORS") + 1] == "0"
    want = ort_run(conv_gru_stream_model().__class__.FromString(proto.read_bytes()), {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def pulsed():
    return streaming.pulse(pulsar.load(conv_gru_stream_model(), tier="auto"), symbol="S",
                           pulse=4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_stream_switching_tiers_at_any_pulse_gives_the_whole_signal_output(pulsed, data):
    """Pulses before `switch` run interpreted (NumPy twins), the rest on machine code, on the
    same state arrays: the result is onnxruntime's whole-signal output after the delay."""
    total = data.draw(st.integers(12, 60), label="samples")
    x = np.random.default_rng(total).normal(size=(1, 2, total)).astype(np.float32)
    cuts = sorted(data.draw(st.lists(st.integers(0, total), max_size=6), label="cuts"))
    chunks = [x[:, :, a:b] for a, b in zip([0] + cuts, cuts + [total])]
    switch = data.draw(st.integers(0, len(chunks)), label="switch")
    s = pulsed.session()
    outs = []
    for k, chunk in enumerate(chunks):
        with policy("interpreted" if k < switch else "compiled"):
            outs.append(s.push(chunk)[0])
    with policy("compiled"):
        outs.append(s.flush()[0])
    got = np.concatenate(outs, axis=0)[pulsed.delay[0]:]
    want = ort_run(conv_gru_stream_model(), {"x": x})[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_an_explicit_policy_wins_over_the_plan_tier():
    m = pulsar.load(conv_gru_stream_model(), symbols={"S": 20}, tier="compiled")
    x = np.ones((1, 2, 20), np.float32)
    with policy("interpreted"):
        y = m.run([x])[0]
    assert not runs_machine_code(m.plan)
    m.run([x])
    assert runs_machine_code(m.plan)
    np.testing.assert_allclose(y, ort_run(conv_gru_stream_model(), {"x": x})[0],
                               rtol=1e-4, atol=1e-5)


def test_warmup_compiles_a_model_so_its_first_run_is_machine_code(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(conv_gru_stream_model().SerializeToString())
    m = pulsar.warmup(str(path), symbols={"S": 24})
    assert m.tier == "compiled" and runs_machine_code(m.plan)
    auto = pulsar.load(str(path), symbols={"S": 24}, tier="auto")   # same functions: ready
    x = np.random.default_rng(3).normal(size=(1, 2, 24)).astype(np.float32)
    y = auto.run([x])[0]
    assert runs_machine_code(auto.plan)
    np.testing.assert_allclose(y, ort_run(conv_gru_stream_model(), {"x": x})[0],
                               rtol=1e-4, atol=1e-5)


def test_warmup_refuses_symbolic_inputs_without_feeds():
    m = pulsar.load(conv_gru_stream_model(), tier="auto")
    with pytest.raises(pulsar.OptionError, match="no static shape"):
        pulsar.warmup(m)


def test_the_background_compiler_says_what_it_does(caplog):
    calls = []
    with caplog.at_level(logging.INFO, logger="pulsar"):
        compiler().submit("a test job", lambda: calls.append(1))
        assert compiler().wait(60)
    assert calls == [1]
    assert any("background" in r.getMessage() for r in caplog.records)


def test_at_exit_the_compiler_finishes_its_job_and_starts_no_other():
    """A daemon thread inside LLVM while the process exits crashed the interpreter."""
    background = BackgroundCompiler()
    started, release, ran = threading.Event(), threading.Event(), []
    background.submit("running", lambda: (started.set(), release.wait(60), ran.append("running")))
    background.submit("queued", lambda: ran.append("queued"))
    assert started.wait(60)
    stopping = threading.Thread(target=background._stop)
    stopping.start()
    stopping.join(0.3)
    assert stopping.is_alive()          # exit waits for the job in progress
    release.set()
    stopping.join(60)
    assert not stopping.is_alive()
    time.sleep(0.2)
    assert ran == ["running"]           # and the queued job never starts
    background._stop()                  # twice (atexit runs it again): returns at once


def test_unknown_tier_is_a_typed_error():
    with pytest.raises(pulsar.OptionError, match="tiers are"):
        pulsar.load(conv_gru_stream_model(), tier="fast")


def test_the_warmup_verb_compiles_a_model_and_a_pulsed_plan(tmp_path, capsys):
    from pulsar.cli.main import main
    path = tmp_path / "m.onnx"
    path.write_bytes(conv_gru_stream_model().SerializeToString())
    assert main(["warmup", str(path), "--set", "S=24"]) == 0
    assert "model ready in" in capsys.readouterr().out
    assert main(["warmup", str(path), "--pulse", "S=4"]) == 0
    assert "pulsed plan ready in" in capsys.readouterr().out
    assert main(["warmup", str(path)]) == 1          # symbolic input, no --set: a user error
    assert "no static shape" in capsys.readouterr().err
