"""How each kind of op streams. A rule rewrites one batch node into pulsed nodes.

Dispatch (as in tract): a node with no streaming input is kept; an op with its own `pulsify`
method uses it; otherwise the rule registered here for its type (the bookkeeping ops: padding,
slicing, concat, reshape; recurrences in streaming/recurrence.py); otherwise the generic rule of
the kind the op declares (`Op.streams`: elementwise, follows, window, transposed_window,
frames); otherwise a PulseError naming the node. The ops hold their own facts (axis mappings,
window geometry, the axes they cannot stream along): this module holds only the machinery.
"""
import dataclasses

import numpy as np

from pulsar import dims
from pulsar.errors import PulseError
from pulsar.fact import StreamInfo, const
from pulsar.ops.binary import Add
from pulsar.ops.pad import Pad
from pulsar.ops.shape import Reshape, ReshapeV1
from pulsar.ops.tensor import Concat, Slice
from pulsar.ops.unary import Identity

from .ops import Delay, OverlapAdd, PulsePad

RULES = {}    # op type -> its own rule (found along the op class's bases)
KINDS = {}    # declared `Op.streams` kind -> generic rule
WINDOW_MODE_HINT = ("it needs the whole signal at once; run this model in window mode "
                    "(streaming.window(model, size=..., hop=...)) instead")


def rule(*types):
    """Register a rule for ops of these types (and their subclasses)."""
    def wrap(fn):
        for t in types:
            RULES[t] = fn
        return fn
    return wrap


def kind(name):
    """Register the generic rule for ops declaring `streams = name`."""
    def wrap(fn):
        KINDS[name] = fn
        return fn
    return wrap


def rule_for(op):
    """The op's own `pulsify`, else the rule for its type, else its kind's; None: none."""
    own = getattr(op, "pulsify", None)
    if own is not None:
        return own
    for cls in type(op).__mro__:
        if cls in RULES:
            return RULES[cls]
    return KINDS.get(op.streams)


def translate(node, p):
    if not any(p.stream(w) for w in node.inputs):
        for w in node.outputs:
            if w:
                check_free_of(p.batch.facts[w], p.symbol, f"wire {w!r} of node {node.name!r}")
        p.keep(node)
        return
    fn = rule_for(node.op)
    if fn is None:
        p.fail(node, f"has no streaming rule for {node.op.onnx_name}; if the op needs the whole "
               "signal at once, run this model in window mode (streaming.window(model, size=..., "
               "hop=...))")
    fn(node, p)


def batch_dim(p, wire, axis):
    return p.batch.facts[wire].shape[axis]


# -- axis tracking ---------------------------------------------------------------------------
@kind("elementwise")
def elementwise(node, p):
    """Broadcasting ops: align delays, the stream axis keeps its place from the right."""
    out = node.outputs[0]
    out_rank = p.batch.facts[out].rank
    wires, delay = p.aligned(node.inputs, node.name)
    axes = set()
    for w in wires:
        s = p.stream(w)
        if s is not None:
            axes.add(s.axis + out_rank - p.fact(w).rank)
    if len(axes) != 1:
        p.fail(node, f"its streaming inputs put the stream on different axes {sorted(axes)}")
    axis = axes.pop()
    for w in wires:
        f = p.fact(w)
        if f is not None and p.stream(w) is None:
            a = axis - (out_rank - f.rank)
            if a >= 0 and f.shape[a] != 1:
                p.fail(node, f"input {w!r} ({f}) has size {f.shape[a]} along the stream axis; "
                       "only size 1 can broadcast against a stream")
    extra = [None] * (len(node.outputs) - 1)
    stream = StreamInfo(axis, batch_dim(p, out, axis), delay)
    p.keep(node, [stream] + extra, inputs=wires)


