"""Check a model against the ONNX operator schemas once, before anything reads it.

Ops trust their attributes and input counts; a mutated or hand-made file breaks that trust in
ways each op would otherwise have to guard against. Everything the schemas (`onnx.defs`) state
generically is checked here, recursively into subgraphs: input/output counts, empty names on
required inputs, required/unknown attributes and their types, 0/1 flags, positive sizes, tensor
dims/dtype/data agreement and text that is not UTF-8. Each violation is a `ModelLoadError`
naming the node, its op and the input or attribute at fault. Ops onnx.defs does not know
(custom domains) pass through to the registry, which reports them as unsupported.
"""
import onnx
from onnx import defs

from .errors import ModelLoadError

T = onnx.TensorProto
A = onnx.AttributeProto

# INT attributes that are flags in every op that has them (schemas say so only in prose).
FLAGS = {"keepdims", "transA", "transB", "noop_with_empty_axes", "select_last_index", "ceil_mode",
         "count_include_pad", "exclusive", "reverse", "upper", "largest", "sorted",
         "detect_positive", "detect_negative", "onesided", "inverse", "normalized",
         "is_case_sensitive", "fmod", "linear_before_reset", "input_forget", "allowzero",
         "training_mode", "new_axis", "center_point_box", "saturate", "storage_order", "layout",
         "cubic_coeff_a_is_flag_never", "interleaved", "is_causal"}
POSITIVE = {"kernel_shape", "strides", "dilations", "size", "group", "blocksize",
            "output_height", "output_width"}
NON_NEGATIVE = {"pads", "output_padding"}          # Pad's own `pads` (opset < 11) may be negative
MAX_ELEMENTS = 1 << 40          # a tensor's declared element count; real data is far smaller

# bytes per element of raw_data, and (typed field, values per element) for the other encoding
_RAW = {T.FLOAT: 4, T.UINT8: 1, T.INT8: 1, T.UINT16: 2, T.INT16: 2, T.INT32: 4, T.INT64: 8,
        T.BOOL: 1, T.FLOAT16: 2, T.DOUBLE: 8, T.UINT32: 4, T.UINT64: 8, T.COMPLEX64: 8,
        T.COMPLEX128: 16, T.BFLOAT16: 2}
_FIELD = {T.FLOAT: ("float_data", 1), T.COMPLEX64: ("float_data", 2), T.DOUBLE: ("double_data", 1),
          T.COMPLEX128: ("double_data", 2), T.INT64: ("int64_data", 1), T.UINT32: ("uint64_data", 1),
          T.UINT64: ("uint64_data", 1), T.STRING: ("string_data", 1)}
