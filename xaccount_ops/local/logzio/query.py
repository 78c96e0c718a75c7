"""The ``/v1/search`` subset: Elasticsearch query DSL evaluated in Python over stored documents.

Supported: ``match_all``, ``match_none``, ``match`` (``operator``), ``match_phrase``, ``term``,
``terms``, ``exists``, ``prefix``, ``wildcard``, ``range`` (gte/gt/lte/lt; on ``@timestamp``
ISO strings, epoch milliseconds and date math like ``now-15m`` or ``now-1d/d``), ``bool``
(must/filter/should/must_not, ``minimum_should_match``), ``query_string`` (``field:value``,
``field:"a phrase"``, bare terms over every string field, AND/OR/NOT, ``+``/``-``, parentheses,
trailing ``*`` wildcards, ``default_operator``, ``default_field``/``fields``); plus ``from``,
``size`` (at most 10,000), ``sort``, ``_source``, ``post_filter``, and ``terms`` aggregations
(nested up to three levels, bucket ``size`` at most 1,000, ``field.keyword`` accepted) with
``max``/``min`` metric aggregations inside or beside them (on ``@timestamp`` they answer epoch
milliseconds and ``value_as_string``, as Elasticsearch does for a date field).
Anything else is a 400 that names it: the emulator never ignores a part of a query silently.

Text matching stands in for Elasticsearch's analysis: a string is lowercased and split on
non-word characters into tokens. ``match`` matches tokens, ``match_phrase`` consecutive tokens,
``term`` an exact value (or one token, as on an analysed field); ``field.keyword`` is exact only.

Time window (Logz.io's rule): without a ``range`` on ``@timestamp`` that every hit must satisfy,
a search covers today and yesterday, UTC, shifted back ``dayOffset`` days; with one, the range
alone decides (Logz.io's two-day cap on such ranges is not enforced). A line stamped later than
today is outside the default window, as it would be in Logz.io's daily indices.

Defaults where Elasticsearch scores: hits come in arrival order unless ``sort`` says otherwise
(``_score`` is accepted and ignored; ``max_score`` and ``_score`` are ``null``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from xaccount_ops.local.logzio.bulk import parse_timestamp
from xaccount_ops.local.logzio.store import Doc

MAX_SIZE = 10_000
DEFAULT_SIZE = 10
MAX_AGG_BUCKETS = 1_000
TIMESTAMP = "@timestamp"

Predicate = Callable[[Doc], bool]


class QueryError(ValueError):
    """A search the emulator rejects (400); the message names the part and what is accepted."""


# -- values --------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+", re.UNICODE)
_MISSING = object()


def tokens(value: Any) -> list[str]:
    return _TOKEN.findall(_text(value).lower())


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def values(source: Any, path: str) -> list[Any]:
    """The leaf values at ``path`` (``a.b`` walks nested objects; lists are flattened)."""
    if isinstance(source, dict) and path in source:
        found = [source[path]]
    else:
        found = [source]
        for part in path.split("."):
            step: list[Any] = []
            for item in found:
                for node in item if isinstance(item, list) else [item]:
                    if isinstance(node, dict) and part in node:
                        step.append(node[part])
            found = step
            if not found:
                return []
    return [leaf for item in found for leaf in _flatten(item) if leaf is not None]


def _flatten(value: Any) -> Iterable[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def _strings(source: Any) -> Iterable[Any]:
    """Every scalar leaf of a document (what a bare query_string term searches)."""
    if isinstance(source, dict):
        for value in source.values():
            yield from _strings(value)
    elif isinstance(source, list):
        for value in source:
            yield from _strings(value)
    elif source is not None:
        yield source


def _field_values(doc: Doc, field: str) -> list[Any]:
    if field == "*":
        return list(_strings(doc.source))
    return values(doc.source, field)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return _text(a) == _text(b)


# -- leaf matchers ---------------------------------------------------------------------------------


def _phrase_in(needle: list[str], hay: list[str]) -> bool:
    if not needle:
        return False
    n = len(needle)
    return any(hay[i : i + n] == needle for i in range(len(hay) - n + 1))


def _keyword(field: str) -> tuple[str, bool]:
    if field.endswith(".keyword"):
        return field[: -len(".keyword")], True
    return field, False


def _match(field: str, text: Any, operator: str) -> Predicate:
    field, exact = _keyword(field)
    if exact:
        return _term(field, text, exact=True)
    wanted = tokens(text)
    if not wanted:
        return lambda doc: False
    need_all = operator == "and"

    def test(doc: Doc) -> bool:
        have: set[str] = set()
        for value in _field_values(doc, field):
            have.update(tokens(value))
        hits = [token in have for token in wanted]
        return all(hits) if need_all else any(hits)

    return test


def _match_phrase(field: str, text: Any) -> Predicate:
    field, exact = _keyword(field)
    if exact:
        return _term(field, text, exact=True)
    wanted = tokens(text)
    return lambda doc: any(_phrase_in(wanted, tokens(v)) for v in _field_values(doc, field))


def _term(field: str, expected: Any, *, exact: bool = False) -> Predicate:
    field, keyword = _keyword(field)
    exact = exact or keyword
    token = expected.lower() if isinstance(expected, str) else None

    def test(doc: Doc) -> bool:
        for value in _field_values(doc, field):
            if _same(value, expected):
                return True
            # An analysed field holds lowercase tokens: a lowercase term matches one of them.
            if (
                not exact
                and token == expected
                and isinstance(value, str)
                and token in tokens(value)
            ):
                return True
        return False

    return test


def _wildcard(field: str, pattern: str, *, case_insensitive: bool = True) -> Predicate:
    if pattern[:1] in ("*", "?") and pattern != "*":
        raise QueryError(
            f"leading wildcard in {pattern!r} (field {field!r}): Logz.io forbids wildcards at the "
            "start of a term; anchor the pattern with a prefix"
        )
    field, exact = _keyword(field)
    if pattern == "*":
        return _exists(field)
    flags = re.IGNORECASE if case_insensitive and not exact else 0
    regex = re.compile(fnmatch.translate(pattern), flags)

    def test(doc: Doc) -> bool:
        for value in _field_values(doc, field):
            text = _text(value)
            if regex.match(text):
                return True
            if not exact and any(regex.match(token) for token in tokens(text)):
                return True
        return False

    return test


def _exists(field: str) -> Predicate:
    field, _ = _keyword(field)
    return lambda doc: bool(_field_values(doc, field))


# -- range and date math -------------------------------------------------------------------------

_DATE_MATH = re.compile(r"^now(?P<ops>(?:[+-]\d+[yMwdhHms])*)(?:/(?P<round>[yMwdhHms]))?$")
_DATE_OP = re.compile(r"([+-])(\d+)([yMwdhHms])")
_UNIT = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "H": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}


def date_ms(value: Any, now: datetime) -> int:
    """Epoch milliseconds of a range bound on a date field: ISO-8601, epoch ms, or date math
    (``now``, ``now-15m``, ``now-1d/d``)."""
    if isinstance(value, str):
        found = _DATE_MATH.match(value.strip())
        if found:
            moment = now
            for sign, amount, unit in _DATE_OP.findall(found.group("ops")):
                step = int(amount) if sign == "+" else -int(amount)
                if unit == "y":
                    moment = moment.replace(year=moment.year + step)
                elif unit == "M":
                    months = moment.year * 12 + moment.month - 1 + step
                    moment = moment.replace(year=months // 12, month=months % 12 + 1)
                else:
                    moment += step * _UNIT[unit]
            if found.group("round"):
                moment = _round_down(moment, found.group("round"))
            return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    parsed = parse_timestamp(value)
    if parsed is None:
        raise QueryError(
            f"range bound {value!r} on {TIMESTAMP} is not a date: use ISO-8601 "
            "(2024-05-01T12:00:00Z), epoch milliseconds, or date math like now-15m"
        )
    return parsed


def _round_down(moment: datetime, unit: str) -> datetime:
    if unit == "y":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "M":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        start = moment - timedelta(days=moment.weekday())
        return start.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit in ("h", "H"):
        return moment.replace(minute=0, second=0, microsecond=0)
    if unit == "m":
        return moment.replace(second=0, microsecond=0)
    return moment.replace(microsecond=0)


_RANGE_OPS = ("gte", "gt", "lte", "lt")


@dataclass
class _Bounds:
    lo: int | None = None  # inclusive
    hi: int | None = None  # exclusive

    def narrow(self, lo: int | None, hi: int | None) -> None:
        if lo is not None:
            self.lo = lo if self.lo is None else max(self.lo, lo)
        if hi is not None:
            self.hi = hi if self.hi is None else min(self.hi, hi)


def _range(field: str, spec: Any, ctx: _Context, required: bool) -> Predicate:
    if not isinstance(spec, dict):
        raise QueryError(f'range on {field!r} needs an object like {{"gte": ..., "lt": ...}}')
    ops = {k: v for k, v in spec.items() if k in _RANGE_OPS}
    extra = set(spec) - set(_RANGE_OPS) - {"format", "time_zone", "boost"}
    if extra:
        raise QueryError(
            f"range on {field!r}: unsupported key(s) {sorted(extra)}; use {_RANGE_OPS}"
        )
    if field == TIMESTAMP:
        bounds = {op: date_ms(v, ctx.now) for op, v in ops.items()}
        lo = max([bounds.get("gte", -(2**63)), bounds.get("gt", -(2**63)) + 1])
        hi = min([bounds.get("lt", 2**63), bounds.get("lte", 2**63 - 1) + 1])
        if required:
            ctx.bounds.narrow(
                lo if ops.keys() & {"gte", "gt"} else None,
                hi if ops.keys() & {"lt", "lte"} else None,
            )
            ctx.has_time_range = True
        return lambda doc: lo <= doc.ts_ms < hi

    def test(doc: Doc) -> bool:
        return any(_in_range(value, ops) for value in _field_values(doc, field))

    return test


def _in_range(value: Any, ops: dict[str, Any]) -> bool:
    for op, bound in ops.items():
        try:
            if isinstance(bound, int | float) and not isinstance(bound, bool):
                left, right = float(value), float(bound)
            else:
                left, right = _text(value), _text(bound)
        except (TypeError, ValueError):
            return False
        if not (
            (op == "gte" and left >= right)
            or (op == "gt" and left > right)
            or (op == "lte" and left <= right)
            or (op == "lt" and left < right)
        ):
            return False
    return True


# -- query_string --------------------------------------------------------------------------------

_QS_TOKEN = re.compile(
    r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<phrase>"(?:[^"\\]|\\.)*")|(?P<word>(?:[^\s()"\\]|\\.)+))'
)


def _qs_lex(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        found = _QS_TOKEN.match(text, pos)
        if not found or found.end() == pos:
            raise QueryError(f"query_string: cannot parse {text[pos:]!r} (unbalanced quote?)")
        pos = found.end()
        kind = found.lastgroup or ""
        value = found.group(kind)
        if kind == "phrase":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
    return out


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _split_field(word: str) -> tuple[str | None, str]:
    """``field:value`` → (field, value) at the first unescaped colon; (None, word) otherwise."""
    for index, char in enumerate(word):
        if char == "\\":
            continue
        if char == ":" and index > 0 and word[index - 1] != "\\":
            return _unescape(word[:index]), word[index + 1 :]
    return None, word


class _QueryString:
    """Recursive descent over ``OR`` > ``AND`` > ``NOT``/``+``/``-`` > atoms."""

    def __init__(self, spec: dict[str, Any]) -> None:
        text = spec.get("query")
        if not isinstance(text, str):
            raise QueryError('query_string needs "query": a string')
        operator = str(spec.get("default_operator", "or")).lower()
        if operator not in ("and", "or"):
            raise QueryError(f"query_string default_operator must be AND or OR, got {operator!r}")
        self.and_default = operator == "and"
        fields = spec.get("fields") or (
            [spec["default_field"]] if "default_field" in spec else ["*"]
        )
        self.fields = [str(f).split("^")[0] for f in fields]  # boosts do not matter here
        self.toks = _qs_lex(text)
        self.pos = 0

    def parse(self) -> Predicate:
        if not self.toks:
            return lambda doc: True
        pred = self._or()
        if self.pos < len(self.toks):
            raise QueryError(f"query_string: unexpected {self.toks[self.pos][1]!r}")
        return pred

    def _peek(self) -> tuple[str, str] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def _is_op(self, name: str) -> bool:
        tok = self._peek()
        return (
            tok is not None
            and tok[0] == "word"
            and tok[1] in (name, "&&" if name == "AND" else "||")
        )

    def _starts_atom(self) -> bool:
        tok = self._peek()
        return (
            tok is not None and tok[0] != "rp" and not self._is_op("AND") and not self._is_op("OR")
        )

    def _or(self) -> Predicate:
        parts = [self._and()]
        while True:
            if self._is_op("OR"):
                self.pos += 1
            elif not (self._starts_atom() and not self.and_default):
                break
            parts.append(self._and())
        if len(parts) == 1:
            modifier, pred = parts[0]
            return (lambda doc: not pred(doc)) if modifier == "-" else pred
        # Lucene's reading of "a +b -c": +b required, -c prohibited, and the plain clauses
        # optional when something is required, else at least one of them.
        must = [p for m, p in parts if m == "+"]
        must_not = [p for m, p in parts if m == "-"]
        should = [p for m, p in parts if m == ""]
        need_should = bool(should) and not must

        def test(doc: Doc) -> bool:
            if not all(p(doc) for p in must) or any(p(doc) for p in must_not):
                return False
            return not need_should or any(p(doc) for p in should)

        return test

    def _and(self) -> tuple[str, Predicate]:
        parts = [self._unary()]
        while True:
            if self._is_op("AND"):
                self.pos += 1
            elif not (self._starts_atom() and self.and_default):
                break
            parts.append(self._unary())
        if len(parts) == 1:
            return parts[0]
        preds = [(lambda doc, p=p: not p(doc)) if m == "-" else p for m, p in parts]
        return "", lambda doc: all(p(doc) for p in preds)

    def _unary(self) -> tuple[str, Predicate]:
        """A clause and its modifier: ``-`` (NOT, ``-``, ``!``), ``+``, or none."""
        tok = self._peek()
        if tok is None:
            raise QueryError("query_string: the query ends where a term was expected")
        if tok in (("word", "NOT"), ("word", "!")):
            self.pos += 1
            modifier, inner = self._unary()
            return ("+", inner) if modifier == "-" else ("-", inner)
        if tok[0] == "word" and tok[1][:1] in "+-!" and len(tok[1]) > 1:
            sign, rest = tok[1][0], tok[1][1:]
            self.toks[self.pos] = ("word", rest)
            _, inner = self._unary()
            return ("+" if sign == "+" else "-"), inner
        return "", self._atom(None)

    def _atom(self, field: str | None) -> Predicate:
        tok = self._peek()
        if tok is None:
            raise QueryError("query_string: the query ends where a term was expected")
        kind, value = tok
        self.pos += 1
        if kind == "lp":
            if field is not None:
                saved, self.fields = self.fields, [field]
            inner = self._or()
            if field is not None:
                self.fields = saved
            if self._peek() != ("rp", ")"):
                raise QueryError("query_string: missing ')'")
            self.pos += 1
            return inner
        if kind == "rp":
            raise QueryError("query_string: unexpected ')'")
        if kind == "phrase":
            return self._over_fields(field, lambda f: _match_phrase(f, value))
        name, rest = _split_field(value)
        if name is not None and field is None:
            if rest:
                return self._leaf(name, rest)
            return self._atom(name)
        return self._leaf(field, value)

    def _leaf(self, field: str | None, word: str) -> Predicate:
        if word.startswith("[") or word.startswith("{"):
            raise QueryError(
                f"query_string: range syntax {word!r} is not supported by the emulator; "
                "use a range query inside bool"
            )
        if any(c in word.replace("\\*", "").replace("\\?", "") for c in "*?"):
            pattern = _glob(word)
            return self._over_fields(field, lambda f: _wildcard(f, pattern))
        text = _unescape(word)
        return self._over_fields(field, lambda f: _qs_value(f, text))

    def _over_fields(self, field: str | None, build: Callable[[str], Predicate]) -> Predicate:
        preds = [build(f) for f in ([field] if field else self.fields)]
        return preds[0] if len(preds) == 1 else (lambda doc: any(p(doc) for p in preds))


def _glob(word: str) -> str:
    """A query_string wildcard term as an fnmatch pattern: escaped characters are literal."""
    return re.sub(
        r"\\(.)|([\[\]])",
        lambda m: f"[{m.group(1) or m.group(2)}]" if (m.group(1) or "") in "*?[]" else m.group(1),
        word,
    )


def _qs_value(field: str, text: str) -> Predicate:
    """``field:value``: the exact value (case-insensitive), or its tokens as a phrase."""
    field, exact = _keyword(field)
    if exact:
        return _term(field, text, exact=True)
    lowered = text.lower()
    wanted = tokens(text)

    def test(doc: Doc) -> bool:
        for value in _field_values(doc, field):
            as_text = _text(value)
            if as_text.lower() == lowered or _phrase_in(wanted, tokens(as_text)):
                return True
        return False

    return test


# -- the query tree ------------------------------------------------------------------------------


@dataclass
class _Context:
    now: datetime
    bounds: _Bounds
    has_time_range: bool = False


def _one_field(kind: str, spec: Any) -> tuple[str, Any]:
    if not isinstance(spec, dict) or len(spec) != 1:
        raise QueryError(f'{kind} needs exactly one field, like {{"{kind}": {{"field": ...}}}}')
    return next(iter(spec.items()))


def compile_query(query: Any, ctx: _Context, required: bool = True) -> Predicate:
    """A predicate for ``query``. ``required``: every hit must satisfy it (so a ``@timestamp``
    range here sets the search's time window)."""
    if not isinstance(query, dict) or len(query) != 1:
        raise QueryError(
            f"a query must be an object with one key (match, term, bool, ...), got {query!r}"[:300]
        )
    kind, spec = next(iter(query.items()))
    if kind == "match_all":
        return lambda doc: True
    if kind == "match_none":
        return lambda doc: False
    if kind == "bool":
        return _bool(spec, ctx, required)
    if kind == "query_string":
        if not isinstance(spec, dict):
            raise QueryError('query_string needs an object like {"query": "field:value"}')
        if spec.get("allow_leading_wildcard") is True:
            raise QueryError("query_string: allow_leading_wildcard must be false on Logz.io")
        return _QueryString(spec).parse()
    if kind == "exists":
        if not isinstance(spec, dict) or not isinstance(spec.get("field"), str):
            raise QueryError('exists needs {"field": "<name>"}')
        return _exists(spec["field"])
    if kind == "terms":
        spec = {k: v for k, v in spec.items() if k != "boost"} if isinstance(spec, dict) else spec
        field, wanted = _one_field(kind, spec)
        if not isinstance(wanted, list):
            raise QueryError(f"terms on {field!r} needs a list of values, got {wanted!r}")
        preds = [_term(field, value) for value in wanted]
        return lambda doc: any(p(doc) for p in preds)
    field, arg = _one_field(kind, spec)
    if kind == "range":
        return _range(field, arg, ctx, required)
    if kind == "match":
        text, operator = arg, "or"
        if isinstance(arg, dict):
            text, operator = arg.get("query"), str(arg.get("operator", "or")).lower()
        return _match(field, text, operator)
    if kind == "match_phrase":
        return _match_phrase(field, arg.get("query") if isinstance(arg, dict) else arg)
    if kind == "term":
        return _term(field, arg.get("value") if isinstance(arg, dict) else arg)
    if kind == "prefix":
        text = arg.get("value") if isinstance(arg, dict) else arg
        return _wildcard(field, _escape_glob(str(text)) + "*")
    if kind == "wildcard":
        text = arg.get("value", arg.get("wildcard")) if isinstance(arg, dict) else arg
        return _wildcard(field, str(text))
    raise QueryError(
        f"query type {kind!r} is not supported by the emulator; supported: match_all, match, "
        "match_phrase, term, terms, exists, prefix, wildcard, range, bool, query_string"
    )


def _escape_glob(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _clauses(spec: dict[str, Any], key: str) -> list[Any]:
    value = spec.get(key, [])
    return value if isinstance(value, list) else [value]


def _bool(spec: Any, ctx: _Context, required: bool) -> Predicate:
    if not isinstance(spec, dict):
        raise QueryError("bool needs an object with must/filter/should/must_not")
    unknown = set(spec) - {"must", "filter", "should", "must_not", "minimum_should_match", "boost"}
    if unknown:
        raise QueryError(f"bool: unsupported key(s) {sorted(unknown)}")
    must = [
        compile_query(q, ctx, required) for q in _clauses(spec, "must") + _clauses(spec, "filter")
    ]
    should = [compile_query(q, ctx, False) for q in _clauses(spec, "should")]
    must_not = [compile_query(q, ctx, False) for q in _clauses(spec, "must_not")]
    minimum = spec.get("minimum_should_match")
    if minimum is None:
        minimum = 0 if must else (1 if should else 0)
    elif isinstance(minimum, str) and minimum.endswith("%"):
        minimum = len(should) * int(minimum[:-1]) // 100
    elif not isinstance(minimum, int):
        raise QueryError(
            f"minimum_should_match must be an integer or a percentage, got {minimum!r}"
        )

    def test(doc: Doc) -> bool:
        if not all(p(doc) for p in must):
            return False
        if any(p(doc) for p in must_not):
            return False
        return not minimum or sum(1 for p in should if p(doc)) >= minimum

    return test


# -- store prefilter ----------------------------------------------------------------------------

# A hint is a necessary condition on a document's JSON text, so the store can skip rows without
# decoding them: ("has", s) = contains s, ASCII case-insensitively; ("all"|"any", [hints]).
# Needles are limited to characters no JSON encoder escapes, so a hint never drops a match.
Hint = tuple[str, Any]
_SAFE_NEEDLE = re.compile(r"^[A-Za-z0-9_.:@-]{3,}$")
MAX_NEEDLES = 64


def _needle(value: Any) -> Hint | None:
    return ("has", value) if isinstance(value, str) and _SAFE_NEEDLE.match(value) else None


def _combine(kind: str, hints: list[Hint | None]) -> Hint | None:
    if kind == "all":
        kept = [h for h in hints if h is not None]
        return None if not kept else kept[0] if len(kept) == 1 else ("all", kept)
    if not hints or any(h is None for h in hints):
        return None  # one unconstrained alternative leaves the whole "any" unconstrained
    return hints[0] if len(hints) == 1 else ("any", hints)


def prefilter(query: Any) -> Hint | None:
    """A necessary condition for ``query`` (already validated by :func:`compile_query`)."""
    kind, spec = next(iter(query.items()))
    if kind == "bool":
        musts = _clauses(spec, "must") + _clauses(spec, "filter")
        hints = [prefilter(q) for q in musts]
        should = _clauses(spec, "should")
        minimum = spec.get("minimum_should_match", 0 if musts else 1)
        if should and isinstance(minimum, int) and minimum >= 1:
            hints.append(_combine("any", [prefilter(q) for q in should]))
        return _combine("all", hints)
    if kind not in ("term", "terms", "match", "match_phrase"):
        return None
    _, arg = next((k, v) for k, v in spec.items() if k != "boost")
    if kind == "terms":
        return _combine("any", [_needle(v) for v in arg])
    if kind == "term":
        return _needle(arg.get("value") if isinstance(arg, dict) else arg)
    text = arg.get("query") if isinstance(arg, dict) else arg
    operator = str(arg.get("operator", "or")).lower() if isinstance(arg, dict) else "or"
    words = [_needle(t) for t in tokens(text)] if isinstance(text, str) else [None]
    return _combine("all" if kind == "match_phrase" or operator == "and" else "any", words)


def _count_needles(hint: Hint) -> int:
    return 1 if hint[0] == "has" else sum(_count_needles(h) for h in hint[1])


# -- the search ----------------------------------------------------------------------------------


@dataclass
class Search:
    """A parsed ``/v1/search`` body, ready to run over documents."""

    predicate: Predicate
    post_filter: Predicate | None
    lo_ms: int | None
    hi_ms: int | None
    start: int
    size: int
    sort: list[tuple[str, bool]]  # (field, descending)
    source: Callable[[dict[str, Any]], dict[str, Any] | None]
    aggs: dict[str, TermsAgg | MetricAgg]  # named aggregations (terms possibly nested)
    hint: Hint | None = None  # for the store: a condition every hit's JSON text meets


def _int_param(body: dict[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise QueryError(f"{key} must be a non-negative integer, got {value!r}")
    return value


def parse_search(body: Any, *, now: datetime, day_offset: int = 0) -> Search:
    """Validate and compile a search body (raises :class:`QueryError`)."""
    if not isinstance(body, dict):
        raise QueryError("the search body must be a JSON object")
    known = {"query", "from", "size", "sort", "_source", "post_filter", "aggs", "aggregations"}
    unknown = set(body) - known - {"track_total_hits", "timeout"}
    if unknown:
        raise QueryError(f"unsupported search key(s) {sorted(unknown)}; supported: {sorted(known)}")
    size = _int_param(body, "size", DEFAULT_SIZE)
    if size > MAX_SIZE:
        raise QueryError(f"size {size} is over the limit of {MAX_SIZE}")
    start = _int_param(body, "from", 0)
    if start + size > MAX_SIZE:
        raise QueryError(f"from + size ({start + size}) is over the limit of {MAX_SIZE}")
    ctx = _Context(now=now, bounds=_Bounds())
    query = body.get("query", {"match_all": {}})
    predicate = compile_query(query, ctx)
    hint = prefilter(query)
    if hint is not None and _count_needles(hint) > MAX_NEEDLES:
        hint = None
    post_filter = (
        compile_query(body["post_filter"], _Context(now=now, bounds=_Bounds()), False)
        if "post_filter" in body
        else None
    )
    if ctx.has_time_range:
        lo_ms, hi_ms = ctx.bounds.lo, ctx.bounds.hi
    else:
        lo_ms, hi_ms = default_window(now, day_offset)
    return Search(
        predicate=predicate,
        post_filter=post_filter,
        lo_ms=lo_ms,
        hi_ms=hi_ms,
        start=start,
        size=size,
        sort=_parse_sort(body.get("sort")),
        source=_source_filter(body.get("_source", True)),
        aggs=_parse_aggs(body.get("aggs", body.get("aggregations"))),
        hint=hint,
    )


def default_window(now: datetime, day_offset: int = 0) -> tuple[int, int]:
    """``[start of yesterday, start of tomorrow)`` UTC in epoch ms, moved back ``day_offset`` days."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=1 + day_offset)
    end = today + timedelta(days=1 - day_offset)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    ms = timedelta(milliseconds=1)
    return (start - epoch) // ms, (end - epoch) // ms


def _parse_sort(spec: Any) -> list[tuple[str, bool]]:
    if spec is None:
        return []
    items = spec if isinstance(spec, list) else [spec]
    out: list[tuple[str, bool]] = []
    for item in items:
        if isinstance(item, str):
            out.append((item, item == "_score"))
            continue
        if not isinstance(item, dict) or len(item) != 1:
            raise QueryError(f'sort entries are "field" or {{"field": "asc"|"desc"}}, got {item!r}')
        field, order = next(iter(item.items()))
        if isinstance(order, dict):
            order = order.get("order", "asc")
        if order not in ("asc", "desc"):
            raise QueryError(f"sort order on {field!r} must be asc or desc, got {order!r}")
        out.append((field, order == "desc"))
    return out


def _source_filter(spec: Any) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    if spec is True or spec is None:
        return lambda source: source
    if spec is False:
        return lambda source: None
    includes: list[str]
    excludes: list[str] = []
    if isinstance(spec, str):
        includes = [spec]
    elif isinstance(spec, list) and all(isinstance(f, str) for f in spec):
        includes = spec
    elif isinstance(spec, dict):
        includes = _str_list(spec.get("includes", spec.get("include", [])))
        excludes = _str_list(spec.get("excludes", spec.get("exclude", [])))
    else:
        raise QueryError(
            f"_source must be true/false, a field list or includes/excludes, got {spec!r}"
        )

    def pick(source: dict[str, Any]) -> dict[str, Any]:
        flat = dict(_flatten_doc(source))
        kept = {
            path: value
            for path, value in flat.items()
            if (not includes or any(_path_matches(path, p) for p in includes))
            and not any(_path_matches(path, p) for p in excludes)
        }
        return _unflatten(kept)

    return pick


def _str_list(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise QueryError(f"_source includes/excludes must be field names, got {value!r}")
    return items


def _flatten_doc(
    source: dict[str, Any], prefix: tuple[str, ...] = ()
) -> Iterable[tuple[tuple[str, ...], Any]]:
    for key, value in source.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            yield from _flatten_doc(value, path)
        else:
            yield path, value


def _path_matches(path: tuple[str, ...], pattern: str) -> bool:
    dotted = ".".join(path)
    # A pattern names a field or any object above it ("aws" keeps "aws.region").
    return any(
        fnmatch.fnmatchcase(".".join(path[:i]), pattern) for i in range(1, len(path) + 1)
    ) or (fnmatch.fnmatchcase(dotted, pattern))


def _unflatten(flat: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out


@dataclass(frozen=True)
class TermsAgg:
    """A ``terms`` aggregation: the top ``size`` values of ``field``, each bucket with ``aggs``."""

    field: str
    size: int
    aggs: dict[str, TermsAgg | MetricAgg]
    # Elasticsearch's terms option: only values in at least this many documents get a bucket.
    min_doc_count: int = 1


@dataclass(frozen=True)
class MetricAgg:
    """A ``max`` or ``min`` metric aggregation over ``field``'s numeric (or date) values."""

    kind: str
    field: str


def _parse_metric(name: str, agg: dict[str, Any]) -> MetricAgg:
    (kind,) = (k for k in agg if k in ("max", "min"))
    spec = agg[kind]
    if set(agg) != {kind} or not isinstance(spec, dict) or not isinstance(spec.get("field"), str):
        raise QueryError(
            f'aggregation {name!r}: a {kind} aggregation is {{"{kind}": {{"field": "@timestamp"}}}}'
        )
    if set(spec) - {"field"}:
        raise QueryError(
            f"aggregation {name!r}: unsupported {kind} key(s) {sorted(set(spec) - {'field'})}"
        )
    return MetricAgg(kind=kind, field=spec["field"])


MAX_AGG_DEPTH = 3  # owner > region > logGroup is the deepest this project asks for


def _parse_aggs(spec: Any, depth: int = 1) -> dict[str, TermsAgg | MetricAgg]:
    """Named ``terms`` aggregations, nested up to :data:`MAX_AGG_DEPTH` levels (ES 6.8 shape:
    ``{"name": {"terms": {...}, "aggs": {...}}}``). Logz.io caps a bucket ``size`` at 1,000."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise QueryError("aggs must be an object of named aggregations")
    if depth > MAX_AGG_DEPTH:
        raise QueryError(f"aggregations nest at most {MAX_AGG_DEPTH} levels in the emulator")
    out: dict[str, TermsAgg | MetricAgg] = {}
    for name, agg in spec.items():
        if isinstance(agg, dict) and ("max" in agg or "min" in agg):
            out[name] = _parse_metric(name, agg)
            continue
        if (
            not isinstance(agg, dict)
            or "terms" not in agg
            or set(agg) - {"terms", "aggs", "aggregations"}
            or not isinstance(agg["terms"], dict)
        ):
            raise QueryError(
                f"aggregation {name!r}: the emulator supports only terms aggregations (optionally "
                'with terms sub-aggregations) like {"terms": {"field": "owner", "size": 10}}, '
                'and max/min like {"max": {"field": "@timestamp"}}'
            )
        terms = agg["terms"]
        unknown = set(terms) - {"field", "size", "min_doc_count"}
        if unknown:
            raise QueryError(f"aggregation {name!r}: unsupported terms key(s) {sorted(unknown)}")
        field = terms.get("field")
        size = terms.get("size", 10)
        if not isinstance(field, str):
            raise QueryError(f"aggregation {name!r}: terms needs a field name")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_AGG_BUCKETS:
            raise QueryError(
                f"aggregation {name!r}: size must be 1..{MAX_AGG_BUCKETS}, got {size!r}"
            )
        min_count = terms.get("min_doc_count", 1)
        if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 1:
            # 0 would list values no document has (ES pads from the mapping): not emulated.
            raise QueryError(
                f"aggregation {name!r}: min_doc_count must be an integer >= 1, got {min_count!r}"
            )
        sub = _parse_aggs(agg.get("aggs", agg.get("aggregations")), depth + 1)
        out[name] = TermsAgg(field=field, size=size, aggs=sub, min_doc_count=min_count)
    return out


def _sort_key(doc: Doc, field: str, descending: bool) -> tuple[int, int, Any]:
    if field == "_doc":
        return (0, 0, doc.id)
    if field == TIMESTAMP:
        return (0, 0, doc.ts_ms)
    found = values(doc.source, _keyword(field)[0])
    if not found:
        # Missing values sort last either way (Elasticsearch's default).
        return (1 if not descending else -1, 0, 0)
    value = min(found, key=_text) if not descending else max(found, key=_text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, 0, value)
    return (0, 1, _text(value))


def run(search: Search, docs: Iterable[Doc]) -> dict[str, Any]:
    """Evaluate over ``docs`` (already limited to the search's window); the response body."""
    matched = [doc for doc in docs if search.predicate(doc)]
    aggregations = {name: _aggregate(matched, agg) for name, agg in search.aggs.items()}
    if search.post_filter is not None:
        matched = [doc for doc in matched if search.post_filter(doc)]
    for field, descending in reversed(search.sort):
        if field == "_score":
            continue
        matched.sort(
            key=lambda doc, f=field, d=descending: _sort_key(doc, f, d), reverse=descending
        )
    page = matched[search.start : search.start + search.size]
    hits = []
    for doc in page:
        hit: dict[str, Any] = {
            "_index": "logzioCustomerIndex"
            + datetime.fromtimestamp(doc.ts_ms / 1000, tz=UTC).strftime("%y%m%d"),
            "_type": "doc",
            "_id": str(doc.id),
            "_score": None,
        }
        source = search.source(doc.source)
        if source is not None:
            hit["_source"] = source
        if search.sort:
            hit["sort"] = [
                doc.ts_ms if f == TIMESTAMP else (next(iter(values(doc.source, f)), None))
                for f, _ in search.sort
            ]
        hits.append(hit)
    response: dict[str, Any] = {
        "timed_out": False,
        "hits": {"total": len(matched), "max_score": None, "hits": hits},
    }
    if search.aggs:
        response["aggregations"] = aggregations
    return response


def _terms_agg(docs: list[Doc], agg: TermsAgg) -> dict[str, Any]:
    field = _keyword(agg.field)[0]  # "logGroup.keyword" aggregates the exact values of logGroup
    members: dict[Any, list[Doc]] = {}
    for doc in docs:
        for value in {
            _text(v) if isinstance(v, dict | list) else v for v in values(doc.source, field)
        }:
            members.setdefault(value, []).append(doc)
    top = sorted(members.items(), key=lambda kv: (-len(kv[1]), _text(kv[0])))
    kept = [kv for kv in top if len(kv[1]) >= agg.min_doc_count][: agg.size]
    buckets = []
    for key, group in kept:
        bucket: dict[str, Any] = {"key": key, "doc_count": len(group)}
        for name, sub in agg.aggs.items():
            bucket[name] = _aggregate(group, sub)
        buckets.append(bucket)
    return {
        "doc_count_error_upper_bound": 0,
        "sum_other_doc_count": sum(len(g) for _, g in top) - sum(len(g) for _, g in kept),
        "buckets": buckets,
    }


def _aggregate(docs: list[Doc], agg: TermsAgg | MetricAgg) -> dict[str, Any]:
    return _terms_agg(docs, agg) if isinstance(agg, TermsAgg) else _metric_agg(docs, agg)


def _metric_agg(docs: list[Doc], agg: MetricAgg) -> dict[str, Any]:
    """Elasticsearch's answer: ``{"value": null}`` over no values; a date field (here
    ``@timestamp``, filed as epoch ms) also gets ``value_as_string``."""
    pick = max if agg.kind == "max" else min
    if agg.field == TIMESTAMP:
        if not docs:
            return {"value": None}
        ms = pick(doc.ts_ms for doc in docs)
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
        return {
            "value": float(ms),
            "value_as_string": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z",
        }
    numbers = [
        float(v)
        for doc in docs
        for v in values(doc.source, _keyword(agg.field)[0])
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    return {"value": pick(numbers) if numbers else None}
