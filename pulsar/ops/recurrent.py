"""LSTM, GRU and RNN: ONNX's recurrent layers, one Numba kernel call per direction.

Facts: X [S, B, I] (layout 0) gives Y [S, D, B, H] and Y_h / Y_c [D, B, H]; layout 1 swaps the
batch and sequence axes (X [B, S, I], Y [B, S, D, H], states [B, D, H]). Every weight shape is
checked in `infer` and again in `eval` (cheap, and eval may see other shapes than analysed): the
kernels index without bounds checks. The streaming layer calls `eval` per pulse with
initial_h / initial_c set to its carried state, so `eval` never writes into its inputs and always
returns every output.
"""
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar, Optional

import numpy as np

from ..fact import Fact
from ..kernels import recurrent as kernels
from ..kernels.activation_codes import CODES
from ..kernels.rnn_activation import SIGMOID, TANH
from .base import Op, fail
from .recurrent_emit import emit_recurrent, sequence_lengths
from .registry import register
from .sizes import same_dim, shape_str

FLOATS = {np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)}
DIRECTIONS = ("forward", "reverse", "bidirectional")
# ONNX's activation functions (attribute `activations`, names case-insensitive): lower-case
# name -> the scalar function (kernels/scalar.py) and the defaults of its parameters after x
# (onnxruntime's), which take the next alpha, then beta, of `activation_alpha`/`_beta`.
ACTIVATION_FUNCTIONS = {
    "sigmoid": ("sigmoid", ()), "tanh": ("tanh", ()), "relu": ("relu", ()),
    "affine": ("affine", (0.0, 0.0)), "leakyrelu": ("leaky_relu", (0.01,)),
    "thresholdedrelu": ("thresholded_relu", (0.0,)), "scaledtanh": ("scaled_tanh", (0.0, 0.0)),
    "hardsigmoid": ("hard_sigmoid", (0.2, 0.5)), "elu": ("elu", (1.0,)),
    "softsign": ("softsign", ()), "softplus": ("softplus", ()),
}


def resolve_activations(names, alphas=(), betas=()) -> list:
    """`(code, alpha, beta)` per ONNX activation name, as the kernels take them.

    As the ONNX spec and onnxruntime (LSTM, GRU and RNN): alphas and betas are consumed in
    order, across directions, only by functions that take them, falling back to the function's
    defaults when exhausted. KeyError for an unknown name.
    """
    out, ia, ib = [], 0, 0
    for name in names:
        fn, defaults = ACTIVATION_FUNCTIONS[name.lower()]
        alpha, beta = (defaults + (0.0, 0.0))[:2]
        if len(defaults) > 0 and ia < len(alphas):
            alpha, ia = float(alphas[ia]), ia + 1
        if len(defaults) > 1 and ib < len(betas):
            beta, ib = float(betas[ib]), ib + 1
        out.append((CODES[fn], alpha, beta))
    return out


