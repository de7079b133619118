"""`pulsar bench MODEL`: time whole runs (or, with --pulse, one pulse pushed per call).

Times are per call, after a warm-up: median and p99 say what a caller can count on, the mean
gives the throughput, the minimum what the code does on a quiet machine. --compare-ort runs
onnxruntime on one thread interleaved with pulsar, so both see the same machine load.
"""
import itertools
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..api import load
from ..errors import OptionError
from ..profile import plan_of
from ..warming import warm_up
from .options import add_model_options, parse_bindings, parse_facts, parse_values
from .run import random_array, random_inputs, read_inputs
from .stream import add_pulse_option, pulse_from_option

NAME = "bench"
HELP = "time a model's runs (or a pulsed model's pushes): median, p99, mean, min, calls/s"


def add_arguments(parser):
    add_workload_options(parser, runs=100, warmup=10)
    parser.add_argument("--compare-ort", action="store_true",
                        help="also time onnxruntime (one thread), interleaved; not with --pulse")


def add_workload_options(parser, runs, warmup):
    """Options shared with `pulsar profile`: what to run, on what, how often."""
    add_model_options(parser)
    parser.add_argument("--inputs", metavar="FILE", help=".npz by input name or .npy "
                        "(default: random inputs; with --pulse, cut into pulses)")
    parser.add_argument("--seed", type=int, default=0, help="seed for random inputs")
    parser.add_argument("--runs", type=int, default=runs, help=f"timed calls (default {runs})")
    parser.add_argument("--warmup", type=int, default=warmup,
                        help=f"untimed calls first (default {warmup})")
    add_pulse_option(parser)


@dataclass
class Workload:
    """One timed call (a run, or a push of one pulse) and the plan it runs."""
    label: str
    call: Callable
    plan: object
    model: object
    feeds: dict = None        # batch mode only
    outside: str = "plan overhead"      # what a call does besides running the plan's steps


def prepare(args) -> Workload:
    """Load, pulse if asked, compile kernels (with a notice) and run the warm-up calls."""
    if args.runs < 1 or args.warmup < 0:
        raise OptionError("--runs must be >= 1 and --warmup >= 0")
    model = load(args.model, inputs=parse_facts(args.input_fact), symbols=parse_bindings(args.set),
                 values=parse_values(args.value))
    if args.pulse:
        work = _pulsed(model, args)
    else:
        feeds = read_inputs(args.inputs, model) if args.inputs else random_inputs(model, args.seed)
        warm_up(model, feeds)
        work = Workload("model.run", lambda: model.run(feeds), plan_of(model, feeds), model, feeds)
    for _ in range(args.warmup):
        work.call()
    return work


def _pulsed(model, args) -> Workload:
    from .. import streaming
    pm = streaming.pulse(model, **pulse_from_option(model, args.pulse))
    chunks = _file_pulses(pm, model, args.inputs) if args.inputs else \
        [_random_pulse(pm, args.seed)]
    warm_up(pm, chunks[0])
    session = pm.session()
    pulses = itertools.cycle(chunks)

    def push():
        return session.push(next(pulses))
    return Workload(f"session.push of one pulse ({pm.pulse} frames of {pm.symbol})", push,
                    session.plan, pm, outside="plan and session overhead")


def _random_pulse(pm, seed) -> dict:
    rng = np.random.default_rng(seed)
    return {w: random_array(rng, pm.graph.facts[w].dtype, pm.graph.facts[w].shape)
            for w in pm.graph.inputs}


def _file_pulses(pm, model, path) -> list:
    """The file's signal cut into whole pulses, {input: chunk} each (pushed round robin)."""
    feeds = read_inputs(path, model)
    facts = [pm.graph.facts[w] for w in pm.graph.inputs]
    missing = [w for w in pm.graph.inputs if w not in feeds]
    if missing:
        raise OptionError(f"{path} has no array for stream input(s) {', '.join(missing)}")
    arrays = [np.asarray(feeds[w], f.dtype) for w, f in zip(pm.graph.inputs, facts)]
    for w, a, f in zip(pm.graph.inputs, arrays, facts):
        if a.ndim != f.rank:
            raise OptionError(f"{path}: {w!r} has shape {list(a.shape)}, the stream takes "
                              f"rank {f.rank} ({f.shape_str()} per pulse)")
    sizes = [f.shape[f.stream.axis] for f in facts]
    count = min(a.shape[f.stream.axis] // n for a, f, n in zip(arrays, facts, sizes))
    if count < 1:
        raise OptionError(f"{path} holds less than one pulse ({', '.join(map(str, sizes))} "
                          "frames) of signal")
    return [{w: np.ascontiguousarray(np.take(a, range(k * n, (k + 1) * n), axis=f.stream.axis))
             for w, a, f, n in zip(pm.graph.inputs, arrays, facts, sizes)} for k in range(count)]


def main(args) -> int:
    if args.compare_ort and args.pulse:
        raise OptionError("--compare-ort compares whole runs; drop --pulse")
    ort_session = _ort_session(args.model) if args.compare_ort else None
    work = prepare(args)
    if ort_session is None:
        ours = time_calls([work.call], args.runs)[0]
    else:
        ort = _ort_call(ort_session, work.feeds)
        for _ in range(args.warmup):
            ort()
        ours, theirs = time_calls([work.call, ort], args.runs)
    print(f"{args.model}: {work.label}, {args.runs} timed calls after {args.warmup} warm-up")
    print(stats_line("pulsar", ours))
    if ort_session is not None:
        print(stats_line("onnxruntime (1 thread)", theirs))
        print(f"time ratio pulsar / onnxruntime: {np.median(ours) / np.median(theirs):.2f} "
              f"(median), {np.min(ours) / np.min(theirs):.2f} (min)")
    if args.pulse and args.sample_rate:
        audio = work.model.pulse / args.sample_rate
        print(f"one pulse is {audio * 1e3:.1f} ms of signal: a push takes "
              f"{np.median(ours) / audio * 100:.2f}% of real time (median)")
    return 0


def time_calls(calls, runs) -> list:
    """Seconds per call for each of `calls`, called in turn `runs` times (interleaved)."""
    clock = time.perf_counter
    times = [np.empty(runs) for _ in calls]
    for k in range(runs):
        for call, out in zip(calls, times):
            start = clock()
            call()
            out[k] = clock() - start
    return times


def stats_line(name, seconds) -> str:
    return (f"{name:<24} median {fmt_time(np.median(seconds))}  "
            f"p99 {fmt_time(np.percentile(seconds, 99))}  mean {fmt_time(np.mean(seconds))}  "
            f"min {fmt_time(np.min(seconds))}  {1 / np.mean(seconds):,.0f} calls/s")


def fmt_time(seconds) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.3f} ms" if seconds < 1 else f"{seconds:.3f} s"


def _ort_session(path):
    try:
        import onnxruntime
    except ImportError:
        raise OptionError("--compare-ort needs onnxruntime (pip install onnxruntime)") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    try:
        session = onnxruntime.InferenceSession(str(path), options,
                                               providers=["CPUExecutionProvider"])
    except Exception as e:
        raise OptionError(f"onnxruntime cannot load {path}: {e}") from e
    return session


def _ort_call(session, feeds):
    def call():
        return session.run(None, feeds)
    try:
        call()
    except Exception as e:
        raise OptionError(f"onnxruntime cannot run these inputs: {e}") from e
    return call
