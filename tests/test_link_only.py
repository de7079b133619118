"""Kernels only compiled code calls compile to code libraries without machine code of their own
(kernels/link_only.py), which callers link; and a kernel compiled for a constant argument types
only the branches that constant takes (kernels/numba_pipeline.py).

Across processes, a cached link-only kernel must load and link into a segment it has never
seen, with the answer onnxruntime gives.
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
    from pulsar.kernels import conv, gemm, activation
    m = pulsar.load(sys.argv[1], tier="compiled")
    x = np.load(sys.argv[2])
    np.save(sys.argv[2] + ".out.npy", m.run({"x": x})[0])
    hits, kinds = 0, set()
    for module in (conv, gemm, activation):
        for kernel in vars(module).values():
            callee = getattr(kernel, "_callee", None)
            if callee is not None and type(kernel).__name__ == "Kernel":
                hits += sum(callee.stats.cache_hits.values())
                kinds.update(type(c.library).__name__ for c in callee.overloads.values())
    print("OK", hits, *sorted(kinds))
""")


def _model(path, channels, width):
    """Conv + Relu + MatMul: a compiled segment calling several kernels."""
    rng = np.random.default_rng(channels)
    w = rng.standard_normal((4, channels, 3)).astype(np.float32)
    m = rng.standard_normal((width, 5)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MatMul", ["r", "m"], ["y"])]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, width])
    graph = helper.make_graph(nodes, "g", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [onnx.numpy_helper.from_array(w, "w"),
                               onnx.numpy_helper.from_array(m, "m")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return model


def _run(tmp_path, name, model, shared=False):
    x = np.random.default_rng(1).standard_normal(
        [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]).astype(np.float32)
    np.save(tmp_path / f"{name}.npy", x)
    env = {**os.environ, "PULSAR_CACHE_DIR": str(tmp_path / "kernels"),
           "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "PULSAR_TIER": "compiled"}
    env.pop("PULSAR_SHARED_KERNELS", None)
    if shared:
        env["PULSAR_SHARED_KERNELS"] = "1"
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / f"{name}.onnx"),
                           str(tmp_path / f"{name}.npy")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / f"{name}.npy.out.npy"),
                               ort_run(model, {"x": x})[0], rtol=1e-4, atol=1e-5)
    _, hits, *kinds = done.stdout.split()
    return int(hits), set(kinds)


def test_cached_link_only_kernels_link_into_a_new_segment_in_another_process(tmp_path):
    first = _model(tmp_path / "a.onnx", 2, 6)
    hits, kinds = _run(tmp_path, "a", first)
    assert hits == 0 and kinds == {"LinkOnlyLibrary"}
    # Other shapes: a new segment, compiled here, linking the kernels the first process cached.
    second = _model(tmp_path / "b.onnx", 3, 7)
    hits, kinds = _run(tmp_path, "b", second)
    assert hits > 0 and kinds == {"LinkOnlyLibrary"}


def test_kernels_cached_link_only_are_not_served_to_segments_calling_by_symbol(tmp_path):
    """Under PULSAR_SHARED_KERNELS a segment calls its kernels' machine code: a kernel loaded
    from a link-only entry would leave the call unresolved, which aborts the process. The two
    kinds of entries live apart, so either order of processes on one cache works."""
    first = _model(tmp_path / "a.onnx", 2, 6)
    assert _run(tmp_path, "a", first)[1] == {"LinkOnlyLibrary"}
    second = _model(tmp_path / "b.onnx", 3, 7)
    assert _run(tmp_path, "b", second, shared=True)[1] == {"JITCodeLibrary"}
    third = _model(tmp_path / "c.onnx", 4, 5)
    assert _run(tmp_path, "c", third)[1] == {"LinkOnlyLibrary"}


def test_a_callee_has_no_machine_code_of_its_own():
    from numba.core import types

    from pulsar.kernels import activation
    from pulsar.kernels.jit import jit

    @jit
    def caller(a, bias):
        activation.bias_activation_span(a, 0, a.shape[0], bias, 1, 0.0, 0.0)

    a = np.array([-2.0, 3.0], np.float32)
    caller.dispatcher(a, np.float32(0.5))
    assert a.tolist() == [0.0, 3.5]
    # The caller may have come from the disk cache without its callee: compile (or load) it.
    span = activation.bias_activation_span.callee
    span.compile((types.Array(types.float32, 1, "C"), types.int64, types.int64, types.float32,
                  types.literal(1), types.float64, types.float64))
    results = list(span.overloads.values())
    assert results
    for cres in results:
        library = cres.library
        assert type(library).__name__ == "LinkOnlyLibrary"
        # no object code was emitted for it (Numba's JIT libraries keep theirs for the cache),
        # and its cache entry is the module to link
        assert getattr(library, "_compiled_object", None) is None
        name, kind, _ = library.serialize_using_object_code()
        assert kind == "pulsar-link-only"


def test_a_constant_argument_types_only_its_branch():
    """`code` is specialised (jit.py SPECIALISED): compiled for the constant 1, the branch
    that would not type (an attribute arrays lack) is pruned before typing."""
    from pulsar.kernels.jit import jit

    @jit
    def branchy(a, code):
        if code == 1:
            a[0] = 1.0
        else:
            a[0] = a.no_such_attribute

    @jit
    def caller(a):
        branchy(a, 1)

    a = np.zeros(1)
    caller.dispatcher(a)
    assert a[0] == 1.0
    with pytest.raises(Exception, match="no_such_attribute"):
        branchy.dispatcher(a, 2)
