"""Load and validate ``xaccount-ops.toml``, the one configuration notebooks, CLI and library share.

Where the file is found, first match wins:

1. the ``path`` argument (the CLI's ``--config FILE``);
2. the ``XACCOUNT_OPS_CONFIG`` environment variable;
3. ``xaccount-ops.toml`` in the working directory;
4. ``.local-cloud/xaccount-ops.toml``, the one ``xaccount-ops local up`` writes by default.

Tokens never live in the file: ``shipping_token`` and ``api_token`` are references
(``{ env = "NAME" }``, ``{ secret = "name-or-arn" }``, ``{ ssm = "/param" }`` or
``{ file = "path" }``) resolved only when needed. A literal token is rejected. Unknown keys are
rejected too, so a typo never silently falls back to a default.

>>> cfg = load_config("xaccount-ops.toml")  # doctest: +SKIP
>>> cfg.senders.regions
('us-east-1', 'eu-west-1')
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xaccount_ops import partitions, redact, validate
from xaccount_ops.errors import ConfigError, TokenError

CONFIG_ENV = "XACCOUNT_OPS_CONFIG"
DEFAULT_CONFIG_NAME = "xaccount-ops.toml"
# Where `xaccount-ops local up` writes its config by default (its --data DIR): found last.
LOCAL_CLOUD_CONFIG = Path(".local-cloud") / DEFAULT_CONFIG_NAME
DEFAULT_ROLE_NAME = "OrganizationAccountAccessRole"
DEFAULT_STACK_NAME = "logzio-xacct"
# [[logzio.<key>]] → the shipper variable (and, upper-cased words, the stack parameter)
EVENT_RULES = {
    "redact": "LOGZIO_REDACT",
    "drop": "LOGZIO_DROP_EVENTS",
    "keep": "LOGZIO_KEEP_EVENTS",
    "multiline": "LOGZIO_MULTILINE",
}
EVENT_RULE_PARAMETERS = {
    "redact": "LogzioRedact",
    "drop": "LogzioDropEvents",
    "keep": "LogzioKeepEvents",
    "multiline": "LogzioMultiline",
}
# logzio.request_timeout_s: the shipper's deadline for one bulk request (LOGZIO_TIMEOUT_SECONDS),
# passed as the stack parameter LogzioRequestTimeoutSeconds; default and range are the template's.
REQUEST_TIMEOUT_PARAMETER = "LogzioRequestTimeoutSeconds"
DEFAULT_REQUEST_TIMEOUT_S = 15
REQUEST_TIMEOUT_RANGE_S = (1, 300)
FILTER_NAME_PREFIX = "logzio-xacct-"
# subscriptions.mode: a filter per log group, or one account policy per account and region.
MODE_FILTERS, MODE_POLICY = "filters", "account-policy"

TokenKind = Literal["env", "secret", "ssm", "file"]
_TOKEN_KINDS: tuple[TokenKind, ...] = ("env", "secret", "ssm", "file")
# The environment variable each token key is usually read from, for the examples in messages.
_TOKEN_ENV = {"shipping_token": "LOGZIO_SHIPPING_TOKEN", "api_token": "LOGZIO_API_TOKEN"}


def _token_help(key: str = "shipping_token") -> str:
    """How to reference the token ``key`` names, with that token's usual variable."""
    env = _TOKEN_ENV.get(key, "LOGZIO_SHIPPING_TOKEN")
    return (
        f'use a reference instead: {{ env = "{env}" }}, {{ secret = "name-or-arn" }}, '
        '{ ssm = "/parameter/name" } or { file = "path/readable/only/by/you" }'
    )


_TOKEN_HELP = _token_help()


