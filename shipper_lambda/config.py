"""The shipper's settings, parsed from the environment in one place.

Read on every invocation (it costs microseconds and keeps tests free to change the environment);
only the token fetched from Secrets Manager/SSM is cached per container (see ``token_source``).

Variables (the seed's ``TOKEN``, ``REGION`` and ``COMPRESS`` are accepted as fallbacks):

- ``LOGZIO_TOKEN`` or ``LOGZIO_TOKEN_SECRET``: the shipping token, or where to read it.
- ``LOGZIO_REGION``: Logz.io region code (``us``/blank, ``eu``, ``uk``, ``au``, ``ca``, ``nl``, ``wa``).
- ``LOGZIO_LISTENER_URL``: full listener base URL; wins over the region.
- ``LOGZIO_COMPRESS``: gzip request bodies (default true).
- ``LOGZIO_TYPE``: the type for log groups no rule names (default ``aws-cross-account``).
- ``LOGZIO_TYPE_MAP``: log-group prefix to type, JSON object or ``prefix=type,prefix=type``.
- ``ADDITIONAL_FIELDS``: ``key=value;key=value`` or a JSON object, added to every line.
- ``INCLUDE_LOG_GROUPS`` / ``EXCLUDE_LOG_GROUPS``: regexes searched in the log group name.
- ``LOGZIO_ROUTES`` / ``LOGZIO_ROUTE_TOKENS``: sub-account routes, parsed by ``routes``.
- Tuning: ``LOGZIO_MAX_BODY_BYTES``, ``LOGZIO_TIMEOUT_SECONDS``, ``LOGZIO_RETRY_ATTEMPTS``,
  ``LOGZIO_RETRY_BASE_MS``, ``LOGZIO_RETRY_MAX_MS``, ``LOGZIO_SAFETY_MARGIN_MS``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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
# Fields every line carries; configuration may not override them and message JSON loses to them.
METADATA_KEYS = frozenset(
    {"@timestamp", "id", "owner", "region", "logGroup", "logStream", "type"}
    | {"truncated", "originalSize"}
)
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class ConfigError(ValueError):
    """An environment variable holds a value the shipper cannot use. Never includes a token."""


@dataclass(frozen=True)
class Config:
    """Everything the handler needs besides the token itself."""

    listener_url: str  # base URL, no token
    token: str | None = None
    token_secret: str | None = None
    compress: bool = True
    default_type: str = DEFAULT_TYPE
    type_map: tuple[tuple[str, str], ...] = ()  # longest prefix first
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
    return Config(
        listener_url=listener_url(env),
        token=token or None,
        token_secret=token_secret or None,
        compress=_bool(env, "LOGZIO_COMPRESS", "COMPRESS", default=True),
        default_type=_first(env, "LOGZIO_TYPE") or DEFAULT_TYPE,
        type_map=parse_type_map(_first(env, "LOGZIO_TYPE_MAP")),
        additional_fields=parse_additional_fields(_first(env, "ADDITIONAL_FIELDS")),
        include=_regex(env, "INCLUDE_LOG_GROUPS"),
        exclude=_regex(env, "EXCLUDE_LOG_GROUPS"),
        max_body_bytes=_number(env, "LOGZIO_MAX_BODY_BYTES", MAX_BODY_BYTES, 1024, MAX_BODY_BYTES),
        timeout_s=_number(env, "LOGZIO_TIMEOUT_SECONDS", 15.0, 0.01, 900.0),
        retry_attempts=_number(env, "LOGZIO_RETRY_ATTEMPTS", 5, 1, 100),
        retry_base_s=_number(env, "LOGZIO_RETRY_BASE_MS", 250, 0, 60_000) / 1000,
        retry_max_s=_number(env, "LOGZIO_RETRY_MAX_MS", 8000, 0, 600_000) / 1000,
        safety_margin_s=_number(env, "LOGZIO_SAFETY_MARGIN_MS", 2000, 0, 600_000) / 1000,
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


def parse_type_map(text: str) -> tuple[tuple[str, str], ...]:
    """``{"/aws/lambda/prod-": "prod-lambda"}`` or ``/aws/lambda/prod-=prod-lambda,/ecs/=ecs``."""
    pairs = _pairs(text, "LOGZIO_TYPE_MAP", item_sep=",")
    for prefix, value in pairs.items():
        if not isinstance(value, str) or not value:
            raise ConfigError(
                f"LOGZIO_TYPE_MAP: type for prefix {prefix!r} must be a non-empty string"
            )
    return tuple(sorted(pairs.items(), key=lambda kv: len(kv[0]), reverse=True))


def parse_additional_fields(text: str) -> dict[str, Any]:
    """``env=prod;team=core`` (values are strings) or a JSON object (values keep their JSON type)."""
    fields = _pairs(text, "ADDITIONAL_FIELDS", item_sep=";")
    clash = sorted(METADATA_KEYS.intersection(fields))
    if clash:
        raise ConfigError(
            f"ADDITIONAL_FIELDS may not set {', '.join(clash)}: those fields are set by the shipper"
        )
    return fields


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
