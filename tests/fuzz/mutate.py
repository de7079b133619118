"""Mutations of a serialized model, at the protobuf level and the byte level.

Every choice goes through a `draw` object (`RandomDraw` for campaigns, `HypothesisDraw` under
hypothesis, which can then shrink a failing case), so a case is reproducible from its seed.
"""
import random

import onnx

T = onnx.AttributeProto
EDGE_INTS = [0, 1, -1, 2, 3, 7, -2, 64, 2 ** 31 - 1, -2 ** 31, 2 ** 31, 2 ** 40, 2 ** 62,
             2 ** 63 - 1, -2 ** 63]
EDGE_FLOATS = [0.0, -1.0, 1e30, -1e30, float("inf"), float("nan"), 1e-30, 2.5]


class RandomDraw:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def int(self, lo, hi):
        return self.rng.randint(lo, hi)

    def choice(self, seq):
        return seq[self.int(0, len(seq) - 1)]


class HypothesisDraw:
    def __init__(self, data):
        from hypothesis import strategies as st
        self.data, self.st = data, st

    def int(self, lo, hi):
        return self.data.draw(self.st.integers(lo, hi))

    def choice(self, seq):
        return seq[self.int(0, len(seq) - 1)]


def mutate(raw: bytes, draw) -> tuple[bytes, list]:
    """The mutated bytes and a list of what was done (for the report)."""
    done = []
    for _ in range(draw.int(1, 3)):
        if draw.int(0, 4) == 0:
            raw = _bytes(raw, draw, done)
        else:
            model = onnx.ModelProto()
            try:
                model.ParseFromString(raw)
            except Exception:
                raw = _bytes(raw, draw, done)
                continue
            try:
                raw = _proto(model, raw, draw, done)
            except (ValueError, TypeError):    # a field protobuf will not set (non-UTF-8 text)
                done.append("skipped")
    return raw, done


def _bytes(raw, draw, done):
    if not raw:
        return raw
    kind = draw.choice(["flip", "truncate", "insert", "duplicate"])
    at = draw.int(0, len(raw) - 1)
    done.append(f"bytes:{kind}@{at}")
    if kind == "flip":
        return raw[:at] + bytes([raw[at] ^ (1 << draw.int(0, 7))]) + raw[at + 1:]
    if kind == "truncate":
        return raw[:at]
    if kind == "insert":
        return raw[:at] + bytes(draw.int(0, 255) for _ in range(draw.int(1, 8))) + raw[at:]
    end = min(len(raw), at + draw.int(1, 64))
    return raw[:end] + raw[at:end] + raw[end:]


def _nodes(graph):
    out = []
    for n in graph.node:
        out.append(n)
        for a in n.attribute:
            if a.type == T.GRAPH:
                out.extend(_nodes(a.g))
            for g in a.graphs:
                out.extend(_nodes(g))
    return out


def _tensors(model):
    ts = list(model.graph.initializer)
    for n in _nodes(model.graph):
        for a in n.attribute:
            if a.type == T.TENSOR:
                ts.append(a.t)
    return ts


