"""Loop and Scan: a body subgraph run once per iteration through its cached plan.

Loop body: (iteration, cond, carried...) -> (cond, carried..., scan outputs...); scan outputs
are stacked on a new axis 0. Scan body: (state..., one slice of each scan input) -> (state...,
scan output slices...); opset 8 adds a batch axis 0 and sequence_lens, opset 9 replaced them
with per-input/output axes and directions. Facts come from analysing the body with
per-iteration facts; the iteration count is a known (possibly symbolic) size when it can be
proved, else a fresh symbol.
"""
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .. import dims
from ..fact import Fact
from ..graph import Graph
from .base import fail, normalize_axis
from .control import BOOL, need_inputs, settle_carried, truth
from .loop_emit import emit_loop, emit_scan
from .registry import register
from .scoped import ScopedOp, subgraph_plan
from .sizes import same_dim

INT64 = np.dtype(np.int64)
TRUE = Fact(BOOL, (), np.array(True))


def run_graphs(op) -> list:
    """The body `run` executes: the one an optimisation pass left in the cache (TF GRU cells
    fused by pulsar/passes/tf_gru_cell.py), else the body as imported."""
    return [op._cache.get("body_graph", op.body)]


def body_plan(op, plans=None):
    return subgraph_plan(op, "body", op._cache.get("body_graph", op.body), plans)


def _known(fact):
    """A condition fact's constant truth, or None."""
    if fact is None or fact.value is None or fact.value.dtype == object:
        return None
    return bool(fact.value.reshape(-1)[0])


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


class Stacker:
    """Per-iteration outputs written into arrays with the iteration axis first."""

    def __init__(self, count: int, facts: list):
        self.count, self.facts, self.bufs = count, facts, None

    def put(self, t: int, values: list):
        if self.bufs is None:
            self.bufs = [np.empty((self.count,) + np.shape(v), np.asarray(v).dtype) for v in values]
        for k, (buf, v) in enumerate(zip(self.bufs, values)):
            if np.shape(v) != buf.shape[1:]:
                fail(f"scan output {k} is {list(np.shape(v))} at iteration {t} but "
                     f"{list(buf.shape[1:])} before: every iteration must give one shape")
            buf[t] = v

    def result(self) -> list:
        """The stacked outputs; with no iteration, empty arrays shaped from the analysis."""
        if self.bufs is not None:
            return self.bufs
        if self.facts is None:
            fail("no iteration ran and the scan outputs' shapes were never analysed")
        return [np.empty((0,) + tuple(d if isinstance(d, int) else 0 for d in f.shape), f.dtype)
                for f in self.facts]


@register("Loop", since=1)
@dataclass(frozen=True, eq=False)
class Loop(ScopedOp):
    """Runs while `cond` holds and fewer than M iterations ran (either may be absent)."""
    body: Graph = None
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def subgraphs(self):
        return [self.body]

    run_graphs = run_graphs

    def infer(self, inputs, ctx):
        inputs = list(inputs) + [None] * (2 - len(inputs))
        trips, cond, carried = inputs[0], inputs[1], inputs[2:]
        if trips is not None and (trips.dtype != INT64 or _numel(trips.shape) != 1):
            fail(f"M (trip count) must be one int64, got {trips}")
        if cond is not None and (cond.dtype != BOOL or _numel(cond.shape) != 1):
            fail(f"cond must be one bool, got {cond}")
        if any(f is None for f in carried):
            fail("a loop-carried initial value is missing")
        need_inputs(self.body, 2 + len(carried), "body")
        starts = cond is None or _known(cond) is True
        before = [Fact(INT64, ()), TRUE if starts else Fact(BOOL, ())]
        facts, outs = settle_carried(self.body, carried, ctx, "loop", before=before, skip=1)
        scans = outs[1 + len(carried):]
        self._cache["scan_facts"] = scans
        count = self._iterations(trips, cond, starts and _known(outs[0]) is True, ctx)
        return facts + [Fact(o.dtype, (count,) + o.shape) for o in scans]

    def _iterations(self, trips, cond, always: bool, ctx):
        """M when the body's cond provably stays true, 0 when cond starts false, else fresh."""
        if _known(cond) is False:
            return 0
        if trips is None:
            if always:
                fail("cond stays true and there is no trip count M: the loop never ends")
            return ctx.fresh_symbol("iterations")
        m = trips.value.reshape(-1)[0] if trips.value is not None else None
        if always and isinstance(m, (int, np.integer)):
            return max(int(m), 0)
        if always and isinstance(m, dims.Dim):
            return m
        return ctx.fresh_symbol("iterations")

    def run(self, inputs, scope, plans=None):
        inputs = list(inputs) + [None] * (2 - len(inputs))
        trips = None if inputs[0] is None else int(np.asarray(inputs[0]).reshape(-1)[0])
        going = True if inputs[1] is None else truth(inputs[1])
        if trips is None and inputs[1] is None:
            fail("neither M nor cond is given: the loop never ends")
        state = list(inputs[2:])
        n = len(state)
        plan = body_plan(self, plans)
        scans, t = [], 0
        while going and (trips is None or t < trips):
            outs = plan.run([np.array(t, INT64), np.array(going)] + state, outer=scope)
            going, state = truth(outs[0]), outs[1:1 + n]
            scans.append(outs[1 + n:])
            t += 1
        stacker = Stacker(len(scans), self._cache.get("scan_facts"))
        for i, values in enumerate(scans):
            stacker.put(i, values)
        return state + stacker.result()

    def emit(self, e) -> bool:
        return emit_loop(self, e)