for _name in ("FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "FLOAT8E8M0"):
    if hasattr(T, _name):
        _RAW[getattr(T, _name)] = 1
_HALF_BYTE = {getattr(T, n) for n in ("INT4", "UINT4", "FLOAT4E2M1", "INT2", "UINT2") if hasattr(T, n)}


def validate_model(model: onnx.ModelProto) -> None:
    opsets = {}
    for o in model.opset_import:
        domain = _text(o.domain, "an opset domain")
        if o.version < 1:
            raise ModelLoadError(f"opset {domain or 'ai.onnx'} has version {o.version}")
        opsets["" if domain == "ai.onnx" else domain] = o.version
    opsets.setdefault("", 1)
    _graph(model.graph, opsets, "main graph")


def _graph(g, opsets, where):
    for kind, infos in (("input", g.input), ("output", g.output), ("value_info", g.value_info)):
        for vi in infos:
            _text(vi.name, f"{where}: a graph {kind} name")
    for t in g.initializer:
        tensor(t, f"{where}: initializer {_text(t.name, 'an initializer name')!r}")
    for st in g.sparse_initializer:
        sparse(st, f"{where}: sparse initializer")
    for i, node in enumerate(g.node):
        _node(node, i, opsets, where)


def _node(node, index, opsets, where):
    op = _text(node.op_type, f"{where}: node {index}'s op type")
    name = _text(node.name, f"{where}: node {index}'s name") or f"{op}_{index}"
    domain = _text(node.domain, f"node {name!r} ({op}): domain")
    at = f"node {name!r} ({op})" + ("" if where == "main graph" else f" in {where}")
    inputs = [_text(w, f"{at}: input {k}") for k, w in enumerate(node.input)]
    for k, w in enumerate(node.output):
        _text(w, f"{at}: output {k}")
    attrs = {}
    for a in node.attribute:
        key = _text(a.name, f"{at}: an attribute name")
        if key in attrs:
            raise ModelLoadError(f"{at}: attribute {key!r} is given twice")
        attrs[key] = a
    schema = _schema(op, domain, opsets)
    if schema is not None:
        _counts(schema, inputs, len(node.output), at)
        _attributes(schema, attrs, op, at)
    for key, a in attrs.items():
        _attribute_values(a, key, opsets, at)


def _schema(op, domain, opsets):
    domain = "" if domain == "ai.onnx" else domain
    if domain not in opsets and domain != "":
        return None
    try:
        return defs.get_schema(op, max_inclusive_version=opsets.get(domain, 1), domain=domain)
    except defs.SchemaError:
        return None


def _counts(schema, inputs, n_outputs, at):
    n = len(inputs)
    if not schema.min_input <= n <= schema.max_input:
        raise ModelLoadError(f"{at}: {n} input(s) given, the operator takes "
                             f"{_range(schema.min_input, schema.max_input)}")
    if not schema.min_output <= n_outputs <= schema.max_output:
        raise ModelLoadError(f"{at}: {n_outputs} output(s) given, the operator has "
                             f"{_range(schema.min_output, schema.max_output)}")
    formal = schema.inputs
    Optional = defs.OpSchema.FormalParameterOption.Optional
    for k, w in enumerate(inputs):
        param = formal[min(k, len(formal) - 1)] if formal else None
        if not w and param is not None and param.option != Optional:
            raise ModelLoadError(f"{at}: required input {k} ({param.name}) has an empty name")


def _range(lo, hi):
    if hi >= 2 ** 31 - 1:
        return f"at least {lo}"
    return f"{lo}" if lo == hi else f"{lo} to {hi}"


def _attributes(schema, attrs, op, at):
    declared = schema.attributes
    for key, a in attrs.items():
        if key not in declared:
            raise ModelLoadError(f"{at}: unknown attribute {key!r} (the operator's attributes are "
                                 f"{', '.join(sorted(declared)) or 'none'})")
        want = int(declared[key].type)
        if a.ref_attr_name:
            continue                    # bound by an enclosing function
        if a.type != want:
            raise ModelLoadError(f"{at}: attribute {key!r} is {_type_name(a.type)}, the operator "
                                 f"expects {_type_name(want)}")
        if want == A.INT and key in FLAGS and a.i not in (0, 1):
            raise ModelLoadError(f"{at}: attribute {key!r} is a flag (0 or 1), got {a.i}")
        values = [a.i] if want == A.INT else list(a.ints) if want == A.INTS else []
        if key in POSITIVE and any(v < 1 for v in values):
            raise ModelLoadError(f"{at}: attribute {key!r} must be positive, got {values}")
        if key in NON_NEGATIVE and op != "Pad" and any(v < 0 for v in values):
            raise ModelLoadError(f"{at}: attribute {key!r} must be non-negative, got {values}")
    for key, attr in declared.items():
        if attr.required and key not in attrs:
            raise ModelLoadError(f"{at}: required attribute {key!r} is missing")


def _attribute_values(a, key, opsets, at):
    where = f"{at}: attribute {key!r}"
    if a.type == A.STRING:
        _text(a.s, where, raw=True)
    elif a.type == A.STRINGS:
        for s in a.strings:
            _text(s, where, raw=True)
    elif a.type == A.TENSOR:
        tensor(a.t, where)
    elif a.type == A.TENSORS:
        for t in a.tensors:
            tensor(t, where)
    elif a.type == A.SPARSE_TENSOR:
        sparse(a.sparse_tensor, where)
    elif a.type == A.GRAPH:
        _graph(a.g, opsets, f"{where} (subgraph)")
    elif a.type == A.GRAPHS:
        for g in a.graphs:
            _graph(g, opsets, f"{where} (subgraph)")


def tensor(t, where, check_data=True) -> int:
    """Element count of `t` after checking that its dims, dtype and data agree."""
    _text(t.name, f"{where}: tensor name")
    if t.data_type == T.UNDEFINED or t.data_type not in T.DataType.values():
        raise ModelLoadError(f"{where}: tensor has an unknown data type {t.data_type}")
    n = 1
    for d in t.dims:
        if d < 0:
            raise ModelLoadError(f"{where}: tensor has a negative dimension {list(t.dims)}")
        n *= d
        if n > MAX_ELEMENTS:
            raise ModelLoadError(f"{where}: tensor dims {list(t.dims)} declare more than "
                                 f"{MAX_ELEMENTS} elements")
    if t.data_location == T.EXTERNAL:
        for e in t.external_data:
            _text(e.key, f"{where}: external data key")
            _text(e.value, f"{where}: external data {e.key!r}")
        return n                        # checked again once read (onnx_import)
    if t.HasField("segment"):
        raise ModelLoadError(f"{where}: segmented tensors are not supported")
    if check_data:
        _data_size(t, n, where)
    return n


def _data_size(t, n, where):
    dtype = T.DataType.Name(t.data_type)
    if t.data_type in _HALF_BYTE:
        raw, count = (n + 1) // 2, ("int32_data", (n + 1) // 2)
    elif t.data_type == T.STRING:
        raw, count = None, ("string_data", n)
    elif t.data_type not in _RAW:
        return                          # a type pulsar cannot hold: refused when converted
    else:
        field, per = _FIELD.get(t.data_type, ("int32_data", 1))
        raw, count = n * _RAW[t.data_type], (field, n * per)
    if t.raw_data:
        if raw is None:
            raise ModelLoadError(f"{where}: a {dtype} tensor cannot hold raw_data")
        if len(t.raw_data) != raw:
            raise ModelLoadError(f"{where}: {dtype} tensor of dims {list(t.dims)} needs {raw} bytes "
                                 f"of raw_data, has {len(t.raw_data)}")
        return
    field, want = count
    have = len(getattr(t, field))
    if have != want:
        raise ModelLoadError(f"{where}: {dtype} tensor of dims {list(t.dims)} needs {want} values "
                             f"in {field}, has {have}")
    if t.data_type == T.STRING:
        for s in t.string_data:
            _text(s, f"{where}: string element", raw=True)


def sparse(st, where):
    nnz = tensor(st.values, f"{where}: sparse values")
    tensor(st.indices, f"{where}: sparse indices")
    if any(d < 0 for d in st.dims):
        raise ModelLoadError(f"{where}: sparse tensor has a negative dimension {list(st.dims)}")
    if len(st.values.dims) != 1:
        raise ModelLoadError(f"{where}: sparse values must be 1-D, got dims {list(st.values.dims)}")
    idims = list(st.indices.dims)
    if st.indices.data_type != T.INT64 or not (idims == [nnz] or idims == [nnz, len(st.dims)]):
        raise ModelLoadError(f"{where}: sparse indices must be int64 of shape [{nnz}] or "
                             f"[{nnz}, {len(st.dims)}], got {T.DataType.Name(st.indices.data_type)}"
                             f"{idims}")


def _text(value, where, raw=False) -> str:
    """`value` as text: protobuf hands back bytes for a string field that is not UTF-8."""
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelLoadError(f"{where} is not valid UTF-8: {value[:40]!r}") from None
        return text if raw else _text(text, where)
    if "\x00" in value and not raw:
        raise ModelLoadError(f"{where} contains a NUL byte: {value[:40]!r}")
    return value


def _type_name(t) -> str:
    try:
        return A.AttributeType.Name(t)
    except ValueError:
        return f"type {t}"
