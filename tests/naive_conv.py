"""Obviously-correct NumPy references for the sliding-window kernels (conv and pooling).

Everything is computed in float64 from explicitly padded copies (np.pad) and per-tap slices, so
the code follows the ONNX definitions literally. Output sizes are computed here from the pads;
`out_size` gives the floor/ceil_mode formula with onnxruntime's rule for ceil_mode (a last window
starting beyond the begin pad + input is dropped).
"""
import math

import numpy as np

ACT_NAMES = {0: "none", 1: "relu", 2: "leaky_relu", 3: "clip", 4: "sigmoid", 5: "tanh",
             6: "hard_sigmoid"}


def out_size(size, k, s, d, pad_begin, pad_end, ceil_mode=False):
    eff = (k - 1) * d + 1
    span = size + pad_begin + pad_end - eff
    if not ceil_mode:
        return span // s + 1
    o = -(-span // s) + 1
    if (o - 1) * s >= size + pad_begin:
        o -= 1
    return o


def activation(y, act, alpha, beta):
    if act == 0:
        return y
    if act == 1:
        return np.maximum(y, 0)
    if act == 2:
        return np.where(y >= 0, y, alpha * y)
    if act == 3:
        return np.minimum(np.maximum(y, alpha), beta)
    if act == 4:
        return 1.0 / (1.0 + np.exp(-y))
    if act == 5:
        return np.tanh(y)
    if act == 6:
        return np.clip(alpha * y + beta, 0.0, 1.0)
    raise ValueError(act)


def _taps(xp, k_offsets, strides, out_shape):
    """Slice of padded xp (N, C, *S) for one kernel tap: positions off + o*stride per axis."""
    idx = (slice(None), slice(None)) + tuple(
        slice(off, off + (o - 1) * s + 1, s) for off, o, s in zip(k_offsets, out_shape, strides))
    return xp[idx]


def conv_nd(x, w, b, strides, dils, pads, group=1, act=0, alpha=0.0, beta=0.0):
    """ONNX Conv for any spatial rank. pads = begins + ends (ONNX order). Returns float64."""
    r = x.ndim - 2
    xd = x.astype(np.float64)
    wd = w.astype(np.float64)
    xp = np.pad(xd, [(0, 0), (0, 0)] + [(pads[i], pads[i + r]) for i in range(r)])
    ks = w.shape[2:]
    osz = tuple(out_size(x.shape[2 + i], ks[i], strides[i], dils[i], pads[i], pads[i + r])
                for i in range(r))
    N, C = x.shape[:2]
    M, CG = w.shape[:2]
    MG = M // group
    y = np.zeros((N, M) + osz)
    for tap in np.ndindex(*ks):
        sl = _taps(xp, [t * d for t, d in zip(tap, dils)], strides, osz)
        for g in range(group):
            wg = wd[(slice(g * MG, (g + 1) * MG), slice(None)) + tap]      # (MG, CG)
            y[:, g * MG:(g + 1) * MG] += np.einsum("nc...,mc->nm...", sl[:, g * CG:(g + 1) * CG], wg)
    y += b.astype(np.float64).reshape((1, M) + (1,) * r)
    return activation(y, act, alpha, beta)


def conv_transpose2d(x, w, b, strides, dils, pads, group=1, output_padding=(0, 0)):
    """ONNX ConvTranspose 2-D: full scatter, then crop the begin pads. Returns float64."""
    N, C, H, W = x.shape
    _, MG, KH, KW = w.shape
    CG = C // group
    M = MG * group
    sh, sw = strides
    dh, dw = dils
    full_h = (H - 1) * sh + (KH - 1) * dh + 1 + output_padding[0]
    full_w = (W - 1) * sw + (KW - 1) * dw + 1 + output_padding[1]
    full = np.zeros((N, M, full_h, full_w))
    xd = x.astype(np.float64)
    wd = w.astype(np.float64)
    for g in range(group):
        xg = xd[:, g * CG:(g + 1) * CG]
        for kh in range(KH):
            for kw in range(KW):
                contrib = np.einsum("nchw,cm->nmhw", xg, wd[g * CG:(g + 1) * CG, :, kh, kw])
                full[:, g * MG:(g + 1) * MG, kh * dh:kh * dh + (H - 1) * sh + 1:sh,
                     kw * dw:kw * dw + (W - 1) * sw + 1:sw] += contrib
    OH = full_h - pads[0] - pads[2]
    OW = full_w - pads[1] - pads[3]
    y = full[:, :, pads[0]:pads[0] + OH, pads[1]:pads[1] + OW]
    return y + b.astype(np.float64).reshape(1, M, 1, 1)


def _windows(size, k, s, d, pad_begin, n_out):
    """Per output position: list of input positions of the window (may be out of range)."""
    return [[o * s - pad_begin + i * d for i in range(k)] for o in range(n_out)]


def pool_nd(x, kind, kernel, strides, dils, pads, ceil_mode=False, count_include_pad=False,
            p=2, storage_order=0):
    """ONNX MaxPool/AveragePool/LpPool for any spatial rank, by explicit window loops.

    kind: "max" (returns (y, indices) with onnxruntime's flattened NC... indices; a scan
    from the first valid position in row-major window order that moves only to a strictly
    greater value, so the first maximum wins and NaN only when first), "avg" or "lp".
    Returns float64 arrays.
    """
    r = x.ndim - 2
    N, C = x.shape[:2]
    sp = x.shape[2:]
    osz = tuple(out_size(sp[i], kernel[i], strides[i], dils[i], pads[i], pads[i + r], ceil_mode)
                for i in range(r))
    wins = [_windows(sp[i], kernel[i], strides[i], dils[i], pads[i], osz[i]) for i in range(r)]
    xd = x.astype(np.float64)
    y = np.zeros((N, C) + osz)
    ind = np.full((N, C) + osz, -1, dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for o in np.ndindex(*osz):
                positions = list(np.ndindex(*kernel))
                vals, flat, n_pad = [], [], 0
                for tap in positions:
                    pos = [wins[i][o[i]][tap[i]] for i in range(r)]
                    if all(-pads[i] <= pos[i] < sp[i] + pads[i + r] for i in range(r)):
                        n_pad += 1
                    if all(0 <= pos[i] < sp[i] for i in range(r)):
                        vals.append(xd[(n, c) + tuple(pos)])
                        if storage_order == 0:
                            f = int(np.ravel_multi_index(pos, sp))
                        else:
                            f = int(np.ravel_multi_index(pos[::-1], sp[::-1]))
                        flat.append((n * C + c) * int(np.prod(sp)) + f)
                if kind == "max":
                    best, bi = -math.inf, -1
                    for v, f in zip(vals, flat):
                        if bi == -1 or v > best:
                            best, bi = v, f
                    y[(n, c) + o] = best
                    ind[(n, c) + o] = bi
                elif kind == "avg":
                    div = n_pad if count_include_pad else len(vals)
                    y[(n, c) + o] = sum(vals) / div if div else math.nan
                else:
                    y[(n, c) + o] = sum(abs(v) ** p for v in vals) ** (1.0 / p)
    return (y, ind) if kind == "max" else y
