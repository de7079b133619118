"""`pulsar warmup MODEL`: compile everything a model (or its pulsed plan) needs, ahead of time.

By default pulsar answers at once and compiles in the background; a deployment that wants
machine code from its first chunk runs this once (at install or image build time): the machine
code lands in the disk caches, and every later process loads it instead of compiling.
"""
import time

from ..api import load
from ..warming import compile_notice, warmup
from .options import add_model_options, parse_bindings, parse_facts, parse_values
from .stream import add_pulse_option, pulse_from_option

NAME = "warmup"
HELP = "compile a model's machine code now (cached on disk for every later process)"


def add_arguments(parser):
    add_model_options(parser)
    add_pulse_option(parser)


def main(args) -> int:
    model = load(args.model, inputs=parse_facts(args.input_fact), symbols=parse_bindings(args.set),
                 values=parse_values(args.value), tier="compiled")
    target = model
    if args.pulse:
        from .. import streaming
        target = streaming.pulse(model, **pulse_from_option(model, args.pulse))
    start = time.perf_counter()
    with compile_notice() as watch:
        warmup(target)
    what = "pulsed plan" if args.pulse else "model"
    print(f"{args.model}: {what} ready in {time.perf_counter() - start:.1f} s "
          f"({watch.compiles} function(s) compiled; the rest came from the cache)")
    return 0
