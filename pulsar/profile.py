"""Per-node timing of a plan: where a run's time goes, node by node and op type by op type.

Each step's `run` is wrapped for the duration of a profile and restored afterwards, so the hot
path of `Plan.run` stays untouched and subclasses (a stream's StreamPlan, whose stateful steps
are bound to a session's state) are profiled as they really run. What happens outside the steps
(input checks, slot bookkeeping, a session's chunk handling, and the wrappers' own ~0.2 us per
step) is the overhead: the calls' wall time minus the nodes' time.

A compiled plan runs runs of nodes as single functions, which hide the nodes inside: the
per-node tables then come from the same plan run node by node (the same kernels, interpreted
glue), and `compiled` holds the wall time of the compiled calls, timed first.

    prof = profile_model(model, feeds, runs=20)
    print(prof.table(top=10))
"""
import time
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class NodeTime:
    name: str
    op: str
    calls: int = 0
    seconds: float = 0.0


@dataclass
class OpTime:
    op: str
    nodes: int
    calls: int
    seconds: float


@dataclass
class Profile:
    nodes: list          # NodeTime per plan step, in plan order
    runs: int            # timed calls
    wall: float          # seconds over all timed calls, measured around each call
    outside: str = "plan overhead"     # what the time outside the nodes is spent on
    compiled: float = None    # seconds over the same number of calls of the compiled plan

    @property
    def inside(self) -> float:
        return sum(n.seconds for n in self.nodes)

    @property
    def overhead(self) -> float:
        return self.wall - self.inside

    def share(self, seconds) -> float:
        """Percent of the wall time."""
        return 100.0 * seconds / self.wall if self.wall > 0 else 0.0

    def by_op(self) -> list:
        """OpTime per op type, slowest first."""
        groups = {}
        for n in self.nodes:
            g = groups.setdefault(n.op, OpTime(n.op, 0, 0, 0.0))
            g.nodes, g.calls, g.seconds = g.nodes + 1, g.calls + n.calls, g.seconds + n.seconds
        return sorted(groups.values(), key=lambda g: -g.seconds)

    def table(self, top=None) -> str:
        """Per-node table (the `top` slowest, the rest on one line), per-op table, overhead."""
        lines = _node_lines(self, top) + [""] + _op_lines(self) + [
            "", _row(self, f"outside ops ({self.outside})", "", "", self.overhead),
            _row(self, "total (wall time of the calls)", "", "", self.wall)]
        if self.compiled is not None:
            lines += ["", f"compiled plan (how it runs by default): "
                          f"{self.compiled / self.runs * 1e6:.1f} us per call; the tables above "
                          "time the same plan node by node (same kernels, interpreted glue)"]
        return "\n".join(lines)


def profile_calls(plan, call, runs=10, outside="plan overhead") -> Profile:
    """Time `runs` calls of `call()`, each of which runs `plan` (once or more)."""
    clock = time.perf_counter
    compiled = None
    node_steps = getattr(plan, "node_steps", plan.steps)
    if node_steps is not plan.steps:
        compiled = 0.0
        for _ in range(runs):
            start = clock()
            call()
            compiled += clock() - start
    nodes = [NodeTime(step.node.name or f"#{i}", op_label(step.node.op))
             for i, step in enumerate(node_steps)]
    wall = 0.0
    if compiled is not None:
        with _interpreted(plan):
            call()          # node by node, kernels may meet new signatures: compile them first
    with _interpreted(plan), _timed_steps(plan, nodes):
        for _ in range(runs):
            start = clock()
            call()
            wall += clock() - start
    return Profile(nodes, runs, wall, outside, compiled)


def profile_plan(plan, feeds, runs=10) -> Profile:
    """Per-node times of `runs` calls of `plan.run(feeds)` (inputs in graph input order)."""
    return profile_calls(plan, lambda: plan.run(feeds), runs)


def profile_model(model, feeds, runs=10) -> Profile:
    """Per-node times of `runs` calls of `model.run(feeds)`."""
    return profile_calls(plan_of(model, feeds), lambda: model.run(feeds), runs)


def profile_session(session, chunk, runs=10) -> Profile:
    """Per-node times of `runs` pushes of `chunk` into a stream session: with a chunk of one
    pulse each push runs the stream plan once; the session's own work counts as overhead."""
    return profile_calls(session.plan, lambda: session.push(chunk), runs,
                         outside="plan and session overhead")


def plan_of(model, feeds):
    """The plan `model.run(feeds)` runs (a model declared without shapes plans per input)."""
    if model.plan is not None:
        return model.plan
    return model.plan_for(feeds)


def op_label(op) -> str:
    """The op type, with the scalar function fused into it shown (`Conv+relu`): fusion changes
    the costs."""
    fused = getattr(op, "activation", "")
    return f"{op.onnx_name}+{fused}" if isinstance(fused, str) and fused else op.onnx_name


@contextmanager
def _interpreted(plan):
    """Within the block the plan runs node by node (a no-op for an interpreted plan)."""
    steps = plan.steps
    plan.steps = getattr(plan, "node_steps", steps)
    try:
        yield
    finally:
        plan.steps = steps


@contextmanager
def _timed_steps(plan, nodes):
    originals = [step.run for step in plan.steps]
    for step, record in zip(plan.steps, nodes):
        step.run = _timed(step.run, record)
    try:
        yield
    finally:
        for step, run in zip(plan.steps, originals):
            step.run = run


def _timed(run, record):
    clock = time.perf_counter

    def timed(*args, **kwargs):
        start = clock()
        try:
            return run(*args, **kwargs)
        finally:
            record.seconds += clock() - start
            record.calls += 1
    return timed


# -- formatting ---------------------------------------------------------------------------------
NAME_WIDTH = 40


def _node_lines(prof, top) -> list:
    nodes = sorted(prof.nodes, key=lambda n: -n.seconds)
    shown, rest = (nodes, []) if top is None else (nodes[:top], nodes[top:])
    lines = [f"{'node':<{NAME_WIDTH}} {'op':<18} {'calls':>7} {'total ms':>10} "
             f"{'us/call':>9} {'% of run':>9}"]
    for n in shown:
        lines.append(_row(prof, _clip(n.name, NAME_WIDTH), n.op, n.calls, n.seconds))
    if rest:
        lines.append(_row(prof, f"({len(rest)} more nodes)", "", sum(n.calls for n in rest),
                      sum(n.seconds for n in rest)))
    return lines


def _op_lines(prof) -> list:
    lines = [f"{'op type':<{NAME_WIDTH}} {'nodes':>18} {'calls':>7} {'total ms':>10} "
             f"{'us/call':>9} {'% of run':>9}"]
    for g in prof.by_op():
        lines.append(_row(prof, g.op, g.nodes, g.calls, g.seconds))
    return lines


def _row(prof, label, middle, calls, seconds) -> str:
    per_call = f"{seconds / calls * 1e6:9.1f}" if calls else " " * 9
    middle = f"{middle:<18}" if isinstance(middle, str) else f"{middle:>18}"
    return (f"{label:<{NAME_WIDTH}} {middle} {calls:>7} {seconds * 1e3:10.3f} {per_call} "
            f"{prof.share(seconds):9.1f}")


def _clip(name, width) -> str:
    """Exporters' names grow on the left (scopes): keep the informative tail."""
    return name if len(name) <= width else "..." + name[-(width - 3):]
