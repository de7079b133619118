"""graph.verify runs after every optimisation pass and the pulse transform in the tests
(PULSAR_VERIFY=1, conftest.py): a pass that breaks the graph is named at once."""
import os

import pytest
from onnx import helper

import pulsar
from models import model, tensor
from pulsar import pipeline, streaming
from pulsar.passes import optimise
from pulsar.errors import PulsarError


def two_relus():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["y"], name="second")]
    return model(nodes, [tensor("x", [2, "S"])], [tensor("y", None)])


def drop_first_node(graph):
    g = graph.copy()
    g.nodes = g.nodes[1:]
    return g


def test_the_suite_verifies_after_each_pass():
    assert os.environ.get("PULSAR_VERIFY") == "1"


def test_a_pass_that_breaks_the_graph_is_named(monkeypatch):
    pulsar.load(two_relus())
    monkeypatch.setattr(optimise, "PASSES", optimise.PASSES + [drop_first_node])
    with pytest.raises(PulsarError, match="after pass drop_first_node: verify: "):
        pulsar.load(two_relus())


def test_branch_folding_is_verified_too(monkeypatch):
    monkeypatch.setattr(optimise, "fold_known_branches",
                        lambda graph, opsets, outer_facts: drop_first_node(graph))
    with pytest.raises(PulsarError, match="after pass fold_known_branches: verify: "):
        pulsar.load(two_relus())


def test_the_pulse_transform_is_verified(monkeypatch):
    model = pulsar.load(two_relus())
    transform = pipeline.pulsify

    def broken(graph, *args):
        pulsed = transform(graph, *args)
        pulsed.graph = drop_first_node(pulsed.graph)
        return pulsed
    monkeypatch.setattr(pipeline, "pulsify", broken)
    with pytest.raises(PulsarError, match="after pass pulsify: verify: "):
        streaming.pulse(model, symbol="S", pulse=4)
