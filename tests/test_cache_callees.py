"""With PULSAR_SHARED_KERNELS=1 a compiled segment calls its kernels by symbol
(kernels/by_symbol.py), so its cached machine code may load only after theirs, under the
symbols it was compiled against. These cases damage that order across processes; each must
give the right answer, never crash the interpreter.

Each process runs with its own PULSAR_CACHE_DIR and NUMBA_CACHE_DIR, as a later process would;
the reference is onnxruntime on the same input.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from reference import ort_run

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import pulsar
    from pulsar.kernels import jit
    for _ in range(int(sys.argv[3])):      # shift Numba's per-process function numbering
        jit.jit(lambda a: a + 1)(np.zeros(1))
    m = pulsar.load(sys.argv[1], tier="compiled")
    x = np.load(sys.argv[2])
    np.save(sys.argv[2] + ".out.npy", m.run({"x": x})[0])
    print("OK")
""")


def _model(path):
    """Conv + Relu + MatMul + Add: several kernels in one compiled segment."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 2, 3)).astype(np.float32)
    m = rng.standard_normal((6, 5)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MatMul", ["r", "m"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(m, "m")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return model


def _run(tmp_path, shift=0):
    env = {**os.environ, "PULSAR_CACHE_DIR": str(tmp_path / "kernels"),
           "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "PULSAR_TIER": "compiled", "PULSAR_SHARED_KERNELS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "m.onnx"),
                           str(tmp_path / "x.npy"), str(shift)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]
    return np.load(tmp_path / "x.npy.out.npy"), done.stderr


@pytest.fixture
def cached(tmp_path):
    model = _model(tmp_path / "m.onnx")
    x = np.random.default_rng(1).standard_normal((1, 2, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    expected = ort_run(model, {"x": x})[0]
    np.testing.assert_allclose(_run(tmp_path)[0], expected, rtol=1e-5, atol=1e-5)
    return tmp_path, expected


def _kernel_entries(numba_cache):
    """Numba's cache files of pulsar's own kernels (not the generated segments)."""
    return [p for p in numba_cache.rglob("*") if p.is_file() and p.parent.name.startswith("kernels")
            and not p.name.startswith(("plan_", "fused_"))]


def test_a_cached_segment_loads_with_its_kernels(cached):
    tmp_path, expected = cached
    out, log = _run(tmp_path, shift=3)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert "recompiled since" not in log, log


def test_a_segment_whose_kernels_were_recompiled_is_recompiled(cached):
    """The kernels' entries are gone: they compile again in a process numbering functions
    differently, so their symbols differ from those the cached segment names."""
    tmp_path, expected = cached
    entries = _kernel_entries(tmp_path / "numba")
    assert entries, sorted(p.name for p in (tmp_path / "numba").rglob("*"))
    for p in entries:
        p.unlink()
    out, log = _run(tmp_path, shift=7)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert "recompiled since" in log, log[-3000:]
    out, log = _run(tmp_path, shift=1)         # the segment's new entry loads
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert "recompiled since" not in log, log[-3000:]


def test_a_stale_callee_is_a_lookup_error_not_a_crash():
    from numba.core import types

    from pulsar.kernels import by_symbol
    from pulsar.kernels.copy import copy_into
    a = types.Array(types.float32, 1, "C")
    with pytest.raises(LookupError, match="recompiled"):
        by_symbol.load([(copy_into.__module__, copy_into.__qualname__, (a, a), "_ZN_no_such")])
    with pytest.raises(LookupError, match="not loaded"):
        by_symbol.load([("no.such.module", "kernel", (a, a), "_ZN_no_such")])
