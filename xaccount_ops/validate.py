"""Validators for values users type: account ids, AWS regions, Logz.io region codes, patterns,
durations and points in time.

Each returns the normalised value or raises ConfigError naming the key, the bad value and what is
accepted. They are shared by the config loader, the CLI and the stack parameters.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from shipper_lambda.config import REGION_HOSTS
from xaccount_ops.errors import ConfigError

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
# The seed's AccountsArns format: arn:aws:logs:*:<account>:*
_ACCOUNT_ARN_RE = re.compile(r"^arn:aws[\w-]*:(?:logs|iam):[^:]*:(\d+):.*$")

# The shipper's table is the one list of Logz.io regions (blank there means us).
LOGZIO_REGION_CODES = tuple(code for code in REGION_HOSTS if code)
# 90s, 30m, 6h, 2d; a bare number is minutes.
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "": "minutes"}
DURATION_FORMS = "use e.g. 30m, 6h or 2d (a bare number is minutes)"


@functools.cache
def aws_regions() -> frozenset[str]:
    """Every region botocore knows for CloudWatch Logs, in all partitions."""
    from xaccount_ops import partitions  # here, not at import: `--help` never needs botocore

    return frozenset().union(
        *(partitions.service_regions("logs", p) for p in partitions.partitions())
    )


def account_id(value: object, key: str) -> str:
    """A 12-digit AWS account id, as a string (leading zeros are significant)."""
    if isinstance(value, int) and not isinstance(value, bool) and len(str(value)) != 12:
        # A TOML integer has lost any leading zeros, so the id is ambiguous.
        raise ConfigError(
            key,
            f"{value!r} is not a 12-digit AWS account id; write ids as quoted strings "
            '(e.g. "012345678901"), since leading zeros are part of the id',
        )
    text = str(value).strip().strip('"').strip("'")
    if match := _ACCOUNT_ARN_RE.match(text):
        text = match.group(1)
    if not ACCOUNT_ID_RE.match(text):
        detail = f"it has {len(text)} digits" if text.isdigit() else "it must be digits only"
        raise ConfigError(key, f"{text!r} is not a 12-digit AWS account id ({detail})")
    return text


def account_list(value: object, key: str) -> tuple[str, ...]:
    """A list of account ids, de-duplicated in order.

    Accepts a list, a plain comma list (``111111111111,222222222222``), the seed's quoted form
    (``"111111111111","222222222222"``) and the seed's ``arn:aws:logs:*:<id>:*`` ARN list.
    """
    if isinstance(value, str):
        items: Iterable[object] = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise ConfigError(
            key, f"expected a list of 12-digit account ids, got {type(value).__name__}"
        )
    seen: dict[str, None] = {}
    for index, item in enumerate(items):
        seen.setdefault(account_id(item, f"{key}[{index}]"), None)
    return tuple(seen)


def region(value: object, key: str) -> str:
    """A real AWS region name, e.g. ``eu-west-1``."""
    text = str(value).strip()
    known = aws_regions()
    if text not in known:
        raise ConfigError(key, f"{text!r} is not an AWS region; {region_hint(text, known)}")
    return text


def region_hint(text: str, known: Iterable[str]) -> str:
    """The same kind of hint for every typo: the closest region names by spelling (those of
    the same area when the typo names one, else at most three), else two examples."""
    text = text.lower()
    close = difflib.get_close_matches(text, sorted(known), n=5, cutoff=0.6)
    # A typo in the number only (us-east-9): the regions of that area, not every look-alike.
    same_area = [r for r in close if r.split("-")[:2] == text.split("-")[:2]]
    close = sorted(same_area or close[:3])
    if not close:
        return "e.g. us-east-1, eu-west-1"
    named = ", ".join(close[:-1]) + " or " + close[-1] if len(close) > 1 else close[0]
    return f"did you mean {named}?"


def region_list(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(key, 'expected a non-empty list of AWS regions, e.g. ["us-east-1"]')
    return tuple(dict.fromkeys(region(item, f"{key}[{i}]") for i, item in enumerate(value)))


def logzio_region(value: object, key: str) -> str:
    """A Logz.io region code; blank means ``us``."""
    text = str(value or "").strip().lower()
    if text == "":
        return "us"
    if text not in LOGZIO_REGION_CODES:
        raise ConfigError(
            key,
            f"{text!r} is not a Logz.io region code; use one of {', '.join(LOGZIO_REGION_CODES)} "
            "(or leave it blank for us)",
        )
    return text


def pattern_list(value: object, key: str) -> tuple[str, ...]:
    """Log group name patterns: globs (``/aws/lambda/*``) or regexes written as ``re:<regex>``."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ConfigError(key, 'expected a list of patterns, e.g. ["/aws/lambda/*", "re:^/ecs/"]')
    patterns = []
    for index, item in enumerate(value):
        text = str(item)
        if text.startswith("re:"):
            try:
                re.compile(text[3:])
            except re.error as err:
                raise ConfigError(
                    f"{key}[{index}]", f"{text!r} is not a valid regex: {err}"
                ) from err
        patterns.append(text)
    return tuple(patterns)


def as_regex(pattern: str, where: str = "pattern") -> str:
    """A glob or ``re:<regex>`` as one regex to search with (a glob matches the whole name)."""
    regex = pattern[3:] if pattern.startswith("re:") else "^" + fnmatch.translate(pattern)
    try:
        re.compile(regex)
    except re.error as err:
        raise ConfigError(where, f"{pattern!r} is not a valid regular expression ({err})") from None
    return regex


def matches(name: str, patterns: Iterable[str]) -> bool:
    """True if ``name`` matches any glob or ``re:`` pattern."""
    for pattern in patterns:
        if pattern.startswith("re:"):
            if re.search(pattern[3:], name):
                return True
        elif fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def duration(value: timedelta | str, what: str = "window", *, allow_zero: bool = True) -> timedelta:
    """A ``timedelta``, or text like ``90s``, ``30m``, ``6h``, ``2d`` (a bare number is minutes).

    The one duration parser of the toolkit: the CLI, the notebooks and the jobs all read windows,
    lags and "since" through it. Raises ValueError naming ``what``, the value and the forms.
    """
    if isinstance(value, timedelta):
        return value
    match = _DURATION_RE.match(str(value))
    if not match:
        raise ValueError(f"{what} {value!r} is not a duration; {DURATION_FORMS}")
    amount = float(match.group(1))
    if amount == 0 and not allow_zero:
        raise ValueError(f"{what} {value!r} must be longer than 0; {DURATION_FORMS}")
    return timedelta(**{_UNITS[match.group(2)]: amount})


def when(text: str) -> timedelta | datetime:
    """How long ago (``90s``, ``30m``, ``6h``, ``7d``) or an ISO-8601 time (UTC when it has no
    zone). Raises ValueError naming the text and the accepted forms."""
    match = _DURATION_RE.match(text or "")
    if match and match.group(2) and float(match.group(1)) > 0:
        return duration(text)
    try:
        moment = datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (90s, 30m, 6h, 7d) nor an ISO-8601 time "
            "(2026-01-31T12:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
