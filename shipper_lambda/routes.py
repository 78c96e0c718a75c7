"""Routing to Logz.io sub-accounts: which shipping token a record's lines go with.

``LOGZIO_ROUTES`` is a JSON array, first match wins, the rest uses the main token::

    [{"name": "prod", "accounts": ["111111111111"], "token_secret": "arn:aws:secretsmanager:..."},
     {"log_groups": ["^/aws/lambda/sec-"], "token_ssm": "/logzio/security"},
     {"accounts": ["222222222222"], "log_groups": ["^/ecs/"], "token_env": "DEV_TOKEN"}]

A route with both ``accounts`` and ``log_groups`` needs both to match; ``log_groups`` are regexes
searched in the name. Exactly one of ``token_env`` (an environment variable, or a key of the
``LOGZIO_ROUTE_TOKENS`` JSON object the stack fills from a NoEcho parameter), ``token_secret``
(Secrets Manager) or ``token_ssm`` (SSM) says where the token is. A Kinesis record is one log
group of one account, so a whole record takes one route.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from shipper_lambda import token_source
from shipper_lambda.errors import ConfigError

ROUTES_ENV = "LOGZIO_ROUTES"
ROUTE_TOKENS_ENV = "LOGZIO_ROUTE_TOKENS"
DEFAULT = -1  # the route index of the main token
_KEYS = frozenset({"name", "accounts", "log_groups", "token_env", "token_secret", "token_ssm"})
_TOKEN_KEYS = ("token_env", "token_secret", "token_ssm")


class RouteTokenUnavailable(RuntimeError):
    """A route's token could not be read; the message names the route and where, never a value."""


@dataclass(frozen=True)
class Route:
    """One entry of ``LOGZIO_ROUTES``; ``name`` is what logs show (never the token)."""

    name: str
    accounts: frozenset[str] | None
    log_groups: tuple[re.Pattern[str], ...] | None
    token_env: str | None = None
    token_secret: str | None = None
    token_ssm: str | None = None

    def matches(self, owner: str, log_group: str) -> bool:
        if self.accounts is not None and owner not in self.accounts:
            return False
        return self.log_groups is None or any(p.search(log_group) for p in self.log_groups)


class Table:
    """The parsed routes, with a per-(owner, log group) cache of the match and per-route tokens."""

    def __init__(self, routes: tuple[Route, ...] = ()) -> None:
        self.routes = routes
        self._matches: dict[tuple[str, str], int] = {}
        self._tokens: dict[int, str] = {}

    def __bool__(self) -> bool:
        return bool(self.routes)

    def route_for(self, owner: str, log_group: str) -> int:
        """The index of the first route that matches, or :data:`DEFAULT`."""
        key = (owner, log_group)
        index = self._matches.get(key)
        if index is None:
            index = next(
                (i for i, r in enumerate(self.routes) if r.matches(owner, log_group)), DEFAULT
            )
            self._matches[key] = index
        return index

    def name(self, index: int) -> str:
        return "main" if index == DEFAULT else self.routes[index].name

    def preset(self, index: int, token: str) -> None:
        """Use ``token`` for route ``index`` (the toolkit resolves tokens with its own access)."""
        self._tokens[index] = token

    def token(
        self,
        index: int,
        env: Mapping[str, str] = os.environ,
        *,
        timeout_s: float = token_source.DEFAULT_TIMEOUT_S,
        deadline: float | None = None,
    ) -> str:
        """The route's shipping token (secrets are fetched once per container, each request
        within ``timeout_s`` and none after ``deadline``, as the main token's)."""
        token = self._tokens.get(index)
        if token is None:
            token = _resolve(self.routes[index], env, timeout_s, deadline)
            self._tokens[index] = token
        return token


def load(env: Mapping[str, str]) -> Table:
    """Parse ``LOGZIO_ROUTES``; :class:`ConfigError` names the route and the bad key."""
    text = (env.get(ROUTES_ENV) or "").strip()
    if not text:
        return Table()
    try:
        raw = json.loads(text)
    except ValueError as err:
        raise ConfigError(f"{ROUTES_ENV} is not JSON: {err}") from None
    if not isinstance(raw, list):
        raise ConfigError(f"{ROUTES_ENV} must be a JSON array of route objects")
    return Table(tuple(_route(i, item) for i, item in enumerate(raw)))


def _route(index: int, item: object) -> Route:
    where = f"{ROUTES_ENV}[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be an object")
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
    sources = [k for k in _TOKEN_KEYS if item.get(k)]
    if len(sources) != 1:
        raise ConfigError(f"{where} needs exactly one of {', '.join(_TOKEN_KEYS)}")
    accounts = item.get("accounts")
    if accounts is not None and (
        not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts)
    ):
        raise ConfigError(f"{where}.accounts must be a list of account id strings")
    patterns = item.get("log_groups")
    if patterns is not None and (
        not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns)
    ):
        raise ConfigError(f"{where}.log_groups must be a list of regex strings")
    if accounts is None and patterns is None:
        raise ConfigError(f"{where} needs accounts, log_groups or both (it would match everything)")
    compiled = []
    for pattern in patterns or ():
        try:
            compiled.append(re.compile(pattern))
        except re.error as err:
            raise ConfigError(f"{where}.log_groups: {pattern!r} is not a regex ({err})") from None
    return Route(
        name=str(item.get("name") or f"route {index}"),
        accounts=frozenset(accounts) if accounts is not None else None,
        log_groups=tuple(compiled) if patterns is not None else None,
        **{k: str(item[k]) for k in sources},
    )


def _resolve(route: Route, env: Mapping[str, str], timeout_s: float, deadline: float | None) -> str:
    if route.token_env:
        value = (env.get(route.token_env) or "").strip()
        if not value:
            value = _route_tokens(env).get(route.token_env, "").strip()
        if not value:
            raise RouteTokenUnavailable(
                f"route {route.name!r}: no token in ${route.token_env} nor in {ROUTE_TOKENS_ENV}"
            )
        return value
    source = route.token_secret or f"ssm:{route.token_ssm}"
    try:
        return token_source.fetch_cached(source, timeout_s, deadline)
    except (token_source.TokenUnavailable, ConfigError) as err:
        raise RouteTokenUnavailable(f"route {route.name!r}: {err}") from None


def _route_tokens(env: Mapping[str, str]) -> dict[str, str]:
    text = (env.get(ROUTE_TOKENS_ENV) or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        # Never echo the text: it holds tokens.
        raise RouteTokenUnavailable(f"{ROUTE_TOKENS_ENV} is not a JSON object") from None
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
