"""Compiled plans as a whole: what compiles, what stays interpreted and why, that results match
an independent reference, that returned arrays are the caller's, and the on-disk cache."""
import itertools
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from onnx import TensorProto, helper

import pulsar
from models import init, mixed_model, model, tensor
from reference import ort_run
from shared_data import REPO, model_path

F = TensorProto.FLOAT


def executed(m):
    return {node.name: where for node, where in m.plan.execution()}


def test_static_model_runs_as_one_compiled_function_and_matches_onnxruntime():
    m = pulsar.load(mixed_model(), symbols={"S": 16}, compile=True)
    assert set(executed(m).values()) == {"compiled"}
    assert len(m.plan.steps) == 1
    x = np.random.default_rng(1).standard_normal((1, 4, 16)).astype(np.float32)
    np.testing.assert_allclose(m.run([x])[0], ort_run(mixed_model(), {"x": x})[0],
                               rtol=1e-5, atol=1e-6)


def test_a_segment_binds_each_constant_it_reads_once(tmp_path, monkeypatch):
    """Constants a segment reads are bound once at the top of its function, whatever the
    number of values it reads first (the generated source is read back from the cache)."""
    monkeypatch.setenv("PULSAR_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(2)
    consts = [rng.standard_normal(shape).astype(np.float32) for shape in ((4, 4), (4,), (4, 4))]
    nodes = [helper.make_node("MatMul", ["x", "c0"], ["a"]),
             helper.make_node("Add", ["a", "c1"], ["b"]),
             helper.make_node("MatMul", ["b", "c2"], ["y"])]
    onnx_model = model(nodes, [tensor("x", [2, 4])], [tensor("y", None)],
                       [init(f"c{i}", c) for i, c in enumerate(consts)])
    m = pulsar.load(onnx_model, tier="compiled")
    x = rng.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(m.run([x])[0], ort_run(onnx_model, {"x": x})[0], rtol=1e-5,
                               atol=1e-6)
    sources = [p.read_text() for p in tmp_path.rglob("plan_*.py")]
    assert sources
    for source in sources:
        bindings = [line.strip() for line in source.splitlines()
                    if re.fullmatch(r"\s+v\d+ = w\d+", line)]
        assert len(bindings) == len(set(bindings)), source


def test_symbolic_shapes_stay_interpreted_and_the_dump_says_why():
    m = pulsar.load(mixed_model(), compile=True)
    assert set(executed(m).values()) == {"interpreted"}
    assert "conv (Conv): shapes not static" in m.dump()
    x = np.random.default_rng(2).standard_normal((1, 4, 9)).astype(np.float32)
    np.testing.assert_allclose(m.run([x])[0], ort_run(mixed_model(), {"x": x})[0],
                               rtol=1e-5, atol=1e-6)


def test_compile_off_interprets_everything(monkeypatch):
    assert set(executed(pulsar.load(mixed_model(), symbols={"S": 8}, compile=False)).values()) \
        == {"interpreted"}
    monkeypatch.setenv("PULSAR_TIER", "kernels")
    m = pulsar.load(mixed_model(), symbols={"S": 8})
    assert set(executed(m).values()) == {"interpreted"}
    assert "all 4 nodes interpreted (compiled plans off)" in m.dump()   # relu fused into conv


def test_nodes_with_subgraphs_split_the_compiled_runs():
    """An If between two compilable runs whose branch cannot be written inline (Mod has no
    compiled form): two compiled functions around the interpreted If."""
    n = helper.make_node
    then = helper.make_graph([n("Mod", ["a", "x"], ["o"], fmod=1)], "then", [],
                             [tensor("o", None)])
    other = helper.make_graph([n("Identity", ["a"], ["o2"])], "else", [], [tensor("o2", None)])
    nodes = [n("Relu", ["x"], ["a"], name="relu"),
             n("ReduceSum", ["a"], ["s"], keepdims=0, name="sum"),
             n("Greater", ["s", "zero"], ["cond"], name="greater"),
             n("If", ["cond"], ["picked"], then_branch=then, else_branch=other, name="if"),
             n("Mul", ["picked", "x"], ["y"], name="mul")]
    onnx_model = model(nodes, [tensor("x", [2, 3])], [tensor("y", None)],
                       [init("zero", np.float32(0))])
    m = pulsar.load(onnx_model, compile=True)
    where = executed(m)
    assert where["if"] == "interpreted" and where["relu"] == where["mul"] == "compiled"
    assert "if (If): holds a subgraph" in m.dump() and "not inline: its subgraph's node" in m.dump()
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal((2, 3)).astype(np.float32)
        np.testing.assert_allclose(m.run([x])[0], ort_run(onnx_model, {"x": x})[0], rtol=1e-6)


def test_returned_arrays_are_not_overwritten_by_the_next_run():
    m = pulsar.load(mixed_model(), symbols={"S": 8}, compile=True)
    rng = np.random.default_rng(3)
    x1, x2 = (rng.standard_normal((1, 4, 8)).astype(np.float32) for _ in range(2))
    first = m.run([x1])[0]
    kept = first.copy()
    m.run([x2])
    np.testing.assert_array_equal(first, kept)


@pytest.mark.parametrize("name", ["DS_CNN_S", "CNN_M", "GRU_S", "CRNN_S"])
def test_mlkws_models_run_fully_compiled_and_match_tensorflow(name):
    ref = np.load(model_path("mlkws", "tf_reference.npz"))
    m = pulsar.load(model_path("mlkws", f"{name}.onnx"), compile=True)
    assert set(executed(m).values()) == {"compiled"}
    for clip in ("silence", "noise"):
        x = ref[f"{name}/{clip}/fingerprint"].astype(np.float32)
        (got,) = m.run([x.reshape(m.inputs[0].shape)])
        np.testing.assert_allclose(got, ref[f"{name}/{clip}/softmax"].reshape(got.shape), atol=1e-4)


def test_gemm_kernel_matches_numpy_in_every_transpose_and_vector_case():
    from pulsar.kernels import gemm
    if not gemm.available():
        pytest.skip("NumPy's bundled OpenBLAS not found")
    rng = np.random.default_rng(0)
    for dtype, (m, k, n), (ta, tb) in itertools.product(
            (np.float32, np.float64), [(1, 7, 5), (4, 7, 1), (1, 1, 1), (3, 4, 5), (5, 0, 2)],
            itertools.product((False, True), repeat=2)):
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        out = rng.standard_normal((m, n)).astype(dtype)
        want = 0.5 * ((a.T if ta else a) @ (b.T if tb else b)) + 2.0 * out
        gemm.gemm(a, b, out, ta, tb, 0.5, 2.0)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5, err_msg=f"{m, k, n, ta, tb}")


