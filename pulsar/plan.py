"""A plan: the graph flattened into slot-indexed steps, built once and run many times.

Wires become integer slots; constants are loaded once; each step frees the slots whose last
reader it is, so peak memory follows the live set, not the whole graph. Symbols are bound from
the actual input shapes on every run and checked against every input that mentions them.
"""
import functools

import numpy as np

from . import blas, budget, dims
from .errors import InputError, PulsarError, ResourceError, SymbolConflictError
from .fact import SequenceFact
from .kernels import jit as kernel_jit
from .step import Step, describe


class Plan:
    def __init__(self, graph, check_inputs=True, tier=None, prepared=None):
        """prepared: {id(node): (subgraph plans or None, run state)} for the control nodes
        whose subgraphs got optimised plans of their own (pulsar/planning.py builds them, and
        compiles plans with `use_steps`); the others run their subgraphs from the ONNX form."""
        blas.limit_threads()
        self.tier = tier            # kernel policy for runs (None: the caller's)
        self.graph = graph
        self.check_inputs = check_inputs
        slot_of = {}

        def slot(w):
            if w not in slot_of:
                slot_of[w] = len(slot_of)
            return slot_of[w]

        consts = graph.constants()
        self.input_slots = [slot(w) for w in graph.inputs]
        # outer wires this plan holds as constants (an optimised subgraph's weights) are not
        # passed in on every run
        self.outer_slots = [(w, slot(w)) for w in graph.outer_refs if w not in consts]
        self.const_slots = [(slot(w), v) for w, v in consts.items()]
        self.output_slots = [slot(w) for w in graph.outputs]
        last_use = {}
        for i, node in enumerate(graph.nodes):
            for w in list(node.inputs) + list(node.scope_inputs):
                if w:
                    last_use[slot(w)] = i
        keep = set(self.output_slots) | {s for s, _ in self.const_slots}
        self.steps = []
        self.subgraph_plans = {}        # id(node) -> {id(subgraph): Plan}, see planning.py
        for i, node in enumerate(graph.nodes):
            ins = [slot(w) if w else -1 for w in node.inputs]
            outs = [slot(w) if w else -1 for w in node.outputs]
            frees = sorted({s for s in ins + [slot(w) for w in node.scope_inputs]
                            if s >= 0 and last_use.get(s) == i and s not in keep})
            scope = [(w, slot(w)) for w in node.scope_inputs] if node.op.uses_scope else None
            run = node.op.eval_scoped if node.op.uses_scope else node.op.eval
            given = None
            if prepared and id(node) in prepared:
                plans, state = prepared[id(node)]
                if plans is not None:
                    self.subgraph_plans[id(node)] = plans
                    if all(id(g) in plans for g in node.op.run_graphs()):
                        scope = [(w, s) for w, s in scope if w not in consts]
                given = {**(plans or {}), **state}
                run = functools.partial(node.op.eval_prepared, given)
            self.steps.append(Step(node, run, ins, outs, frees, scope, given))
        self.n_slots = len(slot_of)
        self.slot_of = slot_of
        self.input_facts = [graph.facts.get(w) for w in graph.inputs]
        self._checked_shapes = None
        self._initial = None
        self._direct = None
        self.interpreted_why = None         # node id -> reason, once compiled
        self.node_steps = self.steps        # one step per node, before any compilation
        self._forward = self._forwarding(graph, consts)

    @staticmethod
    def _forwarding(graph, consts):
        """For a graph of Identities only (an If branch returning an outer value, as a
        classifier's skipped verifier does): where each output comes from, so `run` hands it
        over without slot bookkeeping."""
        if any(n.op.onnx_name != "Identity" or n.scope_inputs for n in graph.nodes):
            return None
        source = {n.outputs[0]: n.inputs[0] for n in graph.nodes if n.inputs and n.inputs[0]}
        if len(source) != len(graph.nodes):
            return None
        picks = []
        for w in graph.outputs:
            while w in source:
                w = source[w]
            if w in graph.inputs:
                picks.append((0, graph.inputs.index(w)))
            elif w in consts:
                picks.append((1, consts[w]))
            elif w in graph.outer_refs:
                picks.append((2, w))
            else:
                return None
        return picks

    def use_steps(self, steps):
        """Run `steps` from now on: the node steps with runs of nodes replaced by compiled
        segments (pulsar/compiled.py's `compile_steps`)."""
        self.steps = steps
        self._direct = self._direct_call()

    def _direct_call(self):
        """(step, argument sources, output picks) when one compiled step computes every output
        from inputs and constants: `run` then calls it without slot bookkeeping."""
        if len(self.steps) != 1 or self.steps[0].scope is not None or self.outer_slots:
            return None
        step = self.steps[0]
        consts = dict(self.const_slots)
        sources = []
        for s in step.ins:
            if s in self.input_slots:
                sources.append((True, self.input_slots.index(s)))
            elif s in consts:
                sources.append((False, consts[s]))
            else:
                return None
        if not all(s in step.outs for s in self.output_slots):
            return None
        return self.steps, sources, [step.outs.index(s) for s in self.output_slots]

    def execution(self) -> list:
        """(node, 'compiled' | 'interpreted') for every node, in plan order."""
        return describe(self.steps)

    def run(self, inputs: list, outer: dict = None) -> list:
        """Outputs (in graph output order) for `inputs` (in graph input order)."""
        # the plan's tier applies unless the caller chose a policy (warmup, tier tests)
        direct = self._direct
        if direct is not None and getattr(direct[0][0].run, "hot", None):
            return self._run(inputs, outer)     # one function on machine code: no policy to set
        if self.tier is not None and kernel_jit.chosen_policy() is None:
            token = kernel_jit.set_policy(self.tier)
            try:
                return self._run(inputs, outer)
            finally:
                kernel_jit.reset_policy(token)
        return self._run(inputs, outer)

    def _run(self, inputs: list, outer: dict = None) -> list:
        if self.check_inputs:
            inputs = self.checked(inputs)
        forward = self._forward
        if forward is not None and (outer or not any(k == 2 for k, _ in forward)):
            return [inputs[v] if k == 0 else v if k == 1 else outer[v] for k, v in forward]
        direct = self._direct
        if direct is not None and direct[0] is self.steps and not outer:   # not while profiling
            _, sources, picks = direct
            try:
                results = self.steps[0].run(*[inputs[v] if is_input else v
                                              for is_input, v in sources])
            except PulsarError as e:
                raise _naming(e, self.steps[0]) from e
            return [results[k] for k in picks]
        slots = self._initial_slots()
        for s, v in zip(self.input_slots, inputs):
            slots[s] = v
        if outer:
            for w, s in self.outer_slots:
                slots[s] = outer[w]
        step = None
        try:
            for step in self.steps:
                args = [slots[i] if i >= 0 else None for i in step.ins]
                if step.scope is not None:
                    results = step.run(args, {w: slots[s] for w, s in step.scope})
                else:
                    results = step.run(*args)
                for s, r in zip(step.outs, results):
                    if s >= 0:
                        slots[s] = r
                for s in step.frees:
                    slots[s] = None
        except PulsarError as e:
            if step is None:
                raise
            raise _naming(e, step) from e
        except MemoryError as e:
            where = f"node {step.node.name!r} ({step.node.op.onnx_name})" if step else "the plan"
            raise ResourceError(f"{where} ran out of memory at run time") from e
        except ValueError as e:
            if step is None or not _numpy_shape_error(e):
                raise
            shapes = ", ".join(f"{w or '-'} {list(np.shape(slots[i]))}" if i >= 0 else "-"
                               for w, i in zip(step.node.inputs, step.ins))
            raise InputError(f"node {step.node.name!r} ({step.node.op.onnx_name}) at run time: "
                             f"its inputs do not fit together ({shapes}): {e}; the input shapes "
                             "given do not satisfy what the model assumes of them") from e
        return [slots[s] for s in self.output_slots]

    def _initial_slots(self) -> list:
        """A new slot list holding the constants (a copy of one made once: a plan may have
        hundreds of constants, and a pulse should not reload them one by one)."""
        if self._initial is None:
            self._initial = [None] * self.n_slots
            for s, v in self.const_slots:
                self._initial[s] = v
        return self._initial.copy()

    def checked(self, inputs: list) -> list:
        names = self.graph.inputs
        if len(inputs) != len(names):
            raise InputError(f"expected {len(names)} inputs ({', '.join(names)}), got {len(inputs)}")
        arrays = [as_input_array(name, x, fact) for name, x, fact in
                  zip(names, inputs, self.input_facts)]
        shapes = tuple(x.shape if isinstance(x, np.ndarray) else None for x in arrays)
        if shapes != self._checked_shapes:     # shapes already proven consistent: skip
            bindings = bind_symbols(names, arrays, self.input_facts)
            if bindings:
                check_sizes(self.graph, bindings)
            self._checked_shapes = shapes
        return arrays


