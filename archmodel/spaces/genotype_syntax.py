"""The DARTS genotype syntax, read exactly as the ONNX contract's ``build.tokens`` states it.

``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], ...)``
is read by this small tokenizer and recursive-descent parser, not by Python's parser: the
contract (``specs/onnx/darts.json``) promises that archmodel refuses what a contract client
refuses, and Python's literal syntax accepts far more (comments, escapes, sets, implicit string
concatenation, hexadecimal and underscored integers, line continuations, a keyword twice).

Tokens: names (letters, digits, ``_``), ``( ) [ ] , =``, strings in single or double quotes
without a backslash, integers (an optional ``+``/``-``, whitespace allowed after it, then ASCII
decimal digits without a leading zero unless all digits are zeros). Whitespace between tokens
is space, tab, CR or LF. A list is ``[`` values ``]`` or ``(`` values ``)``, with an optional
trailing comma; ``(x)`` (one value, no comma) is ``x`` itself, as in Python.
"""
from __future__ import annotations

import re
from typing import Any

__all__ = ["GenotypeSyntaxError", "parse_genotype_call"]

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<int>[+-]?[ \t\r\n]*(?:0+|[1-9][0-9]*)(?![A-Za-z0-9_]))
  | (?P<str>'[^'\\]*'|"[^"\\]*")
  | (?P<punct>[()\[\],=])
""", re.VERBOSE)


class GenotypeSyntaxError(ValueError):
    """A genotype string that breaks the contract's syntax (the message says where and why)."""


def _tokens(text: str) -> list[tuple[str, Any, int]]:
    out: list[tuple[str, Any, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise GenotypeSyntaxError(
                f"unexpected character {text[pos]!r} at position {pos} (allowed: names, quoted op "
                f"names without a backslash, decimal integers, ( ) [ ] , = and space/tab/CR/LF)")
        kind = m.lastgroup
        tok = m.group()
        if kind == "int":
            out.append(("int", int(re.sub(r"[ \t\r\n]", "", tok)), pos))
        elif kind == "str":
            out.append(("str", tok[1:-1], pos))
        elif kind != "ws":
            out.append((kind if kind == "name" else tok, tok, pos))
        pos = m.end()
    out.append(("end", None, len(text)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, Any, int]:
        return self.toks[self.i]

    def take(self, kind: str, what: str) -> Any:
        k, v, pos = self.toks[self.i]
        if k != kind:
            got = "the end of the text" if k == "end" else repr(v)
            raise GenotypeSyntaxError(f"expected {what} at position {pos}; got {got}")
        self.i += 1
        return v

    def value(self) -> Any:
        k, v, pos = self.peek()
        if k in ("int", "str"):
            self.i += 1
            return v
        if k in ("[", "("):
            close = "]" if k == "[" else ")"
            self.i += 1
            items: list[Any] = []
            trailing = False
            while self.peek()[0] != close:
                items.append(self.value())
                trailing = self.peek()[0] == ","
                if trailing:
                    self.i += 1
                elif self.peek()[0] != close:
                    self.take(close, f"',' or {close!r}")
            self.i += 1
            if k == "(" and len(items) == 1 and not trailing:
                return items[0]  # '(x)' is x, as in Python
            return items
        got = "the end of the text" if k == "end" else repr(v)
        raise GenotypeSyntaxError(f"expected a value (a quoted op name, an integer or a list) at position {pos}; got {got}")


def parse_genotype_call(text: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """Read ``Genotype(name=value, ...)`` and return ``{name: value}`` (lists as Python lists).

    Parameters
    ----------
    text : str
        The genotype string.
    allowed : tuple of str
        Field names that may appear (each at most once).

    Raises
    ------
    GenotypeSyntaxError
        Anything before or after the call, a positional value, a field twice or not in
        ``allowed``, or a token outside the syntax above.
    """
    p = _Parser(text)
    name = p.take("name", "'Genotype'")
    if name != "Genotype":
        raise GenotypeSyntaxError(f"the text must start with 'Genotype('; got {name!r}")
    p.take("(", "'('")
    fields: dict[str, Any] = {}
    while p.peek()[0] != ")":
        k, v, pos = p.peek()
        if k != "name":
            raise GenotypeSyntaxError(f"expected a field name (name=value; no positional values) at position {pos}; "
                                      f"got {'the end of the text' if k == 'end' else repr(v)}")
        p.i += 1
        if v not in allowed:
            raise GenotypeSyntaxError(f"unknown field {v!r}; allowed fields: {list(allowed)}")
        if v in fields:
            raise GenotypeSyntaxError(f"field {v!r} is given twice")
        p.take("=", f"'=' after {v!r}")
        fields[v] = p.value()
        if p.peek()[0] == ",":
            p.i += 1
        elif p.peek()[0] != ")":
            p.take(")", "',' or ')'")
    p.i += 1
    p.take("end", "the end of the text after 'Genotype(...)'")
    return fields
