"""What an op sees when it writes itself into a compiled plan (see pulsar/compiled.py).

An op that can run compiled defines `emit(self, e) -> bool`: it reads its static facts and
constant inputs from `e`, and writes Numba-compatible Python lines that compute its outputs,
calling kernels (module-level Numba functions) through `e.kernel(fn)`. Arrays it needs
(prepared weights, scratch, output buffers, state) become arguments of the generated function
through `e.arg(array)`, so the generated source depends on shapes, never on weight values, and
one cached compilation serves every model of that structure. Returning False leaves the node
to the interpreter; nothing it wrote is kept.
"""
import os
import re

import numpy as np

from .fact import Fact
from .kernels import copy as copies
from .kernels import views


# Nodes per generated function. Compiling one function of 39 nodes (openWakeWord's embedding,
# pulsed) took 32 s, five of at most 8 nodes 23 s in all; each extra function costs a call
# from Python (2-6 us) on every run, paid for the life of a stream: runtime wins.
MAX_NODES = int(os.environ.get("PULSAR_SEGMENT_NODES", "64"))


class Emitter:
    """Source lines, kernel imports and bound arguments of one generated function."""

    def __init__(self, write_node=None):
        # write_node(ne, consts) -> bool writes one node (pulsar/compiled.py's `emit_node`);
        # control ops write their subgraphs' nodes through it (ops/subgraph_emit.py)
        self.write_node = write_node
        self.lines, self.imports, self.args = [], {}, []
        self._arg_ids = {}
        self.movable = set()        # names of arguments that only this function uses
        self.scratch = {}           # movable name -> the node that alone uses it (scratch)
        self.constants = set()      # names of arguments holding constants, never written
        self._count = 0

    def fresh(self, stem="t") -> str:
        self._count += 1
        return f"{stem}{self._count}"

    def kernel(self, fn) -> str:
        """The local name of a Numba function (or a module-level constant) for the source."""
        py = getattr(fn, "py_func", fn)
        module, name = py.__module__, py.__name__
        key = (module, name)
        if key not in self.imports:
            self.imports[key] = f"{name}_{len(self.imports)}"
        return self.imports[key]

    def arg(self, value, stem="a", movable=False) -> str:
        """An argument bound to `value` (the same object always gets the same name).
        `movable`: a buffer made for this function alone, which may live in an arena."""
        key = id(value)
        if key not in self._arg_ids:
            name = f"{stem}{len(self.args)}"
            self.args.append((name, value))
            self._arg_ids[key] = name
            if movable:
                self.movable.add(name)
        return self._arg_ids[key]

    def constant(self, value) -> str:
        """An argument bound to a constant array that the generated code only reads (weights,
        index maps): small ones may share one array (see compiled._pool_constants)."""
        name = self.arg(value, "w")
        self.constants.add(name)
        return name

    def line(self, text: str):
        self.lines.append(text)

    def mark(self):
        return len(self.lines), dict(self.imports), list(self.args), dict(self._arg_ids), \
            set(self.movable), dict(self.scratch), set(self.constants)

    def rollback(self, mark):
        n, imports, args, ids, movable, scratch, constants = mark
        del self.lines[n:]
        self.imports, self.args, self._arg_ids = imports, args, ids
        self.movable, self.scratch, self.constants = movable, scratch, constants


