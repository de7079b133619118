"""Loop and Scan in a compiled plan: `for t in range(N):` around the body's own emitted nodes.

Interpreted, every iteration goes back to Python and runs the body's plan. Here the body is
written inline (pulsar/ops/subgraph_emit.py) when the iteration count is known when emitting
(a constant trip count, a static scan length) and every body shape is static. Carried values
live in the node's output buffers, updated in place after each iteration; scan outputs are
written frame by frame into their preallocated buffers. A Loop whose condition may turn false
(no scan outputs then, their length would not be static) leaves its `for` with `break`.
"""
import math

import numpy as np

from ..emit import static
from .subgraph_emit import INDENT, element, emit_subgraph, indent


def body_plan(op, ne):
    """The optimised body plan the interpreted run would use, or None."""
    graph = op.run_graphs()[0]
    plan = ne.subgraphs.get(id(graph)) if ne.subgraphs is not None else None
    if plan is None:
        ne.why = "its body has no optimised plan"
    return plan


def emit_loop(op, ne) -> bool:
    plan = body_plan(op, ne)
    if plan is None:
        return False
    trips = ne.const(0) if ne.ins and ne.ins[0] is not None else None
    if trips is None or trips.dtype == object:
        ne.why = "its trip count is not a constant"
        return False
    count = max(int(np.asarray(trips).reshape(-1)[0]), 0)
    carried_in = ne.ins[2:]
    n = len(carried_in)
    facts = [plan.graph.facts.get(w) for w in plan.graph.inputs]
    outs = [plan.graph.facts.get(w) for w in plan.graph.outputs]
    if not all(static(f) for f in facts + outs):
        ne.why = "its body's inputs or outputs are not static"
        return False
    cond_in = ne.ins[1] if len(ne.ins) > 1 else None
    start = ne.const(1) if cond_in is not None else np.array(True)
    if start is not None and start.dtype == object:
        start = None
    if start is not None and not bool(np.asarray(start).reshape(-1)[0]):
        count = 0
    always = start is not None and _true(outs[0])
    if not always and len(outs) > 1 + n:
        ne.why = "it may stop early, and its scan outputs' length is only known at run time"
        return False
    if not _fits(ne, facts[2:], outs[1:1 + n], ne.out_facts[:n], ne.in_facts[2:]):
        return False
    e = ne.e
    it = _persistent(e, (), np.int64)
    cond = e.constant(np.ones((), bool))        # the body only runs while cond holds
    carried = _carried(ne, carried_in, facts[2:])
    scans = _scan_outputs(ne, n, outs[1 + n:], count, [(0, 0)] * (len(outs) - 1 - n))
    if scans is None:
        return False
    t = e.fresh("t")
    going = e.fresh("going")
    if not always:
        e.line(f"{going} = {element(cond_in, ne.in_facts[1]) if start is None else True}")
    e.line(f"for {t} in range({count}):")
    mark = len(e.lines)
    if not always:
        e.line(f"if not {going}:")
        e.line(f"{INDENT}break")
    ne.fill(it, t)
    body = emit_subgraph(ne, plan, [it, cond] + carried)
    if body is None:
        return False
    _write_scans(ne, body.outs[1 + n:], scans, t)
    _write_carried(ne, carried, body.outs[1:1 + n], body.fresh[1:1 + n], facts[2:])
    if not always:
        e.line(f"{going} = {element(body.outs[0], outs[0])}")
    indent(e, mark)
    return True


def emit_scan(op, ne) -> bool:
    """Scan (opset 9+): states carried, scan inputs read and scan outputs written one frame
    per iteration along their axes, reversed where their direction says."""
    plan = body_plan(op, ne)
    if plan is None:
        return False
    states_in, xs = op.split(list(ne.ins))
    n, k = len(states_in), len(xs)
    x_facts = ne.in_facts[n:]
    facts = [plan.graph.facts.get(w) for w in plan.graph.inputs]
    outs = [plan.graph.facts.get(w) for w in plan.graph.outputs]
    if not all(static(f) for f in facts + outs):
        ne.why = "its body's inputs or outputs are not static"
        return False
    in_axes = _axes(op.scan_input_axes, [x.rank for x in x_facts])
    out_axes = _axes(op.scan_output_axes, [f.rank + 1 for f in outs[n:]])
    count = x_facts[0].shape[in_axes[0]]
    if any(x.shape[a] != count for x, a in zip(x_facts, in_axes)) or \
            not _fits(ne, facts[:n], outs[:n], ne.out_facts[:n], ne.in_facts[:n]):
        return False
    e = ne.e
    carried = _carried(ne, states_in, facts[:n])
    in_dirs = op.scan_input_directions or (0,) * k
    frames = [_frames(ne, x, f, a, slice_fact) for x, f, a, slice_fact in
              zip(xs, x_facts, in_axes, facts[n:])]
    if any(f is None for f in frames):
        return False
    out_dirs = op.scan_output_directions or (0,) * len(out_axes)
    scans = _scan_outputs(ne, n, outs[n:], count, list(zip(out_axes, out_dirs)))
    if scans is None:
        return False
    t = e.fresh("t")
    e.line(f"for {t} in range({count}):")
    mark = len(e.lines)
    slices = [read(_index(t, count, d)) for read, d in zip(frames, in_dirs)]
    body = emit_subgraph(ne, plan, carried + slices)
    if body is None:
        return False
    _write_scans(ne, body.outs[n:], scans, t)
    _write_carried(ne, carried, body.outs[:n], body.fresh[:n], facts[:n])
    indent(e, mark)
    return True


