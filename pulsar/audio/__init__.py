"""Audio applications on pulsar's engine: wake words, voice activity, keyword spotting.

    from pulsar import audio
    ww = audio.WakeWord(["hey_jarvis_v0.1.onnx"])       # openWakeWord-format classifiers
    ww.detect("clip.wav")                                # [Detection(name, time, score), ...]
    audio.VAD("silero_vad.onnx").speech_timestamps("speech.wav")   # [{"start", "end"}, ...]

Audio is int16 or float in [-1, 1]; each model family gets the scale it was trained on
(see `samples`). Other dtypes raise `pulsar.AudioError`.
"""
from .kws import LABELS, KeywordSpotter, Label
from .mfcc import mfcc
from .samples import read_wav
from .vad import DEFAULT_VAD_FILE, VAD, VADIterator, VADStream
from .wakeword import Detection, WakeWord

__all__ = ["WakeWord", "Detection", "VAD", "VADIterator", "VADStream", "DEFAULT_VAD_FILE",
           "KeywordSpotter", "Label", "LABELS", "mfcc", "read_wav"]
