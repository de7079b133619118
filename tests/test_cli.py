"""The command line: verbs, exit codes (0 ok, 1 user error, 3 bug) and one-line errors."""
import subprocess
import sys

import numpy as np
import onnx
import pytest

from models import add_mul
from pulsar.cli.main import main


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(add_mul(), path)
    return path


def test_dump_shows_symbolic_facts(model_file, capsys):
    assert main(["dump", str(model_file), "--stage", "analyse"]) == 0
    assert "add = Add(x, y) -> s: f32[1,S]" in capsys.readouterr().out
    assert main(["dump", str(model_file)]) == 0     # optimised: one fused elementwise kernel
    assert "mul = FusedElementwise(((x0 + x1) * x0))(x, y) -> z: f32[1,S]" in capsys.readouterr().out


def test_dump_with_binding_and_stage(model_file, capsys):
    assert main(["dump", str(model_file), "--set", "S=7", "--stage", "analyse"]) == 0
    assert "f32[1,7]" in capsys.readouterr().out
    assert main(["dump", str(model_file), "--stage", "load"]) == 0
    assert "add = Add(x, y)" in capsys.readouterr().out


def test_run_random_and_save(model_file, tmp_path, capsys):
    out_path = tmp_path / "out.npz"
    assert main(["run", str(model_file), "--set", "S=5", "--save", str(out_path)]) == 0
    assert "z: float32[1,5]" in capsys.readouterr().out
    assert np.load(out_path)["z"].shape == (1, 5)


def test_run_from_npz(model_file, tmp_path, capsys):
    x = np.full((1, 3), 2, np.float32)
    np.savez(tmp_path / "in.npz", x=x, y=x)
    assert main(["run", str(model_file), "--inputs", str(tmp_path / "in.npz")]) == 0
    assert "min 8 max 8" in capsys.readouterr().out


def test_run_needs_bindings_for_random_inputs(model_file, capsys):
    assert main(["run", str(model_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pulsar: error:") and "--set S=" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv", [["dump", "/no/such.onnx"], ["dump"], ["frobnicate"],
                                  ["dump", "m", "--set", "S"]])
def test_user_errors_exit_1(argv, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "pulsar" in err


def test_bug_exits_3(monkeypatch, model_file, capsys):
    import pulsar.cli.dump as dump

    def broken(*a, **k):
        raise RuntimeError("boom")
    monkeypatch.setattr(dump, "dump_graph", broken)
    assert main(["dump", str(model_file)]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_python_m_pulsar_version():
    out = subprocess.run([sys.executable, "-m", "pulsar", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("pulsar ")
