"""Subgraphs written inline into a compiled plan's function: an If's branches under `if` /
`else`, a Loop or Scan body inside `for` (pulsar/ops/loop_emit.py).

Interpreted, a control node goes back to Python for every branch taken and every iteration,
and runs its subgraph's plan from there. Inline, the subgraph's own optimised plan (the one
that run would use, pulsar/planning.py) supplies the nodes, facts and constants, and each
node writes itself through its own `emit`, exactly as in a plan segment; its variables are
named apart from the enclosing function's. One node that cannot emit, or one shape that is not
static, refuses the whole subgraph, and the control node stays interpreted.
"""
import re
from dataclasses import dataclass

import numpy as np

from ..emit import MAX_NODES, NodeEmitter, identifiers, static
from .scoped import ANALYSIS

INDENT = "    "


@dataclass
class Inline:
    """A subgraph written out: its output variables and facts, and which outputs are buffers
    of its own (never the same memory as an input or outer variable)."""
    outs: list
    facts: list
    fresh: list


class _Tracking(NodeEmitter):
    """A body node's view of the emitter that records which variables hold its own buffers."""

    def __init__(self, *args, fresh=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fresh = fresh

    def buffer(self, j: int) -> str:
        name = super().buffer(j)
        self.fresh.add(name)
        return name


def emit_subgraph(ne, plan, inputs: list):
    """Write `plan`'s nodes through `ne`'s emitter, its inputs being the variables `inputs`;
    returns an Inline, or None (with `ne.why` set) when some node cannot be written."""
    if len(plan.node_steps) > MAX_NODES:    # its own plan splits it: compile time
        ne.why = f"its subgraph has more than {MAX_NODES} nodes"
        return None
    e = ne.e
    tag = e.fresh("g")
    facts = plan.graph.facts
    consts = dict(plan.graph.constants())
    const_slots = dict(plan.const_slots)
    names = dict(zip(plan.input_slots, inputs))
    for wire, slot in plan.outer_slots:
        if not ne.scope or wire not in ne.scope:
            ne.why = f"its subgraph reads {wire!r}, which the compiled code does not hold"
            return None
        names[slot] = ne.scope[wire]
    placeholders = {}

    def name(slot):
        if slot not in names:
            names[slot] = f"{tag}_v{slot}"
            if slot in const_slots:
                placeholders[names[slot]] = const_slots[slot]
        return names[slot]

    mark, fresh = len(e.lines), set()
    for step in plan.node_steps:
        node = step.node
        wires = [w for w in list(node.inputs) + list(node.outputs) if w]
        if not all(static(facts.get(w)) for w in wires):
            ne.why = f"shapes in its subgraph are not static ({node.name})"
            return None
        scope = None if step.scope is None else {w: name(s) for w, s in step.scope}
        child = _Tracking(e, node, [name(s) if s >= 0 else None for s in step.ins],
                          [name(s) if s >= 0 else e.fresh("_unused") for s in step.outs],
                          facts, consts, None, step.prepared if scope is not None else None,
                          scope, fresh=fresh)
        if not e.write_node(child, consts):
            ne.why = child.why or f"its subgraph's node {node.name} ({node.op.onnx_name}) " \
                                  "has no compiled form"
            return None
    outs = [name(s) for s in plan.output_slots]
    body = "\n".join(e.lines[mark:]) + "\n" + " ".join(outs)
    named = identifiers(body)
    used = [(n, v) for n, v in placeholders.items() if n in named]
    if any(not isinstance(v, np.ndarray) or v.dtype == object for _, v in used):
        ne.why = "its subgraph reads a constant compiled code cannot hold"
        return None
    e.lines[mark:mark] = [f"{n} = {e.constant(v)}" for n, v in used]
    fresh_outs = [o in fresh and _assigned_once(e.lines[mark:], o) for o in outs]
    return Inline(outs, [facts.get(w) for w in plan.graph.outputs], fresh_outs)


def _assigned_once(lines, var) -> bool:
    pattern = re.compile(rf"^\s*{var} = ")
    return sum(bool(pattern.match(line)) for line in lines) == 1


def indent(e, mark: int, levels: int = 1):
    """Indent the lines written since `mark` (a block's body)."""
    e.lines[mark:] = [INDENT * levels + line for line in e.lines[mark:]]


def element(var: str, fact) -> str:
    """The one element of a one-element array (a condition) as a scalar."""
    return f"{var}[{', '.join('0' * fact.rank) if fact.rank else '()'}]"


def assign(ne, out: str, var: str, fact):
    """out = var as a C-contiguous array of the output's static shape: the same type from
    either branch of an `if`, and no copy when var already is one."""
    ne.line(f"{out} = {ne.view(var, fact.shape)}")


def emit_if(op, ne) -> bool:
    """Both branches under `if cond:` / `else:` (or the one a constant condition takes), when
    each writes itself inline and their outputs have the If's static shapes and dtypes."""
    prepared = ne.subgraphs
    if prepared is None:
        return False
    refused = prepared.get(ANALYSIS, {}).get("refused", {})
    plans = {True: prepared.get(id(op.then_branch)), False: prepared.get(id(op.else_branch))}
    labels = {True: "then", False: "else"}
    cond = ne.const(0)
    if cond is not None and cond.dtype != object:       # decided: only that branch
        taken = bool(np.asarray(cond).reshape(-1)[0])
        plans, labels = {True: plans[taken]}, {True: labels[taken]}
    if any(refused.get(label) for label in labels.values()):
        ne.why = "a branch is refused for these shapes (taking it must raise)"
        return False
    if any(p is None for p in plans.values()):
        ne.why = "a branch has no optimised plan"
        return False
    if len(plans) == 1:
        return _branch(ne, plans[True])
    fact = ne.in_facts[0]
    if fact is None or int(np.prod(fact.shape)) != 1:
        return False
    e = ne.e
    for taken in (True, False):
        e.line(f"if {element(ne.ins[0], fact)}:" if taken else "else:")
        start = len(e.lines)
        if not _branch(ne, plans[taken]):
            return False
        if len(e.lines) == start:
            e.line("pass")
        indent(e, start)
    return True


def _branch(ne, plan) -> bool:
    inline = emit_subgraph(ne, plan, [])
    if inline is None or len(inline.outs) != len(ne.outs):
        return False
    for out, var, have, want in zip(ne.outs, inline.outs, inline.facts, ne.out_facts):
        if want is None:
            continue
        if not static(have) or have.dtype != want.dtype or \
                int(np.prod(have.shape)) != int(np.prod(want.shape)):
            ne.why = "the branches' outputs differ from the If's in shape or dtype"
            return False
        assign(ne, out, var, want)
    return True
