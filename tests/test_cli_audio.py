"""The audio verbs (`pulsar wakeword`, `pulsar vad`), `pulsar stream --window/--format` and the
option fixes, on the shared models, with exit codes; --mic with a fake `sounddevice`."""
import json
import sys
import types
import wave

import numpy as np
import pytest

from pulsar import audio
from pulsar.cli.main import main
from shared_data import audio_dir, model_path

STREAM = "stream_hey_jarvis_then_alexa"


def shared_wav(stem):
    path = audio_dir() / f"{stem}.wav"
    if not path.exists():
        pytest.skip(f"shared audio {path} not present")
    return path


def write_wav(path, x, rate=16000, width=2):
    x = np.asarray(x)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1 if x.ndim == 1 else x.shape[1])
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(x.tobytes())
    return path


def wakeword_args():
    ow = lambda n: str(model_path("openwakeword", n))   # noqa: E731
    return ["--model", ow("hey_jarvis_v0.1.onnx"), "--model", ow("alexa_v0.1.onnx"),
            "--mel", ow("melspectrogram.onnx"), "--embedding", ow("embedding_model.onnx")]


@pytest.fixture(scope="module")
def ow_reference():
    path = audio_dir() / "openwakeword_reference_scores.npz"
    if not path.exists():
        pytest.skip(f"{path} not present")
    return np.load(path)