@dataclass(frozen=True)
class Recurrent(Op):
    """Shared by LSTM / GRU / RNN; subclasses set the gate count and run one direction."""
    gates: ClassVar[int] = 1
    default_activations: ClassVar[tuple] = ()
    input_names: ClassVar[tuple] = ("X", "W", "R", "B", "sequence_lens", "initial_h")
    # (input, output) of each state carried from one call to the next: a stream feeds a pulse's
    # final state (output) back as the next pulse's initial state (input)
    carried_states: ClassVar[tuple] = ((5, 1),)
    ignored_attrs: ClassVar[tuple] = ("output_sequence",)   # opset 1: Y was optional anyway
    activation_alpha: tuple = ()
    activation_beta: tuple = ()
    activations: tuple = ()
    clip: Optional[float] = None
    direction: str = "forward"
    hidden_size: Optional[int] = None
    layout: int = 0
    _prepared: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            fail(f"direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}")
        if self.layout not in (0, 1):
            fail(f"layout must be 0 or 1, got {self.layout}")
        if self.clip is not None and not self.clip > 0:
            fail(f"clip must be positive, got {self.clip}")
        if self.hidden_size is not None and self.hidden_size <= 0:
            fail(f"hidden_size must be positive, got {self.hidden_size}")
        self.acts   # noqa: B018  (unknown names and wrong counts fail at import)

    @property
    def n_dirs(self) -> int:
        return 2 if self.direction == "bidirectional" else 1

    @cached_property
    def acts(self) -> list:
        """(code, alpha, beta) per activation, `len(default_activations)` per direction."""
        per_dir = len(self.default_activations)
        names, alphas, betas = self.activations, self.activation_alpha, self.activation_beta
        if not names:
            names = self.default_activations * self.n_dirs
        elif len(names) == per_dir and self.n_dirs == 2:   # one list for both directions
            names, alphas, betas = names * 2, alphas * 2, betas * 2
        if len(names) != per_dir * self.n_dirs:
            fail(f"activations lists {len(names)} functions; {self.direction} "
                 f"{self.onnx_name} needs {per_dir * self.n_dirs}: {list(names)}")
        try:
            return resolve_activations(names, alphas, betas)
        except KeyError as e:
            name = next((n for n in names if n.lower() == e.args[0]), e.args[0])
            fail(f"unknown activation {name!r} in activations {list(names)}")

    def check_shapes(self, shapes: list) -> tuple:
        """(seq, batch, hidden) from the input shapes (None: absent); fails on a mismatch."""
        x, r = shapes[0], shapes[2]
        if len(x) != 3:
            fail(f"X must have rank 3 ([seq, batch, input] for layout {self.layout}), "
                 f"got {shape_str(x)}")
        if r is None or len(r) != 3:
            fail(f"R must have rank 3 [directions, {self.gates}*hidden, hidden], got {r}")
        seq, batch = (x[0], x[1]) if self.layout == 0 else (x[1], x[0])
        hidden = self.hidden_size if self.hidden_size is not None else r[2]
        d, g = self.n_dirs, self.gates
        state = (d, batch, hidden) if self.layout == 0 else (batch, d, hidden)
        want = {"W": (d, g * hidden, x[2]), "R": (d, g * hidden, hidden), "B": (d, 2 * g * hidden),
                "sequence_lens": (batch,), "initial_h": state, "initial_c": state,
                "P": (d, 3 * hidden)}
        for name, shape in zip(self.input_names[1:], shapes[1:]):
            if shape is not None and not _fits(shape, want[name]):
                fail(f"{name} must be {shape_str(want[name])} for a {self.direction} "
                     f"{self.onnx_name} with hidden size {hidden} and X {shape_str(x)} "
                     f"(layout {self.layout}), got {shape_str(shape)}")
        return seq, batch, hidden

    def infer(self, inputs, ctx):
        inputs = list(inputs) + [None] * (len(self.input_names) - len(inputs))
        if len(inputs) > len(self.input_names):
            fail(f"takes at most {len(self.input_names)} inputs, got {len(inputs)}")
        if inputs[1] is None or inputs[2] is None:
            fail("W and R are required")
        x = inputs[0]
        if x.dtype not in FLOATS:
            fail(f"X must be float16, float32 or float64, got {x}")
        for name, f in zip(self.input_names, inputs):
            if f is not None and name != "sequence_lens" and f.dtype != x.dtype:
                fail(f"{name} must have X's dtype {x.dtype}, got {f}")
        if inputs[4] is not None and inputs[4].dtype.kind not in "iu":
            fail(f"sequence_lens must be int32, got {inputs[4]}")
        seq, batch, hidden = self.check_shapes([None if f is None else f.shape for f in inputs])
        d = self.n_dirs
        y = (seq, d, batch, hidden) if self.layout == 0 else (batch, seq, d, hidden)
        state = (d, batch, hidden) if self.layout == 0 else (batch, d, hidden)
        return [Fact(x.dtype, y)] + [Fact(x.dtype, state)] * (self.n_states)

    @property
    def n_states(self) -> int:
        return 1

    def eval(self, *args):
        args = list(args) + [None] * (len(self.input_names) - len(args))
        seq, batch, hidden = self.check_shapes([None if a is None else a.shape for a in args])
        x = args[0]
        dtype = np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)
        xs = np.ascontiguousarray(x if self.layout == 0 else x.transpose(1, 0, 2), dtype=dtype)
        lens = sequence_lengths(args[4], seq, batch)
        d = self.n_dirs
        y = np.empty((seq, d, batch, hidden), dtype)
        states = [self._state(a, batch, hidden, dtype) for a in args[5:5 + self.n_states]]
        scratch = np.empty(self.scratch_shape(batch, hidden), dtype)
        for k, weights in enumerate(self._weights(args, hidden, dtype)):
            reverse = self.direction == "reverse" or k == 1
            kernel, kernel_args = self.direction_call(k, xs, weights, [s[k] for s in states],
                                                      y[:, k], reverse, lens, scratch)
            kernel(*kernel_args)
        for s in states:
            s[:, lens == 0] = 0    # as onnxruntime: an empty sequence has a zero final state
        return self._outputs(y, states, x.dtype)

    def direction_call(self, k, x, weights, states, y, reverse, lens, scratch) -> tuple:
        """(kernel, arguments) running direction k: `eval` passes arrays, `emit` names."""
        raise NotImplementedError

    def emit(self, e) -> bool:
        return emit_recurrent(self, e)

    def _state(self, initial, batch, hidden, dtype) -> np.ndarray:
        """A fresh [D, B, H] state array (the kernels update it in place)."""
        if initial is None:
            return np.zeros((self.n_dirs, batch, hidden), dtype)
        return np.array(initial if self.layout == 0 else initial.transpose(1, 0, 2), dtype=dtype)

    def _outputs(self, y, states, dtype) -> list:
        if self.layout == 1:
            y = y.transpose(2, 0, 1, 3)
            states = [s.transpose(1, 0, 2) for s in states]
        return [np.ascontiguousarray(a, dtype=dtype) for a in [y] + states]

    def _weights(self, args, hidden, dtype) -> list:
        """Per direction (w, r, wb, rb[, p]): Fortran-ordered w/r are the kernels' fast path.

        Cached by the identity of the weight arrays (constants: the plan passes the same
        arrays every run), so the conversion happens once per model, not once per pulse.
        """
        arrays = [args[1], args[2], args[3]] + args[7:8]
        key = tuple(id(a) for a in arrays) + (dtype,)
        entry = self._prepared.get(key)
        if entry is not None and all(a is b for a, b in zip(entry[0], arrays)):
            return entry[1]
        if len(self._prepared) > 4:     # stale entries (weights fed as inputs, re-analyses)
            self._prepared.clear()
        g = self.gates * hidden
        w, r, bias = args[1], args[2], args[3]
        if bias is None:
            bias = np.zeros((self.n_dirs, 2 * g), dtype)
        weights = []
        for k in range(self.n_dirs):
            weights.append([np.asfortranarray(w[k], dtype=dtype),
                            np.asfortranarray(r[k], dtype=dtype),
                            np.ascontiguousarray(bias[k, :g], dtype=dtype),
                            np.ascontiguousarray(bias[k, g:], dtype=dtype)]
                           + self.extra_weights(args, k, hidden, dtype))
        self._prepared[key] = (arrays, weights)
        return weights

    def extra_weights(self, args, k, hidden, dtype) -> list:
        return []


