"""The Python API: `pulsar.load(...)` returns a `Model`, analysed, optimised and planned by
the stages of pipeline.py."""
from dataclasses import dataclass

import numpy as np

from . import compiled, pipeline, tiers
from .dump import dump_graph, folded_lines
from .errors import InputError, ResourceError
from .fact import DynamicFact, Fact
from .onnx_import import UnrankedFact


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: np.dtype
    shape: tuple          # ints and symbolic Dims

    def __str__(self):
        shape = "?" if self.shape is None else ",".join(str(d) for d in self.shape)
        dtype = "?" if self.dtype is None else np.dtype(self.dtype).name
        return f"{self.name}: {dtype}[{shape}]"


def load(source, inputs=None, symbols=None, optimize=True, compile=None, tier=None,
         values=None) -> "Model":
    """Load an ONNX model from a path, bytes or `onnx.ModelProto`.

    inputs:   override input facts, e.g. {"input_1": "1,S,32,1"} or {"x": "f32[1,S]"}.
    symbols:  fix symbols, e.g. {"S": 1760}; downstream shapes become concrete.
    values:   bind inputs to constants, e.g. {"sr": 16000}: they leave the inputs and fold
              (an `If` on them is replaced by the branch taken).
    tier:     "auto" (default: answer at once, compile in the background), "interpreted"
              (never compile), "kernels" (node by node on compiled kernels) or "compiled"
              (compile before the first output); see pulsar/tiers.py. Else $PULSAR_TIER.
    compile:  the older switch: True is tier "compiled", False tier "kernels".
    """
    graph, opsets = pipeline.load_graph(source)
    graph = pipeline.bind_values(graph, values)
    declared = pipeline.declare_inputs(graph, inputs, symbols)
    return Model(graph, opsets, declared, optimize, compile, tier)


class Model:
    """An ONNX model analysed (symbolic facts), optimised and planned: what `pulsar.load`
    returns. `run` executes it; `bind` fixes symbols; `dump` prints the graph and plan;
    `pulsar.streaming` turns it into chunk-by-chunk plans. Inputs without declared shapes are
    analysed and planned once per input signature at `run`.

    A Model may be shared by any number of threads: every run has buffers of its own."""

    def __init__(self, raw_graph, opsets, declared, optimize=True, compile=None, tier=None):
        self.raw_graph = raw_graph
        self.opsets = opsets
        self.optimize = optimize
        self.tier = tiers.resolve(tier, compile)
        self.compile = tiers.generates_code(self.tier)
        self.declared = declared
        self._plans = {}
        self.deferred = any(f is None or isinstance(f, UnrankedFact) for f in declared.values())
        self.graph = None if self.deferred else self._analysed(declared)
        self.plan = None if self.deferred else self._planned(self.graph)

    def _analysed(self, facts):
        return pipeline.analysed(self.raw_graph, facts, self.opsets, self.optimize)

    def _planned(self, graph):
        return pipeline.plan(graph, self.opsets, self.compile, self.tier)

    @property
    def inputs(self) -> list:
        return [self._info(w, self.declared[w]) for w in self.raw_graph.inputs]

    @property
    def outputs(self) -> list:
        if self.graph is None:
            return [TensorInfo(w, None, None) for w in self.raw_graph.outputs]
        return [self._info(w, self.graph.facts[w]) for w in self.graph.outputs]

    @staticmethod
    def _info(name, fact):
        if fact is None or isinstance(fact, (UnrankedFact, DynamicFact)):
            return TensorInfo(name, None if fact is None else fact.dtype, None)
        return TensorInfo(name, fact.dtype, fact.shape)

    def run(self, feeds, outputs=None) -> list:
        """Outputs in graph order, or those named in `outputs` in that order; `feeds` is a dict
        by input name or a list in input order."""
        if outputs is not None:
            names = [o.name for o in self.outputs]
            outputs = [outputs] if isinstance(outputs, str) else list(outputs)
            unknown = [o for o in outputs if o not in names]
            if unknown:
                raise InputError(f"no output(s) {', '.join(map(repr, unknown))}; the model's "
                                 f"outputs are {', '.join(names)}")
        arrays = self._ordered(feeds)
        try:
            plan = self.plan if not self.deferred else self._deferred_plan(arrays)
            values = plan.run(arrays)
        except MemoryError as e:
            raise ResourceError("running the model ran out of memory (lower the input sizes or "
                                "raise PULSAR_MEMORY_BUDGET)") from e
        if outputs is None:
            return values
        return [values[names.index(o)] for o in outputs]

    def plan_for(self, feeds):
        """The Plan that `run(feeds)` uses (models without declared shapes plan per shape)."""
        return self.plan if not self.deferred else self._deferred_plan(self._ordered(feeds))

    def _ordered(self, feeds) -> list:
        names = self.raw_graph.inputs
        if isinstance(feeds, dict):
            missing = [n for n in names if n not in feeds]
            if missing:
                raise InputError(f"missing input(s) {', '.join(map(repr, missing))}; the model "
                                 f"takes {', '.join(str(i) for i in self.inputs)}")
            extra = [n for n in feeds if n not in names]
            bound = [n for n in extra if n in self.raw_graph.facts and
                     self.raw_graph.facts[n].is_const]
            if bound:
                raise InputError(f"input(s) {', '.join(map(repr, bound))} were given a value "
                                 f"when loading (values=...); don't pass them")
            if extra:
                raise InputError(f"unknown input(s) {', '.join(map(repr, extra))}; the model "
                                 f"takes {', '.join(names)}")
            return [feeds[n] for n in names]
        if isinstance(feeds, np.ndarray):
            feeds = [feeds]
        feeds = list(feeds)
        if len(feeds) != len(names):
            raise InputError(f"expected {len(names)} input(s) ({', '.join(names)}), got {len(feeds)}")
        return feeds

    def _deferred_plan(self, arrays):
        """Inputs declared without shapes: analyse once per concrete input signature."""
        arrays = [np.asarray(a) for a in arrays]
        key = tuple((a.dtype.str, a.shape) for a in arrays)
        if key not in self._plans:
            facts = {w: Fact(a.dtype, a.shape) for w, a in zip(self.raw_graph.inputs, arrays)}
            self._plans[key] = self._planned(self._analysed(facts))
        return self._plans[key]

    def bind(self, **symbols) -> "Model":
        """A copy with symbols fixed (`model.bind(S=1760)`): every shape becomes concrete."""
        declared = pipeline.declare_inputs(self.raw_graph, self.declared, symbols)
        return Model(self.raw_graph, self.opsets, declared, self.optimize, tier=self.tier)

    def dump(self) -> str:
        """The analysed graph, then which nodes run compiled (and why the others do not)."""
        if self.graph is None:
            return dump_graph(self.raw_graph)
        return "\n".join([dump_graph(self.graph), *folded_lines(self.graph),
                          *compiled.summary(self.plan)])

    def __repr__(self):
        ins = ", ".join(str(i) for i in self.inputs)
        outs = ", ".join(str(o) for o in self.outputs)
        return f"<pulsar.Model ({ins}) -> ({outs})>"
