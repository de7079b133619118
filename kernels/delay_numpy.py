"""NumPy twin of the delay line (kernels/delay.py): the same frame copies as slice assignments
(NumPy copies through a temporary where source and target overlap, so the history shift is
safe here)."""
from . import delay as k


@k.delay_line_push.numpy
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
