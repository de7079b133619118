"""`pulsar dump MODEL`: the graph with symbolic facts after a chosen stage."""
from .. import pipeline
from ..dump import dump_graph, folded_lines
from .options import add_model_options, parse_bindings, parse_facts, parse_values
from .stream import add_pulse_option, pulse_from_option

NAME = "dump"
HELP = "print the analysed graph: one line per node with its output facts"


def add_arguments(parser):
    add_model_options(parser)
    parser.add_argument("--stage", choices=pipeline.STAGES, default="optimise",
                        help="stop after this stage (default: optimise)")
    add_pulse_option(parser)


def main(args) -> int:
    if args.pulse:
        from .. import streaming
        from ..api import load
        model = load(args.model, inputs=parse_facts(args.input_fact), symbols=parse_bindings(args.set),
                     values=parse_values(args.value))
        pm = streaming.pulse(model, **pulse_from_option(model, args.pulse))
        print(pm.dump(sample_rate=args.sample_rate))
        return 0
    graph, _ = pipeline.build(args.model, parse_facts(args.input_fact),
                              parse_bindings(args.set), stage=args.stage,
                              values=parse_values(args.value))
    print("\n".join([dump_graph(graph), *folded_lines(graph)]))
    if args.stage == pipeline.STAGES[-1]:
        from ..compiled import enabled, summary
        print("\n".join(summary(pipeline.plan(graph, compile=enabled()))))
    return 0
