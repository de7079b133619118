"""Speech segments from per-window speech probabilities: silero-vad's rules (6.x), on plain
lists, so that any model giving one probability per window can use them.

Two hysteresis thresholds: a segment opens when a window reaches `threshold`, and closes once
windows stay below `neg_threshold` (default threshold - 0.15) for `min_silence` samples; too
short segments are dropped, the rest padded by `pad` samples (halving gaps that are too small
to pad both sides). Positions are in samples of the window grid: window i starts at i * window.
"""


def speech_segments(probs, n_samples, window, sampling_rate, threshold=0.5,
                    min_speech_duration_ms=250, min_silence_duration_ms=100, speech_pad_ms=30,
                    neg_threshold=None) -> list:
    """[{"start": sample, "end": sample}] as silero's `get_speech_timestamps` returns them."""
    if neg_threshold is None:
        neg_threshold = max(threshold - 0.15, 0.01)
    min_speech = sampling_rate * min_speech_duration_ms / 1000
    min_silence = sampling_rate * min_silence_duration_ms / 1000
    pad = sampling_rate * speech_pad_ms / 1000
    segments, start, silent_since = [], None, 0
    for i, p in enumerate(probs):
        at = window * i
        if p >= threshold:
            silent_since = 0
            if start is None:
                start = at
                continue
        if start is not None and p < neg_threshold:
            silent_since = silent_since or at
            if at - silent_since >= min_silence:
                if silent_since - start > min_speech:
                    segments.append({"start": start, "end": silent_since})
                start, silent_since = None, 0
    if start is not None and n_samples - start > min_speech:
        segments.append({"start": start, "end": n_samples})
    return _padded(segments, pad, n_samples)


def _padded(segments, pad, n_samples) -> list:
    for i, seg in enumerate(segments):
        if i == 0:
            seg["start"] = int(max(0, seg["start"] - pad))
        if i + 1 < len(segments):
            after = segments[i + 1]
            gap = after["start"] - seg["end"]
            if gap < 2 * pad:
                seg["end"] += int(gap // 2)
                after["start"] = int(max(0, after["start"] - gap // 2))
            else:
                seg["end"] = int(min(n_samples, seg["end"] + pad))
                after["start"] = int(max(0, after["start"] - pad))
        else:
            seg["end"] = int(min(n_samples, seg["end"] + pad))
    return segments


def in_seconds(segments, sampling_rate, n_samples, time_resolution=1) -> list:
    length = n_samples / sampling_rate
    return [{"start": max(round(s["start"] / sampling_rate, time_resolution), 0),
             "end": min(round(s["end"] / sampling_rate, time_resolution), length)}
            for s in segments]


class SpeechEvents:
    """silero's `VADIterator` rules, one window's probability at a time: `step(p, window)`
    returns {"start": sample}, {"end": sample} or None; samples count from the stream start."""

    def __init__(self, sampling_rate, threshold=0.5, min_silence_duration_ms=100,
                 speech_pad_ms=30):
        self.threshold = threshold
        self.min_silence = sampling_rate * min_silence_duration_ms / 1000
        self.pad = sampling_rate * speech_pad_ms / 1000
        self.reset()

    def reset(self):
        self.triggered, self.silent_since, self.position = False, 0, 0

    def step(self, p, window):
        self.position += window
        if p >= self.threshold:
            self.silent_since = 0
            if not self.triggered:
                self.triggered = True
                return {"start": int(max(0, self.position - self.pad - window))}
        if self.triggered and p < self.threshold - 0.15:
            self.silent_since = self.silent_since or self.position
            if self.position - self.silent_since >= self.min_silence:
                end = self.silent_since + self.pad - window
                self.triggered, self.silent_since = False, 0
                return {"end": int(end)}
        return None
