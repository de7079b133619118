"""Control flow: If here, Loop and Scan in `loop.py`; the subgraph helpers they share.

A subgraph (branch or body) is a `Graph` whose `outer_refs` name the enclosing wires it reads.
At analysis those are visible through `ctx`; at run time the node's `scope_inputs` arrive in
`eval_scoped` as a dict, passed on whole to the subgraph's plan (a nested subgraph reads from
it too, through its own node's scope). Subgraph plans are built once per op and cached.
"""
from dataclasses import dataclass, field, replace

import numpy as np

from ..divergence import branch_cases
from ..errors import InputError, PulsarError
from ..fact import DynamicFact, Fact
from ..graph import Graph
from .base import fail
from .registry import register
from .scoped import ANALYSIS, ScopedOp, subgraph_plan
from .sequence import SequenceFact, element_fact, merge_sequences
from .subgraph_emit import emit_if

BOOL = np.dtype(bool)
def varying(fact: Fact) -> Fact:
    """The fact without its value: a loop-carried value changes between iterations."""
    return replace(fact, value=None) if fact.value is not None else fact


def merge_facts(a: Fact, b: Fact, ctx, what: str) -> Fact:
    """A fact covering both: equal dims stay, differing dims become fresh symbols."""
    if isinstance(a, DynamicFact) or isinstance(b, DynamicFact):
        fail(f"{what}: its rank depends on a branch taken inside the body, {a} vs {b}")
    if isinstance(a, SequenceFact) != isinstance(b, SequenceFact):
        fail(f"{what}: a sequence and a tensor, {a} vs {b}")
    if isinstance(a, SequenceFact):
        return merge_sequences(a, b, ctx, what)
    if a.dtype != b.dtype:
        fail(f"{what}: dtypes differ, {a} vs {b}")
    if a.rank != b.rank:
        fail(f"{what}: ranks differ, {a} vs {b} (pulsar needs one rank per wire)")
    shape = tuple(x if x == y else ctx.fresh_symbol(what) for x, y in zip(a.shape, b.shape))
    value = a.value if _same_value(a.value, b.value) else None
    return Fact(a.dtype, shape, value)


def _same_value(a, b) -> bool:
    if a is None or b is None or a.dtype == object or b.dtype == object:
        return False
    return a.shape == b.shape and bool(np.array_equal(a, b))


def settle_carried(body: Graph, carried: list, ctx, what: str, before=(), after=(), skip=0):
    """Analyse a loop body until the carried facts stop changing.

    `carried` are the initial carried facts, `before`/`after` the facts of the body inputs
    around them, `skip` the number of body outputs before the carried ones. Returns (carried
    facts valid for every iteration, body output facts). A dim that differs between an
    iteration's input and output becomes a fresh symbol; three rounds settle every body whose
    carried ranks are stable (the usual case takes one).
    """
    facts = [varying(f) for f in carried]
    n = len(facts)
    for _ in range(3):
        outs = ctx.analyse_subgraph(body, list(before) + facts + list(after))
        if len(outs) < skip + n:
            fail(f"{what} body returns {len(outs)} values; it needs {skip + n} "
                 f"({n} carried)")
        merged = [varying(merge_facts(f, o, ctx, f"{what}_carried{i}"))
                  for i, (f, o) in enumerate(zip(facts, outs[skip:]))]
        if all(_same_shape(m, f) for m, f in zip(merged, facts)):
            return facts, outs
        facts = merged
    return facts, outs


def _same_shape(a: Fact, b: Fact) -> bool:
    return a.shape == b.shape and getattr(a, "length", None) == getattr(b, "length", None) \
        and getattr(a, "ranked", True) == getattr(b, "ranked", True)


def need_inputs(graph: Graph, count: int, what: str):
    if len(graph.inputs) != count:
        fail(f"{what} takes {len(graph.inputs)} inputs ({', '.join(graph.inputs)}), "
             f"the node gives it {count}")


def truth(x) -> bool:
    """A condition tensor's truth: ONNX conditions hold one element."""
    if type(x) is np.ndarray and x.size == 1:
        return bool(x.reshape(-1)[0])
    x = np.asarray(x)
    if x.size != 1:
        fail(f"a condition must hold one element, got shape {list(x.shape)}")
    return bool(x.reshape(-1)[0])