@register("Scan", since=9)
@dataclass(frozen=True, eq=False)
class Scan(ScopedOp):
    """Iterates over axis `scan_input_axes[k]` of each scan input (reversed if its direction
    is 1); states thread through the body, scan output slices are stacked along
    `scan_output_axes`."""
    body: Graph = None
    num_scan_inputs: int = 0
    scan_input_axes: tuple = ()
    scan_input_directions: tuple = ()
    scan_output_axes: tuple = ()
    scan_output_directions: tuple = ()
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def subgraphs(self):
        return [self.body]

    run_graphs = run_graphs

    def split(self, inputs: list) -> tuple:
        n_state = len(inputs) - self.num_scan_inputs
        if self.num_scan_inputs < 1 or n_state < 0:
            fail(f"num_scan_inputs is {self.num_scan_inputs}, the node has {len(inputs)} inputs")
        return list(inputs[:n_state]), list(inputs[n_state:])

    def infer(self, inputs, ctx):
        states, xs = self.split(inputs)
        if any(f is None for f in inputs):
            fail("Scan inputs cannot be missing")
        if any(x.rank < 1 for x in xs):
            fail(f"scan inputs must have rank >= 1, got {', '.join(str(x) for x in xs)}")
        need_inputs(self.body, len(inputs), "body")
        axes = [normalize_axis(a, x.rank, f"scan input axis of {x}")
                for a, x in zip(_per_input(self.scan_input_axes, len(xs), "scan_input_axes"), xs)]
        _per_input(self.scan_input_directions, len(xs), "scan_input_directions")
        count = _common_length([x.shape[a] for x, a in zip(xs, axes)], xs)
        slices = [Fact(x.dtype, x.shape[:a] + x.shape[a + 1:]) for x, a in zip(xs, axes)]
        facts, outs = settle_carried(self.body, states, ctx, "scan", after=slices)
        scans = outs[len(states):]
        self._cache["scan_facts"] = scans
        out_axes = _per_input(self.scan_output_axes, len(scans), "scan_output_axes")
        _per_input(self.scan_output_directions, len(scans), "scan_output_directions")
        result = []
        for o, a in zip(scans, out_axes):
            a = normalize_axis(a, o.rank + 1, f"scan output axis for {o}")
            result.append(Fact(o.dtype, o.shape[:a] + (count,) + o.shape[a:]))
        return facts + result

    def run(self, inputs, scope, plans=None):
        states, xs = self.split(inputs)
        axes = self.scan_input_axes or (0,) * len(xs)
        dirs = self.scan_input_directions or (0,) * len(xs)
        seqs = [_along(x, a, d) for x, a, d in zip(xs, axes, dirs)]
        count = seqs[0].shape[0]
        if any(s.shape[0] != count for s in seqs):
            fail(f"scan inputs differ in length along their scan axes: "
                 f"{[s.shape[0] for s in seqs]}")
        states, stacked = run_scan(self, states, seqs, count, scope, plans)
        out_axes = self.scan_output_axes or (0,) * len(stacked)
        out_dirs = self.scan_output_directions or (0,) * len(stacked)
        return states + [_placed(s, a, d) for s, a, d in zip(stacked, out_axes, out_dirs)]

    def emit(self, e) -> bool:
        return emit_scan(self, e)