@dataclass(frozen=True)
class TokenRef:
    """Where a token comes from. Its repr shows the reference, never the token."""

    kind: TokenKind
    name: str
    base_dir: Path = field(default=Path("."), compare=False)

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    def resolve(self, client_factory: Callable[[str], Any] | None = None) -> str:
        """Return the token (registered with ``redact`` so no log shows it).
        ``client_factory(service)`` gives a boto3 client for secret/ssm refs."""
        value = self._resolve(client_factory)
        redact.register(value)
        return value

    def _resolve(self, client_factory: Callable[[str], Any] | None) -> str:
        if self.kind == "env":
            value = os.environ.get(self.name, "").strip()
            if not value:
                raise TokenError(
                    f"token reference {self}: environment variable {self.name} is not set"
                )
            return value
        if self.kind == "file":
            return self._read_file()
        if client_factory is None:
            raise TokenError(f"token reference {self}: needs AWS access to resolve")
        if self.kind == "secret":
            response = client_factory("secretsmanager").get_secret_value(SecretId=self.name)
            value = response.get("SecretString", "").strip()
        else:
            response = client_factory("ssm").get_parameter(Name=self.name, WithDecryption=True)
            value = response["Parameter"]["Value"].strip()
        if not value:
            raise TokenError(f"token reference {self}: the {self.kind} is empty")
        return value

    def _read_file(self) -> str:
        path = Path(self.name).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        try:
            mode = path.stat().st_mode
        except FileNotFoundError as err:
            raise TokenError(f"token reference {self}: no such file {path}") from err
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise TokenError(
                f"token reference {self}: {path} is readable by other users; run chmod 600 {path}"
            )
        value = path.read_text().strip()
        if not value:
            raise TokenError(f"token reference {self}: {path} is empty")
        return value


@dataclass(frozen=True)
class LandingConfig:
    account_id: str
    region: str
    stack_name: str = DEFAULT_STACK_NAME
    profile: str | None = None
    role_arn: str | None = None


@dataclass(frozen=True)
class SendersConfig:
    regions: tuple[str, ...]
    accounts: tuple[str, ...] = ()
    organization: bool = False
    exclude: tuple[str, ...] = ()
    role_name: str = DEFAULT_ROLE_NAME
    profiles: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteConfig:
    """``[[logzio.routes]]``: lines of these accounts and/or log groups go to another Logz.io
    (sub-)account, with its own shipping token; ``api_token`` lets ``verify`` search there."""

    name: str
    token: TokenRef
    accounts: tuple[str, ...] | None = None
    log_groups: tuple[str, ...] | None = None  # globs, or regexes as ``re:<regex>``
    api_token: TokenRef | None = None

    def matches(self, account_id: str, log_group: str) -> bool:
        """Both keys must match when both are set (as in the shipper)."""
        if self.accounts is not None and account_id not in self.accounts:
            return False
        return self.log_groups is None or validate.matches(log_group, self.log_groups)

    def shipper_entry(self) -> dict[str, Any]:
        """This route as the shipper's ``LOGZIO_ROUTES`` takes it: regexes, and where the token
        is (never the token itself)."""
        entry: dict[str, Any] = {"name": self.name}
        if self.accounts is not None:
            entry["accounts"] = list(self.accounts)
        if self.log_groups is not None:
            entry["log_groups"] = [validate.as_regex(p) for p in self.log_groups]
        key = {"env": "token_env", "secret": "token_secret", "ssm": "token_ssm"}[self.token.kind]
        entry[key] = self.token.name
        return entry


