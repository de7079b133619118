"""Numba lowering of kernels/views.py: the view is filled in from the shape, nothing checked.

Registered once, before the first kernel compiles (kernels/jit.py `_prepare_numba`). Lowered
inline rather than as jitted helpers, so no view costs a compiled function of its own.

Array structs are Numba's cached struct proxies (`_struct`), not `make_array`'s: that one
defines a class and looks up an `__array__` implementation, which fails, on every call, and a
plan segment lowers hundreds of views (a third of a second of the openWakeWord pipeline's
cold compile went there).
"""
from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed, lower_builtin
from numba.extending import type_callable
from numba.np.arrayobj import make_array, populate_array

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


def _struct(array_type, context, builder, value=None):
    """The struct proxy of a plain array (what `make_array` gives, without its lookups)."""
    if type(array_type) is not types.Array:
        return make_array(array_type)(context, builder, value)
    return cgutils.create_struct_proxy(array_type)(context, builder, value)


def _dims(context, builder, shape_type, shape):
    return [v if t == types.intp else context.cast(builder, v, t, types.intp)
            for v, t in zip(cgutils.unpack_tuple(builder, shape), shape_type)]


def _view(context, builder, result_type, source, data, dims):
    out = _struct(result_type, context, builder)
    strides, stride = [], source.itemsize
    for d in reversed(dims):
        strides.append(stride)
        stride = builder.mul(stride, d)
    populate_array(out, data=data, shape=dims, strides=strides[::-1], itemsize=source.itemsize,
                   meminfo=source.meminfo, parent=source.parent)
    return impl_ret_borrowed(context, builder, result_type, out._getvalue())


@lower_builtin(views.arena_view, types.Array, types.Integer, types.BaseTuple)
def _lower_arena_view(context, builder, sig, args):
    arena_type, start_type, shape_type = sig.args
    arena = _struct(arena_type, context, builder, args[0])
    start = context.cast(builder, args[1], start_type, types.intp)
    data = builder.gep(arena.data, [start])
    return _view(context, builder, sig.return_type, arena, data,
                 _dims(context, builder, shape_type, args[2]))


@lower_builtin(views.c_view, types.Array, types.BaseTuple)
def _lower_c_view(context, builder, sig, args):
    a_type, shape_type = sig.args
    dims = _dims(context, builder, shape_type, args[1])
    if a_type.layout == "C":
        a = _struct(a_type, context, builder, args[0])
        return _view(context, builder, sig.return_type, a, a.data, dims)
    import numpy as np
    c_type = a_type.copy(layout="C")
    copied = context.compile_internal(builder, lambda x: np.ascontiguousarray(x),
                                      c_type(a_type), [args[0]])
    a = _struct(c_type, context, builder, copied)
    result = _view(context, builder, sig.return_type, a, a.data, dims)
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
    a = _struct(a_type, context, builder, args[0])
    perm = _dims(context, builder, perm_type, args[1])
    intp = context.get_value_type(types.intp)

    def permuted(values):
        slots = cgutils.alloca_once(builder, intp, size=len(values))
        for i, v in enumerate(values):
            builder.store(v, builder.gep(slots, [context.get_constant(types.intp, i)]))
        return [builder.load(builder.gep(slots, [p])) for p in perm]
    out = _struct(sig.return_type, context, builder)
    populate_array(out, data=a.data, shape=permuted(cgutils.unpack_tuple(builder, a.shape)),
                   strides=permuted(cgutils.unpack_tuple(builder, a.strides)),
                   itemsize=a.itemsize, meminfo=a.meminfo, parent=a.parent)
    return impl_ret_borrowed(context, builder, sig.return_type, out._getvalue())
