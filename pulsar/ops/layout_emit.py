"""Data movement in compiled plans: what Concat, Slice, Split, Pad, Gather, Tile, Expand and
Where share when they write themselves out (pulsar/emit.py).

These ops copy and never compute, so their lines copy slices (through `e.copy`, a kernel call)
whose bounds are integers fixed at emit time from static facts (the generated code cannot index
out of range), or loop over a precomputed flat index map where the copy is not a slice (reflect
padding). The streaming ops (Delay, PulsePad) call their own kernels (kernels/delay.py, pulse.py).
Outputs are always fresh buffers, never views of an input: a view would be an output aliasing
a wire whose buffer the next call rewrites.
"""
import numpy as np

from ..emit import COMPILED_DTYPES
from .conv_emit import literal


def movable(*facts) -> bool:
    """Facts whose arrays compiled code can hold (absent optional wires are None: skipped)."""
    return all(f is None or f.dtype in COMPILED_DTYPES for f in facts)


def constant_ints(value):
    """A constant int input as a list of ints, or None when it is unknown or symbolic."""
    if value is None:
        return None
    value = np.asarray(value)
    if value.dtype.kind not in "iu":
        return None
    return [int(v) for v in value.reshape(-1)]


def along(axis: int, rank: int, index: str) -> str:
    """Index text selecting `index` ('a:b', 'i', ...) on `axis` and everything elsewhere."""
    parts = [":"] * rank
    parts[axis] = index
    return ", ".join(parts)


def span(start: int, stop: int, step: int = 1) -> str:
    """Slice text for Python's normalised (start, stop, step) (see `slice.indices`): a
    negative stop there means 'before index 0', which slice text can only say by omitting it."""
    stop_text = "" if stop < 0 else str(stop)
    return f"{start}:{stop_text}" if step == 1 else f"{start}:{stop_text}:{step}"


def scalar(value, dtype) -> str:
    """`value` as a scalar of `dtype` in generated code: a fill must not change an array's
    type (Numba types a bare 0.5 as float64)."""
    dtype = np.dtype(dtype)
    if dtype == np.dtype(bool):
        return "True" if value else "False"
    number = float(value) if dtype.kind == "f" else int(value)
    return f"np.{dtype.name}({literal(number)})"


def frames3(shape, axis: int) -> tuple:
    """(outer, frames, inner): the shape of a C-contiguous array viewed around `axis`."""
    return (int(np.prod(shape[:axis], dtype=np.int64)), int(shape[axis]),
            int(np.prod(shape[axis + 1:], dtype=np.int64)))


def view3(e, var: str, shape, axis: int, contiguous: bool = False) -> str:
    """A new variable: `var` viewed as (outer, frames, inner) around `axis`. Inputs are made
    contiguous first (a copy only when they are not); buffers and state already are."""
    name = e.fresh("f")
    e.line(f"{name} = {e.view(var, frames3(shape, axis))}")
    return name


def copy_by_map(e, x: str, index_map) -> str:
    """Output 0 with out.flat[k] = x.flat[index_map.flat[k]]; returns the output variable."""
    out = e.buffer(0)
    flat_map = e.arg(np.ascontiguousarray(index_map, dtype=np.int64).reshape(-1), "m")
    xf, of, k = e.fresh("xf"), e.fresh("of"), e.fresh("k")
    e.line(f"{xf} = {e.view(x, (int(np.prod(e.in_facts[0].shape)),))}")
    e.line(f"{of} = {e.view(out, (int(np.prod(e.out_facts[0].shape)),))}")
    e.line(f"for {k} in range({flat_map}.size):")
    e.line(f"    {of}[{k}] = {xf}[{flat_map}[{k}]]")
    return out


def emit_expand(e) -> bool:
    """Expand: the input broadcast to the output's static shape."""
    x, out = e.in_facts[0], e.out_facts[0]
    if out.rank == 0 or not movable(x):
        return False
    buf = e.buffer(0)
    if all(out.shape):
        e.copy(buf, f"np.broadcast_to({e.ins[0]}, {tuple(out.shape)})")
    return True


def emit_where(e) -> bool:
    """Where: NumPy's where over the three inputs broadcast to the output's static shape."""
    out = e.out_facts[0]
    if out.rank == 0 or not movable(*e.in_facts) or len(e.ins) != 3:
        return False
    buf = e.buffer(0)
    if all(out.shape):
        cond, a, b = (f"np.broadcast_to({x}, {tuple(out.shape)})" for x in e.ins)
        e.copy(buf, f"np.where({cond}, {a}, {b})")
    return True
