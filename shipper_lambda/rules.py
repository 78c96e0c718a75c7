"""Event rules from the environment: redaction, drop/keep filters and multiline joining.

Four variables, each a JSON array of rule objects (the toolkit's ``[[logzio.redact]]``,
``[[logzio.drop]]``, ``[[logzio.keep]]`` and ``[[logzio.multiline]]`` write them):

- ``LOGZIO_REDACT``: ``{"builtin": NAME}`` or ``{"pattern": REGEX, "replacement": TEXT}``,
  optional ``name`` (the metric is ``redacted_<name>``), ``log_groups`` (regexes) and ``fields``
  (dotted paths into a JSON-object message: only those values).
- ``LOGZIO_DROP_EVENTS`` / ``LOGZIO_KEEP_EVENTS``: ``{"pattern": REGEX}``, optional ``name``
  and ``log_groups``.
- ``LOGZIO_MULTILINE``: ``{"start": REGEX}``, optional ``log_groups``, ``max_lines`` (500) and
  ``max_bytes`` (400,000).

A rule that does not compile, or has an unknown key, is a :class:`ConfigError` naming the
variable and the rule. Parsing and compiling happen once per distinct text, so once per cold
start (:func:`load` is cached): the handler reads its environment on every invocation.

Every regex rule carries a *prefilter*: literal strings of which at least one must occur in a
text for the regex to possibly match (``@`` for an email). A rule is searched only in texts that
hold one of them: a substring test is a memchr-speed scan, a regex search is not. Built-ins name
their literals; a ``pattern`` rule's are read from the regex itself (:func:`required_literals`):
a literal run every match must contain, when the regex has one.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shipper_lambda.errors import ConfigError

try:  # the regex parser: Python 3.11+ names it re._parser (sre_parse before, deprecated)
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_parse as _sre_parse  # type: ignore[no-redef]

REDACT_ENV = "LOGZIO_REDACT"
DROP_ENV = "LOGZIO_DROP_EVENTS"
KEEP_ENV = "LOGZIO_KEEP_EVENTS"
MULTILINE_ENV = "LOGZIO_MULTILINE"
ENV_NAMES = (REDACT_ENV, DROP_ENV, KEEP_ENV, MULTILINE_ENV)
MAX_LINES = 500
MAX_BYTES = 400_000
_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_MIN_LITERAL = 2  # shorter literal runs hardly filter anything


Span = tuple[int, int]
# Characters by how often they occur in log text, commonest first (letters by English
# frequency, lower case before upper case); anything not listed counts as rarest.
_COMMON = ' etaoinsrhldcumfpgwybvkxjqz0123456789.:-/"=,_[]{}()\n\tETAOINSRHLDCUMFPGWYBVKXJQZ'
_RANK = {char: rank for rank, char in enumerate(_COMMON)}


def _rarest(literal: str) -> str:
    return max(literal, key=lambda char: _RANK.get(char, len(_COMMON)))


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> bool:
    digits = match.group(0).replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and _luhn(digits)


def _ipv6(match: re.Match[str]) -> bool:
    text = match.group(0)
    groups = [g for g in text.split(":") if g]
    # "::1" and "fe80::1" are addresses; "d::" (std::vector's tail) and "a:b" are not.
    if len(groups) < 2 and not text.startswith("::"):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


# The last three octets of a dotted quad, found by a search that starts with a literal "." (a
# fast scan; a pattern starting with a digit class is ~20 times slower in Python's re); the
# first octet is then read backwards (:func:`_ipv4_spans`).
_IPV4_TAIL = re.compile(r"\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})(?![0-9]|\.[0-9])")
_DIGITS = frozenset("0123456789")


def _ipv4_spans(text: str) -> list[Span]:
    spans = []
    digits = _DIGITS
    for match in _IPV4_TAIL.finditer(text):
        end = match.start()
        start = end
        while start > 0 and end - start < 3 and text[start - 1] in digits:
            start -= 1
        if start == end or (start > 0 and (text[start - 1] in digits or text[start - 1] == ".")):
            continue  # no first octet, or part of a longer dotted number (a version, an OID)
        a, b, c = match.groups()
        first = text[start:end]
        # An octet over 255 has three digits: comparing the digit strings is enough.
        if (
            (len(first) < 3 or first <= "255")
            and (len(a) < 3 or a <= "255")
            and (len(b) < 3 or b <= "255")
            and (len(c) < 3 or c <= "255")
        ):
            spans.append((start, match.end()))
    return spans


@dataclass(frozen=True)
class Builtin:
    """A named pattern. ``group``: the part replaced (0: the whole match); ``check``: what a
    match must also pass (Luhn for card numbers); ``literals`` or ``scan``: its prefilter (a
    text holding none of the literals, or where ``scan`` finds nothing, cannot match);
    ``finder``: spans found by code instead of ``pattern`` (faster)."""

    pattern: str
    literals: tuple[str, ...] | None = None
    scan: str | None = None
    group: int = 0
    check: Callable[[re.Match[str]], bool] | None = None
    finder: Callable[[str], list[Span]] | None = None
    # It may match across a JSON key and its value ("SecretAccessKey": "..."): a JSON object's
    # values are also tested as key=value.
    key_value: bool = False


_H = r"[0-9A-Fa-f]{1,4}"
BUILTINS: dict[str, Builtin] = {
    "email": Builtin(
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", literals=("@",)
    ),
    # Dotted quads (each octet 0-255), not inside a longer dotted number (1.2.3.4.5, 2.0.1.3.6).
    "ipv4": Builtin(
        r"(?<![0-9.])[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![0-9]|\.[0-9])",
        scan=r"\.[0-9]{1,3}\.[0-9]{1,3}\.",
        finder=_ipv4_spans,
    ),
    # Hex groups and colons that Python's ipaddress accepts as an IPv6 address (full or ::).
    "ipv6": Builtin(
        rf"(?<![\w:])(?:{_H}|:)(?::{_H}|:){{1,8}}(?![\w:])",
        scan=rf"::|:{_H}:{_H}:",
        check=_ipv6,
    ),
    # 13-19 digits in a row, or 4-4-4-4 / 4-6-5 groups split by spaces or dashes; a card's
    # first digit (2-6) and the Luhn check sort out timestamps and other long numbers.
    "credit_card": Builtin(
        r"(?<![0-9])[2-6](?:[0-9]{12,18}|[0-9]{3}(?:([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}"
        r"|[ -][0-9]{6}[ -][0-9]{5}))(?![0-9])",
        check=_card,
    ),
    # Access key ids: AKIA (long-term) and ASIA (temporary) followed by 16 upper-case/digits.
    "aws_access_key_id": Builtin(
        r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])", scan="A[KS]IA"
    ),
    # 40 base64 characters after a key-ish word (aws_secret_access_key=..., "SecretAccessKey": "...").
    "aws_secret_key": Builtin(
        r"(?i:secret_?(?:access_?)?key|aws_?secret)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})"
        r"(?![A-Za-z0-9/+=])",
        literals=("ecret", "ECRET"),
        group=1,
        key_value=True,
    ),
    "bearer_token": Builtin(
        r"(?i:bearer)\s+([A-Za-z0-9._~+/-]+=*)", literals=("earer", "EARER"), group=1
    ),
    "jwt": Builtin(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", literals=("eyJ",)),
}


@dataclass(frozen=True)
class RegexRule:
    """A compiled rule of any kind. Prefilter: ``literals`` (one must occur), else ``scan`` (a
    cheap regex that must find something), else none (always search)."""

    name: str
    regex: re.Pattern[str]
    literals: tuple[str, ...] | None = None
    scan: re.Pattern[str] | None = None
    log_groups: tuple[re.Pattern[str], ...] | None = None
    # redaction only
    replacement: str = ""
    group: int = 0
    check: Callable[[re.Match[str]], bool] | None = None
    finder: Callable[[str], list[Span]] | None = None
    fields: tuple[tuple[str, ...], ...] | None = None
    key_value: bool = False
    # A built-in: no match can run past a string's quote, so a JSON text without escapes may be
    # redacted in place (redaction.Redactor._json_text). User patterns never are.
    text_safe: bool = False

    def applies_to(self, log_group: str) -> bool:
        return self.log_groups is None or any(p.search(log_group) for p in self.log_groups)

    def __post_init__(self) -> None:
        # Each literal behind its rarest character: a one-character test is a memchr (about
        # ten times faster than a multi-character search), and mostly says no.
        gates = tuple((_rarest(lit), lit) for lit in self.literals or ())
        object.__setattr__(self, "_gates", gates)

    def may_match(self, text: str) -> bool:
        """False only when no match is possible (the prefilter found nothing)."""
        if self.literals is not None:
            gates = self._gates  # type: ignore[attr-defined]
            return any(char in text and literal in text for char, literal in gates)
        scan = self.scan
        return scan is None or scan.search(text) is not None

    def search(self, text: str) -> bool:
        return self.may_match(text) and self.regex.search(text) is not None

    def spans(self, text: str) -> list[Span]:
        """Where to replace: the match (or its ``group``) of every match passing ``check``."""
        if self.finder is not None:
            return self.finder(text)
        check, group = self.check, self.group
        return [m.span(group) for m in self.regex.finditer(text) if check is None or check(m)]


@dataclass(frozen=True)
class MultilineRule:
    """Join continuation events (those not matching ``start``) to the event before them."""

    name: str
    start: re.Pattern[str]
    log_groups: tuple[re.Pattern[str], ...] | None = None
    max_lines: int = MAX_LINES
    max_bytes: int = MAX_BYTES

    def applies_to(self, log_group: str) -> bool:
        return self.log_groups is None or any(p.search(log_group) for p in self.log_groups)


@dataclass(frozen=True)
class Rules:
    """Every rule of the four variables, compiled."""

    redact: tuple[RegexRule, ...] = ()
    drop: tuple[RegexRule, ...] = ()
    keep: tuple[RegexRule, ...] = ()
    multiline: tuple[MultilineRule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.redact or self.drop or self.keep or self.multiline)


def load(env: Mapping[str, str]) -> Rules:
    """The rules of the environment (compiled once per distinct text: once per cold start)."""
    texts = tuple((env.get(name) or "").strip() for name in ENV_NAMES)
    if not any(texts):
        return Rules()
    return _compiled(texts)


@lru_cache(maxsize=8)
def _compiled(texts: tuple[str, str, str, str]) -> Rules:
    redact, drop, keep, multiline = texts
    return Rules(
        redact=parse_redact(redact),
        drop=parse_filters(drop, DROP_ENV),
        keep=parse_filters(keep, KEEP_ENV),
        multiline=parse_multiline(multiline),
    )


def parse_redact(text: str | list[Any], where: str = REDACT_ENV) -> tuple[RegexRule, ...]:
    """``LOGZIO_REDACT`` (JSON text or the decoded list) → rules; errors name the rule."""
    rules: list[RegexRule] = []
    for index, item in _items(text, where):
        at = f"{where}[{index}]"
        _known(item, at, {"builtin", "pattern", "replacement", "name", "log_groups", "fields"})
        builtin = item.get("builtin")
        if (builtin is None) == (item.get("pattern") is None):
            raise ConfigError(f"{at} needs exactly one of builtin or pattern, got {item!r}")
        if builtin is not None:
            if builtin not in BUILTINS:
                raise ConfigError(
                    f"{at}: builtin {builtin!r} is not one of {', '.join(sorted(BUILTINS))}"
                )
            spec = BUILTINS[builtin]
            name = _name(item.get("name", builtin), at)
            regex, literals = re.compile(spec.pattern), spec.literals
            scan = re.compile(spec.scan) if spec.scan else None
            group, check, finder = spec.group, spec.check, spec.finder
            key_value, text_safe = spec.key_value, True
        else:
            name = _name(item.get("name", f"pattern{index + 1}"), at)
            regex = _compile(item["pattern"], f"{at} ({name}).pattern")
            literals, scan, group, check, finder = required_literals(regex), None, 0, None, None
            key_value = text_safe = False
        replacement = item.get("replacement", f"[REDACTED:{name}]")
        if not isinstance(replacement, str):
            raise ConfigError(f"{at} ({name}).replacement must be a string, got {replacement!r}")
        rules.append(
            RegexRule(
                name=name,
                regex=regex,
                literals=literals,
                scan=scan,
                log_groups=_log_groups(item, f"{at} ({name})"),
                replacement=replacement,
                group=group,
                check=check,
                finder=finder,
                fields=_fields(item, f"{at} ({name})"),
                key_value=key_value,
                text_safe=text_safe,
            )
        )
    _unique(rules, where)
    return tuple(rules)


def parse_filters(text: str | list[Any], where: str) -> tuple[RegexRule, ...]:
    """``LOGZIO_DROP_EVENTS``/``LOGZIO_KEEP_EVENTS`` → rules; errors name the rule."""
    rules: list[RegexRule] = []
    for index, item in _items(text, where):
        at = f"{where}[{index}]"
        _known(item, at, {"pattern", "name", "log_groups"})
        if "pattern" not in item:
            raise ConfigError(f"{at} needs a pattern (a regex searched in the message)")
        name = _name(item.get("name", f"pattern{index + 1}"), at)
        regex = _compile(item["pattern"], f"{at} ({name}).pattern")
        rules.append(
            RegexRule(
                name=name,
                regex=regex,
                literals=required_literals(regex),
                log_groups=_log_groups(item, f"{at} ({name})"),
            )
        )
    return tuple(rules)


def parse_multiline(text: str | list[Any], where: str = MULTILINE_ENV) -> tuple[MultilineRule, ...]:
    """``LOGZIO_MULTILINE`` → rules (the first whose log_groups match a group applies)."""
    rules: list[MultilineRule] = []
    for index, item in _items(text, where):
        at = f"{where}[{index}]"
        _known(item, at, {"start", "name", "log_groups", "max_lines", "max_bytes"})
        name = _name(item.get("name", f"multiline{index + 1}"), at)
        if "start" not in item:
            raise ConfigError(f"{at} ({name}) needs start (a regex matching an event's first line)")
        rules.append(
            MultilineRule(
                name=name,
                start=_compile(item["start"], f"{at} ({name}).start"),
                log_groups=_log_groups(item, f"{at} ({name})"),
                max_lines=_bounded(item, "max_lines", MAX_LINES, 2, 100_000, f"{at} ({name})"),
                max_bytes=_bounded(
                    item, "max_bytes", MAX_BYTES, 1_000, 10_485_760, f"{at} ({name})"
                ),
            )
        )
    return tuple(rules)


def required_literals(regex: re.Pattern[str]) -> tuple[str, ...] | None:
    """A literal run every match of ``regex`` contains (the longest one at the top level of the
    pattern or in a plain group there), as a one-element prefilter; None when there is none to
    rely on (an alternation at the top, a case-insensitive pattern, runs under two characters)."""
    if regex.flags & re.IGNORECASE:
        return None
    try:
        best = _longest_run(_sre_parse.parse(regex.pattern, regex.flags))
    except Exception:  # an internal API: should it change, rules only lose their prefilter
        return None
    return (best,) if len(best) >= _MIN_LITERAL else None


def _longest_run(items: Any) -> str:
    best, run = "", []
    for op, arg in list(items):
        if op is _sre_parse.LITERAL:
            run.append(chr(arg))
            continue
        if len(run) > len(best):
            best = "".join(run)
        run = []
        if op is _sre_parse.SUBPATTERN and not arg[1] and not arg[2]:  # a group without flags
            inner = _longest_run(arg[3])
            if len(inner) > len(best):
                best = inner
    return max(best, "".join(run), key=len)


def _items(text: str | list[Any], where: str) -> list[tuple[int, dict[str, Any]]]:
    if isinstance(text, str):
        if not text.strip():
            return []
        try:
            value = json.loads(text)
        except ValueError as err:
            raise ConfigError(
                f"{where} is not JSON ({err}): expected an array of rule objects"
            ) from None
    else:
        value = text
    if not isinstance(value, list):
        raise ConfigError(
            f"{where} must be a JSON array of rule objects, got {type(value).__name__}"
        )
    out = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ConfigError(f"{where}[{index}] must be an object, got {item!r}")
        out.append((index, item))
    return out


def _known(item: Mapping[str, Any], at: str, keys: set[str]) -> None:
    unknown = sorted(set(item) - keys)
    if unknown:
        raise ConfigError(f"{at} has unknown key(s) {unknown}; allowed: {sorted(keys)}")


def _name(value: Any, at: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ConfigError(
            f"{at}: name {value!r} must be 1-64 letters, digits or underscores (it names a metric)"
        )
    return value


def _compile(pattern: Any, at: str) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"{at} must be a non-empty regex string, got {pattern!r}")
    try:
        return re.compile(pattern)
    except re.error as err:
        raise ConfigError(f"{at}: {pattern!r} is not a valid regex ({err})") from None


def _log_groups(item: Mapping[str, Any], at: str) -> tuple[re.Pattern[str], ...] | None:
    value = item.get("log_groups")
    if value is None:
        return None
    patterns = [value] if isinstance(value, str) else value
    if not isinstance(patterns, list) or not patterns:
        raise ConfigError(f"{at}.log_groups must be a regex or a non-empty list of regexes")
    return tuple(_compile(p, f"{at}.log_groups") for p in patterns)


def _fields(item: Mapping[str, Any], at: str) -> tuple[tuple[str, ...], ...] | None:
    value = item.get("fields")
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(p, str) and p and "" not in p.split(".") for p in value)
    ):
        raise ConfigError(
            f"{at}.fields must be a non-empty list of dotted paths (a.b.c), got {value!r}"
        )
    return tuple(tuple(p.split(".")) for p in value)


def _bounded(item: Mapping[str, Any], key: str, default: int, low: int, high: int, at: str) -> int:
    value = item.get(key, default)
    if type(value) is not int or not low <= value <= high:
        raise ConfigError(f"{at}.{key} must be an integer from {low} to {high}, got {value!r}")
    return value


def _unique(rules: list[RegexRule], where: str) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ConfigError(f"{where}: two rules are named {rule.name!r}; give one a name")
        seen.add(rule.name)
