"""Every CLI verb on the shared models, with its exit code (0 ok, 1 a user error, never 3)."""
import pytest

from pulsar.cli.main import main
from shared_data import audio_dir, model_path

OW, KWS, VAD = "openwakeword", "mlkws", "silero_vad"


def path(kind, name):
    if kind == "audio":
        p = audio_dir() / name
        if not p.exists():
            pytest.skip(f"shared audio {p} not present")
        return str(p)
    return str(model_path(kind, name))


MEL = (OW, "melspectrogram.onnx")
EMB = (OW, "embedding_model.onnx")
WAV = ("audio", "tts_alexa_en-us_160.wav")
CASES = [
    # verb and arguments ((kind, file) pairs are shared files), exit code, text on stdout/stderr
    (["dump", MEL, "--set", "batch_size=1"], 0, "(samples-512)/160+1"),
    (["dump", EMB, "-i", "input_1=1,76,32,1", "--pulse", "input_1:1=8"], 0, "Delay"),
    (["dump", EMB, "--pulse", "input_1:1=8"], 1, "--set unk__314=1"),
    (["run", MEL, "--set", "batch_size=1", "--set", "samples=1760"], 0, "float32[1,1,8,32]"),
    (["run", MEL, "--set", "samples=1.5"], 1, "whole number"),
    (["run", (KWS, "GRU_S.onnx")], 0, "float32[1,12]"),
    (["stream", MEL, WAV, "--set", "batch_size=1", "--window", "1760:1280", "--quiet"], 0,
     "window mode"),
    (["stream", MEL, WAV, "--set", "batch_size=1", "--pulse", "samples=1280"], 1, "window mode"),
    (["stream", (VAD, "silero_vad_openvino_16k.onnx"), WAV, "--window", "576:512", "--quiet"],
     1, "input"),
    (["bench", (KWS, "DS_CNN_S.onnx"), "--runs", "3"], 0, "median"),
    (["profile", (KWS, "CNN_M.onnx")], 0, "Conv"),
    (["wakeword", WAV, "--model", (OW, "alexa_v0.1.onnx"), "--mel", MEL, "--embedding", EMB],
     0, "alexa_v0.1"),
    (["wakeword", WAV, "--model", (OW, "alexa_v0.1.onnx"), "--mel", MEL, "--embedding", EMB,
      "--threshold", "2"], 1, "--threshold"),
    (["vad", (VAD, "silero_vad_op18_ifless.onnx"), WAV, "--format", "csv"], 0, "start,end"),
    (["vad", (VAD, "silero_vad_op18_ifless.onnx"), WAV, "--threshold", "0"], 1, "--threshold"),
    (["demo"], 0, "onnxruntime"),
]


@pytest.mark.parametrize("argv, code, text", CASES, ids=lambda v: " ".join(
    a[1] if isinstance(a, tuple) else a for a in v) if isinstance(v, list) else str(v))
def test_verb_on_shared_models(argv, code, text, capsys):
    args = [path(*a) if isinstance(a, tuple) else a for a in argv]
    assert main(args) == code
    out = capsys.readouterr()
    assert text in (out.out + out.err)
    if code == 1:
        assert len(out.err.strip().splitlines()) == 1 and out.err.startswith("pulsar: error:")
