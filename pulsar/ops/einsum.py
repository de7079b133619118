"""Einsum: np.einsum at run time; the output shape is read off the equation symbolically."""
from dataclasses import dataclass

import numpy as np

from ..fact import Fact
from .base import Op, fail
from .broadcast import broadcast_shapes
from .registry import register

ELLIPSIS = "."   # '...' is replaced by this one character while parsing


def parse_equation(equation: str, n_inputs: int):
    """(input terms, output term or None) with '...' collapsed to one ELLIPSIS character."""
    text = equation.replace(" ", "")
    lhs, arrow, rhs = text.partition("->")
    terms = [t.replace("...", ELLIPSIS) for t in lhs.split(",")]
    out = rhs.replace("...", ELLIPSIS) if arrow else None
    if len(terms) != n_inputs:
        fail(f"equation {equation!r} has {len(terms)} operand term(s), "
             f"the node has {n_inputs} inputs")
    for term in terms + ([out] if out is not None else []):
        bad = [c for c in term if not (c.isalpha() or c == ELLIPSIS)]
        if bad or term.count(ELLIPSIS) > 1:
            fail(f"equation {equation!r}: malformed term {term!r}")
    return terms, out


def implicit_output(terms) -> str:
    """Numpy's implicit mode: ellipsis first, then letters used exactly once, sorted."""
    letters = "".join(terms).replace(ELLIPSIS, "")
    once = sorted(c for c in set(letters) if letters.count(c) == 1)
    return (ELLIPSIS if any(ELLIPSIS in t for t in terms) else "") + "".join(once)


def letter_sizes(terms, facts, equation):
    """Size of each letter and the broadcast ellipsis shape, checking the operands' ranks."""
    sizes, ellipses = {}, []
    for i, (term, fact) in enumerate(zip(terms, facts)):
        n_letters = len(term.replace(ELLIPSIS, ""))
        if fact.rank < n_letters or (ELLIPSIS not in term and fact.rank != n_letters):
            fail(f"equation {equation!r}: term {term!r} does not fit input {i} {fact}")
        k = term.find(ELLIPSIS)
        n_ell = fact.rank - n_letters
        shape = list(fact.shape)
        if k >= 0:
            ellipses.append(tuple(shape[k:k + n_ell]))
            shape[k:k + n_ell] = [None]
        for c, d in zip(term, shape):
            if c != ELLIPSIS:
                sizes[c] = merge_size(sizes.get(c), d, c, equation)
    return sizes, broadcast_shapes(*ellipses)


def merge_size(old, new, letter, equation):
    """Sizes of one letter must agree; 1 broadcasts, and a known size beats a symbolic one."""
    if old is None or old == 1:
        return new
    if new == 1 or old == new or not isinstance(new, int):
        return old
    if isinstance(old, int):
        fail(f"equation {equation!r}: letter {letter!r} is {old} in one operand "
             f"and {new} in another")
    return new


@register("Einsum", since=12)
@dataclass(frozen=True)
class Einsum(Op):
    streams = "follows"
    equation: str = ""

    def infer(self, inputs, ctx):
        if not inputs or any(x is None for x in inputs):
            fail("takes one or more inputs, none missing")
        if len({x.dtype for x in inputs}) > 1:
            fail("inputs must share one dtype, got " + ", ".join(str(x) for x in inputs))
        terms, out = parse_equation(self.equation, len(inputs))
        out = implicit_output(terms) if out is None else out
        sizes, ellipsis = letter_sizes(terms, inputs, self.equation)
        shape = []
        for c in out:
            if c == ELLIPSIS:
                shape.extend(ellipsis)
            elif c not in sizes:
                fail(f"equation {self.equation!r}: output letter {c!r} is in no operand")
            else:
                shape.append(sizes[c])
        return [Fact(inputs[0].dtype, tuple(shape))]

    def eval(self, *xs):
        dtype = xs[0].dtype
        if dtype.itemsize <= 2 and dtype.kind in "fV":   # float16/bfloat16: accumulate in f32
            xs = [x.astype(np.float32) for x in xs]
        out = np.einsum(self.equation, *xs, optimize=len(xs) > 1)
        return (np.asarray(out).astype(dtype, copy=False),)
