"""Symbolic tensor dimensions: integer expressions over named symbols, kept canonical.

A shape is a tuple of `int | Dim`. A `Dim` is an immutable polynomial with integer
coefficients whose "atoms" are symbols, floor divisions by a constant, and min/max.
Invariant: a `Dim` never stands for a constant; every operation returns a plain `int`
when the result is constant, so `S - S` is `0` and concrete shapes stay plain ints.
Symbols are non-negative (they size tensors) unless `Assumptions` say more.
Text form (`str`, `parse`) follows tract: `(S-400)/160+1`, where `/` is floor division.
"""
from __future__ import annotations

import math

import numpy as np

from .dims_parse import format_name, parse_comparison, parse_text
from .errors import DimError

__all__ = ["Dim", "DimError", "Assumptions", "sym", "parse", "to_dim", "is_symbolic",
           "symbols", "evaluate", "substitute", "dmin", "dmax", "lower_bound",
           "upper_bound", "prove_ge", "prove_positive"]


_INF = math.inf


# --- atoms: the non-polynomial building blocks -----------------------------------------

class _Atom:
    """Base of atoms; equality and order go through `key`, a nested tuple of plain values."""
    __slots__ = ("key", "_hash")

    def _set_key(self, key: tuple, shallow: tuple):
        # hash from the parts' cached hashes: hashing the nested key itself would walk
        # the whole expression, exponential for shared sub-expressions (max chains)
        self.key = key
        self._hash = hash(shallow)

    def __eq__(self, other):
        return isinstance(other, _Atom) and self._hash == other._hash and self.key == other.key

    def __hash__(self):
        return self._hash


class _Sym(_Atom):
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name
        self._set_key((0, name), (0, name))


class _FloorDiv(_Atom):
    # inner is a Dim already reduced by `_floordiv_int`; k >= 2
    __slots__ = ("inner", "k")

    def __init__(self, inner: "Dim", k: int):
        self.inner, self.k = inner, k
        self._set_key((1, inner._key, k), (1, inner._hash, k))


class _Extremum(_Atom):
    # args: >= 2 canonical values (sorted, no duplicates, at most one int, none dominated)
    __slots__ = ("kind", "args")

    def __init__(self, kind: str, args: tuple):
        self.kind, self.args = kind, args
        tag = 2 if kind == "min" else 3
        self._set_key((tag, tuple(_arg_key(a) for a in args)), (tag,) + tuple(map(hash, args)))


def _arg_key(value) -> tuple:
    """Order of min/max arguments: Dims first (so `min(S,4)`), then the int."""
    return (1, value) if isinstance(value, int) else (0, value._key)


def _mono_key(mono: tuple) -> tuple:
    return tuple(atom.key for atom in mono)


# --- Dim --------------------------------------------------------------------------------