def tracked_axis(node, p, wire_in, wire_out):
    """The output axis that carries the input's stream.

    An op that knows it says so (Transpose follows its permutation); ops that regroup axes
    (Reshape, Squeeze, Unsqueeze, Flatten) keep the stream where the batch dim is the stream
    length with equal products of the dims before it (so merging or splitting other axes, or
    moving unit axes, is fine); other ops keep it on the one output axis whose batch dim is the
    stream length.
    """
    s = p.stream(wire_in)
    out_shape = p.batch.facts[wire_out].shape
    known = node.op.stream_axis(s.axis, len(out_shape))
    if known is not None:
        return known
    hits = [j for j, d in enumerate(out_shape) if d == s.dim]
    if node.op.regroups:
        before_in = _product(p.batch.facts[wire_in].shape[:s.axis])
        hits = [j for j in hits if _product(out_shape[:j]) == before_in]
    if len(hits) != 1 and node.op.reduces:
        p.fail(node, f"it reduces over the stream axis {s.axis} of {wire_in!r}; {WINDOW_MODE_HINT}")
    if len(hits) != 1:
        p.fail(node, f"it moves or merges the stream axis {s.axis} of {wire_in!r} "
               f"({p.batch.facts[wire_in]} -> {p.batch.facts[wire_out]}); {WINDOW_MODE_HINT}")
    return hits[0]


def _product(shape):
    out = 1
    for d in shape:
        out = out * d
    return out


@kind("follows")
def track_first_input(node, p):
    """Ops whose stream lives on their first input only (the others are parameters); the op
    may refuse the stream axis (it contracts, transforms or normalises along it)."""
    x, out = node.inputs[0], node.outputs[0]
    refusal = node.op.stream_refusal(p.stream(x).axis, [p.fact(w) for w in node.inputs])
    if refusal:
        p.fail(node, f"{refusal}; {WINDOW_MODE_HINT}")
    for w in node.inputs[1:]:
        if p.stream(w) is not None:
            p.fail(node, f"input {w!r} is a stream too; only the first input may stream here")
    axis = tracked_axis(node, p, x, out)
    stream = StreamInfo(axis, batch_dim(p, out, axis), p.stream(x).delay)
    p.keep(node, [stream] + [None] * (len(node.outputs) - 1))


