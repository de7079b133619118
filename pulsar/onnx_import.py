"""ONNX file -> pulsar Graph: parse, read external data safely, build ops from the registry.

Annotated output/value_info shapes are exporter hints and are not trusted; only graph inputs
(overridable by the user) and initializers seed the facts. Unknown ops are collected across the
whole model, subgraphs included, and reported together.
"""
import os
import re
import stat

import numpy as np
import onnx
from onnx import numpy_helper
from google.protobuf.message import DecodeError

from . import budget, dims, dtypes, validate
from .errors import InferenceError, ModelLoadError, ResourceError, UnsupportedOpError
from .fact import Fact, SequenceFact, const
from .graph import Graph, Node, topological_order
from .ops import registry


class ImportContext:
    def __init__(self, opsets: dict, base_dir):
        self.opsets = opsets
        self.base_dir = base_dir
        self.missing = []
        self._fresh = 0

    def opset(self, domain: str) -> int:
        return self.opsets.get(registry.DOMAIN_ALIASES.get(domain, domain), 1)

    def fresh_symbol(self, hint: str) -> dims.Dim:
        self._fresh += 1
        budget.count_symbol(self._fresh)
        clean = re.sub(r"[^A-Za-z0-9_]", "_", hint).strip("_") or "d"
        return dims.sym(f"{clean}_{self._fresh}")


def read_model(source) -> tuple[onnx.ModelProto, object]:
    """ModelProto and its folder (for external data) from a path, bytes or a ModelProto."""
    if isinstance(source, onnx.ModelProto):
        return source, None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _parse(bytes(source), "<bytes>"), None
    if not isinstance(source, (str, os.PathLike)):
        raise ModelLoadError(f"cannot load a model from {type(source).__name__}: pass a path, "
                             "bytes or an onnx.ModelProto")
    path = os.fspath(source)
    data = read_regular_file(path, f"model {path!r}")
    return _parse(data, path), os.path.dirname(os.path.abspath(path))