def _fits(shape, want) -> bool:
    return len(shape) == len(want) and all(same_dim(a, b) for a, b in zip(shape, want))


@register("LSTM", since=1)
@dataclass(frozen=True)
class LSTM(Recurrent):
    """Gates i, o, f, c; optional peepholes P [D, 3H] (i, o, f)."""
    gates: ClassVar[int] = 4
    default_activations: ClassVar[tuple] = ("Sigmoid", "Tanh", "Tanh")
    input_names: ClassVar[tuple] = Recurrent.input_names + ("initial_c", "P")
    carried_states: ClassVar[tuple] = ((5, 1), (6, 2))      # the hidden and the cell state
    input_forget: int = 0

    @property
    def n_states(self) -> int:
        return 2

    def scratch_shape(self, batch, hidden):
        return kernels.lstm_scratch_shapes(batch, hidden)

    def extra_weights(self, args, k, hidden, dtype) -> list:
        p = args[7]
        if p is None:
            return [np.zeros(3 * hidden, dtype)]
        return [np.ascontiguousarray(p[k], dtype=dtype)]

    def direction_call(self, k, x, weights, states, y, reverse, lens, scratch):
        (f, fa, fb), (g, ga, gb), (h, ha, hb) = self.acts[3 * k:3 * k + 3]
        w, r, wb, rb, p = weights
        return kernels.lstm_steps, (x, w, r, wb, rb, p, states[0], states[1], y, f, g, h, fa, fb,
                                    ga, gb, ha, hb, self.clip or 0.0, bool(self.input_forget),
                                    reverse, lens, scratch)


@register("GRU", since=1)
@dataclass(frozen=True)
class GRU(Recurrent):
    """Gates z, r, h; linear_before_reset applies r after the recurrent product."""
    gates: ClassVar[int] = 3
    default_activations: ClassVar[tuple] = ("Sigmoid", "Tanh")
    linear_before_reset: int = 0

    def scratch_shape(self, batch, hidden):
        return kernels.gru_scratch_shapes(batch, hidden)

    def direction_call(self, k, x, weights, states, y, reverse, lens, scratch):
        (f, fa, fb), (g, ga, gb) = self.acts[2 * k:2 * k + 2]
        w, r, wb, rb = weights
        return kernels.gru_steps, (x, w, r, wb, rb, states[0], y, f, g, fa, fb, ga, gb,
                                   self.clip or 0.0, bool(self.linear_before_reset), reverse,
                                   lens, scratch)


