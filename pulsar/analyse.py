"""Type and shape inference over a graph, with symbolic constant folding.

Each node's op maps input facts to output facts. When every input value is known, the op's
`eval` runs on the values (object arrays of Dims included), so `Shape -> Gather -> Concat ->
Reshape` chains fold into symbolic shapes with no special casing.
"""
import functools

import numpy as np
import onnx.defs

from . import budget, dims
from .divergence import Diverges, analyse_cases
from .errors import InferenceError, PulsarError, ResourceError
from .fact import Fact, concretize
from .onnx_import import UnrankedFact

FOLD_LIMIT = 1 << 24   # elements: larger constants are computed at run time, not stored


class InferContext:
    """What an op's `infer` may ask about its surroundings."""

    def __init__(self, node, opsets, symbols, outer_facts, assume=None):
        self.node = node
        self.assume = assume or {}
        self.opsets = opsets
        self.symbols = symbols
        self.outer_facts = outer_facts
        self.n_outputs = len(node.outputs)

    @property
    def opset(self) -> int:
        return self.opsets.get("", 1)

    def fresh_symbol(self, hint: str = "") -> dims.Dim:
        return self.symbols.fresh(f"{self.node.name}_{hint}" if hint else self.node.name)

    def analyse_subgraph(self, graph, input_facts: list) -> list:
        """Facts of a subgraph's outputs given its input facts and this scope's facts."""
        inner = analyse(graph, dict(zip(graph.inputs, input_facts)), self.opsets,
                        self.symbols, outer_facts=self.outer_facts)
        return [inner.facts[w] for w in inner.outputs]

    def choose(self, choices: list, labels: list) -> list:
        """One of `choices` (lists of output facts; `labels` name the branch each comes from)
        in the case being analysed: the node's facts depend on which branch runs
        (pulsar/divergence.py)."""
        key = id(self.node.op)
        if key not in self.assume:
            raise Diverges(self.node.op, self.node.name, choices, labels)
        return choices[self.assume[key]]


class SymbolTable:
    """Fresh symbols for data-dependent sizes, unique within one analysis."""

    def __init__(self):
        self.count = 0

    def fresh(self, hint: str) -> dims.Dim:
        self.count += 1
        budget.count_symbol(self.count)
        clean = "".join(c if c.isalnum() or c == "_" else "_" for c in hint).strip("_") or "n"
        return dims.sym(f"{clean}_{self.count}")


def analyse(graph, input_facts=None, opsets=None, symbols=None, outer_facts=None):
    """A copy of `graph` with a complete fact on every wire (merged over the cases that
    branches disagreeing in rank split it into)."""
    opsets = opsets or {"": 18}
    symbols = symbols or SymbolTable()
    return analyse_cases(graph, lambda assume: _analyse_once(
        graph, input_facts, opsets, symbols, outer_facts, assume), symbols)


def _analyse_once(graph, input_facts, opsets, symbols, outer_facts, assume):
    g = graph.copy()
    for name, fact in (input_facts or {}).items():
        if name not in g.inputs:
            raise InferenceError(f"no input named {name!r}; inputs are {', '.join(g.inputs)}")
        g.facts[name] = fact
    scope = dict(outer_facts or {})
    scope.update(g.facts)
    for name in g.inputs:
        fact = g.facts.get(name)
        if fact is None or isinstance(fact, UnrankedFact):
            raise InferenceError(f"input {name!r} has no declared shape; declare it, e.g. "
                                 f"inputs={{{name!r}: 'f32[1,S]'}}")
    for node in g.nodes:
        outs = infer_node(node, scope, opsets, symbols, assume)
        for wire, fact in zip(node.outputs, outs):
            if wire:
                scope[wire] = fact
                g.facts[wire] = fact
    for wire in g.outputs:
        if wire not in scope:
            raise InferenceError(f"graph output {wire!r} is produced by no node")
        g.facts[wire] = scope[wire]
    return g


def infer_node(node, scope, opsets, symbols, assume=None) -> list:
    inputs = []
    for w in node.inputs:
        if not w:
            inputs.append(None)
        elif w in scope:
            inputs.append(scope[w])
        else:
            raise InferenceError(f"node {node.name!r} ({node.op.onnx_name}) reads wire {w!r}, "
                                 "which nothing defines")
    ctx = InferContext(node, opsets, symbols, scope, assume)
    try:
        check_input_count(node, opsets)
        outs = list(node.op.infer(inputs, ctx))
        if len(outs) < len([w for w in node.outputs if w]):
            raise InferenceError(f"produces {len(outs)} outputs, the node asks for {len(node.outputs)}")
        for wire, fact in zip(node.outputs, outs):
            budget.check_fact(fact, f"output {wire!r}")
        return fold(node, inputs, outs)
    except PulsarError as e:
        raise type(e)(describe_failure(node, inputs, e)) from e
    except MemoryError as e:
        raise ResourceError(describe_failure(node, inputs, "out of memory during analysis")) from e
    except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError) as e:
        # An op's inference meeting facts it does not expect (a malformed model: an axis past a
        # rank a mutation changed): still the user's node at fault, so name it, typed.
        raise InferenceError(describe_failure(
            node, inputs, f"cannot infer its outputs ({type(e).__name__}: {e}); if the model "
            "is valid, this is a pulsar bug: please report it with the model")) from e


def check_input_count(node, opsets):
    """Refuse a node with more or fewer inputs than its ONNX schema allows: an op reading
    only the inputs it knows would silently ignore the rest (Relu(x, y) is no Relu)."""
    domain = getattr(node.op, "onnx_domain", None)
    if domain is None:          # pulsar's own ops (fused, streaming) have no ONNX schema
        return
    limits = _input_limits(domain, node.op.onnx_name, opsets.get(domain, 1))
    if limits is None:
        return
    given = max((i + 1 for i, w in enumerate(node.inputs) if w), default=0)
    low, high = limits
    if not low <= given <= high:
        wanted = f"{low}" if low == high else f"{low} to {high}"
        plural = "" if high == 1 else "s"
        raise InferenceError(f"takes {wanted} input{plural} (opset {opsets.get(domain, 1)}), "
                             f"the node has {given}")


@functools.lru_cache(maxsize=None)
def _input_limits(domain, op_type, opset):
    """(min, max) input count of the ONNX schema in force at `opset`, or None if unknown."""
    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except onnx.defs.SchemaError:
        return None
    return schema.min_input, schema.max_input


def fold(node, inputs, outs) -> list:
    """Outputs with values when every input is known and the op may run at analysis time."""
    present = [f for f in inputs if f is not None]
    if not node.op.foldable or node.op.uses_scope or not all(f.is_const for f in present):
        return outs
    if any(f.is_concrete and _numel(f.shape) > FOLD_LIMIT for f in outs):
        return outs
    symbolic = any(f.value.dtype == object for f in present)
    try:
        values = node.op.eval(*[None if f is None else f.value for f in inputs])
    except (TypeError, dims.DimError, ValueError, ArithmeticError, AttributeError):
        if symbolic:
            return outs   # this op cannot compute on Dims: the fact stays value-less
        raise
    folded = []
    for fact, value in zip(outs, values):
        value = concretize(np.asarray(value) if not isinstance(value, np.ndarray) else value)
        folded.append(Fact(fact.dtype, value.shape, value))
    return folded + outs[len(folded):]


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def describe_failure(node, inputs, error) -> str:
    shown = ", ".join(f"{w or '<none>'}: {f}" for w, f in zip(node.inputs, inputs))
    return f"node {node.name!r} ({node.op.onnx_name}) with inputs [{shown}]: {error}"
