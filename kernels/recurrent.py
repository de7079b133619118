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
- Activations are `(code, alpha, beta)` from `rnn_activation.resolve_activations`.
- clip > 0 clamps every gate pre-activation to [-clip, clip] (as onnxruntime: the cell state
  is not clipped before h()); clip <= 0 disables it.
- scratch is caller-owned work space, shape `*_scratch_shapes(batch, hidden)`; nothing is
  allocated per call.
"""
from .jit import jit
from .rnn_activation import activate_span


def lstm_scratch_shapes(batch, hidden):
    """Shape of the `scratch` argument of `lstm_steps`."""
    return (batch, 4 * hidden)


def gru_scratch_shapes(batch, hidden):
    """Shape of the `scratch` argument of `gru_steps`."""
    return (batch, 4 * hidden)


def rnn_scratch_shapes(batch, hidden):
    """Shape of the `scratch` argument of `rnn_steps`."""
    return (batch, hidden)


@jit
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


@jit
def _clip_span(buf, row, lo, hi, clip):
    if clip > 0:
        for j in range(lo, hi):
            buf[row, j] = min(max(buf[row, j], -clip), clip)


@jit
def lstm_steps(x, w, r, wb, rb, p, h, c, y, act_f, act_g, act_h, alpha_f, beta_f, alpha_g, beta_g,
               alpha_h, beta_h, clip, input_forget, reverse, lens, scratch):
    """One LSTM direction over x (T, B, I); gates i, o, f, c as ONNX (G = 4).

    wb, rb (4H,) biases; p (3H,) peepholes i, o, f (zeros if absent); h, c (B, H) state, updated
    in place; y (T, B, H) written. f() gates i/o/f, g() the cell input, h() the cell output.
    input_forget (bool) couples f = 1 - i like onnxruntime. scratch (B, 4H). See module contract.
    """
    T = x.shape[0]
    B, H = h.shape
    g = scratch
    for s in range(T):
        t = T - 1 - s if reverse else s
        for b in range(B):
            for j in range(4 * H):
                g[b, j] = wb[j] + rb[j]
        _gemm_acc(x[t], w, 0, 4 * H, g, 0)
        _gemm_acc(h, r, 0, 4 * H, g, 0)
        for b in range(B):
            if t >= lens[b]:
                for j in range(H):
                    y[t, b, j] = 0
                continue
            for j in range(H):
                g[b, j] += p[j] * c[b, j]
                g[b, 2 * H + j] += p[2 * H + j] * c[b, j]
            _clip_span(g, b, 0, H, clip)  # o is clipped below, after its peephole term
            _clip_span(g, b, 2 * H, 4 * H, clip)
            activate_span(g, b, 0, H, act_f, alpha_f, beta_f)
            if input_forget:
                for j in range(H):
                    g[b, 2 * H + j] = 1 - g[b, j]
            else:
                activate_span(g, b, 2 * H, 3 * H, act_f, alpha_f, beta_f)
            activate_span(g, b, 3 * H, 4 * H, act_g, alpha_g, beta_g)
            for j in range(H):
                cn = g[b, 2 * H + j] * c[b, j] + g[b, j] * g[b, 3 * H + j]
                c[b, j] = cn
                g[b, 3 * H + j] = cn
                g[b, H + j] += p[H + j] * cn
            _clip_span(g, b, H, 2 * H, clip)
            activate_span(g, b, H, 2 * H, act_f, alpha_f, beta_f)
            activate_span(g, b, 3 * H, 4 * H, act_h, alpha_h, beta_h)
            for j in range(H):
                hn = g[b, H + j] * g[b, 3 * H + j]
                h[b, j] = hn
                y[t, b, j] = hn


@jit
def gru_steps(x, w, r, wb, rb, h, y, act_f, act_g, alpha_f, beta_f, alpha_g, beta_g, clip,
              linear_before_reset, reverse, lens, scratch):
    """One GRU direction over x (T, B, I); gates z, r, h as ONNX (G = 3).

    wb, rb (3H,) biases; h (B, H) state, updated in place; y (T, B, H) written. f() gates z/r,
    g() the candidate. linear_before_reset (bool) applies r after (h R_h^T + Rb_h).
    scratch (B, 4H). See module contract.
    """
    T = x.shape[0]
    B, H = h.shape
    g = scratch  # [:, 0:3H] gate pre-activations z, r, h; [:, 3H:4H] r*h or h R_h^T + Rb_h
    aux = scratch[:, 3 * H:]
    for s in range(T):
        t = T - 1 - s if reverse else s
        for b in range(B):
            for j in range(2 * H):
                g[b, j] = wb[j] + rb[j]
            for j in range(H):
                if linear_before_reset:
                    g[b, 2 * H + j] = wb[2 * H + j]
                    aux[b, j] = rb[2 * H + j]
                else:
                    g[b, 2 * H + j] = wb[2 * H + j] + rb[2 * H + j]
        _gemm_acc(x[t], w, 0, 3 * H, g, 0)
        _gemm_acc(h, r, 0, 2 * H, g, 0)
        if linear_before_reset:
            _gemm_acc(h, r, 2 * H, 3 * H, aux, 0)
        for b in range(B):
            _clip_span(g, b, 0, 2 * H, clip)
            activate_span(g, b, 0, 2 * H, act_f, alpha_f, beta_f)
            if linear_before_reset:
                for j in range(H):
                    g[b, 2 * H + j] += g[b, H + j] * aux[b, j]
            else:
                for j in range(H):
                    aux[b, j] = g[b, H + j] * h[b, j]
        if not linear_before_reset:
            _gemm_acc(aux, r, 2 * H, 3 * H, g, 2 * H)
        for b in range(B):
            if t >= lens[b]:
                for j in range(H):
                    y[t, b, j] = 0
                continue
            _clip_span(g, b, 2 * H, 3 * H, clip)
            activate_span(g, b, 2 * H, 3 * H, act_g, alpha_g, beta_g)
            for j in range(H):
                z = g[b, j]
                hn = (1 - z) * g[b, 2 * H + j] + z * h[b, j]
                h[b, j] = hn
                y[t, b, j] = hn


@jit
def rnn_steps(x, w, r, wb, rb, h, y, act, alpha, beta, clip, reverse, lens, scratch):
    """One simple-RNN direction over x (T, B, I): h = act(x W^T + h R^T + wb + rb) (G = 1).

    wb, rb (H,) biases; h (B, H) state, updated in place; y (T, B, H) written.
    scratch (B, H). See module contract.
    """
    T = x.shape[0]
    B, H = h.shape
    g = scratch
    for s in range(T):
        t = T - 1 - s if reverse else s
        for b in range(B):
            for j in range(H):
                g[b, j] = wb[j] + rb[j]
        _gemm_acc(x[t], w, 0, H, g, 0)
        _gemm_acc(h, r, 0, H, g, 0)
        for b in range(B):
            if t >= lens[b]:
                for j in range(H):
                    y[t, b, j] = 0
                continue
            _clip_span(g, b, 0, H, clip)
            activate_span(g, b, 0, H, act, alpha, beta)
            for j in range(H):
                h[b, j] = g[b, j]
                y[t, b, j] = g[b, j]
