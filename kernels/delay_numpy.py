"""NumPy twins of the delay line and the overlap-add (kernels/delay.py): the same frame copies
and sums as slice operations (NumPy copies through a temporary where source and target overlap,
so the history and tail shifts are safe here)."""
import numpy as np


def delay_line_push(x, history, out):
    kept, p, n = history.shape[1], x.shape[1], out.shape[1]
    head = min(kept, n)
    out[:, :head] = history[:, :head]
    if n > kept:
        out[:, kept:] = x[:, :n - kept]
    if p >= kept:
        history[...] = x[:, p - kept:]
    else:
        history[:, :kept - p] = history[:, p:]
        history[:, kept - p:] = x


def overlap_add_push(partial, tail, out):
    kept, n = tail.shape[1], out.shape[1]
    head = min(kept, n)
    if head:
        np.add(partial[:, :head], tail[:, :head], out=out[:, :head])
    if n > head:
        out[:, head:] = partial[:, head:n]
    if kept > n:
        np.add(partial[:, n:kept], tail[:, n:], out=tail[:, :kept - n])
    if kept:
        tail[:, max(kept - n, 0):] = partial[:, max(kept, n):]
