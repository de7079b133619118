"""Compiled plans: runs of consecutive nodes become one generated Numba function.

On small audio models each interpreted node costs microseconds of Python and dispatch, more than
its arithmetic. Here every maximal run of nodes whose facts are static and whose ops can `emit`
(pulsar/emit.py) is written out as one function: intermediate wires are local variables backed
by preallocated buffers, state arrays are updated in place, and the run costs one call from
Python. Nodes that cannot be compiled (symbolic shapes, sequences, ops without `emit`, control
nodes whose subgraphs cannot be written inline) stay interpreted between the compiled runs, so
compiling never changes what runs.

Generated sources go to the kernel cache directory (kernels/codegen.py) under a name hashed
from their text, which names the kernels' own source hash too: Numba's on-disk cache then
serves a second process, and editing a kernel never reuses stale machine code.
"""
import math
import os

import numpy as np

from . import tiers
from . import emit as emitting
from .emit import MAX_NODES, shape_literal
from .kernels import codegen
from .kernels.digest import kernels_digest
from .kernels.jit import arg_key, chosen_policy, current_policy
from .kernels.views import arena_view
from .kernels.jit import policy as kernel_policy
from .passes import elementwise_fusion
from .step import SegmentNode, Step, describe

# Nodes writing more than this stay interpreted (see `_large`); audio models' wires are a few
# to tens of KiB per pulse.
MAX_OUTPUT_BYTES = int(os.environ.get("PULSAR_COMPILE_MAX_BYTES", str(256 * 1024)))
# Constants up to this size share one argument (see `_pool_constants`).
POOL_MAX_BYTES = 16 * 1024


def enabled(requested=None) -> bool:
    """Do plans contain generated functions, for `requested` (a compile flag or a tier name)
    or else the environment (pulsar/tiers.py)?"""
    if isinstance(requested, str):
        return tiers.generates_code(tiers.resolve(requested))
    return tiers.generates_code(tiers.resolve(compile=requested))


def compile_steps(plan, states=None) -> list:
    """The plan's steps with every compilable run replaced by one compiled step.

    `states` maps a step's index to its state arrays (stateful ops of a pulsed plan)."""
    states = states or {}
    facts, consts = plan.graph.facts, dict(plan.graph.constants())
    steps = plan.node_steps
    refusals = {}
    ok = [_emits(plan, i, step, facts, consts, states.get(i), emitting.Emitter(emit_node), refusals)
          for i, step in enumerate(steps)]
    plan.interpreted_why = {id(st.node): _why(st, facts, plan, refusals.get(id(st.node)))
                            for st, good in zip(steps, ok) if not good}
    later_reads = _later_reads(steps)
    outputs = set(plan.output_slots)
    result, i = [], 0
    while i < len(steps):
        if not ok[i]:
            result.append(steps[i])
            i += 1
            continue
        j = i
        while j < len(steps) and ok[j] and j - i < MAX_NODES:
            j += 1
        result.append(_segment(plan, range(i, j), facts, consts, states, later_reads, outputs))
        i = j
    return result


def _emits(plan, i, step, facts, consts, state, e, refusals=None) -> bool:
    node = step.node
    subgraphs = scope = None
    if step.scope is not None:      # a control node: its subgraphs may be written inline
        subgraphs = step.prepared
        if subgraphs is None:
            return False
        scope = {w: _var(s) for w, s in step.scope}
    wires = [w for w in list(node.inputs) + list(node.outputs) if w]
    if not all(emitting.static(facts.get(w)) for w in wires) or _large(node, facts):
        return False
    ne = emitting.NodeEmitter(e, node, [_var(s) if s >= 0 else None for s in step.ins],
                              [_var(s) if s >= 0 else f"_unused{k}" for k, s in enumerate(step.outs)],
                              facts, consts, state, subgraphs, scope)
    done = emit_node(ne, consts)
    if not done and refusals is not None and ne.why:
        refusals[id(node)] = ne.why
    return done