def read_regular_file(path, what: str, offset: int = 0, length=None) -> bytes:
    """`length` bytes (default: to the end) at `offset` of the regular file `path`.

    FIFOs, devices and directories are refused before any read (a FIFO would block forever,
    /dev/zero would never end), and the range is checked against the file's size first."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError) as e:          # ValueError: a NUL byte in the path
        raise ModelLoadError(f"cannot read {what}: {getattr(e, 'strerror', None) or e}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ModelLoadError(f"cannot read {what}: not a regular file")
        size = st.st_size
        if length is None:
            length = size - offset
        if offset > size or offset + length > size:
            raise ModelLoadError(f"{what}: bytes {offset}..{offset + length} lie past the end of "
                                 f"the file ({size} bytes)")
        limit = budget.memory_budget()
        if length > limit:
            raise ResourceError(f"{what}: {length} bytes exceed the memory budget of {limit} "
                                "bytes (PULSAR_MEMORY_BUDGET)")
        with os.fdopen(fd, "rb", closefd=False) as f:
            f.seek(offset)
            data = f.read(length)
    except OSError as e:
        raise ModelLoadError(f"cannot read {what}: {e.strerror or e}") from e
    finally:
        os.close(fd)
    if len(data) != length:
        raise ModelLoadError(f"{what}: read {len(data)} bytes, expected {length} (file changed?)")
    return data


def _parse(data: bytes, where: str) -> onnx.ModelProto:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ModelLoadError(f"{where} is not a valid ONNX model (truncated or not ONNX): {e}") from e
    if not model.HasField("graph") or (not model.graph.node and not model.graph.output):
        raise ModelLoadError(f"{where} is not a valid ONNX model: it holds no graph")
    return model


def import_model(model: onnx.ModelProto, base_dir=None) -> Graph:
    validate.validate_model(model)
    opsets = {registry.DOMAIN_ALIASES.get(o.domain, o.domain): o.version for o in model.opset_import}
    opsets.setdefault("", 1 if not model.opset_import else opsets.get("", 1))
    ctx = ImportContext(opsets, base_dir)
    graph = import_graph(model.graph, ctx, outer=set(), top=True)
    if ctx.missing:
        raise UnsupportedOpError(ctx.missing)
    return graph


def import_graph(proto: onnx.GraphProto, ctx: ImportContext, outer: set, top=False) -> Graph:
    facts = {}
    for init in proto.initializer:
        facts[init.name] = const(_tensor(init, ctx))
    for sparse in proto.sparse_initializer:
        facts[sparse.values.name] = const(_sparse(sparse, ctx))
    inputs = []
    for vi in proto.input:
        if vi.name in facts:
            continue  # an initializer listed as input (old exporters): a constant, not a feed
        inputs.append(vi.name)
        facts[vi.name] = declared_fact(vi, ctx) if (top or _has_type(vi)) else None
    nodes = []
    defined = set(facts) | set(inputs)
    for i, np_ in enumerate(proto.node):
        node = _import_node(np_, i, ctx, defined | outer)
        if node is None:   # unsupported: reported after the walk; its outputs count as defined
            defined.update(w for w in np_.output if w)
            continue
        if isinstance(node, tuple):   # a folded Constant node
            facts[node[0]] = const(node[1])
            defined.add(node[0])
            continue
        nodes.append(node)
        defined.update(w for w in node.outputs if w)
    used = {w for n in nodes for w in list(n.inputs) + list(n.scope_inputs) if w}
    used |= {o.name for o in proto.output}
    outer_refs = sorted(w for w in used if w not in defined)
    if top and outer_refs:
        raise ModelLoadError(f"graph reads wires that nothing defines: {', '.join(outer_refs[:10])}")
    nodes = topological_order(nodes, set(defined))
    return Graph(proto.name or "main", inputs, [o.name for o in proto.output], nodes, facts, outer_refs)


def _has_type(vi) -> bool:
    kind = vi.type.WhichOneof("value")
    return kind is not None and (kind != "tensor_type" or vi.type.tensor_type.elem_type != 0)


def declared_fact(vi, ctx: ImportContext):
    """Fact of a declared input: dim_param -> symbol, missing/'?' dims -> fresh symbols."""
    if vi.type.HasField("optional_type") and vi.type.optional_type.elem_type.HasField("tensor_type"):
        inner = onnx.ValueInfoProto()
        inner.name = vi.name
        inner.type.CopyFrom(vi.type.optional_type.elem_type)
        fact = declared_fact(inner, ctx)
        return OptionalFact(fact.dtype, fact.shape)
    if vi.type.HasField("sequence_type") and vi.type.sequence_type.elem_type.HasField("tensor_type"):
        inner = onnx.ValueInfoProto()
        inner.name = vi.name
        inner.type.CopyFrom(vi.type.sequence_type.elem_type)
        ranked = inner.type.tensor_type.HasField("shape")
        element = declared_fact(inner, ctx) if ranked else None
        dtype = dtypes.from_onnx(inner.type.tensor_type.elem_type)
        return SequenceFact(dtype, element.shape if ranked else (),
                            length=ctx.fresh_symbol(f"{vi.name}_len"), ranked=ranked)
    if not vi.type.HasField("tensor_type"):
        raise ModelLoadError(f"input {vi.name!r}: only tensor inputs are supported "
                             f"(got {vi.type.WhichOneof('value')})")
    tt = vi.type.tensor_type
    dtype = dtypes.from_onnx(tt.elem_type)
    if not tt.HasField("shape"):
        return UnrankedFact(dtype, ())
    shape = []
    for axis, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value") and d.dim_value >= 0:
            shape.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param and d.dim_param != "?":
            shape.append(dims.sym(d.dim_param))
        else:
            shape.append(ctx.fresh_symbol(f"{vi.name}_{axis}"))
    return Fact(dtype, tuple(shape))


class OptionalFact(Fact):
    """An optional tensor input: the caller may pass None (an empty optional)."""


class UnrankedFact(Fact):
    """An input declared without a shape: analysis needs an override or the first run's shape."""


def _import_node(proto, index, ctx, visible):
    name = proto.name or f"{proto.op_type}_{index}"
    if proto.op_type == "Constant" and proto.domain in ("", "ai.onnx"):
        return proto.output[0], _constant_value(proto, name, ctx)
    opset = ctx.opset(proto.domain)
    cls = registry.lookup(proto.domain, proto.op_type, opset)
    attrs, scope_inputs = {}, set()
    for a in proto.attribute:
        value = _attribute(a, ctx, visible | set(proto.input))
        attrs[a.name] = value
        for g in (value if isinstance(value, list) else [value]):
            if isinstance(g, Graph):
                scope_inputs.update(g.outer_refs)
    if cls is None:
        ctx.missing.append((name, proto.domain, proto.op_type, opset))
        return None
    ctx.n_outputs = len(proto.output)   # some ops (Split without sizes) need their arity
    try:
        op = cls.from_onnx(attrs, ctx)
    except InferenceError as e:
        raise InferenceError(f"node {name!r} ({proto.op_type}): {e}") from e
    return Node(name, op, list(proto.input), list(proto.output), sorted(scope_inputs))


