"""The pulse transform: a whole-signal graph -> a graph that consumes one pulse at a time.

Every wire on the streaming path gets a stream fact (axis, whole-signal length, delay) and a
concrete per-pulse shape. Nodes are translated in order, as tract's Pulsifier does: a node with
no streaming input is kept as is; otherwise its op's rule (streaming/rules.py) rewrites it,
inserting Delay / PulsePad nodes where windows, padding or delay alignment need them; an op
with no rule is an error naming the node.
"""
from dataclasses import dataclass, field

from pulsar import dims
from pulsar.analyse import InferContext, SymbolTable, fold
from pulsar.errors import PulseError
from pulsar.fact import Fact, StreamInfo
from pulsar.graph import Graph, Node

from . import recurrence  # noqa: F401  (registers the LSTM/GRU/RNN/Scan rules)
from .ops import Delay
from .rules import check_free_of, translate


@dataclass
class PulsedGraph:
    graph: Graph                 # concrete per-pulse shapes, stream facts on streaming wires
    symbol: str
    pulse: int
    inputs: dict                 # stream input name -> axis
    report: list = field(default_factory=list)   # (node name, note) lines for dumps


class Pulsifier:
    def __init__(self, batch: Graph, symbol: str, pulse: int, opsets: dict):
        self.batch = batch
        self.symbol = symbol
        self.pulse = pulse
        self.opsets = opsets
        self.symbols = SymbolTable()
        self.nodes = []
        self.facts = {}
        self.names = set(batch.facts) | {n.name for n in batch.nodes}
        self.notes = []

    # -- wires ---------------------------------------------------------------------------
    def stream(self, wire):
        fact = self.facts.get(wire) if wire else None
        return fact.stream if fact is not None else None

    def fact(self, wire):
        return self.facts.get(wire) if wire else None

    def fresh(self, base: str) -> str:
        name, i = base, 1
        while name in self.names:
            i += 1
            name = f"{base}.{i}"
        self.names.add(name)
        return name

    # -- building ------------------------------------------------------------------------
    def add(self, name, op, inputs, outputs, streams, scope_inputs=()):
        """Append a node; its per-pulse facts come from the op's own `infer`."""
        node = Node(name, op, list(inputs), list(outputs), list(scope_inputs))
        in_facts = [self.facts[w] if w else None for w in inputs]
        ctx = InferContext(node, self.opsets, self.symbols, self.facts)
        try:
            outs = fold(node, in_facts, list(op.infer(in_facts, ctx)))
        except Exception as e:
            raise PulseError(f"node {name!r} ({op.onnx_name}): cannot size its per-pulse "
                             f"shapes ({e}); inputs {[str(f) for f in in_facts]}") from e
        for wire, fact, stream in zip(outputs, outs, streams):
            if wire:
                if stream is not None and not fact.is_concrete:
                    raise PulseError(f"node {name!r} ({op.onnx_name}): per-pulse shape "
                                     f"{fact.shape_str()} is not concrete")
                self.facts[wire] = fact.with_stream(stream) if stream is not None else fact
        self.nodes.append(node)
        return node

    def keep(self, node, streams=None, inputs=None, op=None):
        """Re-emit `node` (possibly with a new op / inputs) under its own name and wires."""
        return self.add(node.name, op or node.op, inputs or node.inputs, node.outputs,
                        streams or [None] * len(node.outputs), node.scope_inputs)

    def delayed(self, wire, delay, overlap, origin, fill=0.0):
        """`wire` through a Delay node; returns the new wire name."""
        if delay == 0 and overlap == 0:
            return wire
        s = self.stream(wire)
        name = self.fresh(f"{origin}.delay")
        out = self.fresh(f"{wire}.delayed")
        stream = StreamInfo(s.axis, s.dim, s.delay + delay)
        self.add(name, Delay(axis=s.axis, delay=delay, overlap=overlap, fill=fill), [wire], [out], [stream])
        self.notes.append((name, f"delay {delay} frames, overlap {overlap}"))
        return out

    def aligned(self, wires, origin) -> tuple:
        """Delay the streaming `wires` so they share the largest delay; (new wires, delay)."""
        delays = [self.stream(w).delay for w in wires if self.stream(w)]
        target = max(delays) if delays else 0
        out = []
        for w in wires:
            s = self.stream(w)
            out.append(self.delayed(w, target - s.delay, 0, origin) if s else w)
        return out, target

    def fail(self, node, message):
        raise PulseError(f"node {node.name!r} ({node.op.onnx_name}): {message}")


def pulsify(batch: Graph, opsets: dict, pulse: int, symbol: str = None, inputs: dict = None):
    """Pulse `batch` (an analysed graph) along `symbol`, `pulse` frames of input per step.

    `inputs` maps stream input names to their time axis; by default every input with a dim
    equal to the symbol streams along that axis.
    """
    stream_inputs = inputs or find_stream_inputs(batch, symbol)
    if not stream_inputs:
        raise PulseError(f"no input has a dimension equal to symbol {symbol!r}; inputs: "
                         + ", ".join(f"{w}: {batch.facts[w]}" for w in batch.inputs))
    if pulse < 1:
        raise PulseError(f"pulse must be a positive number of frames, got {pulse}")
    p = Pulsifier(batch, symbol, pulse, opsets)
    for w in batch.inputs:
        fact = batch.facts[w]
        if w in stream_inputs:
            axis = stream_inputs[w]
            shape = list(fact.shape)
            full = shape[axis]
            shape[axis] = pulse
            for a, d in enumerate(shape):
                if not isinstance(d, int):
                    raise PulseError(f"input {w!r} ({fact}) has symbol {d} on axis {a}, which "
                                     "does not stream: bind it first, e.g. "
                                     f"model.bind({d}=1) or pulsar.load(..., symbols={{'{d}': 1}})")
            p.facts[w] = Fact(fact.dtype, shape_without(shape, symbol, w),
                              stream=StreamInfo(axis, full, 0))
        else:
            check_free_of(fact, symbol, f"input {w!r}")
            p.facts[w] = fact
    for w, v in batch.constants().items():
        p.facts[w] = batch.facts[w]
    for node in batch.nodes:
        translate(node, p)
    for w in batch.outputs:
        if p.stream(w) is None and p.facts[w].is_const:
            raise PulseError(f"output {w!r} does not depend on the stream along {symbol!r}")
    graph = Graph(batch.name + ".pulsed", list(batch.inputs), list(batch.outputs), p.nodes,
                  p.facts, [])
    return PulsedGraph(graph, symbol, pulse, stream_inputs, p.notes)


def find_stream_inputs(batch: Graph, symbol: str) -> dict:
    found = {}
    target = dims.sym(symbol) if symbol else None
    for w in batch.inputs:
        axes = [i for i, d in enumerate(batch.facts[w].shape) if d == target]
        if len(axes) > 1:
            raise PulseError(f"input {w!r} has symbol {symbol} on several axes "
                             f"({batch.facts[w]}); name the stream axis explicitly")
        if axes:
            found[w] = axes[0]
    return found


def shape_without(shape, symbol, where):
    for d in shape:
        if symbol in dims.symbols(d):
            raise PulseError(f"{where}: the stream symbol {symbol} appears on a second axis")
    return tuple(shape)
