"""The import graph of pulsar's own modules, and its cycles.

Every import counts, at the top of a module or inside a function: a cycle broken by importing
late is still a cycle, only one that fails at run time instead of at import. Relative and
absolute imports resolve to the installed names (`kernels/` is `pulsar.kernels`, `streaming/`
is `pulsar.streaming`). Third-party imports are not edges.

    python tests/tools/import_graph.py        # prints every cycle, one per line
"""
import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = {"pulsar": "pulsar", "kernels": "pulsar.kernels", "streaming": "pulsar.streaming"}


def modules() -> dict:
    """Module name -> path, for every module of the three packages."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _targets(node, module: str, is_package: bool) -> list:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = module if is_package else module.rsplit(".", 1)[0]
    if node.level:
        base = ".".join(base.split(".")[:len(base.split(".")) - node.level + 1])
        base = ".".join(p for p in (base, node.module) if p)
    else:
        base = node.module or ""
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def edges() -> dict:
    """Module -> the set of pulsar modules it imports."""
    known = modules()
    graph = {name: set() for name in known}
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            targets = _targets(node, name, path.name == "__init__.py")
            resolved = {t for t in targets if t in known}
            if isinstance(node, ast.ImportFrom) and len(resolved) > 1:
                resolved.discard(targets[-1])   # `from . import a`: the module a, not the package
            graph[name] |= resolved - {name}
    return graph


def cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for v in graph:
        if v not in index:
            visit(v)
    return found


if __name__ == "__main__":
    for component in cycles(edges()):
        print(" <-> ".join(component))
