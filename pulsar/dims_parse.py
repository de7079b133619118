"""The grammar of the text form of dimensions: a recursive-descent parser and name quoting.

A leaf: it builds values with the constructors it is given (`sym`, `dmin`, `dmax` from
pulsar/dims.py) and Python's arithmetic operators, so the algebra can accept text everywhere
without the two modules importing each other. `format_dim` (pulsar/dims.py) prints exactly the
parentheses this grammar needs for `parse(str(d)) == d`.

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

from .errors import DimError

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FUNCTION_NAMES = ("min", "max")   # printed in backticks so the parser never sees a call

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<int>\d+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | `(?P<quoted>(?:[^`]|``)+)`
  | (?P<op>//|\*\*|>=|<=|[-+*/%^(),<>])
""", re.VERBOSE)


def format_name(name: str) -> str:
    """A symbol name as written: backticked unless a plain identifier (`` doubles a `)."""
    if _PLAIN_NAME.match(name) and name not in _FUNCTION_NAMES:
        return name
    return "`" + name.replace("`", "``") + "`"


def parse_text(text: str, symbol, functions: dict):
    """The value of `text`, built with `symbol(name)` and `functions[name](*args)` (min, max);
    DimError naming the position of the first problem."""
    if not isinstance(text, str):
        raise DimError(f"cannot parse {text!r}: not a string")
    parser = _Parser(text, symbol, functions)
    value = parser.expr()
    if parser.peek() is not None:
        parser.fail(f"unexpected {parser.peek()[1]!r}")
    return value


def parse_comparison(text: str, symbol, functions: dict) -> tuple:
    """(left, op, right) with op `>=` or `>`, from `S >= 400`, `S > 3`, `400 <= S`, `3 < S`."""
    match = re.fullmatch(r"(.*?)(>=|<=|>|<)(.*)", text, re.DOTALL)
    if match is None:
        raise DimError(f"assumption {text!r}: expected `NAME >= INT`")
    left, op, right = (parse_text(match[1], symbol, functions), match[2],
                       parse_text(match[3], symbol, functions))
    if op in ("<=", "<"):
        left, right, op = right, left, op.replace("<", ">")
    return left, op, right


class _Parser:
    def __init__(self, text: str, symbol, functions: dict):
        self.text = text
        self.symbol, self.functions = symbol, functions
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
            if value in self.functions and self.take("(") is not None:
                return self.call(value, token)
            return self.symbol(value)
        if kind == "quoted":
            return self.symbol(value)
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
        return self.apply(token, self.functions[function], *args)


def _check_divisor(divisor):
    if isinstance(divisor, int) and divisor < 1:
        raise DimError(f"divisor {divisor} must be >= 1")


def _divide(value, divisor):
    _check_divisor(divisor)
    return value // divisor


def _modulo(value, divisor):
    _check_divisor(divisor)
    return value % divisor