def emit_node(ne, consts) -> bool:
    """Write one node through its op's `emit`, else as a one-node elementwise kernel; nothing
    is kept when neither can."""
    e, node = ne.e, ne.node
    mark = e.mark()
    op_emit = getattr(node.op, "emit", None)
    done = op_emit is not None and bool(op_emit(ne))
    if not done:
        e.rollback(mark)
        done = elementwise_fusion.emit_single(ne, consts)
    if not done:
        e.rollback(mark)
    return done


def _why(step, facts, plan=None, refusal=None) -> str:
    if step.scope is not None or step.node.op.subgraphs():
        inner = getattr(plan, "subgraph_plans", {}).get(id(step.node))
        if not inner:
            return "holds a subgraph (run from its ONNX form)"
        rows = [where for p in inner.values() for _, where in describe(p.steps)]
        refusal = refusal or ("shapes not static" if not _static(step, facts) else None)
        return (f"holds a subgraph; its optimised subgraphs run {rows.count('compiled')} of "
                f"{len(rows)} nodes compiled" + (f"; not inline: {refusal}" if refusal else ""))
    if not _static(step, facts):
        return "shapes not static"
    if _large(step.node, facts):
        return f"outputs over {MAX_OUTPUT_BYTES // 1024} KiB (its own work dwarfs a call)"
    return "no compiled form for these inputs"


def _static(step, facts) -> bool:
    wires = [w for w in list(step.node.inputs) + list(step.node.outputs) if w]
    return all(emitting.static(facts.get(w)) for w in wires)


def _large(node, facts) -> bool:
    """Does the node write more than MAX_OUTPUT_BYTES? Such a node runs for hundreds of
    microseconds, so a call from Python costs it nothing, while compiled it would hold its
    output buffer for the plan's life and lengthen compilation (an image model's layers)."""
    return any(facts[w].dtype.itemsize * math.prod(facts[w].shape) > MAX_OUTPUT_BYTES
               for w in node.outputs if w)


def _var(slot) -> str:
    return f"v{slot}"


def _later_reads(steps) -> list:
    """For each step index, the slots read by any step after it."""
    reads, seen = [None] * len(steps), set()
    for i in range(len(steps) - 1, -1, -1):
        reads[i] = set(seen)
        step = steps[i]
        seen.update(s for s in step.ins if s >= 0)
        if step.scope is not None:
            seen.update(s for _, s in step.scope)
    return reads


def _segment(plan, indices, facts, consts, states, later_reads, outputs):
    e = emitting.Emitter(emit_node)
    steps = [plan.node_steps[i] for i in indices]
    for i, step in zip(indices, steps):
        if not _emits(plan, i, step, facts, consts, states.get(i), e):    # emitted once before
            raise RuntimeError(f"node {step.node.name!r} emitted once, then refused")
    written, read_first = set(), []
    for step in steps:
        for s in step.ins + [s for _, s in step.scope or ()]:
            if s >= 0 and s not in written and s not in read_first:
                read_first.append(s)
        written.update(s for s in step.outs if s >= 0)
    after = later_reads[indices[-1]] | outputs
    exported = [s for step in steps for s in step.outs if s >= 0 and s in after]
    named = emitting.identifiers("\n".join(e.lines))
    bound = _bind_constants(e, plan, read_first, named)
    ins = [s for s in read_first if s not in bound]
    arenas, views = _arenas(e)
    views.update(_pool_constants(e))
    used = [k for k, s in enumerate(ins) if _var(s) in named]
    source = _source(e, [ins[k] for k in used], exported, [st.node for st in steps], arenas,
                     views)
    fn = codegen.load(source, stem="plan").segment
    fixed = [value for name, value in e.args if name not in views]
    frees = sorted({s for step in steps for s in step.frees if s not in written})
    twin = _interpreted(plan, steps, ins, exported)
    pick = None if len(used) == len(ins) else used
    return Step(SegmentNode([st.node for st in steps]),
                _runner(fn, [a for _, a in arenas], fixed, twin, plan.tier, pick), ins,
                exported, frees, None)


