"""The delay line of pulsed plans: a stream held back by whole frames, with history for windows;
and its transpose, the overlap-add: a window's partial sums carried forward to later frames.

Arrays are (outer, frames, inner) views of C-contiguous tensors around the stream axis (the
caller reshapes), so one loop serves every rank and axis. The history is the session's state,
updated in place once per pulse: it is never reallocated, so snapshot, restore and compiled code
all see the same array.
"""
from . import delay_numpy
from .jit import jit


@jit(twin=delay_numpy.delay_line_push)
def delay_line_push(x, history, out):
    """One pulse through a delay line: with y = concat(history, x) along frames,
    out = y[:n] and then history = y[-kept:] (n = out frames, kept = history frames).

    x (outer, p, inner), history (outer, kept, inner), out (outer, n, inner): one dtype, equal
    outer and inner, n <= kept + p. Written: out, and history (the state). out must not overlap
    x or history. The history shifts by a forward loop: a slice assignment between overlapping
    parts of one array would allocate a temporary copy.
    """
    outer, p, inner = x.shape
    kept, n = history.shape[1], out.shape[1]
    head = min(kept, n)
    for o in range(outer):
        for t in range(head):
            for i in range(inner):
                out[o, t, i] = history[o, t, i]
        for t in range(kept, n):
            for i in range(inner):
                out[o, t, i] = x[o, t - kept, i]
        if p >= kept:
            for t in range(kept):
                for i in range(inner):
                    history[o, t, i] = x[o, p - kept + t, i]
        else:
            for t in range(kept - p):
                for i in range(inner):
                    history[o, t, i] = history[o, t + p, i]
            for t in range(p):
                for i in range(inner):
                    history[o, kept - p + t, i] = x[o, t, i]


@jit(twin=delay_numpy.overlap_add_push)
def overlap_add_push(partial, tail, out):
    """One pulse through an overlap-add: out = partial[:n] with the carried tail added to its
    first frames, then tail = partial[n:] plus the part of the old tail beyond frame n (n = out
    frames, kept = tail frames). A transposed window spreads each input frame over later output
    frames: the pulse's last `kept` frames are partial sums that the next pulses complete.

    partial (outer, n + kept, inner), tail (outer, kept, inner), out (outer, n, inner): one
    dtype, equal outer and inner. Written: out, and tail (the state). out must not overlap
    partial or tail. The tail shifts in place by a forward loop: frame t is written after frame
    t + n, which it reads, and later frames are not written yet (n >= 1).
    """
    outer, n, inner = out.shape
    kept = tail.shape[1]
    head = min(kept, n)
    for o in range(outer):
        for t in range(head):
            for i in range(inner):
                out[o, t, i] = partial[o, t, i] + tail[o, t, i]
        for t in range(head, n):
            for i in range(inner):
                out[o, t, i] = partial[o, t, i]
        for t in range(kept):
            if t + n < kept:
                for i in range(inner):
                    tail[o, t, i] = partial[o, n + t, i] + tail[o, n + t, i]
            else:
                for i in range(inner):
                    tail[o, t, i] = partial[o, n + t, i]
