"""Where a pulse lies in its stream, and padding of the frames outside the stream.

A pulsed op sees fixed-size pulses; some of their frames are not part of the stream: upstream
warm-up before it starts, and once its length is known, the flush padding after its end. The
stateful streaming ops (the stream-position pad, recurrences) count the frames they have seen
in a small int64 array, their state, and ask `advance_frames` which frames of each pulse count.
"""
from . import pulse_numpy
from .jit import jit


@jit(twin=pulse_numpy.advance_frames)
def advance_frames(counters, frames, delay, begin):
    """Count one pulse of `frames` frames; return (start, low, high): the stream index of the
    pulse's first frame, and the pulse frames [low, high) that lie in [begin, end) of the stream.

    counters: int64 (>= 2,), state: [0] frames seen so far (advanced here by `frames`),
    [1] the stream's end, -1 while unknown (then nothing is cut at the end); other entries are
    the caller's. delay: frames each pulse lags the stream by. 0 <= low <= high <= frames.
    """
    start = counters[0] - delay
    counters[0] += frames
    low = max(0, min(frames, begin - start))
    end = counters[1]
    high = frames if end < 0 else max(low, min(frames, end - start))
    return start, low, high


@jit(twin=pulse_numpy.pad_frames)
def pad_frames(x, out, start, low, high, fill, prefix):
    """out = x with the frames outside [low, high) replaced: frame t < low by frame start + t of
    `prefix` when there is one (0 <= start + t < prefix frames), else by `fill`; frames from
    `high` on by `fill`.

    x, out (outer, p, inner); prefix (outer, m, inner) (m = 0: none); fill a scalar of out's
    dtype; 0 <= low <= high <= p. Written: out, which may be x itself.
    """
    outer, p, inner = out.shape
    m = prefix.shape[1]
    for o in range(outer):
        for t in range(low):
            j = start + t
            if 0 <= j < m:
                for i in range(inner):
                    out[o, t, i] = prefix[o, j, i]
            else:
                for i in range(inner):
                    out[o, t, i] = fill
        for t in range(low, high):
            for i in range(inner):
                out[o, t, i] = x[o, t, i]
        for t in range(high, p):
            for i in range(inner):
                out[o, t, i] = fill
