"""LSTM, GRU and RNN in compiled plans: the interpreter's whole-sequence kernels, one call per
direction, writing straight into the output buffers.

A node compiles when X is float32 / float64 (float16 runs through float32 copies in `eval`),
sequence_lens is absent or constant (the kernels index with it, so it is checked here), and the
shapes pass the same check `eval` makes: the kernels index without bounds checks. Constant
weights are prepared once, as `eval` caches them, and bound as arguments; fed weights are
copied each run. initial_h / initial_c may be any wire (a graph input when a model carries its
state explicitly). The streaming Recurrence wrapper reuses `emit_steps` on its state arrays.
"""
import numpy as np

from ..errors import PulsarError
from .base import fail
from .conv_emit import literal

COMPUTE = {np.dtype(np.float32), np.dtype(np.float64)}
WEIGHTS = (1, 2, 3, 7)      # W, R, B, P (LSTM)


def sequence_lengths(lens, seq, batch) -> np.ndarray:
    """sequence_lens as the kernels need it: int32 [B] within [0, seq] (they index with it);
    `eval` and `prepare` both check it here."""
    if lens is None:
        return np.full(batch, seq, np.int32)
    lens = np.asarray(lens)
    if lens.dtype.kind not in "iu" or (lens.size and (lens.min() < 0 or lens.max() > seq)):
        fail(f"sequence_lens must hold integers in [0, {seq}], got {lens.tolist()}")
    return np.ascontiguousarray(lens, dtype=np.int32)


def prepare(op, e, lens=None):
    """(batch, hidden, weight names per direction, lens) when the node can run compiled, else
    None. `lens` replaces sequence_lens (the streaming wrapper runs every row whole)."""
    names = op.input_names
    x = e.in_facts[0]
    if x is None or x.dtype not in COMPUTE or len(e.ins) > len(names):
        return None
    facts = list(e.in_facts) + [None] * (len(names) - len(e.in_facts))
    args = [e.const(i) for i in range(len(names))]
    if facts[4] is not None and args[4] is None:   # the kernels index with it: check it here
        return None
    try:
        seq, batch, hidden = op.check_shapes([None if f is None else f.shape for f in facts])
        lens = sequence_lengths(args[4], seq, batch) if lens is None else lens
    except PulsarError:
        return None
    if all(args[i] is not None for i in WEIGHTS if i < len(facts) and facts[i] is not None):
        weights = [[e.constant(a) for a in direction]
                   for direction in op._weights(args, hidden, x.dtype)]
    else:
        weights = runtime_weights(op, e, facts, hidden, x.dtype)
    return batch, hidden, weights, lens


def runtime_weights(op, e, facts, hidden, dtype) -> list:
    """Weight names per direction when weights are computed or fed: W and R copied each run
    into Fortran-ordered buffers (the kernels' fast path, as `_weights` prepares them)."""
    g = op.gates * hidden
    zeros = e.constant(np.zeros(max(g, 3 * hidden), dtype))
    weights = []
    for k in range(op.n_dirs):
        w, r = (fortran_copy(e, e.ins[i], k, facts[i].shape[1:], dtype) for i in (1, 2))
        b = e.ins[3] if facts[3] is not None else None
        direction = [w, r] + ([f"{b}[{k}, :{g}]", f"{b}[{k}, {g}:]"] if b else
                              [f"{zeros}[:{g}]"] * 2)
        if "P" in op.input_names:
            direction.append(f"{e.ins[7]}[{k}]" if facts[7] is not None else
                             f"{zeros}[:{3 * hidden}]")
        weights.append(direction)
    return weights


def fortran_copy(e, src, k, shape, dtype) -> str:
    buf = e.new_buffer(shape, dtype, order="F")     # scratch: written every run
    e.copy(buf, f"{src}[{k}]")
    return buf


def emit_recurrent(op, e) -> bool:
    """Every output into its buffer; states start from initial_h / initial_c or zeros."""
    ready = prepare(op, e)
    if ready is None:
        return False
    batch, hidden, weights, lens = ready
    x = e.in_facts[0]
    seq = x.shape[0] if op.layout == 0 else x.shape[1]
    d = op.n_dirs
    y_shape = (seq, d, batch, hidden) if op.layout == 0 else (batch, seq, d, hidden)
    state_shape = (d, batch, hidden) if op.layout == 0 else (batch, d, hidden)
    shapes = [y_shape] + [state_shape] * op.n_states
    if not outputs_fit(e, shapes, x.dtype):
        return False
    outs = [output(e, j, shape, x.dtype) for j, shape in enumerate(shapes)]
    for j, state in enumerate(outs[1:]):
        initial = e.ins[5 + j] if 5 + j < len(e.ins) else None
        if initial is not None:
            e.copy(state, initial)
        else:
            e.fill(state, 0)
    emit_steps(op, e, e.ins[0], outs[0], outs[1:], weights, hidden, lens, x.dtype)
    for b in np.flatnonzero(lens == 0):     # as eval: an empty sequence has a zero final state
        for state in outs[1:]:
            e.line(f"{state}[{':, ' if op.layout == 0 else ''}{b}] = 0")
    return True


def outputs_fit(e, shapes, dtype) -> bool:
    """Do the analysed output facts have the shapes the kernels write?"""
    return len(e.outs) <= len(shapes) and all(
        f is None or (tuple(f.shape) == tuple(shape) and f.dtype == dtype)
        for f, shape in zip(e.out_facts, shapes))


def output(e, j, shape, dtype) -> str:
    """Output j's buffer, or scratch when the model leaves that output out."""
    if j < len(e.outs) and e.out_facts[j] is not None:
        return e.buffer(j)
    return e.new_buffer(shape, dtype)


def emit_steps(op, e, x, y, states, weights, hidden, lens, dtype, frames=None, indent=""):
    """Lines running every direction of `op` over x into y, updating `states` in place.

    x, y and states name ONNX-layout arrays (layout 1: batch first); frames = (lo, hi), two
    source expressions, restricts the run to those time steps (the others are left alone)."""
    batch = e.in_facts[0].shape[1 - op.layout]
    xs, ys = x, y
    if op.layout == 1:
        xs, ys = e.fresh("xs"), e.fresh("ys")
        e.line(f"{indent}{xs} = {e.transposed(x, (1, 0, 2))}")
        e.line(f"{indent}{ys} = {e.transposed(y, (1, 2, 0, 3))}")
    lo, hi = frames or ("", "")
    scratch = e.new_buffer(op.scratch_shape(batch, hidden), dtype)
    lens_name = e.arg(lens, "lens")
    for k, direction in enumerate(weights):
        reverse = op.direction == "reverse" or k == 1
        k_states = [f"{s}[{k}]" if op.layout == 0 else f"{s}[:, {k}]" for s in states]
        kernel, args = op.direction_call(k, f"{xs}[{lo}:{hi}]", direction, k_states,
                                         f"{ys}[{lo}:{hi}, {k}]", reverse, lens_name, scratch)
        call = ", ".join(a if isinstance(a, str) else literal(a) for a in args)
        e.line(f"{indent}{e.kernel(kernel)}({call})")
    return ys
