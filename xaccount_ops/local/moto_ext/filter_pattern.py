"""CloudWatch Logs filter patterns, as subscription filters apply them (pure; no moto).

moto 5.2.5 ignores a subscription filter's pattern (and its ``filter_log_events`` matcher knows a
single term or phrase only), so the local cloud would deliver events AWS would not. Supported:

- empty pattern: every event;
- terms: ``ERROR "two words"`` (all must appear, case-sensitive), ``-DEBUG`` (must not appear),
  ``?ERROR ?WARN`` (at least one of the ``?`` terms must appear);
- JSON: ``{ $.level = "ERROR" }``, ``!=``, ``> < >= <=`` on numbers, ``&&``/``||``, parentheses,
  ``*`` wildcards in string values, ``IS TRUE|FALSE|NULL``, ``NOT EXISTS``; a message that is not
  JSON never matches a JSON pattern.

Space-delimited patterns (``[ip, user, ...]``) are not emulated: they are read as terms.
"""

from __future__ import annotations

import json
import re
from typing import Any

_MISSING = object()
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<op>&&|\|\||!=|>=|<=|=|>|<|\(|\))
    | (?P<word>[^\s()&|!=<>"]+)
    )""",
    re.X,
)
_TERM = re.compile(r'([-?]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))')
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def matches(pattern: str, message: str) -> bool:
    """Whether a log event's message matches a filter pattern (``ValueError`` if malformed)."""
    text = pattern.strip()
    if not text:
        return True
    if text.startswith("{"):
        return _json_matches(text, message)
    return _terms_match(text, message)


def _terms_match(pattern: str, message: str) -> bool:
    required, excluded, any_of = [], [], []
    for sign, quoted, bare in _TERM.findall(pattern):
        term = bytes(quoted, "utf-8").decode("unicode_escape") if quoted else bare
        {"": required, "-": excluded, "?": any_of}[sign].append(term)
    if any(term not in message for term in required):
        return False
    if any(term in message for term in excluded):
        return False
    return not any_of or any(term in message for term in any_of)


# --- JSON patterns -------------------------------------------------------------------------------


def _tokens(body: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(body):
        if body[pos:].strip() == "":
            break
        found = _TOKEN.match(body, pos)
        if found is None or found.end() == pos:
            raise ValueError(f"invalid filter pattern near {body[pos:]!r}")
        kind = found.lastgroup or ""
        out.append((kind, found.group(kind)))
        pos = found.end()
    return out


def _json_matches(pattern: str, message: str) -> bool:
    if not pattern.endswith("}"):
        raise ValueError(f"invalid JSON filter pattern: {pattern!r}")
    parser = _Parser(_tokens(pattern[1:-1]))
    tree = parser.parse()  # parse before reading the message: a bad pattern is always an error
    try:
        document = json.loads(message)
    except ValueError:
        return False
    return tree(document)


class _Parser:
    """Recursive descent: ``or := and ('||' and)*``, ``and := atom ('&&' atom)*``."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def parse(self) -> Any:
        tree = self._or()
        if self.pos != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.pos][1]!r} in filter pattern")
        return tree

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ValueError("filter pattern ends too early")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _or(self) -> Any:
        parts = [self._and()]
        while self._peek() == "||":
            self._take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else lambda d: any(p(d) for p in parts)

    def _and(self) -> Any:
        parts = [self._atom()]
        while self._peek() == "&&":
            self._take()
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else lambda d: all(p(d) for p in parts)

    def _atom(self) -> Any:
        if self._peek() == "(":
            self._take()
            inner = self._or()
            if self._take()[1] != ")":
                raise ValueError("missing ')' in filter pattern")
            return inner
        kind, selector = self._take()
        if kind != "word" or not selector.startswith("$"):
            raise ValueError(f"expected a $.selector, got {selector!r}")
        path = _path(selector)
        kind, op = self._take()
        if kind == "word" and op.upper() in ("IS", "NOT"):
            return self._keyword(path, op.upper())
        if kind != "op" or op in ("(", ")", "&&", "||"):
            raise ValueError(f"expected a comparison after {selector}, got {op!r}")
        kind, raw = self._take()
        if kind == "str":
            return _compare(path, op, json.loads(raw), quoted=True)
        if kind == "word":
            return _compare(path, op, raw, quoted=False)
        raise ValueError(f"expected a value after {selector} {op}, got {raw!r}")

    def _keyword(self, path: list[str | int], first: str) -> Any:
        word = self._take()[1].upper()
        if first == "NOT" and word == "EXISTS":
            return lambda d: _lookup(d, path) is _MISSING
        wanted = {"TRUE": True, "FALSE": False, "NULL": None}
        if first != "IS" or word not in wanted:
            raise ValueError(f"unknown filter pattern keyword {first} {word}")
        return lambda d: (v := _lookup(d, path)) is not _MISSING and v is wanted[word]


def _path(selector: str) -> list[str | int]:
    """``$.a.b[0].c`` -> ["a", "b", 0, "c"]."""
    parts: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", selector[1:]):
        parts.append(int(index) if index else name)
    if not parts:
        raise ValueError(f"invalid selector {selector!r}")
    return parts


def _lookup(document: Any, path: list[str | int]) -> Any:
    current = document
    for part in path:
        in_list = isinstance(part, int) and isinstance(current, list) and part < len(current)
        in_dict = isinstance(part, str) and isinstance(current, dict) and part in current
        if not (in_list or in_dict):
            return _MISSING
        current = current[part]
    return current


def _compare(path: list[str | int], op: str, value: str, quoted: bool) -> Any:
    number = None if quoted or not _NUMBER.fullmatch(value) else float(value)
    if op in (">", "<", ">=", "<="):
        if number is None:
            raise ValueError(f"{op} needs a number, got {value!r}")
        test = {
            ">": lambda a: a > number,
            "<": lambda a: a < number,
            ">=": lambda a: a >= number,
            "<=": lambda a: a <= number,
        }[op]
        return lambda d: _is_number(v := _lookup(d, path)) and test(v)
    wildcard = re.compile(".*".join(re.escape(p) for p in value.split("*")), re.S)

    def equal(actual: Any) -> bool:
        if number is not None and _is_number(actual):
            return float(actual) == number
        if isinstance(actual, str):
            return wildcard.fullmatch(actual) is not None
        return False

    if op == "=":
        return lambda d: (v := _lookup(d, path)) is not _MISSING and equal(v)
    return lambda d: (v := _lookup(d, path)) is not _MISSING and not equal(v)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
