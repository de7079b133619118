"""Symbolic dimensions: canonical form, division rules, text round-trip, bounds."""
import copy
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pulsar.dims import (Assumptions, Dim, DimError, dmax, dmin, evaluate, is_symbolic,
                         lower_bound, parse, prove_ge, prove_positive, substitute, sym,
                         symbols, to_dim, upper_bound)

S, T, U = sym("S"), sym("T"), sym("U")


# --- canonical form ---------------------------------------------------------------------

def test_constant_results_are_plain_ints():
    for value in (S - S, (S + 3) - S, S * 0, 0 * S, (2 * S) % 2, (S * 32) // (S * 32)):
        assert type(value) is int
    assert S - S == 0
    assert (S + 3) - S == 3


def test_arithmetic_is_canonical():
    assert S + T == T + S
    assert 2 * S + 1 == S + 1 + S
    assert (S + 1) * (S - 1) == S * S - 1
    assert 3 - S == -S + 3 == -(S - 3)
    assert S ** 2 == S * S
    assert S ** 0 == 1
    assert hash(S * T + 2) == hash(T * S + 2)
    assert S != T and S + 1 != S


def test_numpy_integers_are_accepted():
    assert S + np.int64(2) == S + 2
    assert np.int64(3) * S == 3 * S
    assert to_dim(np.int32(7)) == 7 and type(to_dim(np.int32(7))) is int
    arr = np.empty(2, dtype=object)
    arr[:] = [S, 3]
    assert list(arr * 2) == [2 * S, 6]


def test_floordiv_reduces_by_gcd():
    assert (2 * S - 400) // 320 == (S - 200) // 160
    assert str((2 * S - 400) // 320) == "(S-200)/160"
    assert (2 * S + 4) // 2 == S + 2
    assert (S * 32) // 32 == S
    assert (4 * S + 2) // 4 == S
    assert (6 * S + 2) // 4 == S + (S + 1) // 2


def test_floordiv_keeps_constant_inside():
    expr = (S - 400) // 160 + 1
    assert str(expr) == "(S-400)/160+1"
    assert expr.eval({"S": 1760}) == 9
    assert ((S - 512) // 160 + 1).eval({"S": 16000}) == 97


def test_floordiv_extracts_symbolic_multiples():
    assert (5 * S + 2) // 4 == S + (S + 2) // 4
    assert (-S) // 2 == -S + S // 2
    assert (2 * (S // 2) + S) // 2 == 2 * (S // 2)


def test_nested_floordiv_merges():
    assert (S // 2) // 3 == S // 6
    assert ((S - 400) // 160 + 1) // 2 == (S - 240) // 320
    assert str(((S - 400) // 160 + 1) // 2) == "(S-240)/320"


def test_floordiv_edge_divisors():
    assert S // 1 == S
    with pytest.raises(DimError):
        S // 0
    with pytest.raises(DimError):
        S // -2
    assert 7 // to_dim("7") == 1


def test_exact_division_by_dim():
    assert (32 * S) // (32 * S) == 1
    assert (S * T * 4) // (2 * S) == 2 * T
    assert (2 * S + 2) // (S + 1) == 2
    assert 0 // S == 0
    for bad in (lambda: S // T, lambda: (S + 1) // S, lambda: 3 // S, lambda: (3 * S) // (2 * S)):
        with pytest.raises(DimError):
            bad()


def test_modulo():
    assert (2 * S) % 2 == 0
    assert (4 * S + 3) % 4 == 3
    assert (S % 3).eval({"S": 10}) == 1
    assert (S * T) % S == 0
    with pytest.raises(DimError):
        S % 0
    with pytest.raises(DimError):
        5 % S


def test_min_max_simplify():
    assert dmax(S, 0) == S
    assert dmin(S, 0) == 0
    assert dmax(S + 1, S) == S + 1
    assert dmin(S, S + 3) == S
    assert dmin(3, 5, 4) == 3 and dmax(3, 5) == 5
    assert dmin(S) == S
    assert dmin(dmin(S, T), U) == dmin(S, T, U) == dmin(U, T, S)
    assert dmax(S, S, T) == dmax(T, S)
    assert dmax(S, 2, 7) == dmax(S, 7)
    assert str(dmin(S, 4)) == "min(S,4)"
    assert str(dmax(S, T + 1)) == "max(S,T+1)"
    assert is_symbolic(dmin(S, T))
    with pytest.raises(DimError):
        dmin()


def test_min_max_with_assumptions():
    facts = Assumptions.parse(["S >= 400"])
    assert dmax(S, 100, assumptions=facts) == S
    assert dmax(S, 100) != S
    assert dmin(S - 400, 0, assumptions=facts) == 0


# --- identity, evaluation, substitution -------------------------------------------------

def test_no_concrete_int_behaviour():
    assert (S == 3) is False and (S != 3) is True
    assert (S == np.int64(0)) is False
    for misuse in (lambda: S < T, lambda: S >= 1, lambda: bool(S), lambda: range(S),
                   lambda: int(S), lambda: [1, 2][S]):
        with pytest.raises(TypeError):
            misuse()


def test_eval_and_evaluate():
    expr = S * T + S // 2
    assert expr.eval({"S": 5, "T": 3}) == 17
    assert expr.eval({"S": np.int64(5), "T": 3}) == 17
    assert expr.eval({"S": 4}) == 4 * T + 2
    assert evaluate(7, {"S": 1}) == 7
    assert evaluate(S - 10, {"S": 3}) == -7
    assert evaluate("S+1", {"S": 1}) == 2
    assert evaluate(dmin(S, T), {"S": 3, "T": 9}) == 3


def test_substitute():
    assert substitute(S + T, {"S": T}) == 2 * T
    assert substitute((S - 400) // 160, {"S": 2 * U + 400}) == U // 80
    assert substitute(dmax(S, T), {"T": 0}) == S
    assert substitute(S, {"T": 5}) == S
    assert substitute(5, {"S": 1}) == 5
    assert substitute(S * S, {"S": "T+1"}) == T * T + 2 * T + 1


def test_symbols():
    assert symbols(3) == frozenset()
    assert symbols(S * T + dmin(U, 4) // 3) == {"S", "T", "U"}
    assert symbols(sym("batch size")) == {"batch size"}


def test_to_dim():
    assert to_dim(3) == 3 and to_dim(S) is S
    assert to_dim("2*S") == 2 * S
    for bad in (1.5, True, None, [1]):
        with pytest.raises(DimError):
            to_dim(bad)
    with pytest.raises(DimError):
        sym("")


# --- text -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2*S+1", "2*S+1"), ("S*T", "S*T"), ("(S-400)/160+1", "(S-400)/160+1"),
    ("(S-400)//160+1", "(S-400)/160+1"), ("min(S,4)", "min(S,4)"),
    ("max(S, T+1)", "max(S,T+1)"), ("3-S", "-S+3"), ("S^2", "S*S"), ("S**2+S", "S*S+S"),
    ("-(S/2)", "-(S/2)"), ("2*(S/2)", "2*(S/2)"), ("S/2*T", "T*(S/2)"), ("7/2+S", "S+3"),
    ("S%4", "S-4*(S/4)"), ("`batch size`+1", "`batch size`+1"), ("`min`", "`min`"),
    ("-min(S,T)", "-min(S,T)"), ("(S*T)/2", "(S*T)/2"),
])
def test_format(text, expected):
    value = parse(text)
    assert str(value) == expected
    assert parse(str(value)) == value


def test_parse_values():
    assert parse("12") == 12 and parse(" -3 ") == -3
    assert parse("-S/2") == (-S) // 2          # unary minus binds tighter, as in Python
    assert parse("S - T - 1") == S - T - 1
    assert parse("2*S/2") == S
    assert parse("(S*T*4)/(2*S)") == 2 * T
    assert parse("S ^ (2)") == S * S


def test_odd_names_round_trip():
    for name in ("batch size", "a-b", "x.y:z", "2d", "min", "max", "a`b", "`", "unk__3", "\0"):
        value = sym(name) * 2 + 1
        assert parse(str(value)) == value
        assert symbols(parse(str(value))) == {name}
    assert str(sym("seq-len")) == "`seq-len`"


def test_repr_pickle_copy():
    expr = (S - 400) // 160 + 1
    assert repr(expr) == "Dim('(S-400)/160+1')"
    assert Dim("(S-400)/160+1") == expr
    assert Dim("3") == 3
    assert pickle.loads(pickle.dumps(expr)) == expr
    assert copy.deepcopy(expr) is expr
    with pytest.raises(AttributeError):
        expr._const = 5


@pytest.mark.parametrize("text, position", [
    ("S+", 2), ("(S", 2), ("S $ 3", 2), ("min()", 4), ("S//T", 1), ("S//0", 1), ("S%0", 1),
    ("S/-2", 1), ("", 0), ("S T", 2), ("`", 0), ("S^T", 1), ("2.5", 1), ("max(S,)", 6),
])
def test_parse_errors_name_text_and_position(text, position):
    with pytest.raises(DimError) as info:
        parse(text)
    assert f"position {position}" in str(info.value)
    assert repr(text) in str(info.value)


# --- bounds -----------------------------------------------------------------------------

def test_bounds_default_non_negative():
    assert lower_bound(S) == 0 and upper_bound(S) is None
    assert lower_bound(S * T + 3) == 3
    assert lower_bound(S - T) is None
    assert lower_bound(S * S - 2 * S) is None
    half = (S - 5) // 2            # can be negative: its square still is not
    assert lower_bound(half) == -3
    assert lower_bound(half * half) == 0
    assert lower_bound((S - 3) * (S - 3)) is None   # expanded: S*S-6*S+9, intervals lose it
    assert lower_bound(7) == 7 and upper_bound(7) == 7
    assert upper_bound(dmin(S, 4)) == 4
    assert lower_bound((S - 400) // 160 + 1) == -2
    assert lower_bound(S - S // 2) == 0
    assert lower_bound(S - dmin(S, T)) == 0
    assert upper_bound(S // 3 - S) == 0


def test_prove():
    assert prove_ge(S + 1, S)
    assert not prove_ge(S, S + 1)
    assert prove_ge(S, S // 2)
    assert prove_ge(dmax(S, T), T)
    assert prove_ge(S, dmin(S, T))
    assert not prove_ge(S, T)
    assert prove_ge(5, 3) and not prove_ge(3, 5)
    assert prove_positive(S + 1) and not prove_positive(S)


def test_assumptions():
    facts = Assumptions.parse(["S >= 400", "T>1", "2 <= U"])
    assert facts.lower("S") == 400 and facts.lower("T") == 2 and facts.lower("U") == 2
    assert facts.lower("V") == 0
    assert lower_bound((S - 400) // 160 + 1, facts) == 1
    assert prove_positive(S - 399, facts) and not prove_positive(S - 399)
    assert prove_ge(S * T, 800, facts)
    assert Assumptions().add("S", 3).add("S", 1).lower("S") == 3
    assert Assumptions.parse("S >= 5").lower("S") == 5
    for bad in ("S", "S >= T", "S+1 >= 3", "S >= 1.5"):
        with pytest.raises(DimError):
            Assumptions.parse([bad])


def test_twenty_term_expressions_stay_correct():
    names = [f"X{i}" for i in range(20)]
    total = sum((i + 1) * sym(n) for i, n in enumerate(names))
    square = total * total
    values = {n: i % 7 for i, n in enumerate(names)}
    plain = sum((i + 1) * (i % 7) for i in range(20))
    assert len(symbols(square)) == 20
    assert ((square + 3) // 7).eval(values) == (plain * plain + 3) // 7
    assert dmax(total, total + 1, total // 3) == total + 1


# --- properties -------------------------------------------------------------------------

NAMES = ("S", "T", "U")
LEAVES = st.one_of(st.integers(-8, 8).map(lambda v: ("int", v)),
                   st.sampled_from(NAMES).map(lambda n: ("sym", n)))


def _extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(["add", "sub", "mul", "min", "max"]), children, children),
        st.tuples(st.sampled_from(["div", "mod"]), children, st.integers(1, 7)))


TREES = st.recursive(LEAVES, _extend, max_leaves=7)
VALUES = st.fixed_dictionaries({n: st.integers(0, 50) for n in NAMES})
PROPERTY = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def build(tree):
    """The tree through pulsar's Dim operations."""
    kind = tree[0]
    if kind == "int":
        return tree[1]
    if kind == "sym":
        return sym(tree[1])
    a = build(tree[1])
    b = tree[2] if kind in ("div", "mod") else build(tree[2])
    return {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
            "min": lambda: dmin(a, b), "max": lambda: dmax(a, b),
            "div": lambda: a // b, "mod": lambda: a % b}[kind]()


def plain(tree, values):
    """The tree evaluated with Python ints: the reference semantics."""
    kind = tree[0]
    if kind == "int":
        return tree[1]
    if kind == "sym":
        return values[tree[1]]
    a = plain(tree[1], values)
    b = tree[2] if kind in ("div", "mod") else plain(tree[2], values)
    return {"add": a + b, "sub": a - b, "mul": a * b, "min": min(a, b), "max": max(a, b),
            "div": a // b if kind == "div" else 0, "mod": a % b if kind == "mod" else 0}[kind]


@PROPERTY
@given(TREES, VALUES)
def test_property_canonical_form_evaluates_like_python(tree, values):
    assert evaluate(build(tree), values) == plain(tree, values)


@PROPERTY
@given(TREES, VALUES)
def test_property_text_round_trip(tree, values):
    value = build(tree)
    again = parse(str(value))
    assert again == value
    assert hash(again) == hash(value)
    assert str(again) == str(value)
    assert evaluate(again, values) == evaluate(value, values)


@PROPERTY
@given(TREES, VALUES, st.sampled_from(NAMES))
def test_property_substitute_matches_eval(tree, values, partial_name):
    value = build(tree)
    assert substitute(value, values) == evaluate(value, values)
    # partial substitution then the rest is the same as evaluating at once
    first = substitute(value, {partial_name: values[partial_name]})
    assert evaluate(first, values) == plain(tree, values)


@PROPERTY
@given(TREES, VALUES)
def test_property_substitute_with_dims(tree, values):
    value = build(tree)
    replaced = substitute(value, {"S": T + 2 * U + 1})
    shifted = dict(values, S=values["T"] + 2 * values["U"] + 1)
    assert evaluate(replaced, values) == plain(tree, shifted)


@PROPERTY
@given(TREES, TREES, st.lists(VALUES, min_size=1, max_size=4), st.integers(0, 3))
def test_property_prove_ge_is_sound(tree_a, tree_b, samples, relation):
    a = build(tree_a)
    # related pairs make proofs likely, unrelated pairs check there are no false ones
    b = [build(tree_b), dmin(a, build(tree_b)), a - (build(tree_b) % 5), (a // 3) * 3][relation]
    if prove_ge(a, b):
        for values in samples:
            assert evaluate(a, values) >= evaluate(b, values)


@PROPERTY
@given(TREES, TREES)
# found by hypothesis: a shared min(S,1) inside and outside a max; a min whose dropped
# argument was dominated by one flattened argument of the other min
@example(("mod", ("div", ("sym", "S"), 2), 2),
         ("sub", ("max", ("int", 1), ("sym", "T")), ("min", ("int", 1), ("sym", "S"))))
@example(("min", ("sub", ("int", 0), ("sym", "U")), ("int", -8)),
         ("div", ("add", ("sub", ("sym", "T"), ("min", ("sym", "U"), ("sym", "S"))),
                  ("mod", ("sym", "T"), 2)), 5))
@example(("max", ("div", ("min", ("mod", ("sym", "T"), 3), ("min", ("int", 4), ("sym", "S"))), 3),
                 ("sub", ("sym", "U"), ("int", 1))),
         ("min", ("mod", ("min", ("max", ("int", -8), ("sym", "S")), ("int", 3)), 4),
                 ("mod", ("sym", "U"), 6)))
def test_property_min_max_are_provably_ordered(tree_a, tree_b):
    a, b = build(tree_a), build(tree_b)
    assert prove_ge(a, dmin(a, b)) and prove_ge(b, dmin(a, b))
    assert prove_ge(dmax(a, b), a) and prove_ge(dmax(a, b), b)
    assert prove_ge(a, a) and prove_ge(a + 1, a) and not prove_ge(a, a + 1)


@PROPERTY
@given(TREES, st.lists(VALUES, min_size=1, max_size=4))
def test_property_bounds_are_sound(tree, samples):
    value = build(tree)
    low, high = lower_bound(value), upper_bound(value)
    for values in samples:
        actual = plain(tree, values)
        assert low is None or low <= actual
        assert high is None or actual <= high


@PROPERTY
@given(TREES, st.lists(VALUES, min_size=1, max_size=3))
def test_property_bounds_respect_assumptions(tree, samples):
    facts = Assumptions({"S": 10, "T": 3})
    value = build(tree)
    low = lower_bound(value, facts)
    for values in samples:
        values = dict(values, S=values["S"] + 10, T=values["T"] + 3)
        assert low is None or low <= evaluate(value, values)


def test_exact_division_by_a_polynomial_with_a_one_term_quotient():
    # a Reshape whose -1 divides 2*S*(S+1) elements by 2*(S+1) (found by hypothesis)
    S = sym("S")
    q = (2 * S * S + 2 * S) // (2 * S + 2)
    for s in range(1, 12):
        assert evaluate(q, {"S": s}) == (2 * s * s + 2 * s) // (2 * s + 2)
    with pytest.raises(DimError):
        (2 * S * S + 3 * S) // (2 * S + 2)