def _bind_constants(e, plan, slots, named) -> set:
    """The plan constants among `slots`, bound to the function as fixed arguments (those its
    lines read: `named`) rather than passed in: every run then skips gathering them, and
    constants only the interpreted twin reads (weights a node prepared) are not passed at
    all. The twin takes constants from the plan."""
    values = dict(plan.const_slots)
    bound = {s for s in slots if isinstance(values.get(s), np.ndarray) and
             values[s].dtype in emitting.COMPILED_DTYPES}
    read = [s for s in slots if s in bound and _var(s) in named]
    e.lines[:0] = [f"{_var(s)} = {e.constant(values[s])}" for s in read]
    return bound


def _pool_constants(e) -> dict:
    """Small constants packed into one array per dtype, which replaces them as an argument:
    Numba takes ~75 ns to unbox each array argument of a call, and a classifier's biases and
    thresholds are a dozen of them. Only C-ordered ones, so each view has its original layout.
    Returns {constant's name: source of its view of the pool}."""
    groups = {}
    for name, value in e.args:
        if name in e.constants and isinstance(value, np.ndarray) and \
                value.dtype.kind in "fiub" and value.nbytes <= POOL_MAX_BYTES and \
                value.flags.c_contiguous:
            groups.setdefault(value.dtype, []).append((name, value))
    views = {}
    for dtype, members in sorted(groups.items(), key=lambda g: g[0].str):
        if len(members) < 2:
            continue
        starts, size = [], 0
        for _, value in members:
            starts.append(size)
            size += _aligned(value)
        pool = np.zeros(size, dtype)
        for (_, value), start in zip(members, starts):
            pool[start:start + value.size] = value.reshape(-1)
        pool_name = e.arg(pool, "pool")
        view = e.kernel(arena_view)
        for (name, value), start in zip(members, starts):
            views[name] = f"{view}({pool_name}, {start}, {shape_literal(value.shape)})"
    return views


def _runner(fn, arenas, fixed, twin, tier=None, pick=None):
    """Calls of `fn` (a Kernel) with arenas of their own, or of its interpreted twin.

    Arenas: a plan is shared by every thread that runs its model, and the arenas hold its
    intermediate buffers and scratch, so two concurrent calls must never write one arena. Free
    sets wait in a list (pop and append are atomic under the GIL, so no lock, and callers never
    wait for each other); a new set is made only when every set is in use, i.e. at most one per
    concurrent caller. Outputs leave as copies, and state arrays belong to one session, which
    is driven by one thread at a time.
    Tiers (pulsar/tiers.py): until `fn` has machine code, the kernel policy (the caller's, else
    the plan's `tier`) decides between the twin (the same nodes interpreted, on the same state
    arrays) and compiling now; once it has, every later call goes straight to the dispatcher.
    `pick`: indices of the values `fn` reads (None: all); the twin reads them all."""
    free = [arenas]
    hot = []

    def interpreted(values):
        with kernel_policy("interpreted"):
            return twin(values)

    def run(*values):
        try:
            mine = free.pop()
        except IndexError:
            mine = [np.zeros_like(a) for a in arenas]
        try:
            read = values if pick is None else [values[k] for k in pick]
            if hot and chosen_policy() != "interpreted":
                return hot[0](*mine, *fixed, *read)
            mode = chosen_policy() or tier or current_policy()   # tier: called directly
            if mode == "interpreted":
                return interpreted(values)
            args = (*mine, *fixed, *read)
            key = arg_key(args)
            result = fn.run_or_twin(key, args, lambda *_: interpreted(values), priority=0,
                                    mode=mode)
            if fn.ready(args):
                hot.append(fn.dispatcher)
            return result
        finally:
            free.append(mine)
    run.hot = hot               # non-empty once machine code runs (dumps and tests read it)
    return run