@dataclass(frozen=True)
class LogzioConfig:
    shipping_token: TokenRef
    region: str = "us"
    api_token: TokenRef | None = None
    listener_url: str | None = None
    api_url: str | None = None
    token_secret_arn: str | None = None
    type: str = "aws-cross-account"
    compress: bool = True
    # the shipper's deadline for one bulk request; a listener slower than this may still keep the
    # body, so its lines are sent again (resent_after_timeout)
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    additional_fields: Mapping[str, str] = field(default_factory=dict)
    # log-group prefix (or "re:<regex>") → type; the stack's LogzioTypeMap (shipper LOGZIO_TYPE_MAP)
    type_map: Mapping[str, str] = field(default_factory=dict)
    routes: tuple[RouteConfig, ...] = ()
    # [[logzio.redact]], [[logzio.drop]], [[logzio.keep]], [[logzio.multiline]]: the shipper's
    # event rules, as its LOGZIO_REDACT/_DROP_EVENTS/_KEEP_EVENTS/_MULTILINE JSON arrays take them
    redact: tuple[Mapping[str, Any], ...] = ()
    drop: tuple[Mapping[str, Any], ...] = ()
    keep: tuple[Mapping[str, Any], ...] = ()
    multiline: tuple[Mapping[str, Any], ...] = ()

    def rules_parameters(self) -> dict[str, str]:
        """The main stack's parameters for the event rules: all four, "" where there are none
        (so removing the rules from the config clears them on the next deploy)."""
        env = self.rules_environment()
        return {EVENT_RULE_PARAMETERS[key]: env.get(var, "") for key, var in EVENT_RULES.items()}

    def rules_environment(self) -> dict[str, str]:
        """The shipper variables for the event rules (only those that have rules)."""
        env = {}
        for key, variable in EVENT_RULES.items():
            rules = getattr(self, key)
            if rules:
                env[variable] = json.dumps([dict(r) for r in rules], separators=(",", ":"))
        return env

    def route_for(self, account_id: str, log_group: str) -> RouteConfig | None:
        """The first route that takes this group's lines; None for the main account."""
        return next((r for r in self.routes if r.matches(account_id, log_group)), None)


@dataclass(frozen=True)
class SubscriptionsConfig:
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    filter_pattern: str = ""
    mode: Literal["filters", "account-policy"] = "filters"
    emit_system_fields: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)
    min_stored_bytes: int = 0
    min_age_days: int = 0
    # Subscription filters per log group when Service Quotas cannot be read (None: AWS's 2).
    filter_slots: int | None = None


@dataclass(frozen=True)
class StackConfig:
    parameters: Mapping[str, str] = field(default_factory=dict)
    artifact_bucket: str | None = None
    stackset: bool = False


@dataclass(frozen=True)
class AwsConfig:
    profile: str | None = None
    endpoint_url: str | None = None
    max_workers: int = 16
    max_attempts: int = 10


