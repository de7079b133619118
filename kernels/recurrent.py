"""ONNX LSTM / GRU / RNN (opset 14), one direction over a whole sequence in one compiled call.

Shared contract (the caller validates; kernels never check):
- x (T, B, I) seq-major (the caller transposes layout=1); y (T, B, H) output, may be a strided
  view such as Y[:, d] of the ONNX (T, num_dir, B, H) output. float32 or float64 throughout.
- w (G*H, I), r (G*H, H) in ONNX gate order, any memory layout; Fortran order
  (`np.asfortranarray(W[d])`, done once at load) is the fast path, C order runs several times slower.
- h (B, H) [and c (B, H)] hold the initial state and are overwritten with the final state.
- lens (B,) integers in [0, T]: for t >= lens[b], y[t, b] = 0 and row b's state is left alone
  (with reverse, row b therefore runs t = lens[b]-1 .. 0, as onnxruntime does).
  onnxruntime zeroes Y_h/Y_c of rows with lens[b] == 0; these kernels leave them unchanged.
- Activations are `(code, alpha, beta)` of activation.py (pulsar/ops/recurrent.py maps ONNX names).
- clip > 0 clamps every gate pre-activation to [-clip, clip] (as onnxruntime: the cell state
  is not clipped before h()); clip <= 0 disables it.
- scratch is caller-owned work space (C order, contents irrelevant), shape
  `*_scratch_shapes(batch, hidden)`; nothing is allocated per call.
- The written arrays (y, h, c, scratch) must not overlap each other or any input.
"""
from . import recurrent_numpy
from .jit import helper, jit
from .rnn_activation import apply_rnn_activation


def lstm_scratch_shapes(batch, hidden):
    """Shape of the `scratch` argument of `lstm_steps`."""
    return (batch, 4 * hidden)


def gru_scratch_shapes(batch, hidden):
    """Shape of the `scratch` argument of `gru_steps`."""
    return (batch, 4 * hidden)


def rnn_scratch_shapes(batch, hidden):
    """Shape of the `scratch` argument of `rnn_steps`."""
    return (batch, hidden)


@helper
def _gemm_acc(a, m, j0, j1, out, o0):
    """out[b, o0 + j - j0] += sum_k a[b, k] * m[j, k] for j in [j0, j1) and every row b of a.

    Columns of `m` are streamed 4 at a time with a fixed summation order, through 1-D views
    indexed from 0 (no negative-index wraparound), so the inner loop vectorises without fastmath
    when `m` is Fortran-ordered.
    """
    nb, nk = a.shape
    n = j1 - j0
    k4 = nk - nk % 4
    for k in range(0, k4, 4):
        m0 = m[j0:j1, k]
        m1 = m[j0:j1, k + 1]
        m2 = m[j0:j1, k + 2]
        m3 = m[j0:j1, k + 3]
        for b in range(nb):
            a0 = a[b, k]
            a1 = a[b, k + 1]
            a2 = a[b, k + 2]
            a3 = a[b, k + 3]
            o = out[b, o0:o0 + n]
            for j in range(n):
                o[j] += (m0[j] * a0 + m1[j] * a1) + (m2[j] * a2 + m3[j] * a3)
    for k in range(k4, nk):
        m0 = m[j0:j1, k]
        for b in range(nb):
            ak = a[b, k]
            o = out[b, o0:o0 + n]
            for j in range(n):
                o[j] += m0[j] * ak


@helper
def _clip(v, clip):
    """In place: clamp the 1-D array v to [-clip, clip] when clip > 0."""
    if clip > 0:
        for j in range(v.shape[0]):
            v[j] = min(max(v[j], -clip), clip)


@helper
def _init_rows(g, bias_a, bias_b):
    """g[b, :] = bias_a + bias_b for every row b (elementwise loops stay 1-D to vectorise)."""
    for b in range(g.shape[0]):
        gb = g[b]
        for j in range(gb.shape[0]):
            gb[j] = bias_a[j] + bias_b[j]


