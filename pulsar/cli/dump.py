"""`pulsar dump MODEL`: the graph with symbolic facts after a chosen stage."""
from .. import pipeline
from ..dump import dump_graph
from .options import add_model_options, parse_bindings, parse_facts

NAME = "dump"
HELP = "print the analysed graph: one line per node with its output facts"


def add_arguments(parser):
    add_model_options(parser)
    parser.add_argument("--stage", choices=pipeline.STAGES, default="optimise",
                        help="stop after this stage (default: optimise)")


def main(args) -> int:
    graph, _ = pipeline.build(args.model, parse_facts(args.input_fact),
                              parse_bindings(args.set), stage=args.stage)
    print(dump_graph(graph))
    return 0
