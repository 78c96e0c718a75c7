"""The shipper's settings, parsed from the environment in one place.

Read on every invocation (it costs microseconds and keeps tests free to change the environment);
only the token fetched from Secrets Manager/SSM is cached per container (see ``token_source``).

Variables (the seed's ``TOKEN``, ``REGION`` and ``COMPRESS`` are accepted as fallbacks):

- ``LOGZIO_TOKEN`` or ``LOGZIO_TOKEN_SECRET``: the shipping token, or where to read it.
- ``LOGZIO_REGION``: Logz.io region code (``us``/blank, ``eu``, ``uk``, ``au``, ``ca``, ``nl``, ``wa``).
- ``LOGZIO_LISTENER_URL``: full listener base URL; wins over the region.
- ``LOGZIO_COMPRESS``: gzip request bodies (default true).
- ``LOGZIO_TYPE``: the type for log groups no rule names (default ``aws-cross-account``).
- ``LOGZIO_TYPE_MAP``: log-group prefix (or ``re:<regex>``) to type, JSON object or
  ``prefix=type,prefix=type``. Longest matching prefix wins; regexes are tried after, in order.
- ``LOGZIO_OVERSIZE``: ``split`` (default: a message over the line limit ships as parts) or
  ``truncate`` (cut and marked ``truncated``/``originalSize``).
- ``ADDITIONAL_FIELDS``: ``key=value;key=value`` or a JSON object, added to every line; may not
  name ``message`` or a field the shipper sets (:data:`RESERVED_KEYS`).
- ``INCLUDE_LOG_GROUPS`` / ``EXCLUDE_LOG_GROUPS``: regexes searched in the log group name.
- ``LOGZIO_ROUTES`` / ``LOGZIO_ROUTE_TOKENS``: sub-account routes, parsed by ``routes``.
- ``LOGZIO_REDACT``, ``LOGZIO_DROP_EVENTS``, ``LOGZIO_KEEP_EVENTS``, ``LOGZIO_MULTILINE``: event
  rules (JSON arrays), parsed and compiled once per cold start by ``rules``.
- Tuning: ``LOGZIO_MAX_BODY_BYTES``, ``LOGZIO_TIMEOUT_SECONDS``, ``LOGZIO_RETRY_ATTEMPTS``,
  ``LOGZIO_RETRY_BASE_MS``, ``LOGZIO_RETRY_MAX_MS``, ``LOGZIO_SAFETY_MARGIN_MS``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shipper_lambda.errors import ConfigError as ConfigError  # re-exported: callers use config's

if TYPE_CHECKING:
    from shipper_lambda.rules import Rules

DEFAULT_TYPE = "aws-cross-account"
MAX_BODY_BYTES = 10 * 1024 * 1024  # Logz.io bulk limit, uncompressed
MAX_LINE_BYTES = 500_000  # Logz.io per-line limit
LISTENER_PORT = 8071
REGION_HOSTS = {
    "": "listener.logz.io",
    "us": "listener.logz.io",
    "au": "listener-au.logz.io",
    "ca": "listener-ca.logz.io",
    "eu": "listener-eu.logz.io",
    "uk": "listener-uk.logz.io",
    "nl": "listener-nl.logz.io",
    "wa": "listener-wa.logz.io",
}
# Fields the shipper sets on a line (some only when they have a value: region, extractedFields,
# part/parts, truncated/originalSize). A JSON message's own field of the same name loses its key
# to the metadata and is kept under CLASH_PREFIX + name (see transform).
# The dedupe keys (``id``, ``part``) and what counts a line's events (``joined``, ``joined_ids``):
# a JSON message's own field of these names always moves to msg_<key>, even on a line that does
# not carry the key, so that no message can pose as part 3 or as a join.
ALWAYS_RESERVED = frozenset({"part", "parts", "joined", "joined_ids"})
METADATA_KEYS = frozenset(
    {"@timestamp", "id", "owner", "region", "logGroup", "logStream", "type"}
    | {"messageType", "subscriptionFilters", "extractedFields", "sourceLog"}
    | {"truncated", "originalSize"}
    | ALWAYS_RESERVED
)
# ADDITIONAL_FIELDS may name none of these: ``message`` is the event's text.
RESERVED_KEYS = METADATA_KEYS | {"message"}
CLASH_PREFIX = "msg_"
TYPE_MAP_REGEX = "re:"
OVERSIZE_MODES = ("split", "truncate")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class Config:
    """Everything the handler needs besides the token itself."""

    listener_url: str  # base URL, no token
    token: str | None = None
    token_secret: str | None = None
    compress: bool = True
    default_type: str = DEFAULT_TYPE
    type_map: tuple[tuple[str, str], ...] = ()  # longest prefix first
    type_regexes: tuple[tuple[re.Pattern[str], str], ...] = ()  # in the order written
    oversize: str = "split"
    additional_fields: dict[str, Any] = field(default_factory=dict)
    include: re.Pattern[str] | None = None
    exclude: re.Pattern[str] | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    max_line_bytes: int = MAX_LINE_BYTES
    timeout_s: float = 15.0
    retry_attempts: int = 5
    retry_base_s: float = 0.25
    retry_max_s: float = 8.0
    safety_margin_s: float = 2.0
    # LOGZIO_REDACT, LOGZIO_DROP_EVENTS, LOGZIO_KEEP_EVENTS, LOGZIO_MULTILINE (shipper_lambda.rules)
    rules: Rules | None = None

    def ships(self, log_group: str) -> bool:
        """Whether the include/exclude patterns let this log group through."""
        if self.include is not None and not self.include.search(log_group):
            return False
        return not (self.exclude is not None and self.exclude.search(log_group))


def load(env: Mapping[str, str]) -> Config:
    """Parse the environment; raise :class:`ConfigError` naming the variable and what is allowed."""
    token = _first(env, "LOGZIO_TOKEN", "TOKEN")
    token_secret = _first(env, "LOGZIO_TOKEN_SECRET")
    if not token and not token_secret:
        raise ConfigError("no shipping token: set LOGZIO_TOKEN (or TOKEN) or LOGZIO_TOKEN_SECRET")
    type_map = split_type_map(parse_type_map(_first(env, "LOGZIO_TYPE_MAP")))
    from shipper_lambda import rules  # it imports this module: ConfigError

    return Config(
        listener_url=listener_url(env),
        token=token or None,
        token_secret=token_secret or None,
        compress=_bool(env, "LOGZIO_COMPRESS", "COMPRESS", default=True),
        default_type=_first(env, "LOGZIO_TYPE") or DEFAULT_TYPE,
        type_map=type_map[0],
        type_regexes=type_map[1],
        oversize=_choice(env, "LOGZIO_OVERSIZE", OVERSIZE_MODES),
        additional_fields=parse_additional_fields(_first(env, "ADDITIONAL_FIELDS")),
        include=_regex(env, "INCLUDE_LOG_GROUPS"),
        exclude=_regex(env, "EXCLUDE_LOG_GROUPS"),
        max_body_bytes=_number(env, "LOGZIO_MAX_BODY_BYTES", MAX_BODY_BYTES, 1024, MAX_BODY_BYTES),
        timeout_s=_number(env, "LOGZIO_TIMEOUT_SECONDS", 15.0, 0.01, 900.0),
        retry_attempts=_number(env, "LOGZIO_RETRY_ATTEMPTS", 5, 1, 100),
        retry_base_s=_number(env, "LOGZIO_RETRY_BASE_MS", 250, 0, 60_000) / 1000,
        retry_max_s=_number(env, "LOGZIO_RETRY_MAX_MS", 8000, 0, 600_000) / 1000,
        safety_margin_s=_number(env, "LOGZIO_SAFETY_MARGIN_MS", 2000, 0, 600_000) / 1000,
        rules=rules.load(env) or None,
    )


def listener_url(env: Mapping[str, str]) -> str:
    """``LOGZIO_LISTENER_URL`` when set (validated), else the region's HTTPS listener."""
    url = _first(env, "LOGZIO_LISTENER_URL")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"LOGZIO_LISTENER_URL must be an http(s) base URL such as "
                f"https://listener.logz.io:8071, got scheme {parts.scheme!r}"
            )
        if parts.query:
            raise ConfigError("LOGZIO_LISTENER_URL must not carry a query (the token is added)")
        return url.rstrip("/")
    code = (_first(env, "LOGZIO_REGION", "REGION") or "").strip().lower()
    if code not in REGION_HOSTS:
        allowed = ", ".join(sorted(c for c in REGION_HOSTS if c))
        raise ConfigError(
            f"LOGZIO_REGION {code!r} is not a Logz.io region code ({allowed}, or blank)"
        )
    return f"https://{REGION_HOSTS[code]}:{LISTENER_PORT}"


