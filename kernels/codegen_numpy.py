"""NumPy twins of the generated elementwise kernels (kernels/codegen.py): the expression is
parsed once into a tree of closures over whole arrays, each node the NumPy form of the
FUNCTIONS statement it stands for, computed in the kernel's dtype T (constants are T scalars,
so NumPy keeps float32 float32) and with the same NaN rules: max/min/relu/clip keep NaN
(np.maximum/np.minimum propagate it), leaky_relu and hard_sigmoid pass it through.
"""
import ast

import numpy as np

from .elementwise_numpy import erf

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
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CALLS:
        f = _CALLS[node.func.id]
        args = [_build(a, T, n) for a in node.args]
        return lambda xs: f(T, *(a(xs) for a in args))
    raise ValueError(f"unsupported expression element: {ast.dump(node)}")


_OPERATORS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}


def _sigmoid(T, a):
    u = np.exp(-np.abs(a))
    return np.where(a >= 0, T(1) / (T(1) + u), u / (T(1) + u))


def _hard_sigmoid(T, a, b, c):
    u = b * a + c
    return np.minimum(np.maximum(u, T(0)), T(1))          # NaN kept, as `u != u`


def _softplus(T, a):
    return np.where(a > 0, a, T(0)) + np.log1p(np.exp(-np.abs(a)))


_CALLS = {
    "relu": lambda T, a: np.maximum(a, T(0)),
    "leaky_relu": lambda T, a, b: np.where(a >= 0, a, a * b),
    "sigmoid": _sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "softplus": _softplus,
    "clip": lambda T, a, b, c: np.minimum(np.maximum(a, b), c),
    "max": lambda T, a, b: np.maximum(a, b),
    "min": lambda T, a, b: np.minimum(a, b),
    "pow": lambda T, a, b: np.power(a, b),
    "neg": lambda T, a: np.negative(a),
    "abs": lambda T, a: np.abs(a),
    "reciprocal": lambda T, a: np.divide(T(1), a),
    "tanh": lambda T, a: np.tanh(a),
    "exp": lambda T, a: np.exp(a),
    "log": lambda T, a: np.log(a),
    "sqrt": lambda T, a: np.sqrt(a),
    "erf": lambda T, a: erf(a).astype(T),
}