def _proto(model, raw, draw, done):
    nodes = _nodes(model.graph)
    kinds = ["attr_type", "attr_value", "attr_drop", "attr_add", "dims", "dtype", "raw_data",
             "drop_input", "add_input", "empty_input", "input_dims", "opset", "non_utf8"]
    kind = draw.choice(kinds)
    done.append(f"proto:{kind}")
    attrs = [(n, a) for n in nodes for a in n.attribute]
    tensors = _tensors(model)
    if kind == "attr_type" and attrs:
        _, a = draw.choice(attrs)
        new = draw.choice([T.INT, T.INTS, T.FLOAT, T.FLOATS, T.STRING, T.TENSOR])
        value = draw.choice(EDGE_INTS)
        for field in ("i", "f", "s", "t", "g", "ints", "floats", "strings", "tensors", "graphs"):
            a.ClearField(field)
        a.type = new
        if new == T.INT:
            a.i = value
        elif new == T.INTS:
            a.ints.extend([value, draw.choice(EDGE_INTS)][:draw.int(0, 2)])
        elif new == T.FLOAT:
            a.f = draw.choice(EDGE_FLOATS)
        elif new == T.FLOATS:
            a.floats.extend([draw.choice(EDGE_FLOATS)])
        elif new == T.STRING:
            a.s = draw.choice([b"", b"x", b"NOTSET", b"\xff\xfe"])
        else:
            a.t.CopyFrom(onnx.helper.make_tensor("t", onnx.TensorProto.FLOAT, [1], [1.0]))
    elif kind == "attr_value" and attrs:
        _, a = draw.choice(attrs)
        if a.type == T.INT:
            a.i = draw.choice(EDGE_INTS)
        elif a.type == T.INTS and len(a.ints):
            a.ints[draw.int(0, len(a.ints) - 1)] = draw.choice(EDGE_INTS)
        elif a.type == T.INTS:
            a.ints.append(draw.choice(EDGE_INTS))
        elif a.type == T.FLOAT:
            a.f = draw.choice(EDGE_FLOATS)
        elif a.type == T.FLOATS and len(a.floats):
            a.floats[draw.int(0, len(a.floats) - 1)] = draw.choice(EDGE_FLOATS)
        elif a.type == T.STRING:
            a.s = draw.choice([b"", b"bogus", b"\xff"])
    elif kind == "attr_drop" and attrs:
        n, a = draw.choice(attrs)
        n.attribute.remove(a)
    elif kind == "attr_add" and nodes:
        n = draw.choice(nodes)
        name = draw.choice(["axis", "keepdims", "size", "kernel_shape", "pads", "bogus", "to"])
        if all(a.name != name for a in n.attribute):
            n.attribute.append(onnx.helper.make_attribute(name, draw.choice(EDGE_INTS)))
    elif kind == "dims" and tensors:
        t = draw.choice(tensors)
        if t.dims and draw.int(0, 2):
            t.dims[draw.int(0, len(t.dims) - 1)] = draw.choice(EDGE_INTS)
        elif t.dims and draw.int(0, 1):
            del t.dims[-1]
        else:
            t.dims.append(draw.choice(EDGE_INTS))
    elif kind == "dtype" and tensors:
        draw.choice(tensors).data_type = draw.int(0, 25)
    elif kind == "raw_data" and tensors:
        t = draw.choice(tensors)
        if t.raw_data:
            t.raw_data = t.raw_data[:draw.int(0, len(t.raw_data) - 1)]
        elif len(t.float_data):
            del t.float_data[-1]
        elif len(t.int64_data):
            del t.int64_data[-1]
    elif kind == "drop_input" and nodes:
        n = draw.choice(nodes)
        if len(n.input):
            del n.input[draw.int(0, len(n.input) - 1)]
    elif kind == "add_input" and nodes:
        n = draw.choice(nodes)
        wires = [w for m in nodes for w in list(m.input) + list(m.output) if w] or ["x"]
        n.input.append(draw.choice(wires + [""]))
    elif kind == "empty_input" and nodes:
        n = draw.choice(nodes)
        if len(n.input):
            n.input[draw.int(0, len(n.input) - 1)] = ""
    elif kind == "input_dims" and len(model.graph.input):
        vi = draw.choice(list(model.graph.input))
        if vi.type.HasField("tensor_type"):
            shape = vi.type.tensor_type.shape
            if len(shape.dim) and draw.int(0, 2):
                shape.dim[draw.int(0, len(shape.dim) - 1)].dim_value = draw.choice(EDGE_INTS)
            else:
                shape.dim.add().dim_value = draw.choice(EDGE_INTS)
    elif kind == "opset" and len(model.opset_import):
        model.opset_import[0].version = draw.choice([0, 1, 6, 9, 13, 18, 99, -1])
    elif kind == "non_utf8":
        out = model.SerializeToString()
        names = [n.name for n in nodes if n.name] + [w for n in nodes for w in n.input if w]
        names += [n.op_type for n in nodes]
        if names:
            name = draw.choice(names)
            name = name if isinstance(name, bytes) else name.encode()
            bad = name[:-1] + b"\xff"
            return out.replace(name, bad, 1)
        return out
    try:
        return model.SerializeToString()
    except Exception:           # e.g. a value out of a field's range: keep the bytes as they were
        done.append("unserializable")
        return raw