def parse_type_map(text: str, name: str = "LOGZIO_TYPE_MAP") -> dict[str, str]:
    """``{"/aws/lambda/prod-": "prod-lambda", "re:^/ecs/.*-svc$": "svc"}`` or
    ``/aws/lambda/prod-=prod-lambda,/ecs/=ecs``, checked (types non-empty, regexes compile)."""
    pairs = _pairs(text, name, item_sep=",")
    check_type_map(pairs, name)
    return pairs


def check_type_map(pairs: Mapping[str, Any], name: str) -> None:
    """Raise :class:`ConfigError` naming the first bad rule (the toolkit config uses it too)."""
    for rule, value in pairs.items():
        if not isinstance(rule, str) or not rule or rule == TYPE_MAP_REGEX:
            raise ConfigError(f"{name}: rule {rule!r} must be a log-group prefix or re:<regex>")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{name}: type for rule {rule!r} must be a non-empty string")
        if rule.startswith(TYPE_MAP_REGEX):
            try:
                re.compile(rule[len(TYPE_MAP_REGEX) :])
            except re.error as err:
                raise ConfigError(f"{name}: rule {rule!r} is not a valid regex ({err})") from None


def split_type_map(
    pairs: Mapping[str, str],
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[re.Pattern[str], str], ...]]:
    """(prefix rules longest first, regex rules in the order written)."""
    prefixes = [(k, v) for k, v in pairs.items() if not k.startswith(TYPE_MAP_REGEX)]
    regexes = tuple(
        (re.compile(k[len(TYPE_MAP_REGEX) :]), v)
        for k, v in pairs.items()
        if k.startswith(TYPE_MAP_REGEX)
    )
    return tuple(sorted(prefixes, key=lambda kv: len(kv[0]), reverse=True)), regexes


