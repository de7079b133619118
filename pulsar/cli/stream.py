"""`pulsar stream MODEL AUDIO.wav --pulse S=1280`: stream a WAV file through a pulsed model."""
import time
import wave

import numpy as np

from ..api import load
from ..errors import OptionError
from ..warming import warm_up
from .options import add_model_options, parse_bindings, parse_facts, parse_values
from .output import RowWriter, add_output_options

NAME = "stream"
HELP = "stream a WAV file chunk by chunk through a pulsed model; print outputs and timings"


def add_arguments(parser):
    add_model_options(parser)
    parser.add_argument("audio", help="a PCM WAV file (8/16/32-bit integer), read with the standard library")
    add_pulse_option(parser)
    parser.add_argument("--window", metavar="SIZE:HOP", help="window mode instead of --pulse: "
                        "run the whole model on the newest SIZE samples every HOP (models that "
                        "cannot pulse, e.g. a clip relative to a global max)")
    add_output_options(parser)
    parser.add_argument("--chunk", type=int, help="samples per push (default: the pulse)")
    parser.add_argument("--scale", choices=("unit", "none"), default="unit",
                        help="int samples -> float: 'unit' divides by 2^(bits-1), 'none' keeps "
                             "the integer values (as openWakeWord does)")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")


def add_pulse_option(parser, required=False):
    parser.add_argument("--pulse", metavar="SYM=P | INPUT:AXIS=P", required=required,
                        help="pulse along symbol SYM (or a declared input axis) by P frames")
    parser.add_argument("--sample-rate", type=float, help="to print latency in seconds")


def pulse_from_option(model, text):
    """(kwargs for streaming.pulse) from `S=1280` or `input_1:1=8`."""
    target, eq, size = text.partition("=")
    if not eq or not size.strip().isdigit():
        raise OptionError(f"--pulse expects SYM=P or INPUT:AXIS=P, got {text!r}")
    if ":" in target:
        name, _, axis = target.rpartition(":")
        try:
            return dict(input=name, axis=int(axis), pulse=int(size))
        except ValueError as e:
            raise OptionError(f"--pulse {text!r}: the axis must be an integer") from e
    return dict(symbol=target.strip(), pulse=int(size))


def read_wav(path, scale):
    try:
        with wave.open(str(path), "rb") as f:
            width, channels, rate = f.getsampwidth(), f.getnchannels(), f.getframerate()
            raw = f.readframes(f.getnframes())
    except (OSError, wave.Error, EOFError) as e:
        raise OptionError(f"cannot read WAV {path!r}: {e}") from e
    dtype = {1: np.uint8, 2: np.int16, 4: np.int32}.get(width)
    if dtype is None:
        raise OptionError(f"{path}: {8 * width}-bit samples are not supported")
    samples = np.frombuffer(raw, dtype=dtype).reshape(-1, channels)[:, 0].astype(np.float32)
    if width == 1:
        samples -= 128
    if scale == "unit":
        samples /= float(2 ** (8 * width - 1))
    return samples, rate


def main(args) -> int:
    from .. import streaming
    if bool(args.pulse) == bool(args.window):
        raise OptionError("give --pulse SYM=P (a pulsed plan) or --window SIZE:HOP (window mode)")
    model = load(args.model, inputs=parse_facts(args.input_fact), symbols=parse_bindings(args.set),
                 values=parse_values(args.value))
    if args.window:
        pm = streaming.window(model, **window_from_option(args.window))
        name, fact, axis = pm.input, pm.fact, pm.axis
        names, axes = pm.model.graph.outputs, pm.out_axes
    else:
        pm = streaming.pulse(model, **pulse_from_option(model, args.pulse))
        name = next(iter(pm.stream_inputs))
        fact = pm.graph.facts[name]
        axis = fact.stream.axis
        names = pm.graph.outputs
        axes = [s.axis if s else None for s in pm.output_streams]
    samples, rate = read_wav(args.audio, args.scale)
    shape = [1] * fact.rank
    if any(d != 1 for a, d in enumerate(fact.shape) if a != axis):
        raise OptionError(f"input {name!r} takes {fact} per pulse: audio fits only a stream "
                          "whose other axes are 1")
    if not args.window:
        warm_up(pm)     # compiles outside the timed pushes, in a throwaway session
    session = pm.session()
    chunk = args.chunk or (pm.hop if args.window else pm.pulse)
    out = RowWriter(args.format, args.output, text=text_row)
    times = []
    for start in range(0, len(samples), chunk):
        piece = samples[start:start + chunk]
        shape[axis] = len(piece)
        t0 = time.perf_counter()
        outs = session.push(piece.reshape(shape).astype(fact.dtype))
        times.append(time.perf_counter() - t0)
        report(args, out, start // chunk, start / rate, outs, names, axes)
    report(args, out, "flush", len(samples) / rate, session.flush(), names, axes)
    out.close()
    if args.window:
        print(f"window mode: {pm.size} samples every {pm.hop}")
        pm = None
    summary(pm, times, rate, len(samples))
    return 0


def window_from_option(text):
    size, colon, hop = text.partition(":")
    if not colon or not size.strip().isdigit() or not hop.strip().isdigit() or not int(hop):
        raise OptionError(f"--window expects SIZE:HOP in samples, e.g. 1760:1280; got {text!r}")
    return dict(size=int(size), hop=int(hop))


def report(args, out, index, seconds, outs, names, axes):
    """One row per output that produced frames (a final output: its newest value)."""
    for value, name, axis in zip(outs, names, axes):
        value = np.asarray(value)
        n = value.shape[axis] if axis is not None else (1 if value.size else 0)
        if args.quiet and not args.output or n == 0:
            continue
        out.write({"chunk": index, "time": round(seconds, 4), "output": name, "frames": n,
                   "shape": list(value.shape), "values": [round(float(v), 6) for v in value.reshape(-1)]})


def text_row(row):
    flat = row["values"]
    text = ", ".join(f"{v:.4g}" for v in flat[:6]) + (", ..." if len(flat) > 6 else "")
    return f"chunk {row['chunk']} @ {row['time']:.2f}s {row['output']}: {row['frames']} frame(s) [{text}]"


def summary(pm, times, rate, total):
    times = np.array(times) * 1e6
    for w, d, lat in zip(pm.graph.outputs, pm.delay, pm.latency) if pm else ():
        if pm.output_streams[pm.graph.outputs.index(w)] is None:
            print(f"{w}: a final output (recomputed every pulse; complete after the flush)")
            continue
        print(f"latency of {w}: {d} frames = {lat} samples = {lat / rate * 1e3:.1f} ms")
    if len(times):
        print(f"{len(times)} chunks of {total // max(len(times), 1)} samples: mean "
              f"{times.mean():.0f} us, p99 {np.percentile(times, 99):.0f} us per chunk "
              f"({times.mean() / 1e6 / (total / len(times) / rate) * 100:.1f}% of real time)")
