"""NumPy twins of the generated elementwise kernels (kernels/codegen.py): the expression is
parsed once into a tree of closures over whole arrays, each call the NumPy definition of the
scalar function it names (scalar_numpy.py), computed in the kernel's dtype T: constants are
T scalars, so NumPy keeps float32 float32.
"""
import ast

import numpy as np

from . import scalar, scalar_numpy

DTYPES = {"float32": np.float32, "float64": np.float64}
NAMED = {"inf": np.inf, "nan": np.nan}


def twin_for(expression: str, n_inputs: int, dtype: str):
    """twin(out, x0, ..., x{n_inputs-1}) writing `expression` of the flat inputs into out."""
    T = DTYPES[dtype]
    fn = _build(ast.parse(expression, mode="eval").body, T, n_inputs)

    def twin(out, *xs):
        with np.errstate(all="ignore"):
            out[...] = fn(xs)
    return twin


def _build(node, T, n):
    if isinstance(node, ast.Name):
        if node.id in NAMED:
            value = T(NAMED[node.id])
            return lambda xs: value
        if node.id.startswith("x") and node.id[1:].isdigit() and int(node.id[1:]) < n:
            i = int(node.id[1:])
            return lambda xs: xs[i]
        raise ValueError(f"unknown name {node.id!r}")
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        value = T(float(node.value))
        return lambda xs: value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        a = _build(node.operand, T, n)
        return lambda xs: -a(xs)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        op, a, b = _OPERATORS[type(node.op)], _build(node.left, T, n), _build(node.right, T, n)
        return lambda xs: op(a(xs), b(xs))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            len(node.args) == scalar.arity(node.func.id):
        f = getattr(scalar_numpy, node.func.id)
        args = [_build(a, T, n) for a in node.args]
        return lambda xs: np.asarray(f(*(a(xs) for a in args)), T)
    raise ValueError(f"unsupported expression element: {ast.dump(node)}")


_OPERATORS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}