def _constant_value(proto, name, ctx):
    for a in proto.attribute:
        if a.name == "value":
            return _tensor(a.t, ctx)
        if a.name == "sparse_value":
            return _sparse(a.sparse_tensor, ctx)
        if a.name == "value_float":
            return np.array(a.f, dtype=np.float32)
        if a.name == "value_floats":
            return np.array(list(a.floats), dtype=np.float32)
        if a.name == "value_int":
            return np.array(a.i, dtype=np.int64)
        if a.name == "value_ints":
            return np.array(list(a.ints), dtype=np.int64)
        if a.name == "value_string":
            return np.array(a.s.decode("utf-8"), dtype=object)
        if a.name == "value_strings":
            return np.array([s.decode("utf-8") for s in a.strings], dtype=object)
    raise ModelLoadError(f"Constant node {name!r} has no value attribute")


def _attribute(a, ctx, visible):
    T = onnx.AttributeProto
    if a.type == T.FLOAT:
        return float(a.f)
    if a.type == T.INT:
        return int(a.i)
    if a.type == T.STRING:
        return _text(a.s)
    if a.type == T.TENSOR:
        return _tensor(a.t, ctx)
    if a.type == T.SPARSE_TENSOR:
        return _sparse(a.sparse_tensor, ctx)
    if a.type == T.GRAPH:
        return import_graph(a.g, ctx, visible)
    if a.type == T.FLOATS:
        return tuple(float(v) for v in a.floats)
    if a.type == T.INTS:
        return tuple(int(v) for v in a.ints)
    if a.type == T.STRINGS:
        return tuple(_text(s) for s in a.strings)
    if a.type == T.TENSORS:
        return [_tensor(t, ctx) for t in a.tensors]
    if a.type == T.GRAPHS:
        return [import_graph(g, ctx, visible) for g in a.graphs]
    if a.type == T.TYPE_PROTO:
        return a.tp
    raise ModelLoadError(f"attribute {a.name!r} has an unsupported type {a.type}")


def _text(b: bytes):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b


def _tensor(t, ctx) -> np.ndarray:
    if t.data_location == onnx.TensorProto.EXTERNAL:
        t = _with_external_data(t, ctx)
        validate.tensor(t, f"tensor {t.name!r} (external data)")
    try:
        arr = numpy_helper.to_array(t)
    except (ValueError, TypeError, KeyError, IndexError, NotImplementedError) as e:
        raise ModelLoadError(f"tensor {t.name!r}: cannot convert its data "
                             f"({type(e).__name__}: {e})") from e
    if arr.dtype.kind in "SU":
        arr = arr.astype(object)
    return arr


def _sparse(st, ctx) -> np.ndarray:
    values = _tensor(st.values, ctx)
    indices = _tensor(st.indices, ctx).astype(np.int64)
    shape = tuple(st.dims)
    size = int(np.prod(shape, dtype=object))
    limits = np.array([size]) if indices.ndim == 1 else np.array(shape, dtype=np.int64)
    if indices.size and ((indices < 0).any() or (indices >= limits).any()):
        raise ModelLoadError(f"sparse tensor {st.values.name!r}: indices out of range for dims "
                             f"{list(shape)}")
    dense = np.zeros(shape, dtype=values.dtype)
    if indices.ndim == 1:
        dense.reshape(-1)[indices] = values
    else:
        dense[tuple(indices.T)] = values
    return dense


def _with_external_data(t, ctx):
    info = {e.key: e.value for e in t.external_data}
    where = info.get("location", "")
    if not where or "\x00" in where:
        raise ModelLoadError(f"tensor {t.name!r}: malformed external data location {where!r}")
    if ctx.base_dir is None:
        raise ModelLoadError(f"tensor {t.name!r} uses external data {where!r}, but the model was "
                             "not loaded from a file: load it from its path")
    base = os.path.realpath(ctx.base_dir)
    path = os.path.realpath(os.path.join(base, where))
    if os.path.isabs(where) or os.path.commonpath([base, path]) != base:
        raise ModelLoadError(f"tensor {t.name!r}: external data location {where!r} escapes the "
                             f"model's folder {base!r}; refusing to read it")
    offset = _byte_count(info.get("offset", "0"), "offset", t.name)
    length = info.get("length")
    length = None if length is None else _byte_count(length, "length", t.name)
    raw = read_regular_file(path, f"external data {where!r} of tensor {t.name!r}", offset, length)
    copy = onnx.TensorProto()
    copy.CopyFrom(t)
    del copy.external_data[:]
    copy.data_location = onnx.TensorProto.DEFAULT
    copy.raw_data = raw
    return copy


def _byte_count(text: str, key: str, tensor: str) -> int:
    """A non-negative decimal integer, as external data's offset and length must be."""
    if not (isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 19):
        raise ModelLoadError(f"tensor {tensor!r}: external data {key} {text!r} is not a "
                             "non-negative integer")
    return int(text)