@rule(Reshape, ReshapeV1)
def reshape(node, p):
    """A reshape that keeps the stream axis whole, or splits it into (frames, values per frame)
    (25 frames of 10 MFCCs flattened to 250 values): rewrite its target for one pulse."""
    x, out = node.inputs[0], node.outputs[0]
    s = p.stream(x)
    split = _split_axis(p, x, out)
    axis, ratio = split if split else (tracked_axis(node, p, x, out), 1)
    pulse = p.fact(x).shape[s.axis]
    if pulse % ratio or s.delay % ratio:
        p.fail(node, f"it groups the stream by {ratio} values but the pulse reaching it is {pulse} "
               f"values with a delay of {s.delay}; use a pulse that is a multiple of {ratio}")
    shape = list(p.batch.facts[out].shape)
    shape[axis] = pulse // ratio
    for d in shape:
        if not isinstance(d, int):
            p.fail(node, f"its output shape {p.batch.facts[out].shape_str()} has a non-stream "
                   "dimension that is not known")
    target = p.fresh(f"{node.name}.pulse_shape")
    p.facts[target] = const(np.array(shape, dtype=np.int64))
    inputs = [x, target] if len(node.inputs) > 1 else [x]
    op = node.op if len(node.inputs) > 1 else dataclasses.replace(node.op, shape=tuple(shape))
    stream = StreamInfo(axis, batch_dim(p, out, axis), s.delay // ratio)
    p.keep(node, [stream], inputs=inputs, op=op)


def _split_axis(p, x, out):
    """(output axis, values per frame) when the reshape splits the stream axis, else None."""
    s = p.stream(x)
    in_shape, out_shape = p.batch.facts[x].shape, p.batch.facts[out].shape
    before, after_in = _product(in_shape[:s.axis]), _product(in_shape[s.axis + 1:])
    for j, d in enumerate(out_shape):
        if d == s.dim or p.symbol not in dims.symbols(d) or _product(out_shape[:j]) != before:
            continue
        after_out = _product(out_shape[j + 1:])
        if isinstance(after_out, int) and isinstance(after_in, int) and after_out % after_in == 0 \
                and d * (after_out // after_in) == s.dim:
            return j, after_out // after_in
    return None


# -- windows along time ----------------------------------------------------------------------
def only_first_input_streams(node, p, name):
    """PulseError unless the node's first input is the only one that streams (`name`: what
    the op calls that input)."""
    for w in node.inputs[1:]:
        if w and p.stream(w) is not None:
            p.fail(node, f"input {w!r} streams; only {name} may")


def spatial_index(node, p, axis, what) -> int:
    """Index of stream axis `axis` among the spatial axes of an (N, C, spatial...) input;
    PulseError for the batch or channel axis (`what`: the kind of op, for the message)."""
    if axis < 2:
        p.fail(node, f"the stream is on axis {axis}, a batch/channel axis; only spatial axes "
               f"can stream through {what}")
    return axis - 2


@kind("window")
def window(node, p):
    """Delay line + zero pre-roll: a window op sees `overlap` frames of history each pulse."""
    x, out = node.inputs[0], node.outputs[0]
    only_first_input_streams(node, p, "the data input")
    s = p.stream(x)
    op = node.op
    t = spatial_index(node, p, s.axis, "a window")
    k, st, dl, begins, ends = op.window_along([p.batch.facts[w] if w else None for w in node.inputs])
    kt, stt, dlt, pl, pr = k[t], st[t], dl[t], begins[t], ends[t]
    if not isinstance(pl, int):
        p.fail(node, f"its padding before the stream axis ({pl}) depends on the signal length "
               "(SAME padding with stride > 1); use explicit pads")
    pulse = p.fact(x).shape[s.axis]
    if pulse % stt:
        p.fail(node, f"the pulse of {pulse} frames reaching it is not a multiple of its stride "
               f"{stt} along the stream axis; choose a pulse that is a multiple of {stt}"
               f"{' (times the strides upstream)' if pulse != p.pulse else ''}")
    refusal = op.window_refusal(bool(pl) or _nonzero(pr))
    if refusal:
        p.fail(node, refusal)
    value = op.window_fill
    wire = x
    if pl > 0 or _nonzero(pr):
        pad = p.fresh(f"{node.name}.pad")
        wire = p.fresh(f"{x}.padded")
        p.add(pad, PulsePad(axis=s.axis, delay=s.delay, begin=0, end=s.dim, value=value),
              [x], [wire], [s])
        p.notes.append((pad, f"pad {pl} before / {pr} after the stream with {value}"))
    wire, out_delay = delay_line(p, node, wire, (kt - 1) * dlt + 1, stt, pl, value)
    new_pads = list(begins) + list(ends)
    new_pads[t] = new_pads[t + len(begins)] = 0
    if any(not isinstance(v, int) for v in new_pads):
        p.fail(node, f"its padding {new_pads} depends on unknown sizes")
    pulsed_op = dataclasses.replace(op, auto_pad="NOTSET", pads=tuple(new_pads))
    stream = StreamInfo(s.axis, batch_dim(p, out, s.axis), out_delay)
    p.keep(node, [stream] + [None] * (len(node.outputs) - 1),
           inputs=[wire] + list(node.inputs[1:]), op=pulsed_op)
    p.notes.append((node.name, f"window {kt} stride {stt} dilation {dlt}: {pulse // stt} "
                    f"frames per pulse, delay {out_delay}"))


def delay_line(p, node, wire, span, stride, pad_before, fill):
    """Feed a window of `span` frames moving by `stride`: (delayed wire, output delay).

    Window q of the pulsed output starts `delay + overlap` frames before pulse position
    q*stride of `wire`, i.e. at padded batch index q*stride - (delay + overlap + wire delay -
    pad_before): the output delay is that shift over the stride, so pick the smallest delay
    making it a whole, non-negative number of frames. Frames before the stream come from the
    Delay's pre-roll, filled with the padding value.
    """
    overlap = max(span - stride, 0)
    shift = overlap + p.stream(wire).delay - pad_before
    delay = (-shift) % stride if shift >= 0 else -shift
    wire = p.delayed(wire, delay, overlap, node.name, fill=fill)
    return wire, (delay + shift) // stride


@kind("transposed_window")
def transposed_window(node, p):
    """Overlap-add: each input frame adds a window of `span` output frames, `stride` apart.

    A pulse of P frames, the frames outside the stream zeroed, is run alone with no padding
    along time: P*stride complete frames, then span - stride frames of partial sums (the tail)
    that an OverlapAdd completes with the next pulses; the bias is added after, once per frame.
    Frames cropped at the begin (pads) are warm-up, a delay. Output padding and frames cropped at
    the end only move the stream's end, where the zeroed flush frames add nothing; but when the
    end crop is longer than what a pulse adds after its last input frame, a push would return
    frames the whole output does not have, so the output is held back by the difference.
    """
    x, out = node.inputs[0], node.outputs[0]
    s = p.stream(x)
    pulsed_op, (k, stride, dilation, begin), tail, late = _transposed_pulse(node, p, s.axis)
    bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
    after = []                          # (name, op, more inputs) run on the pulse's output
    if tail:
        after.append((f"{node.name}.overlap_add", OverlapAdd(axis=s.axis, overlap=tail), []))
    if tail and bias:
        after.append((f"{node.name}.bias", Add(), [_bias_column(node, p, bias)]))
    if late:
        after.append((f"{node.name}.delay", Delay(axis=s.axis, delay=late), []))
    masked = p.fresh(f"{x}.masked")
    p.add(p.fresh(f"{node.name}.pad"), PulsePad(axis=s.axis, delay=s.delay, begin=0, end=s.dim),
          [x], [masked], [s])
    stream = StreamInfo(s.axis, batch_dim(p, out, s.axis), s.delay * stride + begin)
    wire = p.fresh(f"{out}.partial") if after else out
    p.add(node.name, pulsed_op, [masked] + list(node.inputs[1:2 if tail else None]), [wire],
          [stream])
    for i, (name, stage, more) in enumerate(after):
        target = out if i == len(after) - 1 else p.fresh(f"{out}.{name.rsplit('.', 1)[1]}")
        if isinstance(stage, Delay):
            stream = dataclasses.replace(stream, delay=stream.delay + late)
        p.add(p.fresh(name), stage, [wire] + more, [target], [stream])
        wire = target
    p.notes.append((node.name, f"transposed window {k} stride {stride} dilation {dilation}: "
                    f"{p.fact(x).shape[s.axis] * stride} frames per pulse, {tail} carried, "
                    f"{late} held back, delay {stream.delay}"))


def _transposed_pulse(node, p, axis):
    """(the op for one pulse, (kernel, stride, dilation, begin crop) along `axis`, tail frames,
    frames held back) for a transposed window streaming along `axis`, or a PulseError."""
    op = node.op
    only_first_input_streams(node, p, "the data input")
    t = spatial_index(node, p, axis, "a transposed window")
    refusal = op.stream_refusal(axis, [p.fact(w) for w in node.inputs])
    if refusal:
        p.fail(node, refusal)
    k, st, dl, begins, ends = op.window_along([p.batch.facts[w] if w else None
                                               for w in node.inputs])
    pads, r = list(begins) + list(ends), len(k)
    pads[t] = pads[t + r] = 0
    if not all(isinstance(v, int) for v in pads + [begins[t], ends[t]]):
        p.fail(node, f"its padding {list(begins) + list(ends)} depends on unknown sizes")
    span, stride = (k[t] - 1) * dl[t] + 1, st[t]
    tail = max(span - stride, 0)
    extra = list(op.output_padding or (0,) * r)
    late = max(0, ends[t] - (span - stride + extra[t]))
    extra[t] = tail + stride - span     # a pulse's output: P*stride frames, then the tail
    pulsed_op = dataclasses.replace(op, auto_pad="NOTSET", pads=tuple(pads),
                                    output_padding=tuple(extra), output_shape=())
    return pulsed_op, (k[t], stride, dl[t], begins[t]), tail, late


def _bias_column(node, p, bias):
    """The constant bias [M] as a wire of shape [M, 1, ...], to add across the spatial axes."""
    value = p.fact(bias).value
    if value is None:
        p.fail(node, f"its bias {bias!r} must be a constant to stream (it is added once the "
               "carried partial sums are complete)")
    column = p.fresh(f"{bias}.column")
    spatial = p.batch.facts[node.outputs[0]].rank - 2
    p.facts[column] = const(value.reshape((-1,) + (1,) * spatial))
    return column


@kind("frames")
def frames(node, p):
    """Framing (STFT) is a window of `frame` samples moving by `hop` along axis 1, no padding."""
    x = node.inputs[0]
    s = p.stream(x)
    only_first_input_streams(node, p, "the signal")
    if s.axis != 1:
        p.fail(node, f"the stream is on axis {s.axis}; it frames the signal along axis 1")
    frame, hop = node.op.stream_frames([p.batch.facts[w] if w else None for w in node.inputs])
    if not isinstance(frame, int) or not isinstance(hop, int):
        p.fail(node, "its frame length and step must be constants to stream")
    pulse = p.fact(x).shape[1]
    if pulse % hop:
        p.fail(node, f"the pulse of {pulse} samples reaching it is not a multiple of its "
               f"frame step {hop}; choose a pulse that is a multiple of {hop}")
    wire, out_delay = delay_line(p, node, x, frame, hop, 0, 0.0)
    out = node.outputs[0]
    p.keep(node, [StreamInfo(1, batch_dim(p, out, 1), out_delay)], inputs=[wire] + list(node.inputs[1:]))
    p.notes.append((node.name, f"frames of {frame} every {hop}: {pulse // hop} frames per pulse, "
                    f"delay {out_delay}"))


def _nonzero(v):
    return not (isinstance(v, int) and v == 0)


# -- bookkeeping ops -------------------------------------------------------------------------
@rule(Pad)
def pad(node, p):
    """Constant padding along time is a PulsePad: its left part becomes pre-roll."""
    x, out = node.inputs[0], node.outputs[0]
    s = p.stream(x)
    mode = getattr(node.op, "mode", "constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        p.fail(node, f"{mode} padding along the stream axis needs future frames; {WINDOW_MODE_HINT}")
    rank = p.fact(x).rank
    pads, value = _pad_amounts(node, p, rank)
    pl, pr = pads[s.axis], pads[s.axis + rank]
    if pl < 0 or pr < 0:
        p.fail(node, "negative padding (cropping) along the stream axis is not supported")
    wire = x
    if s.delay < pl:
        wire = p.delayed(wire, pl - s.delay, 0, node.name)
    d = p.stream(wire).delay - pl
    rest = list(pads)
    rest[s.axis] = rest[s.axis + rank] = 0
    stream = StreamInfo(s.axis, batch_dim(p, out, s.axis), d)
    pad_name = p.fresh(f"{node.name}.pulse") if any(rest) else node.name
    pad_out = p.fresh(f"{out}.time") if any(rest) else out
    p.add(pad_name, PulsePad(axis=s.axis, delay=d, begin=pl, end=pl + s.dim, value=value),
          [wire], [pad_out], [stream])
    if any(rest):
        target = p.fresh(f"{node.name}.pads")
        p.facts[target] = const(np.array(rest, dtype=np.int64))
        inputs = [pad_out, target] + list(node.inputs[2:])
        p.keep(node, [stream], inputs=inputs)


def _pad_amounts(node, p, rank):
    op = node.op
    if len(node.inputs) > 1 and node.inputs[1]:
        pads = [int(v) for v in p.fact(node.inputs[1]).value]
        value = float(p.fact(node.inputs[2]).value) if len(node.inputs) > 2 and node.inputs[2] else 0.0
        if len(node.inputs) > 3 and node.inputs[3]:
            axes = [int(a) % rank for a in p.fact(node.inputs[3]).value]
            full = [0] * (2 * rank)
            for i, a in enumerate(axes):
                full[a], full[a + rank] = pads[i], pads[i + len(axes)]
            pads = full
        return pads, value
    return list(op.pads), float(getattr(op, "value", 0.0))


@rule(Slice)
def slice_(node, p):
    """Slicing the stream axis from a fixed start is delay bookkeeping; an end counted from the
    stream's end (-n) holds the output back n frames, which the end of the stream then drops
    (a push cannot know its frames are not among the last n). Other axes slice as usual."""
    x, out = node.inputs[0], node.outputs[0]
    s = p.stream(x)
    rank = p.fact(x).rank
    starts, ends, axes, steps = _slice_args(node, p, rank)
    if s.axis in axes:
        i = axes.index(s.axis)
        if steps[i] != 1 or starts[i] < 0:
            p.fail(node, f"it slices the stream axis with start {starts[i]} step {steps[i]}; "
                   "only a fixed non-negative start with step 1 can stream")
        if ends[i] >= 0 and ends[i] < (1 << 62):
            p.fail(node, f"it keeps only the first {ends[i]} frames of the stream; {WINDOW_MODE_HINT}")
        if ends[i] < -(1 << 31):
            p.fail(node, f"its end {ends[i]} keeps no frame of the stream")
        if ends[i] < 0:
            x = p.delayed(x, -ends[i], 0, node.name)
            s = p.stream(x)
        delay = s.delay + starts[i]
        keep = [j for j in range(len(axes)) if j != i]
    else:
        delay, keep = s.delay, list(range(len(axes)))
    stream = StreamInfo(s.axis, batch_dim(p, out, s.axis), delay)
    if not keep:
        p.keep(node, [stream], inputs=[x], op=Identity())
        return
    consts = []
    for name, values in (("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps)):
        wire = p.fresh(f"{node.name}.{name}")
        p.facts[wire] = const(np.array([values[j] for j in keep], dtype=np.int64))
        consts.append(wire)
    p.keep(node, [stream], inputs=[x] + consts, op=Slice())


def _slice_args(node, p, rank):
    op = node.op
    if len(node.inputs) == 1:     # opset < 10: attributes
        starts, ends = list(op.starts), list(op.ends)
        axes = list(op.axes) if op.axes else list(range(len(starts)))
        steps = [1] * len(starts)
    else:
        def value(i, default):
            if len(node.inputs) > i and node.inputs[i]:
                v = p.fact(node.inputs[i]).value
                if v is None or v.dtype == object:
                    p.fail(node, f"its slice input {node.inputs[i]!r} is not a known constant")
                return [int(a) for a in v]
            return default
        starts, ends = value(1, None), value(2, None)
        axes = value(3, list(range(len(starts))))
        steps = value(4, [1] * len(starts))
    return starts, ends, [a % rank for a in axes], steps


@rule(Concat)
def concat(node, p):
    """Along time: constant frames before the stream become a PulsePad prefix. Elsewhere:
    streams are aligned and concatenated per pulse."""
    out = node.outputs[0]
    rank = p.batch.facts[out].rank
    axis = node.op.axis % rank
    streams = [w for w in node.inputs if p.stream(w) is not None]
    if p.stream(streams[0]).axis != axis:
        wires, delay = p.aligned(node.inputs, node.name)
        for w in wires:
            if p.stream(w) is None:
                p.fail(node, f"input {w!r} does not stream but is concatenated to a stream")
        p.keep(node, [StreamInfo(p.stream(wires[0]).axis, batch_dim(p, out, p.stream(wires[0]).axis),
                                 delay)], inputs=wires)
        return
    if len(streams) != 1 or node.inputs[-1] != streams[0]:
        p.fail(node, "along the stream axis only constant frames before one stream can be "
               "concatenated")
    prefix_wires = node.inputs[:-1]
    prefix = [p.fact(w).value for w in prefix_wires]
    if any(v is None for v in prefix):
        p.fail(node, "the frames concatenated before the stream must be constants")
    prefix = np.concatenate(prefix, axis=axis) if prefix else None
    n = prefix.shape[axis]
    x = streams[0]
    wire = p.delayed(x, max(0, n - p.stream(x).delay), 0, node.name)
    d = p.stream(wire).delay - n
    stream = StreamInfo(axis, batch_dim(p, out, axis), d)
    p.add(node.name, PulsePad(axis=axis, delay=d, begin=n, end=None, prefix=prefix),
          [wire], [out], [stream])


def check_free_of(fact, symbol, where):
    """Refuse a non-stream wire whose shape follows the stream length: a pulsed plan could not
    give it one fixed size per pulse."""
    if any(symbol in dims.symbols(d) for d in fact.shape):
        raise PulseError(f"{where} ({fact}) depends on the stream length {symbol} but is not "
                         "the stream itself")
