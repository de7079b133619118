"""`pulsar profile MODEL`: where a run's time goes, per node and per op type, plus the overhead
outside the ops. With --pulse: the stream plan's steps (Delay, PulsePad, Recurrence...) per push."""
from ..profile import profile_calls
from .bench import add_workload_options, fmt_time, prepare

NAME = "profile"
HELP = "time every node of a run (or of a pulsed push): per-node and per-op tables"


def add_arguments(parser):
    add_workload_options(parser, runs=20, warmup=3)
    parser.add_argument("--top", type=int, default=20, metavar="K",
                        help="show the K slowest nodes, the rest on one line (default 20; "
                             "0 shows all)")


def main(args) -> int:
    work = prepare(args)
    prof = profile_calls(work.plan, work.call, args.runs, work.outside)
    print(f"{args.model}: {work.label}, {args.runs} timed calls after {args.warmup} warm-up, "
          f"{fmt_time(prof.wall / prof.runs)} per call, {len(prof.nodes)} nodes\n")
    print(prof.table(top=args.top or None))
    return 0
