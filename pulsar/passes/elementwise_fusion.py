"""Elementwise fusion: a tree of float elementwise nodes runs as one generated Numba kernel.

`fuse_elementwise` finds trees of fusible nodes, those whose op says what it computes per
element (`Op.scalar`: a scalar function of kernels/scalar.py or an operator), joined by wires
that have exactly one reader and are not graph outputs, and replaces each tree of two or more
nodes by a `FusedElementwise` node: one pass over memory instead of one per node, no
intermediate arrays.
Only the simple case is fused: float32/float64, every operand either a constant scalar (written
into the expression) or a wire of exactly the output's shape and dtype. Anything broadcasting,
integer, or constant-valued stays as it is (constant nodes are folded before this pass).
"""
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..fact import Fact
from ..graph import Graph
from ..kernels import codegen
from ..ops.base import Op, fail
from ..ops.broadcast import broadcast_shapes

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
DTYPE_NAMES = {"f": "float32", "d": "float64"}
INFIX = set(codegen.OPERATORS.values())
MAX_NODES = 32      # per kernel: bounds the expression's nesting (Python's parser allows ~200)


@dataclass(frozen=True)
class FusedElementwise(Op):
    """`expression` over inputs x0..x{n_inputs-1} (see kernels/codegen.py for its grammar)."""
    streams = "elementwise"
    onnx_name: ClassVar[str] = "FusedElementwise"
    expression: str = "x0"
    n_inputs: int = 1

    def describe(self) -> str:
        return self.expression

    def infer(self, inputs, ctx):
        if len(inputs) != self.n_inputs or any(x is None for x in inputs):
            fail(f"takes {self.n_inputs} inputs, got {inputs}")
        dtype = inputs[0].dtype
        if dtype not in FLOATS or any(x.dtype != dtype for x in inputs):
            fail("inputs must share one dtype, float32 or float64, got "
                 + ", ".join(str(x) for x in inputs))
        try:
            codegen.kernel_source(self.expression, self.n_inputs, dtype.name)
        except (ValueError, SyntaxError) as e:
            fail(f"bad expression {self.expression!r}: {e}")
        return [Fact(dtype, broadcast_shapes(*(x.shape for x in inputs)))]

    def eval(self, *xs):
        dtype, shape = xs[0].dtype, xs[0].shape
        name = DTYPE_NAMES.get(dtype.char)     # not dtype.name: NumPy computes it, 2 us a call
        if name is None or any(x.dtype != dtype for x in xs):
            raise TypeError(f"FusedElementwise computes on float32/float64, got "
                            f"{[x.dtype for x in xs]}")
        if any(x.shape != shape for x in xs):     # only after a rewrite: the pass never makes it
            shape = np.broadcast_shapes(*(x.shape for x in xs))
            xs = [np.broadcast_to(x, shape) for x in xs]
        flat = [np.ascontiguousarray(x).reshape(-1) for x in xs]
        out = np.empty(shape, dtype)
        codegen.kernel_for(self.expression, self.n_inputs, name)(out.reshape(-1), *flat)
        return (out,)

    def emit(self, e, inputs=None):
        """The generated kernel over flat views; `inputs` (variables) default to the node's."""
        out = e.out_facts[0]
        inputs = e.ins if inputs is None else inputs
        facts = [f for f in e.in_facts if f is not None]
        if out.dtype not in FLOATS or \
                any(tuple(f.shape) != tuple(out.shape) or f.dtype != out.dtype for f in facts):
            return False
        k = e.kernel(codegen.kernel_for(self.expression, self.n_inputs, out.dtype.name))
        buf = e.buffer(0)
        size = (int(np.prod(out.shape)),)
        flat = "".join(f", {e.view(x, size)}" for x in inputs)
        e.line(f"{k}({e.view(buf, size)}{flat})")
        return True


def emit_single(e, consts) -> bool:
    """Compile one unfused elementwise node whose op declares a scalar function as a
    one-node FusedElementwise: the same generated kernels, so the same results."""
    node = e.node
    facts = dict(zip(node.inputs, e.in_facts)) | dict(zip(node.outputs, e.out_facts))
    found = node_expression(node, facts, consts)
    if found is None:
        return False
    expression, wires = found
    inputs = [e.ins[list(node.inputs).index(w)] for w in wires]
    return FusedElementwise(expression=expression, n_inputs=len(wires)).emit(e, inputs)