class Dim:
    """A symbolic integer expression; build with `sym`, `parse` or arithmetic on Dims."""
    # _terms: tuple of (monomial, coeff) sorted by monomial key, coeff != 0, never empty;
    # a monomial is a non-empty tuple of atoms sorted by key (repeats are powers).
    # No __array_ufunc__ = None: numpy then treats a Dim as an object scalar, so
    # np.int64(2) * S is a Dim and S * int_array an object array of Dims (shape folding).
    __slots__ = ("_terms", "_const", "_key", "_hash", "_symbols", "_text")

    def __new__(cls, text):
        """`Dim('S+1')` parses, so `repr` round-trips; a constant text gives an int."""
        return to_dim(text)

    @classmethod
    def _make(cls, terms: tuple, const: int) -> "Dim":
        self = object.__new__(cls)
        key = (tuple((_mono_key(m), c) for m, c in terms), const)
        shallow = (tuple((tuple(map(hash, m)), c) for m, c in terms), const)   # see _Atom
        for name, value in (("_terms", terms), ("_const", const), ("_key", key),
                            ("_hash", hash(shallow)), ("_symbols", None), ("_text", None)):
            object.__setattr__(self, name, value)
        return self

    def __setattr__(self, name, value):
        raise AttributeError("Dim is immutable")

    # identity: by canonical form; never equal to an int (a Dim is never constant)
    def __eq__(self, other):
        if isinstance(other, Dim):
            return self._hash == other._hash and self._key == other._key
        if isinstance(other, (int, np.integer)):
            return False
        return NotImplemented

    def __hash__(self):
        return self._hash

    def _no_order(self, other):
        raise TypeError(f"symbolic dimension {self} has no order: use prove_ge()")

    __lt__ = __le__ = __gt__ = __ge__ = _no_order

    def __bool__(self):
        raise TypeError(f"symbolic dimension {self} has no truth value")

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return (Dim, (str(self),))

    # arithmetic
    def __add__(self, other):
        other = _coerce(other)
        return NotImplemented if other is None else _sum((self, other))

    __radd__ = __add__

    def __sub__(self, other):
        other = _coerce(other)
        return NotImplemented if other is None else _sum((self, _scale(other, -1)))

    def __rsub__(self, other):
        other = _coerce(other)
        return NotImplemented if other is None else _sum((other, _scale(self, -1)))

    def __neg__(self):
        return _scale(self, -1)

    def __pos__(self):
        return self

    def __mul__(self, other):
        other = _coerce(other)
        return NotImplemented if other is None else _mul(self, other)

    __rmul__ = __mul__

    def __pow__(self, exponent):
        if not isinstance(exponent, (int, np.integer)) or exponent < 0:
            raise DimError(f"{self} ** {exponent!r}: exponent must be a non-negative int")
        result = 1
        for _ in range(int(exponent)):
            result = _mul(self, result)
        return result

    def __floordiv__(self, other):
        other = _coerce(other)
        if other is None:
            return NotImplemented
        return _floordiv(self, other)

    def __rfloordiv__(self, other):
        other = _coerce(other)
        return NotImplemented if other is None else _floordiv(other, self)

    def __mod__(self, other):
        other = _coerce(other)
        return NotImplemented if other is None else _mod(self, other)

    def __rmod__(self, other):
        other = _coerce(other)
        return NotImplemented if other is None else _mod(other, self)

    # evaluation
    def eval(self, bindings: dict) -> "int | Dim":
        """Value under `bindings` (name -> int); a Dim if some symbols stay unbound."""
        values = {name: to_dim(v) for name, v in bindings.items()}
        if all(isinstance(values.get(name), int) for name in symbols(self)):
            return _numeric(self, values)
        return _substitute(self, values)

    def substitute(self, mapping: dict) -> "int | Dim":
        return substitute(self, mapping)

    def __str__(self):
        if self._text is None:
            object.__setattr__(self, "_text", format_dim(self))
        return self._text

    def __repr__(self):
        return f"Dim({str(self)!r})"


def _coerce(value):
    """int | Dim for operands we accept (numpy ints included, bools not), else None."""
    if isinstance(value, Dim):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return None


def _atom_dim(atom: _Atom) -> Dim:
    return Dim._make((((atom,), 1),), 0)


def _build(terms: dict, const: int):
    """The canonical value of sum(coeff * monomial) + const: an int when no term is left."""
    items = [(m, c) for m, c in terms.items() if c]
    if not items:
        return const
    items.sort(key=lambda item: _mono_key(item[0]))
    return Dim._make(tuple(items), const)


def _sum(values) -> "int | Dim":
    terms, const = {}, 0
    for value in values:
        if isinstance(value, int):
            const += value
            continue
        for mono, coeff in value._terms:
            terms[mono] = terms.get(mono, 0) + coeff
        const += value._const
    return _build(terms, const)


