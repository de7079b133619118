"""Count ONNX op names written as string literals outside pulsar/ops/.

An op's facts should live in its class; every literal op name elsewhere is a side table that
repeats what the op already knows. A literal counts when the whole string is an op name, or a
whitespace-separated list of capitalised names (one count per op name among them, so a table
such as "Abs Neg ... FusedElementwise" counts its ONNX names). Docstrings do not count.

    python tests/tools/op_name_literals.py [--list]
"""
import ast
import pathlib
import re
import sys
from collections import Counter

import onnx.defs

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIRECTORIES = ("pulsar", "streaming", "kernels")
EXCLUDED = ("pulsar/ops",)
NAME = re.compile(r"[A-Z][A-Za-z0-9]*$")


def op_names() -> set:
    return {s.name for s in onnx.defs.get_all_schemas()}


def _docstrings(tree) -> set:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def literals(path: pathlib.Path, names: set) -> list:
    """(line, op name) for each op name written as a string literal in `path`."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            words = node.value.split()
            if words and all(NAME.match(w) for w in words):
                found += [(node.lineno, w) for w in words if w in names]
    return found


def count(root: pathlib.Path = ROOT) -> dict:
    """{directory: [(file, line, name), ...]} for the directories above."""
    names = op_names()
    out = {}
    for d in DIRECTORIES:
        hits = []
        for path in sorted((root / d).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if any(rel.startswith(e + "/") for e in EXCLUDED):
                continue
            hits += [(rel, line, name) for line, name in literals(path, names)]
        out[d] = hits
    return out


def main(argv) -> int:
    result = count()
    total = 0
    for d, hits in result.items():
        files = Counter(f for f, _, _ in hits)
        print(f"{d + '/':12} {len(hits):4} literals, {len({n for _, _, n in hits}):3} distinct names"
              + (" (" + ", ".join(f"{f} {c}" for f, c in files.most_common()) + ")" if files else ""))
        if "--list" in argv:
            for f, line, name in hits:
                print(f"    {f}:{line} {name}")
        total += len(hits)
    print(f"{'total':12} {total:4}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
