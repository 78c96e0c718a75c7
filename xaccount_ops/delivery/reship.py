"""Ship rebuilt Kinesis records through the shipper's own code, as the deployed function would.

``replay`` (the failure store) and ``backfill`` (history from before a filter) both hand records to
:func:`shipper_lambda.handler.process`. What must be the same as in AWS is the line: so the
settings are the deployed function's environment (type, type map, fields, include/exclude,
oversize mode), falling back to the config's ``[logzio]`` when the function cannot be read. What
comes from the toolkit's config instead: the listener, the shipping token and the tokens of
``[[logzio.routes]]`` (each record still goes to its route's sub-account), resolved here with the
toolkit's credentials, never logged.

The shipper keeps one keep-alive connection per listener at module level (a Lambda container runs
one invocation at a time), so calls to :meth:`Reshipper.ship` are serialised.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xaccount_ops import logzio
from xaccount_ops.fleet.pipeline import shipper_function

log = logging.getLogger(__name__)

# Variables that carry or locate a token, or name the listener or the routes: taken from the
# toolkit's config, never from the function.
OWN_SETTINGS = frozenset(
    {"LOGZIO_TOKEN", "TOKEN", "LOGZIO_TOKEN_SECRET", "LOGZIO_LISTENER_URL", "LOGZIO_REGION"}
    | {"REGION", "LOGZIO_ROUTES", "LOGZIO_ROUTE_TOKENS"}
)
# Extra shipper variables (LOGZIO_RETRY_ATTEMPTS, LOGZIO_MAX_BODY_BYTES, ...): tests shrink them.
TUNING: dict[str, str] = {}
_LOCK = threading.Lock()


@dataclass
class Reshipper:
    """The shipper's settings, main token and route table for one run."""

    settings: Any  # shipper_lambda.config.Config
    token: str = field(repr=False)
    table: Any = field(repr=False)  # shipper_lambda.routes.Table

    def ship(
        self,
        records: list[dict[str, Any]],
        budget_s: float,
        skip_parts: frozenset[tuple[str, int]] = frozenset(),
    ) -> Any:
        """``process()`` the records; its ``Result`` (``failed`` is the first record not sent).
        ``skip_parts``: parts of split events Logz.io holds already (see :func:`present`)."""
        from shipper_lambda.handler import process

        with _LOCK:
            return process(
                records,
                self.settings,
                self.token,
                budget_s,
                table=self.table,
                skip_parts=skip_parts,
            )


@dataclass(frozen=True)
class Present:
    """What Logz.io holds of some events, from ``SearchClient.delivered_keys``."""

    whole: frozenset[str]  # ids shipped as one line (part 0): never send again
    parts: frozenset[tuple[str, int]]  # (id, part) of split events: send only the other parts

    @property
    def touched(self) -> frozenset[str]:
        """Ids with at least one line in Logz.io."""
        return self.whole | {event_id for event_id, _ in self.parts}


def present(found: Mapping[tuple[str, int], int]) -> Present:
    """Split the lookup into whole events and parts: the dedupe key is ``(id, part)``."""
    return Present(
        whole=frozenset(i for i, p in found if p == 0),
        parts=frozenset((i, p) for i, p in found if p > 0),
    )


def function_environment(fleet: Any) -> dict[str, str]:
    """The deployed shipper function's environment; empty when it cannot be read."""
    try:
        function = shipper_function(fleet)
        if not function:
            return {}
        conf = fleet.landing_client("lambda").get_function_configuration(FunctionName=function)
    except Exception as err:  # the config's own settings are a fine fallback
        log.warning("cannot read the shipper's settings (%s); using [logzio] from the config", err)
        return {}
    return dict((conf.get("Environment") or {}).get("Variables") or {})


def config_environment(fleet: Any) -> dict[str, str]:
    """The line and sending settings ``deploy`` gives the function, from the config's
    ``[logzio]``."""
    lz = fleet.config.logzio
    env = {"LOGZIO_TYPE": lz.type, "LOGZIO_COMPRESS": str(lz.compress).lower()}
    env["LOGZIO_TIMEOUT_SECONDS"] = f"{lz.request_timeout_s:g}"
    if lz.additional_fields:
        env["ADDITIONAL_FIELDS"] = json.dumps(dict(lz.additional_fields))
    type_map = getattr(lz, "type_map", None)
    if type_map:
        env["LOGZIO_TYPE_MAP"] = json.dumps(dict(type_map))
    env.update(lz.rules_environment())  # redaction, filters, multiline: as the function has them
    return env


def settings_for(fleet: Any, token: str, env: Mapping[str, str] | None = None) -> Any:
    """The shipper's Config: ``env`` (default: the function's, else the config's) with the
    toolkit's listener and ``token``."""
    from shipper_lambda import config as shipper_config

    if env is None:
        env = function_environment(fleet) or config_environment(fleet)
    merged = {k: v for k, v in env.items() if k not in OWN_SETTINGS}
    merged.update(TUNING)
    merged["LOGZIO_LISTENER_URL"] = logzio.endpoints(fleet.config.logzio).listener_url
    merged["LOGZIO_TOKEN"] = token
    return shipper_config.load(merged)


def route_table(fleet: Any) -> Any:
    """``[[logzio.routes]]`` as the shipper's route table, every token resolved up front."""
    from shipper_lambda import routes

    configured = fleet.config.logzio.routes
    if not configured:
        return routes.Table()
    entries = [r.shipper_entry() for r in configured]
    table = routes.load({routes.ROUTES_ENV: json.dumps(entries)})
    for index, route in enumerate(configured):
        table.preset(index, route.token.resolve(lambda s: fleet.landing_client(s)))
    return table


def from_fleet(fleet: Any, *, env: Mapping[str, str] | None = None) -> Reshipper:
    """Everything a run needs to ship, resolved once (a bad setting fails here, not per batch)."""
    token = fleet.config.logzio.shipping_token.resolve(lambda s: fleet.landing_client(s))
    return Reshipper(settings_for(fleet, token, env), token, route_table(fleet))
