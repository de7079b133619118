"""The kernel cache cannot be poisoned or broken for good.

Each case runs in a child process with its own PULSAR_CACHE_DIR and NUMBA_CACHE_DIR, so Numba's
real on-disk cache is written, damaged and read back the way a later process would read it. The
reference for each result is NumPy on the same input.
"""
import os
import subprocess
import sys
import textwrap

import pytest

EXPRESSION = "max(x0 * 2.5, 0.5)"
CHILD = textwrap.dedent(f"""
    import logging, sys
    import numpy as np
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from pulsar.kernels import codegen
    x = np.array([-1.0, 0.0, 0.1, 3.0], dtype=np.float32)
    out = np.empty_like(x)
    from pulsar.kernels.jit import policy
    with policy("compiled"):          # compile now (not on a NumPy twin): the cache is the point
        codegen.kernel_for({EXPRESSION!r}, 1, "float32")(out, x)
    assert np.array_equal(out, np.maximum(x * np.float32(2.5), np.float32(0.5))), out
    print("OK", codegen.cache_dir())
""")


def run_child(cache, numba_cache):
    env = {**os.environ, "PULSAR_CACHE_DIR": str(cache), "NUMBA_CACHE_DIR": str(numba_cache)}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]
    return done


def entry(cache):
    (path,) = [p for p in cache.iterdir() if p.name.startswith("fused_") and p.suffix == ".py"]
    return path


@pytest.fixture
def warm(tmp_path):
    """A cache after one process has written the generated file and Numba's entry."""
    cache, numba_cache = tmp_path / "kernels", tmp_path / "numba"
    run_child(cache, numba_cache)
    return cache, numba_cache


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_code"])
def test_a_damaged_generated_file_is_rebuilt(warm, tmp_path, damage):
    cache, numba_cache = warm
    path = entry(cache)
    marker = tmp_path / "executed"
    text = path.read_text()
    path.write_text({"truncate": text[: len(text) // 2],
                     "garbage": "\x00\x01 not python (((",
                     "wrong_code": f"open({str(marker)!r}, 'w').write('x')\n" + text}[damage])
    done = run_child(cache, numba_cache)
    assert not marker.exists()
    assert "rebuilding" in done.stderr
    assert entry(cache).read_text() == text
    assert "rebuilding" not in run_child(cache, numba_cache).stderr   # fixed for good


def test_a_symlinked_entry_is_never_executed(warm, tmp_path):
    cache, numba_cache = warm
    path = entry(cache)
    text = path.read_text()
    marker = tmp_path / "executed"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('x')\n" + text)
    path.unlink()
    path.symlink_to(evil)
    done = run_child(cache, numba_cache)
    assert not marker.exists()
    assert "symlink" in done.stderr
    assert not path.is_symlink() and path.read_text() == text
    assert evil.read_text().startswith("open(")          # the link's target is left alone


def test_a_symlinked_cache_directory_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    done = run_child(link, tmp_path / "numba")
    assert "not a writable directory" in done.stderr
    assert not list(real.iterdir())


def test_a_cache_path_that_is_a_file_falls_back(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = run_child(blocker / "kernels", tmp_path / "numba")
    assert done.stderr.count("not a writable directory") == 1
    assert "pulsar-kernels-" in done.stdout


def test_an_unwritable_cache_directory_falls_back(tmp_path):
    done = run_child("/proc/self/pulsar-kernels", tmp_path / "numba")   # unwritable even as root
    assert done.stderr.count("not a writable directory") == 1
    assert "pulsar-kernels-" in done.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file modes")
def test_a_read_only_cache_directory_falls_back(tmp_path):
    cache = tmp_path / "kernels"
    cache.mkdir()
    cache.chmod(0o500)
    try:
        done = run_child(cache, tmp_path / "numba")
    finally:
        cache.chmod(0o700)
    assert "not a writable directory" in done.stderr


@pytest.mark.parametrize("suffix", [".nbi", ".nbc"])
@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_corrupted_numba_cache_entry_is_recompiled(warm, suffix, damage):
    cache, numba_cache = warm
    files = [p for p in numba_cache.rglob("*" + suffix)]
    assert files, "the first process wrote no Numba cache"
    for p in files:
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 3] if damage == "truncate" else b"\x80\x04garbage" * 9)
    done = run_child(cache, numba_cache)
    assert "cannot read the Numba cache" in done.stderr
    assert "cannot read" not in run_child(cache, numba_cache).stderr   # rewritten, loads again