def check_sizes(graph, bindings) -> None:
    """Refuse inputs that would make some wire larger than the memory budget, before running."""
    for wire, fact in graph.facts.items():
        shape = getattr(fact, "shape", None)
        if not shape or all(isinstance(d, int) for d in shape) or fact.value is not None:
            continue
        concrete = [dims.evaluate(d, bindings) if not isinstance(d, int) else d for d in shape]
        if all(isinstance(d, int) for d in concrete):
            budget.check_fact(fact.with_shape(concrete), f"wire {wire!r} (with {_fmt(bindings)})")


_SHAPE_WORDS = ("broadcast", "shape", "mismatch", "dimension", "not aligned", "size")


def _numpy_shape_error(error) -> bool:
    """Is this NumPy refusing arrays whose shapes do not fit (broadcasting, matmul, reshape)?
    Analysis proves shapes from the facts, but a symbolic dim that it cannot compare (e.g. two
    fresh symbols) is only checked by the arithmetic itself, at run time."""
    text = str(error).lower()
    return any(word in text for word in _SHAPE_WORDS)


def _naming(error, step):
    """`error` with the failing step's node named (once: nested plans re-raise it)."""
    if getattr(error, "node_named", False):
        return error
    try:
        named = type(error)(f"node {step.node.name!r} ({step.node.op.onnx_name}) at run time: "
                            f"{error}")
    except TypeError:
        return error
    named.node_named = True
    return named