@dataclass(frozen=True)
class VerifyConfig:
    canary_log_group: str = "/xaccount-ops/canary"
    timeout_s: int = 300
    # Heartbeats: an EventBridge rule writes into this group every N minutes (0 = off).
    heartbeat_minutes: int = 5
    heartbeat_log_group: str = "/xaccount-ops/heartbeat"  # DEFAULT_HEARTBEAT_GROUP
    heartbeat_max_age_minutes: int = 15  # older than this is "stale" (verify, alerts)
    # Where `xaccount-ops alerts apply` sends heartbeat alerts (Logz.io notification endpoints).
    alert_emails: tuple[str, ...] = ()
    alert_endpoint_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Config:
    landing: LandingConfig
    senders: SendersConfig
    logzio: LogzioConfig
    subscriptions: SubscriptionsConfig = field(default_factory=SubscriptionsConfig)
    stack: StackConfig = field(default_factory=StackConfig)
    aws: AwsConfig = field(default_factory=AwsConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    path: Path | None = None

    @property
    def is_local(self) -> bool:
        """True when every AWS call goes to a loopback endpoint (the embedded local cloud)."""
        url = self.aws.endpoint_url or ""
        return "://127.0.0.1" in url or "://localhost" in url

    @property
    def partition(self) -> str:
        """The AWS partition of the landing region (``aws``, ``aws-cn``, ``aws-us-gov``, ...)."""
        return partitions.partition_of(self.landing.region)


def find_config(path: str | os.PathLike[str] | None = None) -> Path:
    """Resolve which config file to read (see the module docstring for the order)."""
    candidate = path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_NAME
    default = candidate == DEFAULT_CONFIG_NAME and not Path(candidate).is_file()
    if default and LOCAL_CLOUD_CONFIG.is_file():  # the local cloud's: what `local up` wrote
        return LOCAL_CLOUD_CONFIG
    resolved = Path(candidate).expanduser()
    if not resolved.is_file():
        if path:
            source = "named by --config"
        elif os.environ.get(CONFIG_ENV):
            source = f"named by ${CONFIG_ENV}"
        else:
            source = f"the default; --config FILE or ${CONFIG_ENV} name another"
        raise ConfigError(
            "",
            f"no config file at {resolved} ({source}); write one (see README, "
            "'Configuration') or start the local cloud with `xaccount-ops local up`, which writes one",
        )
    return resolved


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config file."""
    resolved = find_config(path)
    try:
        raw = tomllib.loads(resolved.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("", f"{resolved} is not valid TOML: {err}") from err
    return parse_config(raw, base_dir=resolved.parent.resolve(), path=resolved.resolve())


def parse_config(
    raw: Mapping[str, Any], *, base_dir: Path = Path("."), path: Path | None = None
) -> Config:
    """Validate a config mapping (as read from TOML) into a Config."""
    _known(raw, "", {"landing", "senders", "logzio", "subscriptions", "stack", "aws", "verify"})
    for required in ("landing", "senders", "logzio"):
        if not isinstance(raw.get(required), Mapping):
            raise ConfigError(required, f"the [{required}] table is required")
    landing, senders = _landing(raw["landing"]), _senders(raw["senders"])
    partitions.check_one_partition(landing.region, senders.regions)
    return Config(
        landing=landing,
        senders=senders,
        logzio=_logzio(raw["logzio"], base_dir),
        subscriptions=_subscriptions(raw.get("subscriptions", {})),
        stack=_stack(raw.get("stack", {})),
        aws=_aws(raw.get("aws", {})),
        verify=_verify(raw.get("verify", {})),
        path=path,
    )


def _known(table: Mapping[str, Any], prefix: str, keys: set[str]) -> None:
    for key in table:
        if key not in keys:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(where, f"unknown key; expected one of {', '.join(sorted(keys))}")


def _text(
    table: Mapping[str, Any], key: str, prefix: str, default: str | None = None
) -> str | None:
    value = table.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{prefix}.{key}", f"expected a string, got {value!r}")
    return value.strip() or default


def _bool(table: Mapping[str, Any], key: str, prefix: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{prefix}.{key}", f"expected true or false, got {value!r}")
    return value


def _int(table: Mapping[str, Any], key: str, prefix: str, default: int, minimum: int = 0) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{prefix}.{key}", f"expected a whole number ≥ {minimum}, got {value!r}")
    return value


def _str_map(table: Mapping[str, Any], key: str, prefix: str) -> dict[str, str]:
    value = table.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{prefix}.{key}", f'expected a table of key = "value", got {value!r}')
    return {str(k): str(v) for k, v in value.items()}


def _landing(table: Mapping[str, Any]) -> LandingConfig:
    _known(table, "landing", {"account_id", "region", "stack_name", "profile", "role_arn"})
    if "account_id" not in table or "region" not in table:
        raise ConfigError("landing", "account_id and region are required")
    return LandingConfig(
        account_id=validate.account_id(table["account_id"], "landing.account_id"),
        region=validate.region(table["region"], "landing.region"),
        stack_name=_text(table, "stack_name", "landing", DEFAULT_STACK_NAME) or DEFAULT_STACK_NAME,
        profile=_text(table, "profile", "landing"),
        role_arn=_text(table, "role_arn", "landing"),
    )


def _senders(table: Mapping[str, Any]) -> SendersConfig:
    _known(
        table,
        "senders",
        {"accounts", "organization", "exclude", "role_name", "regions", "profiles"},
    )
    organization = _bool(table, "organization", "senders", False)
    accounts = validate.account_list(table.get("accounts", []), "senders.accounts")
    if not organization and not accounts:
        raise ConfigError(
            "senders",
            'list the sending accounts (accounts = ["111111111111", ...]) or set organization = true',
        )
    if "regions" not in table:
        raise ConfigError("senders.regions", "required: the regions to ship logs from")
    profiles = _str_map(table, "profiles", "senders")
    for account in profiles:
        validate.account_id(account, f"senders.profiles.{account}")
    return SendersConfig(
        regions=validate.region_list(table["regions"], "senders.regions"),
        accounts=accounts,
        organization=organization,
        exclude=validate.account_list(table.get("exclude", []), "senders.exclude"),
        role_name=_text(table, "role_name", "senders", DEFAULT_ROLE_NAME) or DEFAULT_ROLE_NAME,
        profiles=profiles,
    )


def _token_ref(
    table: Mapping[str, Any], key: str, base_dir: Path, prefix: str = "logzio"
) -> TokenRef | None:
    value = table.get(key)
    where = f"{prefix}.{key}"
    if value is None:
        return None
    if isinstance(value, str):
        # Never echo the value: it may be the token itself.
        raise ConfigError(
            where, f"a token literal is not allowed in the config file; {_token_help(key)}"
        )
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ConfigError(where, f"expected one reference; {_token_help(key)}")
    ((kind, name),) = value.items()
    if kind not in _TOKEN_KINDS:
        raise ConfigError(where, f"unknown reference {kind!r}; {_token_help(key)}")
    if not isinstance(name, str) or not name.strip():
        example = {
            "env": _TOKEN_ENV.get(key, "LOGZIO_SHIPPING_TOKEN"),
            "secret": "name-or-arn",
            "ssm": "/parameter/name",
            "file": "path/readable/only/by/you",
        }[kind]
        got = "is blank" if isinstance(name, str) else f"is {type(name).__name__}, not text"
        raise ConfigError(
            where, f'the {kind} reference {got}; name it, e.g. {{ {kind} = "{example}" }}'
        )
    return TokenRef(kind=kind, name=name.strip(), base_dir=base_dir)


def _url(table: Mapping[str, Any], key: str, prefix: str) -> str | None:
    value = _text(table, key, prefix)
    if value and not value.startswith(("http://", "https://")):
        raise ConfigError(
            f"{prefix}.{key}", f"{value!r} is not a URL (expected http(s)://host[:port])"
        )
    if value and "token=" in value:
        raise ConfigError(f"{prefix}.{key}", f"a token in the URL is not allowed; {_TOKEN_HELP}")
    return value.rstrip("/") if value else None


def _logzio(table: Mapping[str, Any], base_dir: Path) -> LogzioConfig:
    _known(
        table,
        "logzio",
        {
            "region",
            "shipping_token",
            "api_token",
            "listener_url",
            "api_url",
            "token_secret_arn",
            "type",
            "compress",
            "request_timeout_s",
            "additional_fields",
            "routes",
            "type_map",
            *EVENT_RULES,
        },
    )
    shipping = _token_ref(table, "shipping_token", base_dir)
    if shipping is None:
        raise ConfigError("logzio.shipping_token", f"required; {_TOKEN_HELP}")
    return LogzioConfig(
        shipping_token=shipping,
        api_token=_token_ref(table, "api_token", base_dir),
        region=validate.logzio_region(table.get("region", ""), "logzio.region"),
        listener_url=_url(table, "listener_url", "logzio"),
        api_url=_url(table, "api_url", "logzio"),
        token_secret_arn=_text(table, "token_secret_arn", "logzio"),
        type=_text(table, "type", "logzio", "aws-cross-account") or "aws-cross-account",
        compress=_bool(table, "compress", "logzio", True),
        request_timeout_s=_request_timeout(table),
        additional_fields=_shipper_checked(table, "additional_fields"),
        type_map=_shipper_checked(table, "type_map"),
        routes=_routes(table.get("routes", []), base_dir),
        **{key: _event_rules(table, key) for key in EVENT_RULES},
    )


def _request_timeout(table: Mapping[str, Any]) -> float:
    """``logzio.request_timeout_s``: seconds, within what the stack parameter allows."""
    value = table.get("request_timeout_s", DEFAULT_REQUEST_TIMEOUT_S)
    low, high = REQUEST_TIMEOUT_RANGE_S
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(
            "logzio.request_timeout_s",
            f"{value!r} is not a number of seconds from {low} to {high} (the stack parameter "
            f"{REQUEST_TIMEOUT_PARAMETER}'s range); default {DEFAULT_REQUEST_TIMEOUT_S}: raise it "
            "when the listener answers slower (shipper metric resent_after_timeout)",
        )
    return value


def _event_rules(table: Mapping[str, Any], key: str) -> tuple[Mapping[str, Any], ...]:
    """``[[logzio.<key>]]`` tables, checked (and every regex compiled) by the shipper's own
    parser, so a rule the function would refuse is a config error naming the rule."""
    from shipper_lambda import rules as shipper_rules
    from shipper_lambda.errors import ConfigError as ShipperConfigError

    items = table.get(key, [])
    where = f"logzio.{key}"
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise ConfigError(where, f"expected [[{where}]] tables (a list), got {items!r}")
    plain = [dict(item) for item in items]
    parse = {
        "redact": lambda: shipper_rules.parse_redact(plain, where),
        "drop": lambda: shipper_rules.parse_filters(plain, where),
        "keep": lambda: shipper_rules.parse_filters(plain, where),
        "multiline": lambda: shipper_rules.parse_multiline(plain, where),
    }[key]
    try:
        parse()
    except ShipperConfigError as err:
        raise ConfigError("", str(err)) from None
    return tuple(plain)


def _shipper_checked(table: Mapping[str, Any], key: str) -> dict[str, str]:
    """A ``logzio`` table the shipper reads from its environment, checked by the shipper's own
    rules (so the stack never deploys a value the function would refuse at its first record)."""
    from shipper_lambda import config as shipper_config

    values = _str_map(table, key, "logzio")
    where = f"logzio.{key}"
    try:
        if key == "type_map":
            shipper_config.check_type_map(values, where)
        else:
            shipper_config.check_additional_fields(values, where)
    except shipper_config.ConfigError as err:
        raise ConfigError("", str(err)) from None
    return values


def _routes(items: Any, base_dir: Path) -> tuple[RouteConfig, ...]:
    """``[[logzio.routes]]`` entries, checked as the shipper will read them."""
    if not isinstance(items, list):
        raise ConfigError("logzio.routes", "expected [[logzio.routes]] tables (a list)")
    routes = []
    for index, item in enumerate(items):
        where = f"logzio.routes[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(where, "expected a table with token and accounts and/or log_groups")
        _known(item, where, {"name", "accounts", "log_groups", "token", "api_token"})
        token = _token_ref(item, "token", base_dir, where)
        if token is None:
            raise ConfigError(f"{where}.token", f"required; {_TOKEN_HELP}")
        if token.kind == "file":
            raise ConfigError(
                f"{where}.token",
                "a file cannot reach the shipper Lambda: use { secret = ... } or { ssm = ... } "
                '(or { env = "NAME" }, passed to the stack as a NoEcho parameter)',
            )
        accounts = (
            validate.account_list(item["accounts"], f"{where}.accounts")
            if "accounts" in item
            else None
        )
        patterns = None
        if "log_groups" in item:
            raw = item["log_groups"]
            if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
                raise ConfigError(f"{where}.log_groups", "expected a list of globs or re:<regex>")
            for pattern in raw:
                validate.as_regex(pattern, f"{where}.log_groups")
            patterns = tuple(raw)
        if accounts is None and patterns is None:
            raise ConfigError(where, "needs accounts, log_groups or both (it would match all)")
        routes.append(
            RouteConfig(
                name=str(item.get("name") or f"route-{index + 1}"),
                token=token,
                accounts=accounts,
                log_groups=patterns,
                api_token=_token_ref(item, "api_token", base_dir, where),
            )
        )
    return tuple(routes)


def _subscriptions(table: Mapping[str, Any]) -> SubscriptionsConfig:
    keys = {
        "include",
        "exclude",
        "filter_pattern",
        "mode",
        "emit_system_fields",
        "tags",
        "min_stored_bytes",
        "min_age_days",
        "filter_slots",
    }
    _known(table, "subscriptions", keys)
    mode = table.get("mode", "filters")
    if mode not in (MODE_FILTERS, MODE_POLICY):
        raise ConfigError("subscriptions.mode", f'{mode!r}: expected "filters" or "account-policy"')
    return SubscriptionsConfig(
        include=validate.pattern_list(table.get("include", ["*"]), "subscriptions.include"),
        exclude=validate.pattern_list(table.get("exclude", []), "subscriptions.exclude"),
        filter_pattern=str(table.get("filter_pattern", "")),
        mode=mode,
        emit_system_fields=_bool(table, "emit_system_fields", "subscriptions", True),
        tags=_str_map(table, "tags", "subscriptions"),
        min_stored_bytes=_int(table, "min_stored_bytes", "subscriptions", 0),
        min_age_days=_int(table, "min_age_days", "subscriptions", 0),
        filter_slots=(
            _int(table, "filter_slots", "subscriptions", 2, minimum=1)
            if "filter_slots" in table
            else None
        ),
    )


def _stack(table: Mapping[str, Any]) -> StackConfig:
    _known(table, "stack", {"parameters", "artifact_bucket", "stackset"})
    parameters = _str_map(table, "parameters", "stack")
    for name in parameters:
        if name in ("LogzioTOKEN",):
            raise ConfigError(
                f"stack.parameters.{name}", f"a token literal is not allowed; {_TOKEN_HELP}"
            )
    if "SendingAccounts" in parameters:
        # Normalise the seed's quoted form ("1234","5678") into the plain list the template takes.
        accounts = validate.account_list(
            parameters["SendingAccounts"], "stack.parameters.SendingAccounts"
        )
        parameters["SendingAccounts"] = ",".join(accounts)
    return StackConfig(
        parameters=parameters,
        artifact_bucket=_text(table, "artifact_bucket", "stack"),
        stackset=_bool(table, "stackset", "stack", False),
    )


def _aws(table: Mapping[str, Any]) -> AwsConfig:
    _known(table, "aws", {"profile", "endpoint_url", "max_workers", "max_attempts"})
    return AwsConfig(
        profile=_text(table, "profile", "aws"),
        endpoint_url=_url(table, "endpoint_url", "aws"),
        max_workers=_int(table, "max_workers", "aws", 16, minimum=1),
        max_attempts=_int(table, "max_attempts", "aws", 10, minimum=1),
    )


def _verify(table: Mapping[str, Any]) -> VerifyConfig:
    _known(
        table,
        "verify",
        {
            "canary_log_group",
            "timeout_s",
            "heartbeat_minutes",
            "heartbeat_log_group",
            "heartbeat_max_age_minutes",
            "alert_emails",
            "alert_endpoint_ids",
        },
    )
    minutes = _int(table, "heartbeat_minutes", "verify", 5)
    if minutes > 1440:
        raise ConfigError(
            "verify.heartbeat_minutes", f"at most 1440 (a day), got {minutes}; 0 turns them off"
        )
    emails = table.get("alert_emails", [])
    if not isinstance(emails, list) or not all(isinstance(e, str) and "@" in e for e in emails):
        raise ConfigError(
            "verify.alert_emails", f"expected a list of e-mail addresses, got {emails!r}"
        )
    endpoints = table.get("alert_endpoint_ids", [])
    if not isinstance(endpoints, list) or not all(
        isinstance(e, int) and not isinstance(e, bool) for e in endpoints
    ):
        raise ConfigError(
            "verify.alert_endpoint_ids",
            f"expected a list of Logz.io notification endpoint ids (integers), got {endpoints!r}",
        )
    return VerifyConfig(
        canary_log_group=_text(table, "canary_log_group", "verify", "/xaccount-ops/canary")
        or "/xaccount-ops/canary",
        timeout_s=_int(table, "timeout_s", "verify", 300, minimum=1),
        heartbeat_minutes=minutes,
        heartbeat_log_group=_text(table, "heartbeat_log_group", "verify", "/xaccount-ops/heartbeat")
        or "/xaccount-ops/heartbeat",
        heartbeat_max_age_minutes=_int(table, "heartbeat_max_age_minutes", "verify", 15, minimum=1),
        alert_emails=tuple(emails),
        alert_endpoint_ids=tuple(endpoints),
    )


def filter_name(region: str) -> str:
    """The subscription filter name the toolkit uses in ``region`` (a contract: see design.md)."""
    return f"{FILTER_NAME_PREFIX}{region}"


HEARTBEAT_NAME = "xaccount-ops-heartbeat"
DEFAULT_HEARTBEAT_GROUP = "/xaccount-ops/heartbeat"


def heartbeat_name(log_group: str = DEFAULT_HEARTBEAT_GROUP) -> str:
    """The EventBridge rule and Logs resource policy the toolkit names for a heartbeat group:
    ``xaccount-ops-heartbeat`` for the default group (as ``cfn/sender.yaml`` names them), else
    that plus the group's name in the characters rule names allow (at most 64)."""
    if log_group == DEFAULT_HEARTBEAT_GROUP:
        return HEARTBEAT_NAME
    tail = re.sub(r"[^A-Za-z0-9._-]+", "-", log_group).strip("-")
    return f"{HEARTBEAT_NAME}-{tail}"[:64]


# -- changing the file ------------------------------------------------------------------------------

_TABLE_RE = re.compile(r"^\s*\[([^\[\]]+)\]\s*(?:#.*)?$")


def with_sender_list(text: str, key: str, ids: Sequence[str]) -> str:
    """``text`` (a config file) with ``[senders] <key> = [...]`` set to ``ids``, everything else
    (comments, order, other tables) kept. The key's old value may span lines; a missing key is
    added at the end of ``[senders]``. Raises ConfigError when the result would not read back
    as exactly that list (an unusual layout): the caller then says what to write by hand."""
    if key not in ("accounts", "exclude"):
        raise ValueError(f"key {key!r}: only senders.accounts or senders.exclude are written")
    value = "[" + ", ".join(f'"{account}"' for account in ids) + "]"
    lines = text.splitlines(keepends=True)
    start = end = None  # the [senders] table's lines
    for index, line in enumerate(lines):
        match = _TABLE_RE.match(line)
        if match and start is None and match.group(1).strip() == "senders":
            start = index + 1
        elif match and start is not None and end is None:
            end = index
    if start is None:
        raise ConfigError("senders", "no [senders] table in the file")
    end = len(lines) if end is None else end
    key_re = re.compile(rf"^(\s*){key}\s*=")
    for index in range(start, end):
        found = key_re.match(lines[index])
        if not found:
            continue
        # The old value ends where its brackets close (it may span lines; a string has none).
        depth, last = 0, index
        for last in range(index, end):
            code = lines[last].split("#", 1)[0] if last > index else lines[last].split("=", 1)[1]
            code = code.split("#", 1)[0]
            depth += code.count("[") - code.count("]")
            if depth <= 0:
                break
        comment = lines[last].split("]")[-1] if "]" in lines[last] else ""
        tail = comment if comment.strip().startswith("#") else "\n"
        new_line = f"{found.group(1)}{key} = {value}" + (
            f"  {tail.strip()}\n" if tail.strip() else "\n"
        )
        lines[index : last + 1] = [new_line]
        break
    else:
        insert = end
        while insert > start and not lines[insert - 1].strip():
            insert -= 1  # after the table's last line, before the blank lines that end it
        lines.insert(insert, f"{key} = {value}\n")
    changed = "".join(lines)
    try:
        written = tomllib.loads(changed).get("senders", {}).get(key)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"senders.{key}", f"could not rewrite it in place ({err})") from None
    if written != list(ids):
        raise ConfigError(f"senders.{key}", "could not rewrite it in place")
    return changed


def write_sender_list(path: Path, key: str, ids: Sequence[str]) -> None:
    """Set ``[senders] <key>`` in the config file at ``path`` (see :func:`with_sender_list`),
    replacing the file in one step so a reader never sees half of it."""
    text = with_sender_list(path.read_text(), key, ids)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)
