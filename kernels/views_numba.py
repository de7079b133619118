"""Numba lowering of kernels/views.py: the view is filled in from the shape, nothing checked.

Registered once, before the first kernel compiles (kernels/jit.py `_prepare_numba`). Lowered
inline rather than as jitted helpers, so no view costs a compiled function of its own.

Arrays are read and made as SSA values (`_field`, `_array`: extractvalue, insertvalue), not
through Numba's struct proxies: a proxy is a stack slot, filled field by field, which LLVM's
SROA then takes apart again (a plan segment lowers hundreds of views; the embedding model's
segment spent more time in SROA than in any other pre-link pass), and `make_array`'s proxy
also defines a class and fails an `__array__` lookup on every call.
"""
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed, lower_builtin
from numba.extending import type_callable

from . import views


def _shape_type(shape):
    if isinstance(shape, types.BaseTuple) and all(isinstance(t, types.Integer) for t in shape):
        return len(shape)
    return None


@type_callable(views.arena_view)
def _type_arena_view(context):
    def typer(arena, start, shape):
        n = _shape_type(shape)
        if isinstance(arena, types.Array) and arena.ndim == 1 and arena.layout == "C" \
                and isinstance(start, types.Integer) and n is not None:
            return arena.copy(ndim=n, layout="C")
    return typer


@type_callable(views.c_view)
def _type_c_view(context):
    def typer(a, shape):
        n = _shape_type(shape)
        if isinstance(a, types.Array) and n is not None:
            return a.copy(ndim=n, layout="C")
    return typer


def _field(context, builder, array_type, value, name):
    """Field `name` (data, shape, strides, itemsize, meminfo, parent) of an array value."""
    model = context.data_model_manager[array_type]
    return builder.extract_value(value, model.get_field_position(name))


def _array(context, builder, array_type, **fields):
    """An array value of `array_type` from all its fields (shape and strides as lists)."""
    model = context.data_model_manager[array_type]
    intp = context.get_value_type(types.intp)
    nitems = context.get_constant(types.intp, 1)
    for d in fields["shape"]:
        nitems = builder.mul(nitems, d, flags=["nsw"])
    fields.update(nitems=nitems, shape=cgutils.pack_array(builder, fields["shape"], intp),
                  strides=cgutils.pack_array(builder, fields["strides"], intp))
    value = ir.Constant(model.get_value_type(), ir.Undefined)
    for name, v in fields.items():
        value = builder.insert_value(value, v, model.get_field_position(name))
    return value


def _dims(context, builder, shape_type, shape):
    return [v if t == types.intp else context.cast(builder, v, t, types.intp)
            for v, t in zip(cgutils.unpack_tuple(builder, shape), shape_type)]


def _view(context, builder, result_type, source_type, source, data, dims):
    """The C-ordered `dims` view at `data` of the array value `source` (its memory owner)."""
    itemsize = _field(context, builder, source_type, source, "itemsize")
    strides, stride = [], itemsize
    for d in reversed(dims):
        strides.append(stride)
        stride = builder.mul(stride, d)
    out = _array(context, builder, result_type, data=data, shape=dims, strides=strides[::-1],
                 itemsize=itemsize,
                 meminfo=_field(context, builder, source_type, source, "meminfo"),
                 parent=_field(context, builder, source_type, source, "parent"))
    return impl_ret_borrowed(context, builder, result_type, out)


@lower_builtin(views.arena_view, types.Array, types.Integer, types.BaseTuple)
def _lower_arena_view(context, builder, sig, args):
    arena_type, start_type, shape_type = sig.args
    start = context.cast(builder, args[1], start_type, types.intp)
    data = builder.gep(_field(context, builder, arena_type, args[0], "data"), [start])
    return _view(context, builder, sig.return_type, arena_type, args[0], data,
                 _dims(context, builder, shape_type, args[2]))


@lower_builtin(views.c_view, types.Array, types.BaseTuple)
def _lower_c_view(context, builder, sig, args):
    a_type, shape_type = sig.args
    dims = _dims(context, builder, shape_type, args[1])
    if a_type.layout == "C":
        data = _field(context, builder, a_type, args[0], "data")
        return _view(context, builder, sig.return_type, a_type, args[0], data, dims)
    import numpy as np
    c_type = a_type.copy(layout="C")
    copied = context.compile_internal(builder, lambda x: np.ascontiguousarray(x),
                                      c_type(a_type), [args[0]])
    data = _field(context, builder, c_type, copied, "data")
    result = _view(context, builder, sig.return_type, c_type, copied, data, dims)
    context.nrt.decref(builder, c_type, copied)
    return result


@type_callable(views.transposed)
def _type_transposed(context):
    def typer(a, perm):
        if isinstance(a, types.Array) and _shape_type(perm) == a.ndim:
            return a.copy(layout="A")
    return typer


@lower_builtin(views.transposed, types.Array, types.BaseTuple)
def _lower_transposed(context, builder, sig, args):
    a_type, perm_type = sig.args
    a = args[0]
    perm = _dims(context, builder, perm_type, args[1])
    intp = context.get_value_type(types.intp)

    def permuted(name):
        values = cgutils.unpack_tuple(builder, _field(context, builder, a_type, a, name))
        slots = cgutils.alloca_once(builder, intp, size=len(values))
        for i, v in enumerate(values):
            builder.store(v, builder.gep(slots, [context.get_constant(types.intp, i)]))
        return [builder.load(builder.gep(slots, [p])) for p in perm]
    out = _array(context, builder, sig.return_type, shape=permuted("shape"),
                 strides=permuted("strides"),
                 **{name: _field(context, builder, a_type, a, name)
                    for name in ("data", "itemsize", "meminfo", "parent")})
    return impl_ret_borrowed(context, builder, sig.return_type, out)