PLAN_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import onnx
    from onnx import TensorProto, helper
    import pulsar
    nodes = [helper.make_node("Mul", ["x", "two"], ["m"]), helper.make_node("Sigmoid", ["m"], ["s"]),
             helper.make_node("Tanh", ["s"], ["t"]), helper.make_node("Relu", ["t"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
                              [onnx.numpy_helper.from_array(np.array(2, np.float32), "two")])
    m = pulsar.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
                    tier="compiled")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    want = np.maximum(np.tanh(1 / (1 + np.exp(-2 * x))), 0)
    assert np.allclose(m.run({"x": x})[0], want, atol=1e-6)
    print("OK")
""")


def test_a_plan_calling_a_fused_kernel_imports_in_another_process(tmp_path):
    """The compile process (kernels/compile_worker.py) finds a compiled plan by name; its source
    imports the fused kernels it calls by name too, which it must find from their files."""
    env = {**os.environ, "PULSAR_CACHE_DIR": str(tmp_path / "k"), "NUMBA_CACHE_DIR": str(tmp_path / "n")}
    done = subprocess.run([sys.executable, "-c", PLAN_CHILD], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]
    plans = [p.stem for p in (tmp_path / "k").glob("plan_*.py")
             if "from pulsar_fused_" in p.read_text()]
    assert plans, sorted(p.name for p in (tmp_path / "k").iterdir())
    check = "; ".join(["from pulsar.kernels import codegen",
                       *(f"codegen.module_named('pulsar_{name}').segment" for name in plans),
                       "print('OK')"])
    done = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]


IF_CHILD = textwrap.dedent("""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper
    import pulsar
    f = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, [3])
    then = helper.make_graph([helper.make_node("Mul", ["x", "a"], ["t1"]),
                              helper.make_node("Add", ["t1", "b"], ["t2"]),
                              helper.make_node("Sub", ["t2", "d"], ["yt"])], "then", [], [f("yt")])
    other = helper.make_graph([helper.make_node("Sub", ["x", "d"], ["e1"]),
                               helper.make_node("Mul", ["e1", "b"], ["ye"])], "else", [], [f("ye")])
    consts = [onnx.numpy_helper.from_array(np.array(v, np.float32), n)
              for n, v in (("a", [1, 2, 3]), ("b", [4, 5, 6]), ("d", [7, 8, 9]))]
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)], "g",
        [f("x"), helper.make_tensor_value_info("c", TensorProto.BOOL, [])], [f("y")], consts)
    m = pulsar.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
                    tier="compiled")
    x = np.array([1, -2, 3], np.float32)
    assert np.allclose(m.run({"x": x, "c": np.array(True)})[0], x * [1, 2, 3] + [4, 5, 6] - [7, 8, 9])
    assert np.allclose(m.run({"x": x, "c": np.array(False)})[0], (x - [7, 8, 9]) * [4, 5, 6])
    assert {w for _, w in m.plan.execution()} == {"compiled"}
    print("OK")
""")


def test_compiled_subgraphs_are_the_same_source_in_every_process(tmp_path):
    """A plan's source names its cache entry: written from a branch reading several outer
    constants, it must not depend on the process's string hashing, or every process compiles
    it again."""
    names = []
    for seed in ("1", "2", "3"):
        cache = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed, "PULSAR_CACHE_DIR": str(cache / "k"),
               "NUMBA_CACHE_DIR": str(cache / "n")}
        done = subprocess.run([sys.executable, "-c", IF_CHILD], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]
        names.append(sorted(p.name for p in (cache / "k").glob("plan_*.py")))
    assert names[0] and names[0] == names[1] == names[2]
