"""`pulsar vad MODEL AUDIO.wav`: speech segments with silero-vad's rules, or live start/end
events (--mic)."""
from pathlib import Path

from ..errors import OptionError
from .microphone import add_mic_options, check_source, chunks
from .output import RowWriter, add_output_options

NAME = "vad"
HELP = "find speech segments (silero-vad models) in a WAV file or from the microphone"


def add_arguments(parser):
    parser.add_argument("model", help="a silero-vad ONNX file")
    parser.add_argument("audio", nargs="?", help="a 16-bit PCM WAV file at 8 or 16 kHz (or a "
                        "multiple of 16 kHz), or use --mic")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--min-speech-ms", type=int, default=250)
    parser.add_argument("--min-silence-ms", type=int, default=100)
    parser.add_argument("--pad-ms", type=int, default=30)
    add_output_options(parser)
    add_mic_options(parser)


def main(args) -> int:
    from ..audio import VAD
    from ..audio.samples import read_wav_and_rate
    check_source(args)
    if not 0 < args.threshold < 1:
        raise OptionError(f"--threshold must be in (0, 1), got {args.threshold}")
    if not Path(args.model).exists():
        raise OptionError(f"model file {args.model} not found")
    vad = VAD(args.model)
    out = RowWriter(args.format, args.output, text=text_row)
    if args.audio:
        x, rate = read_wav_and_rate(args.audio, args.channel)
        for s in vad.speech_timestamps(x, rate, args.threshold, args.min_speech_ms,
                                       args.min_silence_ms, args.pad_ms):
            out.write({"start": s["start"], "end": s["end"],
                       "start_s": round(s["start"] / rate, 3), "end_s": round(s["end"] / rate, 3)})
    else:
        rate = 16000
        it = vad.iterator(args.threshold, rate, args.min_silence_ms, args.pad_ms)
        print("listening (Ctrl-C to stop)", flush=True)
        try:
            for block in chunks(rate, 512, args.seconds):
                for event in it.push(block):
                    kind, at = next(iter(event.items()))
                    out.write({"event": kind, "sample": at, "time": round(at / rate, 3)})
        except KeyboardInterrupt:
            pass
    out.close()
    return 0


def text_row(row):
    if "event" in row:
        return f"{row['time']:8.2f}s  speech {row['event']}"
    return f"{row['start_s']:8.2f}s - {row['end_s']:8.2f}s  speech"
