"""Random causal graphs (hypothesis) and a chunked-stream driver, for the pulse-equivalence
tests of interpreted and compiled plans."""
import math
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import pulsar
from pulsar import streaming
from reference import ort_run


class Builder:
    """Builds a random causal 1-D conv graph on input x [1, C, S], tracking what the input pulse
    must be a multiple of (`stride`) for every strided layer to see whole pulses."""

    def __init__(self, draw, channels):
        self.draw, self.nodes, self.inits, self.n = draw, [], [], 0
        self.channels, self.stride = channels, 1
        self.ratio = Fraction(1)        # frames here per input frame
        self.first_channels = channels
        self.rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))

    def name(self, base):
        self.n += 1
        return f"{base}{self.n}"

    def downsample(self, s):
        """A layer of stride s follows: the frames reaching it must be a multiple of s."""
        self.ratio /= s
        self.stride = math.lcm(self.stride, self.ratio.denominator)

    def weight(self, *shape):
        w = self.name("w")
        self.inits.append(numpy_helper.from_array(self.rng.standard_normal(shape).astype(np.float32), w))
        return w

    def conv(self, x, k=None, s=None, d=None, pads=None, out=None):
        draw = self.draw
        k = k or draw(st.integers(1, 5))
        s = s or draw(st.integers(1, 3))
        d = d or draw(st.integers(1, 2))
        pads = pads or [draw(st.integers(0, 3)), draw(st.integers(0, 3))]
        out_c = out or draw(st.integers(1, 4))
        y = self.name("conv")
        self.nodes.append(helper.make_node(
            "Conv", [x, self.weight(out_c, self.channels, k), self.weight(out_c)], [y],
            kernel_shape=[k], strides=[s], dilations=[d], pads=pads))
        self.channels = out_c
        self.downsample(s)
        return y

    def conv_transpose(self, x, k=None, s=None):
        """An upsampling layer: ConvTranspose by s, with drawn dilation, pads, output padding,
        group and bias."""
        draw = self.draw
        s = s or draw(st.integers(1, 3))
        k = k or draw(st.integers(1, 5))
        d = draw(st.integers(1, 2))
        group = draw(st.sampled_from([g for g in (1, 2) if self.channels % g == 0]))
        out_c = group * draw(st.integers(1, 2))
        pads = [draw(st.integers(0, 3)), draw(st.integers(0, 3))]
        inputs = [x, self.weight(self.channels, out_c // group, k)]
        inputs += [self.weight(out_c)] if draw(st.booleans()) else []
        y = self.name("up")
        self.nodes.append(helper.make_node(
            "ConvTranspose", inputs, [y], kernel_shape=[k], strides=[s], dilations=[d],
            pads=pads, output_padding=[draw(st.integers(0, s - 1))], group=group))
        self.channels = out_c
        self.ratio *= s
        return y

    def pool(self, x):
        draw = self.draw
        kind = draw(st.sampled_from(["MaxPool", "AveragePool"]))
        k, s = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        pads = [draw(st.integers(0, k - 1)), draw(st.integers(0, k - 1))]
        extra = {"count_include_pad": 1} if kind == "AveragePool" else {}
        y = self.name("pool")
        self.nodes.append(helper.make_node(kind, [x], [y], kernel_shape=[k], strides=[s],
                                           pads=pads, **extra))
        self.downsample(s)
        return y

    def unary(self, x, op):
        y = self.name(op.lower())
        self.nodes.append(helper.make_node(op, [x], [y]))
        return y

    def pad(self, x):
        pads = [0, 0, self.draw(st.integers(0, 3)), 0, 0, self.draw(st.integers(0, 3))]
        p = self.name("pads")
        self.inits.append(numpy_helper.from_array(np.array(pads, np.int64), p))
        y = self.name("pad")
        self.nodes.append(helper.make_node("Pad", [x, p], [y], mode="constant"))
        return y

    def slice_start(self, x):
        start = self.draw(st.integers(1, 3))
        names = [self.name(n) for n in ("starts", "ends", "axes")]
        for n, v in zip(names, ([start], [2 ** 62], [2])):
            self.inits.append(numpy_helper.from_array(np.array(v, np.int64), n))
        y = self.name("slice")
        self.nodes.append(helper.make_node("Slice", [x] + names, [y]))
        return y

    def branches(self, x):
        """Two length-preserving causal convs with different delays, joined."""
        c = self.channels
        k1, k2 = self.draw(st.integers(1, 4)), self.draw(st.integers(1, 4))
        r1, r2 = self.draw(st.integers(0, k1 - 1)), self.draw(st.integers(0, k2 - 1))
        a = self.conv(x, k=k1, s=1, d=1, pads=[k1 - 1 - r1, r1], out=c)
        self.channels = c
        b = self.conv(x, k=k2, s=1, d=1, pads=[k2 - 1 - r2, r2], out=c)
        join = self.draw(st.sampled_from(["Add", "Mul", "Concat"]))
        y = self.name("join")
        if join == "Concat":
            self.nodes.append(helper.make_node("Concat", [a, b], [y], axis=1))
            self.channels = 2 * c
        else:
            self.nodes.append(helper.make_node(join, [a, b], [y]))
        return y

    def recurrent(self, x):
        """[1, C, S] -> forward LSTM/GRU over time -> [1, H, S]: state carried across pulses."""
        kind = self.draw(st.sampled_from(["LSTM", "GRU"]))
        hidden = self.draw(st.integers(1, 4))
        gates = 4 if kind == "LSTM" else 3
        seq, y, y2, out = (self.name(n) for n in ("seq", "rnn", "rnn_sq", "rnn_out"))
        self.nodes += [
            helper.make_node("Transpose", [x], [seq], perm=[2, 0, 1]),
            helper.make_node(kind, [seq, self.weight(1, gates * hidden, self.channels),
                                    self.weight(1, gates * hidden, hidden)], [y], hidden_size=hidden),
            helper.make_node("Squeeze", [y, self.axes(1)], [y2]),
            helper.make_node("Transpose", [y2], [out], perm=[1, 2, 0]),
        ]
        self.channels = hidden
        return out

    def model(self, y):
        """The graph built so far, from input x [1, C, S] to output y."""
        graph = helper.make_graph(self.nodes, "random", [helper.make_tensor_value_info(
            "x", TensorProto.FLOAT, [1, self.first_channels, "S"])], [
                helper.make_tensor_value_info(y, TensorProto.FLOAT, None)], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    def axes(self, *values):
        name = self.name("axes")
        self.inits.append(numpy_helper.from_array(np.array(values, np.int64), name))
        return name

    def conv2d(self, x):
        """Unsqueeze a frequency axis, a 2-D conv over (time, frequency), squeeze it back."""
        draw = self.draw
        freq = draw(st.integers(1, 3))
        kt, st_, dt = draw(st.integers(1, 4)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
        pads = [draw(st.integers(0, 2)), 0, draw(st.integers(0, 2)), 0]
        up, tiled, conv, out = (self.name(n) for n in ("up", "tiled", "conv2d", "down"))
        reps = self.name("reps")
        self.inits.append(numpy_helper.from_array(np.array([1, 1, 1, freq], np.int64), reps))
        out_c = draw(st.integers(1, 3))
        self.nodes += [
            helper.make_node("Unsqueeze", [x, self.axes(3)], [up]),
            helper.make_node("Tile", [up, reps], [tiled]),
            helper.make_node("Conv", [tiled, self.weight(out_c, self.channels, kt, freq)], [conv],
                             kernel_shape=[kt, freq], strides=[st_, 1], dilations=[dt, 1], pads=pads),
            helper.make_node("Squeeze", [conv, self.axes(3)], [out]),
        ]
        self.channels = out_c
        self.downsample(st_)
        return out

    def prefix(self, x):
        n = self.draw(st.integers(1, 3))
        c = self.name("prefix")
        self.inits.append(numpy_helper.from_array(
            self.rng.standard_normal((1, self.channels, n)).astype(np.float32), c))
        y = self.name("cat")
        self.nodes.append(helper.make_node("Concat", [c, x], [y], axis=2))
        return y


@st.composite
def causal_models(draw):
    channels = draw(st.integers(1, 3))
    b = Builder(draw, channels)
    x = "x"
    for _ in range(draw(st.integers(1, 4))):
        layer = draw(st.sampled_from(["conv", "conv", "pool", "relu", "pad", "slice",
                                      "branches", "prefix", "recurrent", "conv2d", "up"]))
        if layer == "conv":
            x = b.conv(x)
        elif layer == "up":
            x = b.conv_transpose(x)
        elif layer == "pool":
            x = b.pool(x)
        elif layer == "relu":
            x = b.unary(x, draw(st.sampled_from(["Relu", "Tanh", "Sigmoid"])))
        elif layer == "pad":
            x = b.pad(x)
        elif layer == "slice":
            x = b.slice_start(x)
        elif layer == "branches":
            x = b.branches(x)
        elif layer == "recurrent":
            x = b.recurrent(x)
        elif layer == "conv2d":
            x = b.conv2d(x)
        else:
            x = b.prefix(x)
    return b.model(x), channels, b.stride


@st.composite
def stateful_models(draw):
    """A causal graph holding every stateful streaming op, in a random order among other
    layers: a Pad along time (a PulsePad with an end), a conv of kernel > stride (a Delay: a
    window no wider than its stride, undilated and unpadded, needs none), a constant head (a
    PulsePad with a prefix), an LSTM or GRU (a Recurrence) and a ConvTranspose of kernel >
    stride (an OverlapAdd)."""
    channels = draw(st.integers(1, 3))
    b = Builder(draw, channels)
    up = draw(st.integers(1, 2))

    def delayed_conv(x):
        stride = draw(st.integers(1, 3))
        return b.conv(x, k=draw(st.integers(stride + 1, stride + 3)), s=stride)

    layers = {"pad": b.pad, "conv": delayed_conv,
              "prefix": b.prefix, "recurrent": b.recurrent, "pool": b.pool,
              "branches": b.branches, "slice": b.slice_start,
              "up": lambda x: b.conv_transpose(x, k=draw(st.integers(up + 1, up + 3)), s=up)}
    chosen = ["pad", "conv", "prefix", "recurrent", "up"] + draw(st.lists(
        st.sampled_from(["conv", "pool", "branches", "slice"]), max_size=2))
    x = "x"
    for layer in draw(st.permutations(chosen)):
        x = layers[layer](x)
    return b.model(x), channels, b.stride


def all_sizes_positive(model, n):
    """Every wire of the batch model is non-empty at signal length n."""
    return all(pulsar.dims.evaluate(d, {"S": n}) >= 1
               for f in model.graph.facts.values() for d in f.shape)


def chunks_of(x, chunk_sizes, axis):
    """x cut along `axis` into chunks of the given sizes, then one chunk of what is left."""
    chunks, i = [], 0
    for n in chunk_sizes:
        if i >= x.shape[axis]:
            break
        chunks.append(np.take(x, range(i, min(i + n, x.shape[axis])), axis=axis))
        i += n
    if i < x.shape[axis]:
        chunks.append(np.take(x, range(i, x.shape[axis]), axis=axis))
    return chunks


def pushes(session, chunks) -> list:
    """Output 0 of each push of `chunks`, then of the flush."""
    return [session.push(c)[0] for c in chunks] + [session.flush()[0]]


def stream_through(pm, x, chunk_sizes, axis):
    outs = pushes(pm.session(pad_value=np.nan), chunks_of(x, chunk_sizes, axis))
    return np.concatenate(outs, axis=pm.output_streams[0].axis)


def assert_pushes_match(proto, x, pulse, chunk_sizes, stateful_ops, axis=2):
    """Interpreted and compiled sessions of `proto` (input "x", streaming along `axis`) get the
    same chunks of `x`; every push's new frames, past the delay, equal onnxruntime's whole-signal
    frames, and the two sessions equal each other on every frame, warm-up included. Each op
    named in `stateful_ops` is in the plan and runs compiled in the compiled session."""
    (want,) = ort_run(proto, {"x": x})
    sessions = [streaming.pulse(pulsar.load(proto, tier=tier), symbol="S", pulse=pulse).session(
        pad_value=np.nan) for tier in ("interpreted", "compiled")]
    rows = [(node.op.onnx_name, where) for node, where in sessions[1].plan.execution()
            if node.op.onnx_name in stateful_ops]
    assert {name for name, _ in rows} == set(stateful_ops)
    assert all(where == "compiled" for _, where in rows), rows
    chunks = chunks_of(x, chunk_sizes, axis)
    pm = sessions[0].model
    out_axis, delay, done = pm.output_streams[0].axis, pm.delay[0], 0
    with np.errstate(invalid="ignore"):         # the NaN tail meets matrix products
        outputs = [pushes(s, chunks) for s in sessions]
    for interpreted, compiled in zip(*outputs):
        assert interpreted.shape == compiled.shape
        np.testing.assert_allclose(compiled, interpreted, rtol=1e-4, atol=1e-4)
        frames = np.arange(done, done + interpreted.shape[out_axis])
        valid = frames[frames >= delay]
        for got in (interpreted, compiled):
            np.testing.assert_allclose(np.take(got, valid - done, axis=out_axis),
                                       np.take(want, valid - delay, axis=out_axis),
                                       rtol=1e-4, atol=1e-4)
        done += len(frames)
    assert done - delay == want.shape[out_axis]