@register("RNN", since=1)
@dataclass(frozen=True)
class RNN(Recurrent):
    """h = f(x W^T + h R^T + Wb + Rb)."""
    gates: ClassVar[int] = 1
    default_activations: ClassVar[tuple] = ("Tanh",)

    def scratch_shape(self, batch, hidden):
        return kernels.rnn_scratch_shapes(batch, hidden)

    def direction_call(self, k, x, weights, states, y, reverse, lens, scratch):
        f, fa, fb = self.acts[k]
        w, r, wb, rb = weights
        return kernels.rnn_steps, (x, w, r, wb, rb, states[0], y, f, fa, fb, self.clip or 0.0,
                                   reverse, lens, scratch)


# --- TensorFlow GRU cells in loop bodies --------------------------------------------------
# tf2onnx spells a TF GRUCell out as 12 nodes per step, which compute ONNX's GRU (z = u,
# linear_before_reset = 0); pulsar/passes/tf_gru_cell.py replaces them by one TFGRUCell.

@dataclass(frozen=True)
class TFGRUCell(Op):
    """h' for inputs (x [B,I], h [B,H], Wg [I+H,2H], bg [2H], Wc [I+H,H], bc [H])."""
    onnx_name: ClassVar[str] = "TFGRUCell"
    _prepared: dict = field(default_factory=dict, compare=False, repr=False)

    def infer(self, inputs, ctx):
        return [inputs[1]]

    def eval(self, x, h, wg, bg, wc, bc):
        if x.ndim != 2 or h.ndim != 2:
            fail(f"GRU cell: x and h must be 2-D, got {list(x.shape)} and {list(h.shape)}")
        dtype = np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)
        w, r, wb, rb = self._weights(wg, bg, wc, bc, x, h, dtype)
        hidden, size_in, batch = w.shape[0] // 3, w.shape[1], x.shape[0]
        if x.shape != (batch, size_in) or h.shape != (batch, hidden):
            fail(f"GRU cell: x {list(x.shape)} and h {list(h.shape)} do not fit its kernels "
                 f"(input size {size_in}, hidden size {hidden})")
        state = np.array(h, dtype=dtype)
        y = np.empty((1, batch, hidden), dtype)
        scratch = np.empty((batch, 4 * hidden), dtype)     # kernels.gru_scratch_shapes
        xs = np.ascontiguousarray(x, dtype=dtype).reshape(1, batch, size_in)
        kernels.gru_steps(xs, w, r, wb, rb, state, y, SIGMOID, TANH, 0.0, 0.0, 0.0, 0.0, 0.0,
                          False, False, self._ones(batch), scratch)
        return (state if x.dtype == dtype else state.astype(x.dtype),)

    def _ones(self, batch) -> np.ndarray:
        """Sequence lengths of 1 (read-only for the kernel, so one array is shared)."""
        ones = self._prepared.get(batch)
        if ones is None:
            ones = self._prepared[batch] = np.ones(batch, np.int32)
        return ones

    def _weights(self, wg, bg, wc, bc, x, h, dtype):
        """ONNX GRU weights (gates z = u, r, h) from TF's kernels, cached by array identity."""
        arrays = (wg, bg, wc, bc, dtype)
        entry = self._prepared.get("w")
        if entry is not None and all(a is b for a, b in zip(entry[0], arrays)):
            return entry[1]
        size_in, hidden = x.shape[-1], h.shape[-1]
        rows = size_in + hidden
        if wg.shape != (rows, 2 * hidden) or bg.size != 2 * hidden or \
                wc.shape != (rows, hidden) or bc.size != hidden:
            fail(f"GRU cell shapes do not fit: x {list(x.shape)}, h {list(h.shape)}, gate "
                 f"kernel {list(wg.shape)}, bias {list(bg.shape)}, candidate kernel "
                 f"{list(wc.shape)}, bias {list(bc.shape)}")
        weights = onnx_gru_weights(wg, bg, wc, bc, size_in, dtype)
        self._prepared["w"] = (arrays, weights)
        return weights


def onnx_gru_weights(wg, bg, wc, bc, size_in, dtype) -> tuple:
    """(W, R, Wb, Rb) of one ONNX GRU direction (gates z, r, h; W and R Fortran-ordered for
    the kernels) from TF GRUCell kernels: gates [I+H, 2H] with columns r then u (u is ONNX's
    z), candidate [I+H, H]; rows are the input then the hidden state."""
    hidden = wc.shape[1]
    r_cols, u_cols = slice(0, hidden), slice(hidden, 2 * hidden)
    parts = [wg[:, u_cols], wg[:, r_cols], wc]
    w = np.asfortranarray(np.concatenate([p[:size_in].T for p in parts]), dtype=dtype)
    r = np.asfortranarray(np.concatenate([p[size_in:].T for p in parts]), dtype=dtype)
    bg, bc = bg.reshape(-1), bc.reshape(-1)
    wb = np.concatenate([bg[u_cols], bg[r_cols], bc]).astype(dtype)
    return w, r, wb, np.zeros(3 * hidden, dtype)
