"""pulsar's modules import each other without cycles, counting imports inside functions too:
a layer that needs something from a layer above it gets it handed down (planning.py builds
the Plan it runs, the emitter carries the node writer), it does not import it late."""
from tools.import_graph import cycles, edges


def test_no_module_imports_itself_back():
    assert cycles(edges()) == []


def test_the_graph_sees_late_and_relative_imports():
    graph = edges()
    # a function-level import (Kernel.request's background compiler) and relative ones are edges
    assert "pulsar.kernels.background" in graph["pulsar.kernels.jit"]
    assert "pulsar.plan" in graph["pulsar.planning"]
    assert "pulsar.kernels.conv_numpy" in graph["pulsar.kernels.conv"]


def test_a_late_import_cycle_is_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