@register("If", since=1)
@dataclass(frozen=True, eq=False)
class If(ScopedOp):
    """Runs one branch. A known condition makes the output facts (and values) that branch's."""
    then_branch: Graph = None
    else_branch: Graph = None
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def subgraphs(self):
        return [self.then_branch, self.else_branch]

    def infer(self, inputs, ctx):
        """Facts of the branch a known condition picks; else facts covering both branches, or,
        when they disagree in rank, each branch's in its own case of the analysis."""
        cond = inputs[0] if inputs else None
        if cond is None or cond.dtype != BOOL:
            fail(f"cond must be a bool tensor, got {cond}")
        for name, g in (("then_branch", self.then_branch), ("else_branch", self.else_branch)):
            need_inputs(g, 0, name)
        self._cache["reshape"] = ()
        self._cache["refused"] = {}
        if cond.value is not None and cond.value.dtype != object:
            taken = truth(cond.value)
            outs = ctx.analyse_subgraph(self._branch(taken), [])
            cases = branch_cases(outs)
            label = "then" if taken else "else"
            return outs if len(cases) == 1 else ctx.choose(cases, [label] * len(cases))
        then, then_error = _analysed(ctx, self.then_branch)
        other, other_error = _analysed(ctx, self.else_branch)
        if then_error is not None or other_error is not None:
            return self._one_branch(then, then_error, other, other_error)
        if len(then) != len(other):
            fail(f"then_branch returns {len(then)} values, else_branch {len(other)}")
        if any(_diverge(a, b) for a, b in zip(then, other)):
            cases = branch_cases(then), branch_cases(other)
            labels = ["then"] * len(cases[0]) + ["else"] * len(cases[1])
            return ctx.choose(cases[0] + cases[1], labels)
        facts = [self._merge(a, b, ctx, f"output{i}") for i, (a, b) in enumerate(zip(then, other))]
        self._cache["reshape"] = tuple((i, f.shape) for i, (f, a, b) in
                                       enumerate(zip(facts, then, other)) if a.rank != b.rank)
        return facts

    def _one_branch(self, then, then_error, other, other_error) -> list:
        """One branch cannot be analysed with these facts (silero at 16 kHz chunk sizes makes
        its 8 kHz branch feed an LSTM a rank it refuses; onnxruntime fails there too): the
        facts are the other branch's, and taking the refused one at run time is an error."""
        if then_error is not None and other_error is not None:
            raise then_error
        label, error = ("then", then_error) if then_error is not None else ("else", other_error)
        self._cache["refused"] = {label: str(error)}
        return other if then_error is not None else then

    @staticmethod
    def _merge(a: Fact, b: Fact, ctx, what: str) -> Fact:
        """As merge_facts, except that a scalar and a one-element tensor (ONNX function bodies
        mix them) merge as the tensor: `run` reshapes the scalar."""
        tensors = not isinstance(a, SequenceFact) and not isinstance(b, SequenceFact)
        if tensors and a.rank != b.rank and a.dtype == b.dtype and \
                all(d == 1 for d in a.shape + b.shape):
            return Fact(a.dtype, a.shape if a.rank > b.rank else b.shape)
        return merge_facts(a, b, ctx, what)

    def _branch(self, cond: bool) -> Graph:
        return self.then_branch if cond else self.else_branch

    def emit(self, e) -> bool:
        return emit_if(self, e)

    def run(self, inputs, scope, plans=None):
        key = "then" if truth(inputs[0]) else "else"
        cache = self._cache if plans is None else plans.get(ANALYSIS, self._cache)
        refused = cache.get("refused", {}).get(key)
        if refused:
            raise InputError(f"these inputs take the {key} branch, whose outputs the rest of "
                             f"the graph cannot use: {refused}")
        outs = subgraph_plan(self, key, self._branch(key == "then"), plans).run([], outer=scope)
        for i, shape in cache.get("reshape", ()):
            outs[i] = np.reshape(outs[i], shape)
        return outs


@register("SequenceMap", since=17)
@dataclass(frozen=True, eq=False)
class SequenceMap(ScopedOp):
    """Runs `body` once per element of the input sequence; additional sequence inputs give
    their element at the same position, tensors are passed whole. Each body output is
    gathered into an output sequence."""
    body: Graph = None
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def subgraphs(self):
        return [self.body]

    def infer(self, inputs, ctx):
        if not inputs or not isinstance(inputs[0], SequenceFact):
            fail(f"input_sequence must be a sequence, got {inputs[0] if inputs else None}")
        need_inputs(self.body, len(inputs), "body")
        length = inputs[0].length
        for f in inputs[1:]:
            if isinstance(f, SequenceFact) and not _same_length(f.length, length):
                fail(f"sequences of different lengths: {inputs[0]} and {f}")
        elements = [element_fact(f) if isinstance(f, SequenceFact) else varying(f)
                    for f in inputs]
        outs = ctx.analyse_subgraph(self.body, elements)
        return [SequenceFact(o.dtype, o.shape, length=length) for o in outs]

    def run(self, inputs, scope, plans=None):
        n = len(inputs[0])
        lengths = [len(x) for x in inputs if isinstance(x, list)]
        if any(k != n for k in lengths):
            fail(f"sequences of different lengths: {lengths}")
        plan = subgraph_plan(self, "body", self.body, plans)
        results = [plan.run([x[i] if isinstance(x, list) else x for x in inputs], outer=scope)
                   for i in range(n)]
        return [list(column) for column in zip(*results)] if results else \
            [[] for _ in self.body.outputs]


def _analysed(ctx, graph) -> tuple:
    """(output facts, None) or (None, the error) for one branch."""
    try:
        return ctx.analyse_subgraph(graph, []), None
    except PulsarError as e:
        return None, e


def _diverge(a: Fact, b: Fact) -> bool:
    """Do two branch outputs differ in rank (beyond a scalar vs a one-element tensor)?"""
    if isinstance(a, DynamicFact) or isinstance(b, DynamicFact):
        return True
    if isinstance(a, SequenceFact) or isinstance(b, SequenceFact) or a.rank == b.rank:
        return False
    return a.dtype != b.dtype or not all(d == 1 for d in a.shape + b.shape)


def _same_length(a, b) -> bool:
    return a == b or not (isinstance(a, int) and isinstance(b, int))
