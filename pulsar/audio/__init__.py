"""Audio applications on pulsar's engine: wake words, voice activity.

    from pulsar import audio
    ww = audio.WakeWord(["hey_jarvis_v0.1.onnx"])     # openWakeWord-format classifiers
    ww.detect("clip.wav")                              # [Detection(name, time, score), ...]
"""
from .samples import read_wav
from .wakeword import Detection, WakeWord

__all__ = ["WakeWord", "Detection", "read_wav"]
