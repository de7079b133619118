"""Text form of dimensions, both ways: `format_dim` and a recursive-descent parser.

Printing and parsing live together because the parentheses `format_dim` emits are
exactly those the grammar below needs for `parse_text(format_dim(d)) == d`.

Grammar (whitespace ignored; `/` and `//` both mean floor division, as in tract):
    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/' | '//' | '%') unary)*
    unary   := ('-' | '+') unary | power
    power   := primary (('^' | '**') primary)?        exponent: an int >= 0
    primary := INT | NAME | `QUOTED` | ('min' | 'max') '(' expr (',' expr)* ')' | '(' expr ')'
A backticked name may contain anything but a backtick; write `` for a literal one.
"""
from __future__ import annotations

import re

from .dims import Dim, DimError, _FloorDiv, _Sym, _mono_key, _single_atom, dmax, dmin, sym

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FUNCTION_NAMES = ("min", "max")   # printed in backticks so the parser never sees a call

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<int>\d+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | `(?P<quoted>(?:[^`]|``)+)`
  | (?P<op>//|\*\*|>=|<=|[-+*/%^(),<>])
""", re.VERBOSE)


def format_dim(value: Dim) -> str:
    """Deterministic text of a Dim: `2*S+1`, `(S-400)/160+1`, `min(S,4)`, `S*S`."""
    # higher degree first reads like a polynomial; the constant always comes last
    ordered = sorted(value._terms, key=lambda item: (-len(item[0]), _mono_key(item[0])))
    parts = [_format_term(mono, coeff, index == 0) for index, (mono, coeff) in enumerate(ordered)]
    if value._const:
        parts.append(f"{value._const:+d}")
    return "".join(parts)


def format_name(name: str) -> str:
    """A symbol name as written: backticked unless a plain identifier (`` doubles a `)."""
    if _PLAIN_NAME.match(name) and name not in _FUNCTION_NAMES:
        return name
    return "`" + name.replace("`", "``") + "`"


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


def parse_text(text: str):
    """int | Dim from text; DimError naming the position of the first problem."""
    if not isinstance(text, str):
        raise DimError(f"cannot parse {text!r}: not a string")
    parser = _Parser(text)
    value = parser.expr()
    if parser.peek() is not None:
        parser.fail(f"unexpected {parser.peek()[1]!r}")
    return value


def parse_assumption(text: str) -> tuple:
    """(name, lower) from `S >= 400`, `S > 3`, `400 <= S` or `3 < S`."""
    match = re.fullmatch(r"(.*?)(>=|<=|>|<)(.*)", text, re.DOTALL)
    if match is None:
        raise DimError(f"assumption {text!r}: expected `NAME >= INT`")
    left, op, right = parse_text(match[1]), match[2], parse_text(match[3])
    if op in ("<=", "<"):
        left, right, op = right, left, op.replace("<", ">")
    name = _only_symbol(left)
    if name is None or not isinstance(right, int):
        raise DimError(f"assumption {text!r}: expected a symbol compared with an int")
    return name, right + 1 if op == ">" else right


def _only_symbol(value):
    atom = _single_atom(value)
    return atom.name if isinstance(atom, _Sym) else None


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = list(self._tokenize(text))   # (kind, value, position)
        self.index = 0

    def _tokenize(self, text: str):
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                self.fail(f"unexpected character {text[position]!r}", position)
            kind = match.lastgroup
            if kind == "int":
                yield kind, int(match[kind]), position
            elif kind == "quoted":
                yield kind, match[kind].replace("``", "`"), position
            elif kind != "space":
                yield kind, match[kind], position
            position = match.end()

    def fail(self, message: str, position: "int | None" = None):
        if position is None:
            token = self.peek()
            position = token[2] if token else len(self.text)
        raise DimError(f"{message} at position {position} in {self.text!r}")

    def peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, *ops):
        """The next token if it is one of the operators `ops`, consumed; else None."""
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in ops:
            self.index += 1
            return token
        return None

    def expect(self, op: str):
        if self.take(op) is None:
            found = self.peek()
            self.fail(f"expected {op!r}, found {found[1]!r}" if found else f"expected {op!r}")

    def apply(self, token, function, *args):
        """Run an operation, pointing DimErrors (bad divisor, inexact division) at `token`."""
        try:
            return function(*args)
        except DimError as error:
            self.fail(str(error), token[2])

    def expr(self):
        value = self.term()
        while (token := self.take("+", "-")) is not None:
            right = self.term()
            value = value + right if token[1] == "+" else value - right
        return value

    def term(self):
        value = self.unary()
        while (token := self.take("*", "/", "//", "%")) is not None:
            right = self.unary()
            if token[1] == "*":
                value = value * right
            else:
                operation = _modulo if token[1] == "%" else _divide
                value = self.apply(token, operation, value, right)
        return value

    def unary(self):
        if self.take("-") is not None:
            return -self.unary()
        if self.take("+") is not None:
            return self.unary()
        return self.power()

    def power(self):
        value = self.primary()
        token = self.take("^", "**")
        if token is None:
            return value
        exponent = self.primary()
        if not isinstance(exponent, int) or exponent < 0:
            self.fail("exponent must be a non-negative int", token[2])
        return value ** exponent

    def primary(self):
        token = self.peek()
        if token is None:
            self.fail("unexpected end of text")
        kind, value, position = token
        self.index += 1
        if kind == "int":
            return value
        if kind == "name":
            if value in ("min", "max") and self.take("(") is not None:
                return self.call(value, token)
            return sym(value)
        if kind == "quoted":
            return sym(value)
        if value == "(":
            inner = self.expr()
            self.expect(")")
            return inner
        self.fail(f"unexpected {value!r}", position)

    def call(self, function: str, token):
        args = [self.expr()]
        while self.take(",") is not None:
            args.append(self.expr())
        self.expect(")")
        return self.apply(token, dmin if function == "min" else dmax, *args)


def _check_divisor(divisor):
    if isinstance(divisor, int) and divisor < 1:
        raise DimError(f"divisor {divisor} must be >= 1")


def _divide(value, divisor):
    _check_divisor(divisor)
    return value // divisor


def _modulo(value, divisor):
    _check_divisor(divisor)
    return value % divisor