def _scale(value, factor: int):
    if factor == 0:
        return 0
    if isinstance(value, int):
        return value * factor
    # scaling keeps the monomial order, so no re-sort
    return Dim._make(tuple((m, c * factor) for m, c in value._terms), value._const * factor)


def _items(value) -> list:
    """(monomial, coeff) pairs including the constant as the empty monomial."""
    if isinstance(value, int):
        return [((), value)] if value else []
    return list(value._terms) + ([((), value._const)] if value._const else [])


def _mul(a, b):
    if isinstance(a, int):
        return _scale(b, a)
    if isinstance(b, int):
        return _scale(a, b)
    terms = {}
    for mono_a, coeff_a in _items(a):
        for mono_b, coeff_b in _items(b):
            mono = mono_a + mono_b
            if mono_a and mono_b:
                mono = tuple(sorted(mono, key=lambda atom: atom.key))
            terms[mono] = terms.get(mono, 0) + coeff_a * coeff_b
    return _build(terms, terms.pop((), 0))


# --- division ---------------------------------------------------------------------------

def _floordiv(value, divisor):
    if isinstance(divisor, int):
        return _floordiv_int(value, divisor)
    return _floordiv_exact(value, divisor)


def _floordiv_int(value, k: int):
    """Floor division by a constant, reduced so equal inputs give equal atoms."""
    if k <= 0:
        raise DimError(f"cannot divide {value} by {k}: the divisor must be positive")
    if isinstance(value, int):
        return value // k
    terms, const = value._terms, value._const
    common = math.gcd(k, const, *(c for _, c in terms))
    if common > 1:   # floor(g*x / g*y) == floor(x / y)
        terms = [(m, c // common) for m, c in terms]
        const //= common
        k //= common
    whole, rest = {}, {}
    for mono, coeff in terms:   # c = k*q + r with 0 <= r < k: q*term leaves the floor
        q, r = divmod(coeff, k)
        whole[mono], rest[mono] = q, r
    if k == 1 or not any(rest.values()):
        return _build(whole, const // k)
    inner = _build(rest, const)
    return _sum((_build(whole, 0), _floor_atom(inner, k)))


def _floor_atom(inner: Dim, k: int):
    """floor(inner / k) for inner with coefficients in [0, k) and gcd 1 with k."""
    if len(inner._terms) == 1:
        (mono, coeff), = inner._terms
        if coeff == 1 and len(mono) == 1 and isinstance(mono[0], _FloorDiv):
            # (e//a + c)//k == (e + c*a)//(a*k) for integer e
            nested = mono[0]
            return _floordiv_int(_sum((nested.inner, inner._const * nested.k)), nested.k * k)
    low, high = _Bounds(None).interval(inner)
    if low != -_INF and high != _INF and low // k == high // k:
        return low // k
    return _atom_dim(_FloorDiv(inner, k))


def _floordiv_exact(value, divisor: Dim):
    """value // divisor for a symbolic divisor: only exact quotients are meaningful."""
    def fail():
        raise DimError(f"cannot divide {value} by {divisor}: the quotient is not exact")
    if isinstance(value, int):
        return 0 if value == 0 else fail()
    if len(divisor._terms) != 1 or divisor._const:
        quotient = _polynomial_multiple(value, divisor)
        return fail() if quotient is None else quotient
    (div_mono, div_coeff), = divisor._terms
    if value._const:
        fail()
    terms = {}
    for mono, coeff in value._terms:
        rest = _mono_remove(mono, div_mono)
        if rest is None or coeff % div_coeff:
            fail()
        terms[rest] = coeff // div_coeff
    return _build(terms, terms.pop((), 0))


def _polynomial_multiple(value: Dim, divisor: Dim):
    """q if value == q * divisor for a nonzero q that is an int or one term (2*S*S + 2*S over
    2*S + 2 is S), else None. Each term of `value` that the divisor's first term divides gives
    the candidate; the product decides."""
    mono, coeff = divisor._terms[0]
    for mine, c in value._terms:
        rest = _mono_remove(mine, mono)
        if rest is None or c % coeff:
            continue
        quotient = c // coeff if not rest else _build({rest: c // coeff}, 0)
        if _sum((value, _scale(_mul(quotient, divisor), -1))) == 0:
            return quotient
    return None


def _mono_remove(mono: tuple, part: tuple):
    """mono / part as a monomial when part divides it (multiset difference), else None."""
    left = list(mono)
    for atom in part:
        if atom not in left:
            return None
        left.remove(atom)
    return tuple(left)


def _mod(value, divisor):
    if isinstance(value, int) and isinstance(divisor, int):
        if divisor <= 0:
            raise DimError(f"cannot take {value} mod {divisor}: the divisor must be positive")
        return value % divisor
    return _sum((value, _scale(_mul(divisor, _floordiv(value, divisor)), -1)))


# --- min / max --------------------------------------------------------------------------

def dmin(*args, assumptions: "Assumptions | None" = None):
    """Symbolic min; arguments provably >= another one are dropped."""
    return _extremum("min", args, assumptions or _DEFAULT)


def dmax(*args, assumptions: "Assumptions | None" = None):
    """Symbolic max; arguments provably <= another one are dropped."""
    return _extremum("max", args, assumptions or _DEFAULT)


def _extremum(kind: str, args, assumptions):
    if not args:
        raise DimError(f"{kind}() needs at least one argument")
    flat = []
    for arg in args:
        arg = to_dim(arg)
        nested = _single_atom(arg)
        if isinstance(nested, _Extremum) and nested.kind == kind:
            flat.extend(nested.args)   # min(min(a, b), c) == min(a, b, c)
        else:
            flat.append(arg)
    ints = [a for a in flat if isinstance(a, int)]
    candidates = sorted({a for a in flat if not isinstance(a, int)}, key=_arg_key)
    if ints:
        candidates.append(min(ints) if kind == "min" else max(ints))
    kept = []
    for arg in candidates:   # invariant: no kept arg dominates another
        if any(_dominates(kind, other, arg, assumptions) for other in kept):
            continue
        kept = [other for other in kept if not _dominates(kind, arg, other, assumptions)]
        kept.append(arg)
    if len(kept) == 1:
        return kept[0]
    return _atom_dim(_Extremum(kind, tuple(sorted(kept, key=_arg_key))))


def _dominates(kind: str, winner, loser, assumptions) -> bool:
    """True if `loser` never changes the result of `kind` once `winner` is there."""
    if kind == "min":
        return prove_ge(loser, winner, assumptions)
    return prove_ge(winner, loser, assumptions)


def _single_atom(value):
    """The atom if value is exactly one atom (coefficient 1, no constant), else None."""
    if isinstance(value, Dim) and len(value._terms) == 1 and not value._const:
        (mono, coeff), = value._terms
        if coeff == 1 and len(mono) == 1:
            return mono[0]
    return None


# --- text form (parsing: pulsar/dims_parse.py) ------------------------------------------

def format_dim(value: Dim) -> str:
    """Deterministic text of a Dim: `2*S+1`, `(S-400)/160+1`, `min(S,4)`, `S*S`."""
    # higher degree first reads like a polynomial; the constant always comes last
    ordered = sorted(value._terms, key=lambda item: (-len(item[0]), _mono_key(item[0])))
    parts = [_format_term(mono, coeff, index == 0) for index, (mono, coeff) in enumerate(ordered)]
    if value._const:
        parts.append(f"{value._const:+d}")
    return "".join(parts)


def _format_term(mono: tuple, coeff: int, leading: bool) -> str:
    sign = "-" if coeff < 0 else ("" if leading else "+")
    if len(mono) == 1 and abs(coeff) == 1:
        body = _format_atom(mono[0])
        if coeff < 0 and leading and isinstance(mono[0], _FloorDiv):
            return f"-({body})"   # `-S/2` would parse as (-S)/2
        return sign + body
    factors = [f"({_format_atom(a)})" if isinstance(a, _FloorDiv) else _format_atom(a)
               for a in mono]   # `2*S/2` would parse as (2*S)/2
    if abs(coeff) != 1:
        factors.insert(0, str(abs(coeff)))
    return sign + "*".join(factors)


def _format_atom(atom) -> str:
    if isinstance(atom, _Sym):
        return format_name(atom.name)
    if isinstance(atom, _FloorDiv):
        inner = str(atom.inner)
        if _single_atom(atom.inner) is None:
            inner = f"({inner})"
        return f"{inner}/{atom.k}"
    return f"{atom.kind}({','.join(str(a) for a in atom.args)})"


# --- symbols, evaluation, substitution -------------------------------------------------

def sym(name: str) -> Dim:
    """The symbol `name` (any non-empty string: ONNX dim_params may contain spaces)."""
    if not isinstance(name, str) or not name:
        raise DimError(f"a symbol name must be a non-empty string, not {name!r}")
    return _atom_dim(_Sym(str(name)))


def is_symbolic(value) -> bool:
    return isinstance(value, Dim)


def to_dim(value) -> "int | Dim":
    """int | Dim from an int, numpy int, Dim or text; anything else is a DimError."""
    coerced = _coerce(value)
    if coerced is not None:
        return coerced
    if isinstance(value, str):
        return parse(value)
    raise DimError(f"cannot use {value!r} ({type(value).__name__}) as a dimension")


def parse(text: str) -> "int | Dim":
    """Parse the text form (`(S-400)/160+1`, `min(S,4)`, `` `batch size`*2 ``)."""
    return parse_text(text, sym, _FUNCTIONS)


def symbols(value) -> frozenset:
    """Names of the symbols in value (empty for ints)."""
    value = to_dim(value)
    if isinstance(value, int):
        return frozenset()
    if value._symbols is None:
        names = set()
        for mono, _ in value._terms:
            for atom in mono:
                names |= _atom_symbols(atom)
        object.__setattr__(value, "_symbols", frozenset(names))
    return value._symbols


def _atom_symbols(atom: _Atom) -> frozenset:
    if isinstance(atom, _Sym):
        return frozenset((atom.name,))
    if isinstance(atom, _FloorDiv):
        return symbols(atom.inner)
    return frozenset().union(*(symbols(a) for a in atom.args))


def evaluate(value, bindings: dict) -> "int | Dim":
    """Value of an int or Dim under bindings (partial bindings give a Dim)."""
    value = to_dim(value)
    return value if isinstance(value, int) else value.eval(bindings)


def substitute(value, mapping: dict) -> "int | Dim":
    """Replace symbols by ints or Dims, re-canonicalising the result."""
    value = to_dim(value)
    mapping = {name: to_dim(v) for name, v in mapping.items()}
    return _substitute(value, mapping)


def _substitute(value, mapping: dict, memo: "dict | None" = None):
    # memo: atom -> replacement; atoms share sub-expressions, so each is rebuilt once
    if isinstance(value, int) or not (symbols(value) & mapping.keys()):
        return value
    memo = {} if memo is None else memo
    products = []
    for mono, coeff in value._terms:
        product = coeff
        for atom in mono:
            if atom not in memo:
                memo[atom] = _substitute_atom(atom, mapping, memo)
            product = _mul(product, memo[atom])
        products.append(product)
    return _sum(products + [value._const])


def _substitute_atom(atom: _Atom, mapping: dict, memo: dict):
    if isinstance(atom, _Sym):
        return mapping.get(atom.name, _atom_dim(atom))
    if isinstance(atom, _FloorDiv):
        return _floordiv_int(_substitute(atom.inner, mapping, memo), atom.k)
    return _extremum(atom.kind, [_substitute(a, mapping, memo) for a in atom.args], _DEFAULT)


def _numeric(value, values: dict, memo: "dict | None" = None) -> int:
    """Plain evaluation when every symbol of value is bound to an int (memo as above)."""
    if isinstance(value, int):
        return value
    memo = {} if memo is None else memo
    total = value._const
    for mono, coeff in value._terms:
        for atom in mono:
            if atom not in memo:
                memo[atom] = _numeric_atom(atom, values, memo)
            coeff *= memo[atom]
        total += coeff
    return total


def _numeric_atom(atom: _Atom, values: dict, memo: dict) -> int:
    if isinstance(atom, _Sym):
        return values[atom.name]
    if isinstance(atom, _FloorDiv):
        return _numeric(atom.inner, values, memo) // atom.k
    pick = min if atom.kind == "min" else max
    return pick(_numeric(a, values, memo) for a in atom.args)


# --- bounds -----------------------------------------------------------------------------

class Assumptions:
    """Lower bounds on symbols; a symbol without one is >= 0 (it sizes a tensor)."""
    __slots__ = ("_lower",)

    def __init__(self, lower: "dict | None" = None):
        self._lower = {}
        for name, bound in (lower or {}).items():
            self.add(name, bound)

    def add(self, name: str, lower: int) -> "Assumptions":
        """Record `name >= lower` (both hold if the name is already bounded); returns self."""
        lower = _coerce(lower)
        if not isinstance(lower, int):
            raise DimError(f"a lower bound must be an int, not {lower!r}")
        self._lower[name] = max(lower, self._lower.get(name, lower))
        return self

    @classmethod
    def parse(cls, texts) -> "Assumptions":
        """From `["S >= 400", "T>1", "2 <= U"]` (a single string is accepted too)."""
        made = cls()
        for text in [texts] if isinstance(texts, str) else texts:
            left, op, right = parse_comparison(text, sym, _FUNCTIONS)
            atom = _single_atom(left)
            if not isinstance(atom, _Sym) or not isinstance(right, int):
                raise DimError(f"assumption {text!r}: expected a symbol compared with an int")
            made.add(atom.name, right + 1 if op == ">" else right)
        return made

    def lower(self, name: str) -> int:
        return self._lower.get(name, 0)

    def __repr__(self):
        bounds = ", ".join(f"{format_name(n)} >= {v}" for n, v in sorted(self._lower.items()))
        return f"Assumptions([{bounds}])"


_DEFAULT = Assumptions()
_FUNCTIONS = {"min": dmin, "max": dmax}     # the calls the text form knows
_RELAX_BUDGET = 32   # lower-bound evaluations one proof may spend reasoning through atoms
_STRUCTURAL_DEPTH = 3   # nested min/max levels prove_ge may take apart argument by argument


def lower_bound(value, assumptions: "Assumptions | None" = None) -> "int | None":
    """A proven lower bound of value, or None when nothing is known."""
    return _Bounds(assumptions).lower(to_dim(value), _INF)


def upper_bound(value, assumptions: "Assumptions | None" = None) -> "int | None":
    """A proven upper bound of value, or None (symbols are unbounded above)."""
    low = lower_bound(_scale(to_dim(value), -1), assumptions)
    return None if low is None else -low


def prove_ge(a, b, assumptions: "Assumptions | None" = None) -> bool:
    """True only if a >= b holds for every value of the symbols (False means unknown)."""
    return _proves_ge(to_dim(a), to_dim(b), assumptions, _STRUCTURAL_DEPTH)


def _proves_ge(a, b, assumptions, depth: int) -> bool:
    """Bounding `a - b` first; then, when a side is one min/max, through its arguments.

    `dmin`/`dmax` drop an argument once one other argument is proven to dominate it,
    so `max(X, Y) >= Y` must hold by looking at the arguments one by one: bounding the
    difference as a whole can miss it when X and Y share sub-expressions the bounding
    search rewrites apart. Each rule below is sound on its own.
    """
    if _proves(_sum((a, _scale(b, -1))), 0, assumptions):
        return True
    if depth == 0:
        return False
    left, right = _single_atom(a), _single_atom(b)
    if isinstance(right, _Extremum):   # a >= min(B): some b; a >= max(B): every b
        test = any if right.kind == "min" else all
        if test(_proves_ge(a, arg, assumptions, depth - 1) for arg in right.args):
            return True
    if isinstance(left, _Extremum):    # max(A) >= b: some a; min(A) >= b: every a
        test = any if left.kind == "max" else all
        if test(_proves_ge(arg, b, assumptions, depth - 1) for arg in left.args):
            return True
    return False


def prove_positive(value, assumptions: "Assumptions | None" = None) -> bool:
    """True only if value >= 1 is proven."""
    return _proves(to_dim(value), 1, assumptions)


def _proves(value, goal: int, assumptions) -> bool:
    low = _Bounds(assumptions).lower(value, goal)
    return low is not None and low >= goal


class _Bounds:
    """One bounding job.

    Intervals are memoised per atom: atoms share sub-expressions, and nested min/max
    chains would otherwise cost exponential time. `lower` may rewrite floor/min/max
    atoms (branching over their arguments) at most _RELAX_BUDGET times, and stops
    searching once a bound reaches `goal`; below the goal, None and a number are
    equally useless to a proof, so a search that falls short may give up with None.
    """
    __slots__ = ("assumptions", "_atoms", "_budget")

    def __init__(self, assumptions: "Assumptions | None"):
        self.assumptions = assumptions or _DEFAULT
        self._atoms, self._budget = {}, _RELAX_BUDGET

    def lower(self, value, goal):
        """Best of the plain interval and of rewriting floor/min/max atoms."""
        if isinstance(value, int):
            return value
        low = self.interval(value)[0]
        best = None if low == -_INF else low
        if (best is None or best < goal) and self._budget > 0:
            self._budget -= 1
            best = _better(best, self._relaxed_lower(value, goal))
        return best

    def _relaxed_lower(self, value: Dim, goal):
        """Lower bound after replacing a linear floor/min/max atom by what bounds it.

        Intervals forget that `S - S//2` or `S - min(S, T)` mention S twice; rewriting
        an atom in terms of its arguments lets the remaining terms cancel. A case split
        (coeff*atom is the min of coeff*args) is exact, so it goes first. It can still
        fail where a lossy rewrite works: splitting `min(S,1)` in
        `min(S,1) - M + max(X, M - min(S,1))` loses the cancellation inside the max,
        while bounding the max by its second argument leaves 0. So when the split
        falls short, the other rewrites are tried, those that cancel the most first.
        """
        linear = [(index, mono[0], coeff) for index, (mono, coeff) in enumerate(value._terms)
                  if len(mono) == 1 and not isinstance(mono[0], _Sym)]
        best = None
        splits = [item for item in linear if _is_case_split(item[1], item[2])]
        if splits:
            best = self._case_split(value, *splits[0], goal)
            if best is not None and best >= goal:
                return best
        options = [option for item in linear if not _is_case_split(item[1], item[2])
                   for option in _rewrites(value, *item)]
        options.sort(key=lambda option: (_size(option[0]), option[1]))
        for position, (expr, k) in enumerate(options):   # value >= ceil(expr / k)
            low = self._lower_share(expr, goal if goal == _INF else k * (goal - 1) + 1,
                                    len(options) - position)
            best = _better(best, None if low is None else -((-low) // k))
            if best is not None and best >= goal:
                break
        return best

    def _case_split(self, value: Dim, index: int, atom: _Atom, coeff: int, goal):
        """coeff*atom is the min of coeff*args: the bound is the min over the cases."""
        rest = _without_term(value, index)
        lows = []
        for position, arg in enumerate(atom.args):
            low = self._lower_share(_sum((rest, _scale(arg, coeff))), goal,
                                    len(atom.args) - position)
            if low is None or (goal != _INF and low < goal):
                return None   # the min cannot reach the goal any more
            lows.append(low)
        return min(lows)

    def _lower_share(self, value, goal, waiting: int):
        """`lower` spending at most a fair share of the budget left for `waiting`
        searches, so one deep branch cannot starve its siblings; unspent budget returns."""
        share = self._budget // waiting
        spare = self._budget - share
        self._budget = share
        low = self.lower(value, goal)
        self._budget += spare
        return low

    def interval(self, value) -> tuple:
        """(low, high) with -inf/inf for unknown, by interval arithmetic over the atoms."""
        if isinstance(value, int):
            return value, value
        low = high = value._const
        for mono, coeff in value._terms:
            mono_low, mono_high = self._mono_interval(mono)
            if coeff > 0:
                low, high = low + coeff * mono_low, high + coeff * mono_high
            else:
                low, high = low + coeff * mono_high, high + coeff * mono_low
        return low, high

    def _mono_interval(self, mono: tuple) -> tuple:
        low = high = 1
        index = 0
        while index < len(mono):   # repeated atoms are powers: S*S is never negative
            power = 1
            while index + power < len(mono) and mono[index + power] == mono[index]:
                power += 1
            atom_low, atom_high = _power_interval(*self._atom_interval(mono[index]), power)
            corners = [_times(x, y) for x in (low, high) for y in (atom_low, atom_high)]
            low, high = min(corners), max(corners)
            index += power
        return low, high

    def _atom_interval(self, atom: _Atom) -> tuple:
        known = self._atoms.get(atom)
        if known is None:
            known = self._atoms[atom] = self._compute_atom_interval(atom)
        return known

    def _compute_atom_interval(self, atom: _Atom) -> tuple:
        if isinstance(atom, _Sym):
            return self.assumptions.lower(atom.name), _INF
        if isinstance(atom, _FloorDiv):
            low, high = self.interval(atom.inner)
            k = atom.k
            return (low if low == -_INF else low // k), (high if high == _INF else high // k)
        bounds = [self.interval(a) for a in atom.args]
        pick = min if atom.kind == "min" else max
        return pick(b[0] for b in bounds), pick(b[1] for b in bounds)


def _better(a, b):
    """The larger of two lower bounds, None meaning unknown."""
    if a is None or b is None:
        return b if a is None else a
    return max(a, b)


def _is_case_split(atom: _Atom, coeff: int) -> bool:
    return isinstance(atom, _Extremum) and (atom.kind == "min") == (coeff > 0)


def _rewrites(value: Dim, index: int, atom: _Atom, coeff: int) -> list:
    """(expr, k) pairs with value >= expr / k, from bounding the atom at `index`."""
    rest = _without_term(value, index)
    if isinstance(atom, _FloorDiv):
        k = atom.k
        # k*(e//k) lies in [e - (k-1), e]: keep the side bounding coeff*atom from below
        slack = -coeff * (k - 1) if coeff > 0 else 0
        return [(_sum((_scale(rest, k), _scale(atom.inner, coeff), slack)), k)]
    # coeff*atom is the max of coeff*args, so at least each of them
    return [(_sum((rest, _scale(arg, coeff))), 1) for arg in atom.args]


def _without_term(value: Dim, index: int):
    return _build(dict(value._terms[:index] + value._terms[index + 1:]), value._const)


def _size(value) -> int:
    return 0 if isinstance(value, int) else len(value._terms)


def _times(x, y):
    return 0 if x == 0 or y == 0 else x * y   # 0 * inf is 0 for bounds


def _power_interval(low, high, power: int) -> tuple:
    if power == 1 or power % 2 or low >= 0:
        return low ** power, high ** power
    if high <= 0:
        return high ** power, low ** power
    return 0, max(low ** power, high ** power)