def run_scan(op, states: list, seqs: list, count: int, scope, plans=None) -> tuple:
    """(final states, scan outputs stacked on axis 0) after `count` body runs."""
    plan = body_plan(op, plans)
    n = len(states)
    stacker = Stacker(count, op._cache.get("scan_facts"))
    for t in range(count):
        outs = plan.run(states + [s[t] for s in seqs], outer=scope)
        states = outs[:n]
        stacker.put(t, outs[n:])
    return states, stacker.result()


def _per_input(values: tuple, n: int, what: str) -> tuple:
    if values and len(values) != n:
        fail(f"{what} has {len(values)} entries for {n} tensors")
    return values or (0,) * n


def _common_length(lengths: list, xs: list):
    for d in lengths[1:]:
        if not same_dim(d, lengths[0]):
            fail(f"scan inputs differ in length along their scan axes: "
                 f"{', '.join(str(x) for x in xs)}")
    return next((d for d in lengths if isinstance(d, int)), lengths[0])


def _along(x: np.ndarray, axis: int, reverse: int) -> np.ndarray:
    """A view with the scan axis first, in iteration order."""
    if not -x.ndim <= axis < max(x.ndim, 1):
        fail(f"scan axis {axis} is out of range for a scan input of shape {list(x.shape)}")
    v = np.moveaxis(x, axis, 0) if axis not in (0, -x.ndim) else x
    return v[::-1] if reverse else v


def _placed(stacked: np.ndarray, axis: int, reverse: int) -> np.ndarray:
    """A scan output moved from axis 0 to `axis` (and reversed)."""
    if reverse:
        stacked = stacked[::-1]
    axis = axis + stacked.ndim if axis < 0 else axis
    if axis:
        stacked = np.moveaxis(stacked, 0, axis)
    return np.ascontiguousarray(stacked) if reverse or axis else stacked


@register("Scan", since=8)
@dataclass(frozen=True, eq=False)
class Scan8(ScopedOp):
    """Opset 8: inputs (sequence_lens?, states..., scan inputs...) all have a batch axis 0 and
    scan inputs are [batch, seq, ...]; each batch row runs alone, for its own length."""
    onnx_name: ClassVar[str] = "Scan"
    body: Graph = None
    num_scan_inputs: int = 0
    directions: tuple = ()
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    subgraphs = Scan.subgraphs
    run_graphs = run_graphs
    split = Scan.split

    def infer(self, inputs, ctx):
        lens, (states, xs) = inputs[0], self.split(inputs[1:])
        if any(f is None for f in inputs[1:]):
            fail("only sequence_lens may be missing")
        need_inputs(self.body, len(inputs) - 1, "body")
        if any(f.rank < 1 for f in states) or any(x.rank < 2 for x in xs):
            fail("states need a batch axis and scan inputs [batch, seq, ...]")
        batch = _common_length([f.shape[0] for f in states + xs], states + xs)
        if lens is not None and (lens.dtype.kind not in "iu" or not
                                 (lens.rank == 1 and same_dim(lens.shape[0], batch))):
            fail(f"sequence_lens must be int [{batch}], got {lens}")
        _per_input(self.directions, len(xs), "directions")
        count = _common_length([x.shape[1] for x in xs], xs)
        rows = [Fact(f.dtype, f.shape[1:]) for f in states]
        slices = [Fact(x.dtype, x.shape[2:]) for x in xs]
        facts, outs = settle_carried(self.body, rows, ctx, "scan", after=slices)
        scans = outs[len(states):]
        self._cache["scan_facts"] = scans
        return ([Fact(f.dtype, (batch,) + f.shape) for f in facts]
                + [Fact(o.dtype, (batch, count) + o.shape) for o in scans])

    def run(self, inputs, scope, plans=None):
        states, xs = self.split(inputs[1:])
        batch, count = xs[0].shape[:2]
        lens = np.full(batch, count) if inputs[0] is None else np.asarray(inputs[0]).reshape(-1)
        if lens.shape != (batch,) or (batch and not 0 <= lens.min() <= lens.max() <= count):
            fail(f"sequence_lens must hold {batch} lengths in [0, {count}], got {lens.tolist()}")
        dirs = self.directions or (0,) * len(xs)
        finals, outputs = [], None
        for b in range(batch):
            n = int(lens[b])
            seqs = [x[b, :n][::-1] if d else x[b, :n] for x, d in zip(xs, dirs)]
            row, stacked = run_scan(self, [s[b] for s in states], seqs, n, scope, plans)
            if outputs is None:
                outputs = [np.zeros((batch, count) + s.shape[1:], s.dtype) for s in stacked]
            for out, s in zip(outputs, stacked):
                out[b, :n] = s
            finals.append(row)
        return [np.stack(f) for f in zip(*finals)] + outputs