def parse_additional_fields(text: str, name: str = "ADDITIONAL_FIELDS") -> dict[str, Any]:
    """``env=prod;team=core`` (values are strings) or a JSON object (values keep their JSON type)."""
    fields = _pairs(text, name, item_sep=";")
    check_additional_fields(fields, name)
    return fields


def check_additional_fields(fields: Mapping[str, Any], name: str) -> None:
    """Refuse keys the shipper sets itself (or ``message``), naming them and what is allowed."""
    clash = sorted(RESERVED_KEYS.intersection(fields))
    if clash:
        raise ConfigError(
            f"{name} may not set {', '.join(clash)}: the shipper sets "
            f"{', '.join(sorted(RESERVED_KEYS))}; choose another key"
        )


def _pairs(text: str, name: str, item_sep: str) -> dict[str, Any]:
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as err:
            raise ConfigError(f"{name} looks like JSON but does not parse: {err}") from None
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a JSON object")
        return value
    result: dict[str, Any] = {}
    for item in text.split(item_sep):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"{name}: item {item!r} is not key=value (items separated by {item_sep!r})"
            )
        result[key.strip()] = value.strip()
    return result


def _first(env: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = env.get(name)
        if value is not None and value.strip():
            return value.strip()
    return ""


def _bool(env: Mapping[str, str], *names: str, default: bool) -> bool:
    text = _first(env, *names).lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{names[0]} must be true or false, got {text!r}")


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    text = _first(env, name).lower() or allowed[0]
    if text not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {text!r}")
    return text


def _regex(env: Mapping[str, str], name: str) -> re.Pattern[str] | None:
    text = _first(env, name)
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error as err:
        raise ConfigError(f"{name} is not a valid regular expression ({err}): {text!r}") from None


def _number(env: Mapping[str, str], name: str, default: Any, low: float, high: float) -> Any:
    text = _first(env, name)
    if not text:
        return default
    kind = type(default)
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{name} must be a {kind.__name__}, got {text!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value