def as_input_array(name, x, fact):
    if fact is None:
        return np.asarray(x)
    if x is None and type(fact).__name__ == "OptionalFact":
        return None
    if isinstance(fact, SequenceFact):
        if not isinstance(x, (list, tuple)):
            raise InputError(f"input {name!r} is a sequence ({fact}): pass a list of arrays")
        return [np.asarray(v) for v in x]
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x, dtype=fact.dtype)
        except (TypeError, ValueError) as e:
            raise InputError(f"input {name!r}: cannot convert {type(x).__name__} to {fact}: {e}") from e
    if x.dtype != fact.dtype:
        raise InputError(f"input {name!r}: dtype {x.dtype} given, the model expects {fact}")
    if x.ndim != fact.rank:
        raise InputError(f"input {name!r}: rank {x.ndim} (shape {list(x.shape)}) given, "
                         f"the model expects rank {fact.rank}: {fact}")
    return x


def bind_symbols(names, arrays, facts) -> dict:
    """Symbol values read off input shapes; a clear error when inputs disagree."""
    bindings, source = {}, {}
    pending = []
    for name, x, fact in zip(names, arrays, facts):
        if fact is None or x is None or isinstance(fact, SequenceFact):
            continue
        for axis, (want, got) in enumerate(zip(fact.shape, x.shape)):
            if isinstance(want, int):
                if want != got:
                    raise InputError(f"input {name!r}: axis {axis} is {got}, the model expects "
                                     f"{want} (shape {list(x.shape)} vs {fact})")
            elif want == dims.sym(_only_symbol(want)):
                sym = _only_symbol(want)
                if sym in bindings and bindings[sym] != got:
                    raise SymbolConflictError(
                        f"symbol {sym} is {bindings[sym]} from {source[sym]} but {got} from "
                        f"input {name!r} axis {axis} (shape {list(x.shape)}, expected {fact})")
                bindings[sym], source[sym] = got, f"input {name!r} axis {axis}"
            else:
                pending.append((name, axis, want, got, x.shape, fact))
    for name, axis, want, got, shape, fact in pending:
        value = dims.evaluate(want, bindings)
        if isinstance(value, int):
            if value != got:
                raise SymbolConflictError(
                    f"input {name!r} axis {axis} is {got}, but {want} = {value} with "
                    f"{_fmt(bindings)} (shape {list(shape)}, expected {fact})")
        else:
            solved = solve_single(value, got)
            if solved is None:
                raise InputError(f"input {name!r} axis {axis}: no integer value of "
                                 f"{', '.join(sorted(dims.symbols(value)))} makes {want} equal "
                                 f"{got} (shape {list(shape)}, expected {fact})")
            bindings.update(solved)
    return bindings


def _only_symbol(d):
    names = dims.symbols(d)
    return next(iter(names)) if len(names) == 1 else "\0"


def solve_single(expr, target: int):
    """{S: v} such that expr(S=v) == target, for an expression in one symbol, or None."""
    names = dims.symbols(expr)
    if len(names) != 1:
        return None
    s = next(iter(names))
    b = dims.evaluate(expr, {s: 0})
    a = dims.evaluate(expr, {s: 1}) - b
    if a <= 0 or (target - b) % a:
        return None
    guess = {s: (target - b) // a}
    return guess if guess[s] >= 0 and dims.evaluate(expr, guess) == target else None


def _fmt(bindings) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(bindings.items()))