def test_wakeword_json_lists_the_reference_chunks(capsys, ow_reference):
    argv = ["wakeword", str(shared_wav(STREAM)), *wakeword_args(), "--debounce", "0",
            "--format", "json"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    # 1 s of padding (as predict_clip) = 12.5 chunks: times sit 40 ms off the unpadded grid
    for name in ("hey_jarvis_v0.1", "alexa_v0.1"):
        ref = ow_reference[f"{STREAM}/{name}"]
        got = [r["time"] for r in rows if r["name"] == name]
        assert len(got) == int((ref >= 0.5).sum())
        assert min(got) == pytest.approx((np.argmax(ref >= 0.5) + 1) * 0.08 + 0.04, abs=0.081)


def test_wakeword_text_and_csv_to_a_file(capsys, tmp_path):
    assert main(["wakeword", str(shared_wav(STREAM)), *wakeword_args()]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out] == ["hey_jarvis_v0.1", "alexa_v0.1"]
    target = tmp_path / "found.csv"
    assert main(["wakeword", str(shared_wav(STREAM)), *wakeword_args(), "--format", "csv",
                 "-o", str(target)]) == 0
    lines = target.read_text().splitlines()
    assert lines[0] == "name,time,score" and len(lines) == 3


def test_wakeword_refuses_what_it_cannot_read(capsys, tmp_path):
    x = audio.read_wav(shared_wav("tts_alexa_en-us_160"))
    cases = [(write_wav(tmp_path / "8k.wav", x, rate=8000), "16000 Hz"),
             (write_wav(tmp_path / "u8.wav", (x // 256 + 128).astype(np.uint8), width=1), "8-bit"),
             (write_wav(tmp_path / "st.wav", np.stack([x, x], 1)), "--channel")]
    for path, message in cases:
        assert main(["wakeword", str(path), *wakeword_args()]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.splitlines()) == 1
    assert main(["wakeword", str(tmp_path / "st.wav"), *wakeword_args(), "--channel", "1"]) == 0
    assert "alexa_v0.1" in capsys.readouterr().out
    assert main(["wakeword", *wakeword_args()]) == 1          # neither a file nor --mic


def test_vad_segments_equal_silero_reference(capsys):
    shared_wav(STREAM)
    ref = json.loads((audio_dir() / "silero_reference_timestamps.json").read_text())["clips"]
    model = model_path("silero_vad", audio.DEFAULT_VAD_FILE)
    assert main(["vad", str(model), str(shared_wav(STREAM)), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [{"start": r["start"], "end": r["end"]} for r in rows] == ref[STREAM]
    assert main(["vad", str(model.parent / "missing.onnx"), str(shared_wav(STREAM))]) == 1


class FakeInputStream:
    """sounddevice.InputStream's reading interface, over a recording."""
    source = np.zeros(0, np.int16)

    def __init__(self, samplerate, channels, dtype, blocksize):
        assert (samplerate, channels, dtype) == (16000, 1, "int16")
        self.at = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self, frames):
        block = self.source[self.at:self.at + frames]
        self.at += frames
        return np.pad(block, (0, frames - len(block)))[:, None], False


@pytest.fixture
def fake_mic(monkeypatch):
    module = types.ModuleType("sounddevice")
    module.InputStream = FakeInputStream
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    FakeInputStream.source = audio.read_wav(shared_wav(STREAM))
    return FakeInputStream


def test_wakeword_mic_detects_live(fake_mic, capsys):
    assert main(["wakeword", "--mic", "--seconds", "21", *wakeword_args(), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("listening")
    rows = [line.split(",") for line in lines[2:]]
    assert [r[0] for r in rows] == ["hey_jarvis_v0.1", "alexa_v0.1"]
    assert float(rows[0][1]) == pytest.approx(121 * 0.08)    # chunk 120 ends at 9.68 s


def test_vad_mic_emits_start_and_end_events(fake_mic, capsys):
    ref = json.loads((audio_dir() / "silero_reference_timestamps.json").read_text())["clips"]
    model = model_path("silero_vad", audio.DEFAULT_VAD_FILE)
    assert main(["vad", str(model), "--mic", "--seconds", "10", "--format", "json"]) == 0
    out = capsys.readouterr().out
    events = json.loads(out[out.index("["):])
    assert events[0] == {"event": "start", "sample": ref[STREAM][0]["start"], "time": 0.0}
    assert events[1]["sample"] == ref[STREAM][0]["end"]


def test_mic_without_sounddevice_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sounddevice", None)      # import fails
    assert main(["wakeword", "--mic", *wakeword_args()]) == 1
    assert "pip install 'pulsar-nn[mic]'" in capsys.readouterr().err


def test_stream_window_mode_writes_per_chunk_rows(tmp_path, capsys):
    mel = model_path("openwakeword", "melspectrogram.onnx")
    target = tmp_path / "mel.json"
    assert main(["stream", str(mel), str(shared_wav("tts_alexa_en-us_160")), "--set",
                 "batch_size=1", "--window", "1760:1280", "--scale", "none", "--format", "json",
                 "-o", str(target)]) == 0
    rows = json.loads(target.read_text())
    assert rows and all(r["frames"] == 8 and r["shape"] == [1, 1, 8, 32] for r in rows)
    assert main(["stream", str(mel), str(shared_wav("tts_alexa_en-us_160")), "--window", "17"]) == 1


def test_stream_a_final_output_is_an_array_on_every_push(tmp_path, capsys):
    """GRU_S: its label distribution is recomputed every pulse (no stream axis)."""
    wav_path = write_wav(tmp_path / "x.wav", (np.arange(2500) % 200 - 100).astype(np.int16))
    assert main(["stream", str(model_path("mlkws", "GRU_S.onnx")), str(wav_path),
                 "--pulse", "Reshape:0:1=10", "--chunk", "5", "--format", "json"]) == 0
    out = capsys.readouterr().out
    rows = json.loads(out[:out.rindex("]") + 1])
    assert all(r["shape"] == [1, 12] and r["frames"] == 1 for r in rows)
    # a push of 5 frames completes a pulse of 10 every other time; the flush adds the last
    assert [r["chunk"] for r in rows] == [*range(1, 500, 2), "flush"]


def test_options_are_validated_and_hints_are_flags(tmp_path, capsys):
    mel = str(model_path("openwakeword", "melspectrogram.onnx"))
    assert main(["run", mel, "--set", "samples=abc"]) == 1
    assert "whole number" in capsys.readouterr().err
    assert main(["run", mel]) == 1
    assert "--set batch_size=1 --set samples=16000" in capsys.readouterr().err
    assert main(["dump", str(model_path("openwakeword", "embedding_model.onnx")),
                 "--pulse", "input_1:1=8"]) == 1
    err = capsys.readouterr().err
    assert "--set unk__314=1" in err and "bind(" not in err
    target = tmp_path / "out.json"
    assert main(["run", mel, "--set", "batch_size=1", "--set", "samples=1760", "--save",
                 str(target)]) == 0
    assert json.loads(target.read_text())["output"]["shape"] == [1, 1, 8, 32]
    assert not (tmp_path / "out.json.npz").exists()
