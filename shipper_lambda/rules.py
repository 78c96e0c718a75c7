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

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shipper_lambda.config import ConfigError

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


@dataclass(frozen=True)
class Builtin:
    """A named pattern: ``group`` is the part replaced (0: the whole match); ``check`` a
    validation a match must pass (Luhn for card numbers); ``literals`` its prefilter."""

    pattern: str
    literals: tuple[str, ...] | None
    group: int = 0
    check: Callable[[str], bool] | None = None


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_H = r"[0-9A-Fa-f]{1,4}"
BUILTINS: dict[str, Builtin] = {
    "email": Builtin(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", ("@",)),
    # Dotted quads only (not a version string's 1.2.3): four octets, no digit or dot around.
    "ipv4": Builtin(rf"(?<![0-9.]){_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?![0-9]|\.[0-9])", (".",)),
    # Full and ::-compressed forms (RFC 4291 2.2), hex groups; an IPv4 tail is left to ipv4.
    "ipv6": Builtin(
        rf"(?<![0-9A-Fa-f:])(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:(?:{_H}(?::{_H}){{0,5}})?"
        rf"|::(?:{_H}(?::{_H}){{0,6}})?)(?![0-9A-Fa-f:])",
        ("::", *tuple(f"{c}:" for c in "0123456789abcdefABCDEF")),
    ),
    # 13-19 digits, optionally grouped by spaces or dashes, Luhn-checked.
    "credit_card": Builtin(
        r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])",
        None,
        check=lambda text: _luhn(re.sub(r"[ -]", "", text)),
    ),
    # Access key ids: AKIA (long-term) and ASIA (temporary) followed by 16 upper-case/digits.
    "aws_access_key_id": Builtin(
        r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])", ("AKIA", "ASIA")
    ),
    # 40 base64 characters after a key-ish word (aws_secret_access_key=..., "SecretAccessKey": "...").
    "aws_secret_key": Builtin(
        r"(?i:secret_?(?:access_?)?key|aws_?secret)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        ("ecret", "ECRET"),
        group=1,
    ),
    "bearer_token": Builtin(r"(?i:bearer)\s+([A-Za-z0-9._~+/-]+=*)", ("earer", "EARER"), group=1),
    "jwt": Builtin(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", ("eyJ",)),
}


@dataclass(frozen=True)
class RegexRule:
    """A compiled rule of any kind. ``literals`` None: no prefilter, always search."""

    name: str
    regex: re.Pattern[str]
    literals: tuple[str, ...] | None = None
    log_groups: tuple[re.Pattern[str], ...] | None = None
    # redaction only
    replacement: str = ""
    group: int = 0
    check: Callable[[str], bool] | None = None
    fields: tuple[tuple[str, ...], ...] | None = None

    def applies_to(self, log_group: str) -> bool:
        return self.log_groups is None or any(p.search(log_group) for p in self.log_groups)

    def may_match(self, text: str) -> bool:
        """False only when no match is possible (none of the prefilter literals occurs)."""
        literals = self.literals
        if literals is None:
            return True
        return any(literal in text for literal in literals)

    def search(self, text: str) -> bool:
        return self.may_match(text) and self.regex.search(text) is not None


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
            group, check = spec.group, spec.check
        else:
            name = _name(item.get("name", f"pattern{index + 1}"), at)
            regex = _compile(item["pattern"], f"{at} ({name}).pattern")
            literals, group, check = required_literals(regex), 0, None
        replacement = item.get("replacement", f"[REDACTED:{name}]")
        if not isinstance(replacement, str):
            raise ConfigError(f"{at} ({name}).replacement must be a string, got {replacement!r}")
        rules.append(
            RegexRule(
                name=name,
                regex=regex,
                literals=literals,
                log_groups=_log_groups(item, f"{at} ({name})"),
                replacement=replacement,
                group=group,
                check=check,
                fields=_fields(item, f"{at} ({name})"),
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