@jit(twin=recurrent_numpy.lstm_steps)
def lstm_steps(x, w, r, wb, rb, p, h, c, y, act_f, act_g, act_h, alpha_f, beta_f, alpha_g, beta_g,
               alpha_h, beta_h, clip, input_forget, reverse, lens, scratch):
    """One LSTM direction over x (T, B, I); gates i, o, f, c as ONNX (G = 4).

    wb, rb (4H,) biases; p (3H,) peepholes i, o, f (zeros if absent); h, c (B, H) state, updated
    in place; y (T, B, H) written. f() gates i/o/f, g() the cell input, h() the cell output.
    input_forget (bool) couples f = 1 - i like onnxruntime. scratch (B, 4H). See module contract.
    """
    T = x.shape[0]
    B, H = h.shape
    pi, po, pf = p[0:H], p[H:2 * H], p[2 * H:3 * H]
    for s in range(T):
        t = T - 1 - s if reverse else s
        _init_rows(scratch, wb, rb)
        _gemm_acc(x[t], w, 0, 4 * H, scratch, 0)
        _gemm_acc(h, r, 0, 4 * H, scratch, 0)
        for b in range(B):
            yb = y[t, b]
            if t >= lens[b]:
                for j in range(yb.shape[0]):
                    yb[j] = 0
                continue
            hb, cb = h[b], c[b]
            gi, go = scratch[b, 0:H], scratch[b, H:2 * H]
            gf, gc = scratch[b, 2 * H:3 * H], scratch[b, 3 * H:4 * H]
            for j in range(H):
                gi[j] += pi[j] * cb[j]
                gf[j] += pf[j] * cb[j]
            # Few call sites on purpose: each one is a full inlined copy for LLVM to vectorise,
            # which is where this kernel's compile time goes.
            for k in range(3):  # i = f(.), f = f(.), c~ = g(.)
                if k == 1 and input_forget:
                    continue
                lo = (0, 2 * H, 3 * H)[k]
                v = scratch[b, lo:lo + H]
                _clip(v, clip)
                if k < 2:
                    apply_rnn_activation(v, act_f, alpha_f, beta_f)
                else:
                    apply_rnn_activation(v, act_g, alpha_g, beta_g)
            if input_forget:
                for j in range(H):
                    gf[j] = 1 - gi[j]
            for j in range(H):
                cn = gf[j] * cb[j] + gi[j] * gc[j]
                cb[j] = cn
                gc[j] = cn
                go[j] += po[j] * cn
            _clip(go, clip)  # after the peephole term, as onnxruntime
            for k in range(2):  # o = f(.), then h(C) computed in the c~ slot
                code, al, be = (act_f, alpha_f, beta_f) if k == 0 else (act_h, alpha_h, beta_h)
                apply_rnn_activation(scratch[b, (2 * k + 1) * H:(2 * k + 2) * H], code, al, be)
            for j in range(H):
                hn = go[j] * gc[j]
                hb[j] = hn
                yb[j] = hn


@jit(twin=recurrent_numpy.gru_steps)
def gru_steps(x, w, r, wb, rb, h, y, act_f, act_g, alpha_f, beta_f, alpha_g, beta_g, clip,
              linear_before_reset, reverse, lens, scratch):
    """One GRU direction over x (T, B, I); gates z, r, h as ONNX (G = 3).

    wb, rb (3H,) biases; h (B, H) state, updated in place; y (T, B, H) written. f() gates z/r,
    g() the candidate. linear_before_reset (bool) applies r after (h R_h^T + Rb_h).
    scratch (B, 4H). See module contract.
    """
    T = x.shape[0]
    B, H = h.shape
    # scratch[:, 0:3H]: gate pre-activations z, r, h; scratch[:, 3H:4H] ("aux"): r * h, or
    # h R_h^T + Rb_h with linear_before_reset. Row views of the C-ordered scratch vectorise.
    for s in range(T):
        t = T - 1 - s if reverse else s
        for b in range(B):
            gb = scratch[b]
            for j in range(3 * H):
                gb[j] = wb[j] + rb[j]
            if linear_before_reset:
                for j in range(2 * H, 3 * H):
                    gb[j] = wb[j]
                    gb[H + j] = rb[j]
        _gemm_acc(x[t], w, 0, 3 * H, scratch, 0)
        _gemm_acc(h, r, 0, 2 * H, scratch, 0)
        if linear_before_reset:
            _gemm_acc(h, r, 2 * H, 3 * H, scratch, 3 * H)
        for b in range(B):
            zr, gr, gh, ab, hb = scratch[b, 0:2 * H], scratch[b, H:2 * H], scratch[b, 2 * H:3 * H], \
                scratch[b, 3 * H:4 * H], h[b]
            _clip(zr, clip)
            apply_rnn_activation(zr, act_f, alpha_f, beta_f)
            if linear_before_reset:
                for j in range(H):
                    gh[j] += gr[j] * ab[j]
            else:
                for j in range(H):
                    ab[j] = gr[j] * hb[j]
        if not linear_before_reset:
            _gemm_acc(scratch[:, 3 * H:4 * H], r, 2 * H, 3 * H, scratch, 2 * H)
        for b in range(B):
            yb = y[t, b]
            if t >= lens[b]:
                for j in range(yb.shape[0]):
                    yb[j] = 0
                continue
            gz, gh, hb = scratch[b, 0:H], scratch[b, 2 * H:3 * H], h[b]
            _clip(gh, clip)
            apply_rnn_activation(gh, act_g, alpha_g, beta_g)
            for j in range(H):
                hn = (1 - gz[j]) * gh[j] + gz[j] * hb[j]
                hb[j] = hn
                yb[j] = hn


@jit(twin=recurrent_numpy.rnn_steps)
def rnn_steps(x, w, r, wb, rb, h, y, act, alpha, beta, clip, reverse, lens, scratch):
    """One simple-RNN direction over x (T, B, I): h = act(x W^T + h R^T + wb + rb) (G = 1).

    wb, rb (H,) biases; h (B, H) state, updated in place; y (T, B, H) written.
    scratch (B, H). See module contract.
    """
    T = x.shape[0]
    B = h.shape[0]
    for s in range(T):
        t = T - 1 - s if reverse else s
        _init_rows(scratch, wb, rb)
        _gemm_acc(x[t], w, 0, wb.shape[0], scratch, 0)
        _gemm_acc(h, r, 0, wb.shape[0], scratch, 0)
        for b in range(B):
            yb = y[t, b]
            if t >= lens[b]:
                for j in range(yb.shape[0]):
                    yb[j] = 0
                continue
            gb = scratch[b]
            _clip(gb, clip)
            apply_rnn_activation(gb, act, alpha, beta)
            hb = h[b]
            for j in range(gb.shape[0]):
                hb[j] = gb[j]
                yb[j] = gb[j]