def _true(fact) -> bool:
    """Is a condition fact the constant True?"""
    return fact is not None and fact.value is not None and fact.value.dtype != object and \
        bool(np.asarray(fact.value).reshape(-1)[0])


def _fits(ne, body_in, body_out, node_out, node_in) -> bool:
    """Do the carried values keep one static shape and dtype into, through and out of the
    node?"""
    for a, b, c, d in zip(body_in, body_out, node_out, node_in):
        if not static(a) or any(f is not None and (f.dtype != a.dtype or f.shape != a.shape)
                                for f in (b, c, d)):
            ne.why = "a carried value changes shape or dtype between iterations"
            return False
    return True


def _axes(axes, ranks) -> list:
    axes = axes or (0,) * len(ranks)
    return [a + rank if a < 0 else a for a, rank in zip(axes, ranks)]


def _index(t: str, count: int, reverse) -> str:
    return f"{count - 1} - {t}" if reverse else t


def _persistent(e, shape, dtype) -> str:
    """An array of the node's own that lives through the whole loop: not scratch, which the
    body's nodes would share."""
    return e.arg(np.empty(shape, dtype), "b", movable=True)


def _carried(ne, initial, facts) -> list:
    """The carried values' variables: the node's output buffers (a buffer of its own for an
    output left out), holding the initial values."""
    e = ne.e
    names = []
    for j, (x, fact) in enumerate(zip(initial, facts)):
        if j < len(ne.outs) and ne.out_facts[j] is not None:
            name = ne.buffer(j)
        else:
            name = _persistent(e, fact.shape, fact.dtype)
        ne.copy(name, x)
        names.append(name)
    return names


def _write_carried(ne, carried, outs, fresh, facts):
    """The body's carried outputs into the carried buffers. An output that is not a buffer
    of the body's own may be a view of a carried value (Identity, Reshape): such outputs are
    saved first, so no copy reads a value already overwritten."""
    sources = []
    for out, own, name, fact in zip(outs, fresh, carried, facts):
        if out == name:
            sources.append(None)        # passed through unchanged
        elif own:
            sources.append(out)
        else:
            saved = _persistent(ne.e, fact.shape, fact.dtype)
            ne.copy(saved, out)
            sources.append(saved)
    for name, source in zip(carried, sources):
        if source is not None:
            ne.copy(name, source)


def _scan_outputs(ne, first: int, facts, count: int, placement: list):
    """(frames view, frame shape, reversed, count) for each scan output: its buffer seen as
    (outer, count, inner) around its axis. None when an output's fact disagrees."""
    views = []
    for j, (fact, (axis, reverse)) in enumerate(zip(facts, placement)):
        out = ne.out_facts[first + j] if first + j < len(ne.outs) else None
        shape = tuple(fact.shape[:axis]) + (count,) + tuple(fact.shape[axis:])
        if out is not None and (out.dtype != fact.dtype or tuple(out.shape) != shape):
            ne.why = "a scan output's shape differs from its frames'"
            return None
        buf = ne.buffer(first + j) if out is not None else _persistent(ne.e, shape, fact.dtype)
        outer, inner = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
        view = ne.fresh("y")
        ne.line(f"{view} = {ne.view(buf, (outer, count, inner))}")
        views.append((view, (outer, inner), reverse, count))
    return views


def _write_scans(ne, outs, scans, t):
    for out, (view, frame, reverse, count) in zip(outs, scans):
        ne.copy(f"{view}[:, {_index(t, count, reverse)}]", ne.view(out, frame))


def _frames(ne, x: str, fact, axis: int, slice_fact):
    """A function of the iteration index giving the variable of that frame of scan input x:
    a view when frames are contiguous (outer size 1), else a copy into a buffer of the node's
    own."""
    if not static(slice_fact) or tuple(slice_fact.shape) != \
            tuple(fact.shape[:axis]) + tuple(fact.shape[axis + 1:]):
        return None
    outer, inner = math.prod(fact.shape[:axis]), math.prod(fact.shape[axis + 1:])
    view = ne.fresh("x")
    ne.line(f"{view} = {ne.view(x, (outer, fact.shape[axis], inner))}")
    if outer == 1:
        def read(index):
            name = ne.fresh("xt")
            ne.line(f"{name} = {ne.view(f'{view}[0, {index}]', slice_fact.shape)}")
            return name
        return read
    frame = _persistent(ne.e, slice_fact.shape, slice_fact.dtype)
    flat = ne.fresh("xt")
    ne.line(f"{flat} = {ne.view(frame, (outer, inner))}")

    def copy(index):
        ne.copy(flat, f"{view}[:, {index}]")
        return frame
    return copy