def node_expression(node, facts, consts):
    """(expression over x0.., the wires they stand for) computing `node` alone, or None."""
    term = _term(node, facts, consts)
    if term is None:
        return None
    template, wires = term
    return template.format(*(f"x{i}" for i in range(len(wires)))), wires


def fuse_elementwise(graph: Graph) -> Graph:
    g = graph.copy()
    consts = g.constants()
    terms = {id(n): t for n in g.nodes if (t := _term(n, g.facts, consts)) is not None}
    producers, readers = g.producers(), g.consumers()

    def absorbable(wire):
        """The producer joins its reader's kernel: both fusible, the wire private to them."""
        node, reading = producers.get(wire), readers.get(wire, [])
        return node is not None and id(node) in terms and wire not in g.outputs \
            and len(reading) == 1 and id(reading[0]) in terms

    absorbed = set()
    for node in reversed(g.nodes):      # readers first: a tree grows from its last node
        if id(node) not in terms or id(node) in absorbed:
            continue
        tree = _Tree(terms, producers, absorbable)
        expression = tree.render(node)
        if len(tree.nodes) >= 2:
            absorbed.update(id(n) for n in tree.nodes if n is not node)
            node.op = FusedElementwise(expression=expression, n_inputs=len(tree.inputs))
            node.inputs = list(tree.inputs)
    g.nodes = [n for n in g.nodes if id(n) not in absorbed]
    return g


class _Tree:
    """Renders a root node's expression, absorbing the producers of single-reader wires; a
    producer left out (the tree is full) becomes the root of its own tree."""

    def __init__(self, terms, producers, absorbable):
        self.terms, self.producers, self.absorbable = terms, producers, absorbable
        self.nodes, self.inputs = [], []

    def render(self, node) -> str:
        self.nodes.append(node)
        template, wires = self.terms[id(node)]
        return template.format(*(self.operand(w) for w in wires))

    def operand(self, wire) -> str:
        if len(self.nodes) < MAX_NODES and self.absorbable(wire):
            return self.render(self.producers[wire])
        if wire not in self.inputs:
            self.inputs.append(wire)
        return f"x{self.inputs.index(wire)}"


def _term(node, facts, consts):
    """(template, wires) when `node` can join a fused kernel: the template's {0}, {1}... are
    the node's non-constant operands, in `wires`; constant scalars are written into it."""
    if len(node.outputs) != 1 or not node.outputs[0] or node.scope_inputs:
        return None
    out = facts.get(node.outputs[0])
    if out is None or out.dtype not in FLOATS or out.is_const:
        return None
    scalar = node.op.scalar(node, consts)
    operands = None if scalar is None else _operands(node, scalar, consts)
    if operands is None:
        return None
    texts, wires = [], []
    for value in operands:
        if isinstance(value, str):
            fact = facts.get(value)
            if fact is None or fact.dtype != out.dtype or tuple(fact.shape) != tuple(out.shape):
                return None
            texts.append("{%d}" % len(wires))
            wires.append(value)
        else:
            texts.append(_number(value, out.dtype))
    if not wires:
        return None
    if scalar.fn in INFIX:
        return (f"({texts[0]} {scalar.fn} {texts[1]})", wires) if len(texts) == 2 else None
    args = texts + [_number(float(p), out.dtype) for p in scalar.params]
    return f"{scalar.fn}({', '.join(args)})", wires


def _operands(node, scalar, consts):
    """The scalar function's data operands: a wire name, or a float for a constant scalar (of
    any numeric dtype: the kernel casts it to its own, as NumPy casts Pow's exponent to the
    base's). None if an operand is unusable."""
    wires = scalar.data_inputs(node)
    if not wires or "" in wires:
        return None
    values = []
    for w in wires:
        if w in consts:
            v = consts[w]
            if v.size != 1 or v.dtype.kind not in "iuf":
                return None
            values.append(float(v.reshape(-1)[0]))
        else:
            values.append(w)
    return values


def _number(value: float, dtype) -> str:
    """The constant as the kernel sees it: rounded to `dtype`, shortest text that round-trips."""
    v = dtype.type(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return str(v)