def stacked_tf_gru_scan(layers=2, seed=0):
    """tf's MultiRNNCell of GRU cells as tf2onnx writes it: one Scan, one cell per layer,
    a step counter, the last layer's state also as a scan output. x [S, 2, 3]."""
    rng = np.random.default_rng(seed)
    n = helper.make_node
    hidden, size_in, body, inits = 4, 3, [], [init("one", np.float32(1)), init("step", np.int32(1))]
    inputs, outputs, wire = [tensor("t", [], TensorProto.INT32)], ["t_next"], "xt"
    for layer in range(layers):
        p = f"l{layer}_"
        rows = size_in + hidden
        inits += [init(p + "Wg", rng.standard_normal((rows, 2 * hidden)).astype(np.float32) * .5),
                  init(p + "bg", rng.standard_normal(2 * hidden).astype(np.float32) * .2),
                  init(p + "Wc", rng.standard_normal((rows, hidden)).astype(np.float32) * .5),
                  init(p + "bc", rng.standard_normal(hidden).astype(np.float32) * .2)]
        h = p + "h"
        body += [n("Concat", [wire, h], [p + "cat"], axis=1),
                 n("Gemm", [p + "cat", p + "Wg", p + "bg"], [p + "g"]),
                 n("Sigmoid", [p + "g"], [p + "s"]), n("Split", [p + "s"], [p + "r", p + "u"], axis=1),
                 n("Sub", ["one", p + "u"], [p + "omu"]), n("Mul", [p + "u", h], [p + "uh"]),
                 n("Mul", [p + "r", h], [p + "rh"]), n("Concat", [wire, p + "rh"], [p + "cat2"], axis=1),
                 n("Gemm", [p + "cat2", p + "Wc", p + "bc"], [p + "gc"]), n("Tanh", [p + "gc"], [p + "c"]),
                 n("Mul", [p + "omu", p + "c"], [p + "mix"]), n("Add", [p + "uh", p + "mix"], [p + "new"])]
        inputs.append(tensor(h, [2, hidden]))
        outputs.append(p + "new")
        wire, size_in = p + "new", hidden
    body += [n("Add", ["t", "step"], ["t_next"]), n("Identity", [wire], ["y"])]
    inputs.append(tensor("xt", [2, 3]))
    g = helper.make_graph(body, "body", inputs, [tensor("t_next", [], TensorProto.INT32)] +
                          [tensor(w, [2, hidden]) for w in outputs[1:] + ["y"]])
    inits += [init("t0", np.int32(0)), init("h0", np.zeros((2, hidden), np.float32))]
    states = ["t_final"] + [f"h{layer}_final" for layer in range(layers)]
    scan = n("Scan", ["t0"] + ["h0"] * layers + ["x"], states + ["ys"], body=g, num_scan_inputs=1)
    outs = states[1:] + ["ys"]
    return model([scan], [tensor("x", ["S", 2, 3])], [tensor(w, None) for w in outs], inits,
                 opset=13)


@pytest.mark.parametrize("layers", [1, 2])
def test_scans_of_tf_gru_cells_become_gru_nodes_and_match_onnxruntime(layers):
    onnx_model = stacked_tf_gru_scan(layers)
    for compile_ in (False, True):
        m = pulsar.load(onnx_model, symbols={"S": 7}, compile=compile_)
        ops = [node.op.onnx_name for node in m.graph.nodes]
        assert "Scan" not in ops and ops.count("GRU") == layers
        x = np.random.default_rng(layers).standard_normal((7, 2, 3)).astype(np.float32)
        for got, want in zip(m.run([x]), ort_run(onnx_model, {"x": x})):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_second_process_loads_compiled_plans_from_the_cache(tmp_path):
    """The generated functions and kernels compile once; a new process compiles nothing."""
    script = textwrap.dedent("""
        import numpy as np, sys
        sys.path.insert(0, %r)
        import pulsar
        from pulsar.warming import compile_notice
        from models import mixed_model
        with compile_notice(open("/dev/null", "w")) as watch:
            m = pulsar.load(mixed_model(), symbols={"S": 8}, compile=True)
            m.run([np.ones((1, 4, 8), np.float32)])
        assert {w for _, w in m.plan.execution()} == {"compiled"}
        print(watch.compiles)
    """) % str(REPO / "tests")
    env = {**os.environ, "PULSAR_CACHE_DIR": str(tmp_path / "pulsar"),
           "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "PULSAR_TIER": "compiled"}
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, timeout=600) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    first, second = (int(r.stdout.split()[-1]) for r in runs)
    assert first > 0 and second == 0