class NodeEmitter:
    """One node's view of the emitter: its input/output variables, facts and constants."""

    def __init__(self, emitter: Emitter, node, ins, outs, facts, consts, state=None,
                 subgraphs=None, scope=None):
        self.e = emitter
        self.node = node
        self.ins = ins              # variable names, None for absent optional inputs
        self.outs = outs            # variable names the node must assign
        self.in_facts = [facts.get(w) if w else None for w in node.inputs]
        self.out_facts = [facts.get(w) if w else None for w in node.outputs]
        self._consts = consts
        self.state = state          # list of arrays for stateful ops
        # control ops (If, Loop, Scan): what their interpreted run is given, the optimised
        # subgraph plans by id(subgraph) (pulsar/planning.py), and the variables of
        # the outer wires their subgraphs read
        self.subgraphs = subgraphs
        self.scope = scope
        self.why = None             # set by an op that refuses, for the plan's dump

    def const(self, i):
        """Input i's value when it is a plan constant, else None."""
        w = self.node.inputs[i] if i < len(self.node.inputs) else ""
        return self._consts.get(w) if w else None

    def kernel(self, fn) -> str:
        return self.e.kernel(fn)

    def fresh(self, stem="t") -> str:
        return self.e.fresh(stem)

    def arg(self, value, stem="a") -> str:
        return self.e.arg(value, stem)

    def constant(self, value) -> str:
        return self.e.constant(value)

    def line(self, text: str):
        self.e.line(text)

    def loop(self, var: str, count: int, indent: str = "") -> str:
        """`for var in range(count):` at `indent`, returning the body's indent; a single pass
        is `var = 0` instead, the body at `indent` (Numba types and lowers a range loop per
        `for`, and most audio models run batch 1 and one group: a fifth of a plan's compile)."""
        if count == 1:
            self.line(f"{indent}{var} = 0")
            return indent
        self.line(f"{indent}for {var} in range({count}):")
        return indent + "    "

    def copy(self, dst: str, src: str, indent: str = ""):
        """`dst[...] = src` for arrays of one shape, as a kernel call (kernels/copy.py: Numba's
        own array assignment costs seconds of compile)."""
        self.line(f"{indent}{self.kernel(copies.copy_into)}({dst}, {src})")

    def fill(self, dst: str, value, indent: str = ""):
        """`dst[...] = value` for a scalar value."""
        self.line(f"{indent}{self.kernel(copies.fill_into)}({dst}, {value})")

    def view(self, src: str, shape) -> str:
        """Source of `src` as a C-contiguous array of `shape`: a view when it is contiguous
        (kernels/views.py), as `np.ascontiguousarray(src).reshape(shape)`."""
        return f"{self.kernel(views.c_view)}({src}, {shape_literal(shape)})"

    def transposed(self, src: str, perm) -> str:
        """Source of `src.transpose(perm)`, a view (kernels/views.py)."""
        return f"{self.kernel(views.transposed)}({src}, {shape_literal(perm)})"

    def buffer(self, j: int) -> str:
        """A preallocated buffer for output j, assigned to its variable; returns the name."""
        f = self.out_facts[j]
        name = self.e.arg(np.empty(f.shape, dtype=f.dtype), "b", movable=True)
        self.line(f"{self.outs[j]} = {name}")
        return self.outs[j]

    def new_buffer(self, shape, dtype, stem="s", order="C") -> str:
        """A preallocated scratch array for this node alone: its contents do not outlive the
        node's lines, so other nodes' scratch may share its memory. Every array the generated
        code writes must come from here or `buffer` (they live in per-call arenas: see
        compiled._runner); `arg` is for values it only reads."""
        if order == "F":
            name = self.e.arg(np.empty(shape[::-1], dtype=dtype).T, stem, movable=True)
            self.e.scratch[name] = id(self.node)
            return name
        name = self.e.arg(np.empty(shape, dtype=dtype), stem, movable=True)
        self.e.scratch[name] = id(self.node)
        return name


def static(fact) -> bool:
    """A plain tensor fact whose shape is all integers (what compiled code can allocate)."""
    return isinstance(fact, Fact) and type(fact) is Fact and \
        all(isinstance(d, int) for d in fact.shape) and fact.dtype != object


def identifiers(text: str) -> set:
    """The names in generated source, in one scan (not one search per name: a plan has
    hundreds of variables)."""
    return set(re.findall(r"\b[A-Za-z_]\w*", text))


def shape_literal(shape) -> str:
    return "(" + "".join(f"{int(d)}, " for d in shape) + ")"


def emit_reshape(op, e: NodeEmitter) -> bool:
    """`emit` of ops whose output is their first input's data in another shape (Reshape,
    Flatten, Squeeze, Unsqueeze, Identity): a view, no copy, when the input is contiguous."""
    out = e.out_facts[0]
    if len(e.outs) != 1 or e.in_facts[0].dtype != out.dtype:
        return False
    e.line(f"{e.outs[0]} = {e.view(e.ins[0], out.shape)}")
    return True


# NumPy ufuncs that Numba compiles with an `out` argument, with NumPy's results.
UFUNCS = {np.add, np.subtract, np.multiply, np.divide, np.maximum, np.minimum, np.less,
          np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal, np.logical_and,
          np.logical_or, np.logical_xor, np.logical_not, np.bitwise_and, np.bitwise_or,
          np.bitwise_xor, np.absolute, np.negative, np.exp, np.log, np.sqrt, np.sin, np.cos,
          np.tan, np.arcsin, np.arccos, np.arctan, np.sinh, np.cosh, np.tanh, np.arcsinh,
          np.arccosh, np.arctanh, np.floor, np.ceil, np.sign, np.reciprocal, np.isnan}
COMPILED_DTYPES = {np.dtype(t) for t in (np.float32, np.float64, np.int8, np.int16, np.int32,
                                         np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
                                         bool)}


def emit_ufunc(ufunc, e: NodeEmitter) -> bool:
    """out = ufunc(*inputs) with NumPy broadcasting, when NumPy's result dtype is the op's."""
    xs, out = e.in_facts, e.out_facts[0]
    if ufunc not in UFUNCS or any(x is None or x.dtype not in COMPILED_DTYPES for x in xs) \
            or len(e.outs) != 1:
        return False
    try:
        with np.errstate(all="ignore"):     # only the dtype matters (arctanh(1) is inf)
            result = ufunc(*(np.ones(1, x.dtype) for x in xs)).dtype
    except TypeError:
        return False
    if result != out.dtype or (ufunc is np.reciprocal and out.dtype.kind != "f"):
        return False
    buf = e.buffer(0)
    e.line(f"np.{ufunc.__name__}({', '.join(e.ins)}, {buf})")
    return True
