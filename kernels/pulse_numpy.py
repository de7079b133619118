"""NumPy twins of kernels/pulse.py. The frame arithmetic runs on Python ints (the kernel's is
int64; stream positions never come near its range) and returns Python ints, which the callers
use as slice bounds."""


def advance_frames(counters, frames, delay, begin):
    # the kernel's max/min clamps written as comparisons: half the cost, once per pulse
    seen, end = counters.item(0), counters.item(1)
    counters[0] = seen + frames
    start = seen - delay
    low = begin - start
    low = 0 if low <= 0 else low if low < frames else frames
    if end < 0:
        return start, low, frames
    high = end - start
    return start, low, low if high <= low else high if high < frames else frames


def pad_frames(x, out, start, low, high, fill, prefix):
    p = out.shape[1]
    # frames t < low with a prefix frame: a <= t < b (empty copies skipped: ~0.5 us each)
    a = min(low, max(0, -start))
    b = max(a, min(low, prefix.shape[1] - start))
    if a > 0:
        out[:, :a] = fill
    if b > a:
        out[:, a:b] = prefix[:, start + a:start + b]
    if low > b:
        out[:, b:low] = fill
    if high > low:
        out[:, low:high] = x[:, low:high]
    if p > high:
        out[:, high:] = fill
