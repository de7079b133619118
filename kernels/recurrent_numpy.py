"""NumPy twins of the recurrent kernels (kernels/recurrent.py), same contract and state
updates: a Python loop over time steps, each step one matmul per recurrent weight. The input
projection x W^T of every step is one matmul before the loop. Accumulation is in the array
dtype (the kernels' order of additions differs, by rounding only). Rows whose step lies past
their length get zeros in y and keep their state.
"""
import numpy as np

from .rnn_activation_numpy import rnn_activate


def _clip(v, clip):
    return np.clip(v, -clip, clip) if clip > 0 else v


def _inputs(x, w, bias):
    """x (T, B, I) @ w^T + bias for every step at once: (T, B, G*H)."""
    T, B, I = x.shape
    return (x.reshape(T * B, I) @ w.T).reshape(T, B, -1) + bias


def _store(t, lens, y, h_new, states):
    """y[t] and the states of the rows still running at step t (others: y zero, state kept)."""
    live = (t < lens)[:, None]
    y[t] = np.where(live, h_new[0], 0)
    for state, new in zip(states, h_new):
        np.copyto(state, new, where=live)


def lstm_steps(x, w, r, wb, rb, p, h, c, y, act_f, act_g, act_h, alpha_f, beta_f, alpha_g,
               beta_g, alpha_h, beta_h, clip, input_forget, reverse, lens, scratch):
    T = x.shape[0]
    H = h.shape[1]
    pi, po, pf = p[0:H], p[H:2 * H], p[2 * H:3 * H]
    xw = _inputs(x, w, wb + rb)
    lens = np.asarray(lens)
    for s in range(T):
        t = T - 1 - s if reverse else s
        g = xw[t] + h @ r.T
        gi = _clip(g[:, 0:H] + pi * c, clip)
        go = g[:, H:2 * H]
        gf = _clip(g[:, 2 * H:3 * H] + pf * c, clip)
        gc = _clip(g[:, 3 * H:4 * H], clip)
        i = rnn_activate(gi, act_f, alpha_f, beta_f)
        f = 1 - i if input_forget else rnn_activate(gf, act_f, alpha_f, beta_f)
        cn = f * c + i * rnn_activate(gc, act_g, alpha_g, beta_g)
        o = rnn_activate(_clip(go + po * cn, clip), act_f, alpha_f, beta_f)
        hn = o * rnn_activate(cn, act_h, alpha_h, beta_h)
        _store(t, lens, y, (hn, cn), (h, c))


def gru_steps(x, w, r, wb, rb, h, y, act_f, act_g, alpha_f, beta_f, alpha_g, beta_g, clip,
              linear_before_reset, reverse, lens, scratch):
    T = x.shape[0]
    H = h.shape[1]
    bias = wb + rb
    if linear_before_reset:
        bias = np.concatenate([bias[:2 * H], wb[2 * H:]])
    xw = _inputs(x, w, bias)
    r_zr, r_h = r[:2 * H], r[2 * H:3 * H]
    lens = np.asarray(lens)
    for s in range(T):
        t = T - 1 - s if reverse else s
        zr = rnn_activate(_clip(xw[t, :, :2 * H] + h @ r_zr.T, clip), act_f, alpha_f, beta_f)
        z, rg = zr[:, :H], zr[:, H:]
        if linear_before_reset:
            gh = xw[t, :, 2 * H:] + rg * (h @ r_h.T + rb[2 * H:])
        else:
            gh = xw[t, :, 2 * H:] + (rg * h) @ r_h.T
        gh = rnn_activate(_clip(gh, clip), act_g, alpha_g, beta_g)
        hn = (1 - z) * gh + z * h
        _store(t, lens, y, (hn,), (h,))


def rnn_steps(x, w, r, wb, rb, h, y, act, alpha, beta, clip, reverse, lens, scratch):
    T = x.shape[0]
    xw = _inputs(x, w, wb + rb)
    lens = np.asarray(lens)
    for s in range(T):
        t = T - 1 - s if reverse else s
        hn = rnn_activate(_clip(xw[t] + h @ r.T, clip), act, alpha, beta)
        _store(t, lens, y, (hn,), (h,))
