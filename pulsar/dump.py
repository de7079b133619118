"""Printable graphs: one stable line per node, so a changed plan shows up as a text diff."""


def dump_graph(graph, indent="") -> str:
    lines = []
    for w in graph.inputs:
        lines.append(f"{indent}input  {w}: {_fact(graph, w)}")
    consts = graph.constants()
    for node in graph.nodes:
        ins = ", ".join(_input(w, consts) for w in node.inputs)
        outs = ", ".join(f"{w}: {_fact(graph, w)}" for w in node.outputs if w)
        lines.append(f"{indent}{node.name} = {node.op}({ins}) -> {outs}")
        for i, sub in enumerate(node.op.subgraphs()):
            lines.append(f"{indent}  subgraph {i} ({sub.name}):")
            lines.append(dump_graph(sub, indent + "    "))
    for w in graph.outputs:
        lines.append(f"{indent}output {w}: {_fact(graph, w)}")
    return "\n".join(lines)


def _fact(graph, wire) -> str:
    fact = graph.facts.get(wire)
    return "?" if fact is None else str(fact)


def _input(wire, consts) -> str:
    if not wire:
        return "_"
    if wire in consts:
        v = consts[wire]
        return f"{wire}<const>" if v.size > 8 else f"{wire}={v.reshape(-1).tolist() if v.ndim else v.item()}"
    return wire


def folded_lines(graph) -> list:
    """Dump lines for what load-time folding did: bound inputs, inlined branches."""
    return [f"# folded: {note}" for note in graph.folded]
