"""Analysis of graphs whose `If` branches disagree in rank.

ONNX lets the branches of an `If` return different shapes, even different ranks; the branch
taken at run time decides. Facts hold one rank per wire, so when an `If`'s condition is not
known and its branches disagree in rank, analysis splits into cases: one ordinary analysis per
branch, in which that `If` returns the branch's facts (conditions downstream, often a test of
that very rank, then fold in each case). The cases are merged wire by wire: equal ranks merge
as usual (dims that differ become fresh symbols), differing ranks leave a `DynamicFact`. At run
time the `If` runs the branch actually taken and the nodes after it run on what it returned.
"""
import itertools

import numpy as np

from .errors import InferenceError, PulsarError
from .fact import DynamicFact, Fact, SequenceFact, dynamic

MAX_CASES = 16   # cases per graph: each is a full analysis of it


class Diverges(Exception):
    """Raised by an op's `infer` when its output facts depend on a choice analysis cannot make
    (which branch runs): `choices` are the possible output fact lists. Not a PulsarError, so it
    passes through `infer_node` to the `analyse` that owns the node."""

    def __init__(self, op, node_name: str, choices: list, labels: list):
        super().__init__(node_name)
        self.key, self.op, self.node_name = id(op), op, node_name
        self.choices, self.labels = choices, labels   # labels: the branch of each choice


def branch_cases(outs: list) -> list:
    """The output fact lists a branch may return: one per combination of the alternatives of
    its dynamic outputs."""
    options = [f.alternatives if isinstance(f, DynamicFact) else (f,) for f in outs]
    return [list(c) for c in itertools.product(*options)]


def analyse_cases(graph, analyse_once, symbols):
    """Analyse `graph` (`analyse_once(assume)` -> analysed graph, `assume` mapping an op's key
    to the index of its chosen case) in as many cases as its diverging nodes need, and merge."""
    owned = {id(n.op) for n in graph.nodes}
    done, failed, splits, pending = [], [], {}, [{}]
    while pending:
        assume = pending.pop(0)
        try:
            done.append((assume, analyse_once(assume)))
        except Diverges as d:
            if d.key not in owned or d.key in assume:
                raise
            if len(done) + len(pending) + len(d.choices) > MAX_CASES:
                raise InferenceError(
                    f"node {d.node_name!r} (If): branches that disagree in rank split analysis "
                    f"into more than {MAX_CASES} cases in graph {graph.name!r}") from None
            splits[d.key] = d
            pending += [{**assume, d.key: i} for i in range(len(d.choices))]
        except PulsarError as e:
            if not assume:
                raise
            failed.append((assume, e))
    if not done:
        raise failed[0][1]
    _refuse_failed_branches(splits, failed, [assume for assume, _ in done])
    graphs = [g for _, g in done]
    return graphs[0] if len(graphs) == 1 else merge_cases(graphs, symbols)


def _refuse_failed_branches(splits: dict, failed: list, survived: list):
    """A branch no analysed case survives (silero's decoder feeds its LSTM a rank it refuses;
    onnxruntime fails there too) is marked on its op: taking it at run time is an error naming
    the failure, instead of running nodes whose facts hold only for the other branch."""
    for key, d in splits.items():
        refused = d.op._cache.setdefault("refused", {})
        for label in set(d.labels):
            def taken(assume):
                return key in assume and d.labels[assume[key]] == label
            errors = [e for assume, e in failed if taken(assume)]
            if errors and not any(taken(a) for a in survived):
                refused[label] = str(errors[0])
            else:
                refused.pop(label, None)


def merge_cases(graphs: list, symbols):
    """The first case's graph with every wire's fact covering all cases."""
    merged = graphs[0].copy()
    for wire, fact in graphs[0].facts.items():
        facts = [g.facts.get(wire) for g in graphs]
        if fact is None or any(f is None for f in facts):
            continue
        merged.facts[wire] = merge_all(facts, symbols, wire)
    return merged


def merge_all(facts: list, symbols, hint: str) -> Fact:
    first = facts[0]
    if all(f is first for f in facts):
        return first
    if any(isinstance(f, SequenceFact) for f in facts):
        return first if all(str(f) == str(first) for f in facts) else \
            _fail(f"wire {hint!r} is a sequence whose type depends on the branch taken")
    if any(isinstance(f, DynamicFact) or f.rank != first.rank for f in facts):
        return dynamic(facts)
    if any(f.dtype != first.dtype for f in facts):
        _fail(f"wire {hint!r} is {' or '.join(str(f) for f in facts)} depending on the branch")
    shape = tuple(ds[0] if all(d == ds[0] for d in ds) else symbols.fresh(hint)
                  for ds in zip(*(f.shape for f in facts)))
    value = first.value if all(_same_value(first.value, f.value) for f in facts) else None
    return Fact(first.dtype, shape, value)


def _same_value(a, b) -> bool:
    if a is None or b is None:
        return False
    if a is b:
        return True
    if a.dtype == object or b.dtype == object:
        return a.shape == b.shape and all(x == y for x, y in zip(a.flat, b.flat))
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _fail(message):
    raise InferenceError(message)
