"""`pulsar wakeword AUDIO.wav --model hey_jarvis_v0.1.onnx ...`: wake-word detections with times,
from a WAV file or (--mic) live."""
from pathlib import Path

from ..errors import OptionError
from .microphone import add_mic_options, check_source, chunks
from .output import RowWriter, add_output_options

NAME = "wakeword"
HELP = "detect wake words (openWakeWord-format models) in a WAV file or from the microphone"


def add_arguments(parser):
    parser.add_argument("audio", nargs="?", help="a 16 kHz 16-bit PCM WAV file (or use --mic)")
    parser.add_argument("--model", action="append", required=True, metavar="CLASSIFIER.onnx",
                        help="a wake-word classifier, named by its file stem (repeatable)")
    parser.add_argument("--mel", default="melspectrogram.onnx", help="openWakeWord's mel model")
    parser.add_argument("--embedding", default="embedding_model.onnx",
                        help="openWakeWord's embedding model")
    parser.add_argument("--threshold", type=float, default=0.5, help="score that detects")
    parser.add_argument("--patience", type=int, default=1,
                        help="consecutive 80 ms chunks at or above threshold before detecting")
    parser.add_argument("--debounce", type=float, default=1.0, metavar="SECONDS",
                        help="after a detection, ignore the same wake word this long (0: report "
                             "every chunk above threshold)")
    add_output_options(parser)
    add_mic_options(parser)


def main(args) -> int:
    from ..audio import WakeWord, read_wav
    from ..audio.wakeword import CHUNK, SAMPLE_RATE
    check_source(args)
    if not 0 < args.threshold <= 1 or args.patience < 1 or args.debounce < 0:
        raise OptionError("--threshold must be in (0, 1], --patience >= 1, --debounce >= 0")
    for path in [*args.model, args.mel, args.embedding]:
        if not Path(path).exists():
            raise OptionError(f"model file {path} not found")
    ww = WakeWord(args.model, mel=args.mel, embedding=args.embedding)
    out = RowWriter(args.format, args.output,
                    text=lambda r: f"{r['time']:8.2f}s  {r['name']}  score {r['score']:.3f}")
    if args.audio:
        x = read_wav(args.audio, SAMPLE_RATE, args.channel)
        for d in ww.detect(x, args.threshold, args.patience, args.debounce):
            out.write({"name": d.name, "time": d.time, "score": round(d.score, 6)})
    else:
        print(f"listening for {', '.join(ww.labels)} (Ctrl-C to stop)", flush=True)
        live(ww, chunks(SAMPLE_RATE, CHUNK, args.seconds), args, out)
    out.close()
    if args.format == "text" and not out.rows and not args.output:
        print("no detection")
    return 0


def live(ww, blocks, args, out):
    """Score each 80 ms block; a name detects after `patience` blocks at or above threshold,
    then stays silent for `debounce` seconds."""
    from ..audio.wakeword import CHUNK, SAMPLE_RATE
    run = {name: 0 for name in ww.labels}
    last = {name: float("-inf") for name in ww.labels}
    try:
        for block in blocks:
            scores = ww.predict(block)
            t = ww.chunks * CHUNK / SAMPLE_RATE
            for name, score in scores.items():
                run[name] = run[name] + 1 if score >= args.threshold else 0
                if run[name] >= args.patience and t - last[name] >= args.debounce - 1e-9:
                    last[name] = t
                    out.write({"name": name, "time": round(t, 4), "score": round(score, 6)})
    except KeyboardInterrupt:
        pass