def _interpreted(plan, steps, ins, exported):
    """The segment's nodes run one by one: what its outputs are before its machine code is."""
    consts = dict(plan.const_slots)

    def twin(values):
        slots = dict(consts)
        slots.update(zip(ins, values))
        for step in steps:
            args = [slots[i] if i >= 0 else None for i in step.ins]
            results = step.run(args, {w: slots[s] for w, s in step.scope}) \
                if step.scope is not None else step.run(*args)
            for s, r in zip(step.outs, results):
                if s >= 0:
                    slots[s] = r
        return tuple(slots[s] for s in exported)
    return twin


ALIGN = 64     # bytes: each buffer in an arena starts on a cache line (and a vector boundary)


def _aligned(value) -> int:
    """Elements `value` takes in an arena or pool: its size rounded up to ALIGN bytes."""
    step = max(1, ALIGN // value.dtype.itemsize)
    return -(-max(value.size, 1) // step) * step


def _arenas(e):
    """Buffers and scratch of one function packed into one array per dtype: Numba's call
    costs ~50 ns per array argument, and a pulsed model has dozens of intermediate wires.
    Output buffers get disjoint places; every node's scratch starts at the same offset after
    them, since scratch never outlives its node's lines.
    Returns ([(arena name, array)], {buffer name: source of its view})."""
    groups = {}
    for name, value in e.args:
        if name in e.movable:
            groups.setdefault(value.dtype, []).append((name, value))
    arenas, views = [], {}
    for k, (dtype, members) in enumerate(sorted(groups.items(), key=lambda g: g[0].str)):
        offset, spans = 0, []
        for name, value in members:
            if name not in e.scratch:
                spans.append((name, offset, value))
                offset += _aligned(value)
        ends = {}
        for name, value in members:
            if name in e.scratch:
                start = ends.get(e.scratch[name], offset)
                spans.append((name, start, value))
                ends[e.scratch[name]] = start + _aligned(value)
        arena_name = f"arena{k}"
        arenas.append((arena_name, np.zeros(max([offset, *ends.values()]), dtype)))
        view = e.kernel(arena_view)
        for name, start, value in spans:
            if value.ndim > 1 and not value.flags.c_contiguous:     # Fortran-ordered scratch
                views[name] = f"{view}({arena_name}, {start}, {shape_literal(value.shape[::-1])}).T"
            else:
                views[name] = f"{view}({arena_name}, {start}, {shape_literal(value.shape)})"
    return arenas, views


def _source(e, ins, exported, nodes, arenas=(), views=None) -> str:
    views = views or {}
    names = ", ".join(n.name or "?" for n in nodes)
    imports = [f"from {module} import {name} as {alias}" for (module, name), alias in e.imports.items()]
    params = ", ".join([name for name, _ in arenas] + [name for name, _ in e.args if name not in views]
                       + [_var(s) for s in ins])
    prologue = [f"{name} = {view}" for name, view in views.items()]
    results = "".join(f"{_var(s)}.copy(), " for s in exported)
    header = [f"# generated by pulsar: a compiled plan segment ({len(nodes)} nodes)",
              f"# nodes: {names[:2000]}", f"# kernels: {kernels_digest()}",
              "import math", "", "import numpy as np", "",
              "from pulsar.kernels.jit import jit", *imports, "", ""]
    body = ["@jit", f"def segment({params}):", *("    " + line for line in prologue + e.lines),
            f"    return ({results})", ""]
    return "\n".join(header + body)


def summary(plan) -> list:
    """Dump lines saying which nodes run compiled and why the others do not."""
    rows = describe(plan.steps)
    if not any(isinstance(st.node, SegmentNode) for st in plan.steps) and \
            getattr(plan, "interpreted_why", None) is None:
        return [f"# execution: all {len(rows)} nodes interpreted (compiled plans off)"]
    functions = sum(isinstance(st.node, SegmentNode) for st in plan.steps)
    n = sum(where == "compiled" for _, where in rows)
    lines = [f"# execution: {n} of {len(rows)} nodes compiled into {functions} function(s)"]
    why = plan.interpreted_why
    for node, where in rows:
        if where == "interpreted":
            lines.append(f"#   interpreted: {node.name} ({node.op.onnx_name}): "
                         f"{why.get(id(node), 'not compiled')}")
    return lines
