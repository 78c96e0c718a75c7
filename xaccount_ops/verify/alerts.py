"""Logz.io alerts that make a silent (account, region) loud: plan and apply, owned by the toolkit.

One alert per sending (account, region) pair, ``xaccount-ops-heartbeat-<account>-<region>``:
"fewer than one heartbeat from <account>/<region> in the last N minutes". One alert per pair and
not one alert grouped by ``owner``/``region``: a group that sends nothing has no bucket, so a
grouped count can never see the silence this alert is for.

Each alert lives in the Logz.io (sub-)account where that pair's heartbeats land (the
``[[logzio.routes]]`` that takes the heartbeat group for the account, with its
``api_token``; otherwise the main account). Alerts are read and written through Logz.io's log
alerts API v2 (``GET|POST /v2/alerts``, ``PUT|DELETE /v2/alerts/{id}``, header ``X-API-TOKEN``;
the shapes of ``logzio/logzio_terraform_client`` ``alerts_v2``).

Ownership: only alerts whose title starts with :data:`PREFIX` are ever changed or deleted; any
other alert in the account is left as it is. ``apply`` of an unchanged plan changes nothing: an
existing alert is updated only when a field the toolkit sets differs (fields Logz.io adds are not
compared), and a toolkit heartbeat alert for a pair that left the fleet is deleted.

>>> plan = plan_alerts(fleet)  # doctest: +SKIP
>>> apply_alerts(fleet, plan)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import requests
from urllib3.util.retry import Retry

from xaccount_ops import logzio
from xaccount_ops.errors import ConfigError, XaccountOpsError
from xaccount_ops.fleet.accounts import Fleet, Target
from xaccount_ops.frames import Categories, frame_with

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

PREFIX = "xaccount-ops-"
HEARTBEAT_PREFIX = f"{PREFIX}heartbeat-"
DEFAULT_MAX_AGE = timedelta(minutes=15)
MAIN_ACCOUNT = "main"
ACTIONS = ("create", "update", "delete", "unchanged", "skip")
PLAN_SCHEMA: dict[str, Any] = {
    "action": Categories(ACTIONS),
    "title": "string",
    "logzio_account": "string",
    "account_id": "string",
    "region": "string",
    "alert_id": "Int64",
    "detail": "string",
}


class AlertsError(XaccountOpsError):
    """The Logz.io alerts API refused or failed a request (never shows the token)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, resource="logzio alerts API")
        self.status = status


# -- the API client --------------------------------------------------------------------------


class AlertsClient:
    """Logz.io log alerts API v2. The token lives in the session's headers only."""

    def __init__(self, api_url: str, api_token: str, *, timeout: float = 30.0) -> None:
        if not api_token:
            raise ConfigError("logzio.api_token", "required to manage Logz.io alerts")
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        # GET/PUT/DELETE are safe to repeat; POST is not (it would create a second alert).
        retry = Retry(
            total=4,
            backoff_factor=0.5,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "PUT", "DELETE"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self._session = logzio.api_session(api_token, retry)

    def __repr__(self) -> str:
        return f"AlertsClient(api_url={self.api_url!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> AlertsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        url = f"{self.api_url}/v2/alerts{path}"
        try:
            response = self._session.request(
                method, url, json=dict(body) if body is not None else None, timeout=self.timeout
            )
        except requests.RequestException as err:
            raise AlertsError(
                f"cannot reach the Logz.io alerts API at {self.api_url}: {type(err).__name__}; "
                "check logzio.region / logzio.api_url and the network"
            ) from None
        if response.status_code in (401, 403):
            raise AlertsError(
                f"Logz.io alerts API at {self.api_url} rejected the API token "
                f"({response.status_code}): alerts need an API token of the account they live "
                "in (Settings > Manage tokens > API tokens), not a shipping token",
                status=response.status_code,
            )
        if response.status_code != 200:
            text = (response.text or "")[:300].strip()
            raise AlertsError(
                f"Logz.io alerts API: {method} /v2/alerts{path} answered "
                f"{response.status_code}: {text}",
                status=response.status_code,
            )
        return response.json() if response.content else None

    def list(self) -> list[dict[str, Any]]:
        """Every alert of the token's account."""
        got = self._call("GET", "")
        if not isinstance(got, list):
            raise AlertsError(f"Logz.io alerts API at {self.api_url}: the list is not an array")
        return got

    def create(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", "", definition)

    def update(self, alert_id: int, definition: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("PUT", f"/{alert_id}", definition)

    def delete(self, alert_id: int) -> None:
        self._call("DELETE", f"/{alert_id}")


# -- what the toolkit wants ------------------------------------------------------------------


@dataclass(frozen=True)
class AlertSettings:
    """The knobs of the heartbeat alerts: silence window, where notifications go."""

    max_age: timedelta = DEFAULT_MAX_AGE
    emails: tuple[str, ...] = ()
    endpoint_ids: tuple[int, ...] = ()
    severity: str = "HIGH"
    suppress_minutes: int = 60
    log_group: str = "/xaccount-ops/heartbeat"

    @classmethod
    def from_config(cls, cfg: Any, max_age: timedelta | None = None) -> AlertSettings:
        """``[verify]``'s heartbeat group, age limit and notification targets."""
        verify = cfg.verify
        return cls(
            max_age=max_age or timedelta(minutes=verify.heartbeat_max_age_minutes),
            emails=tuple(verify.alert_emails),
            endpoint_ids=tuple(verify.alert_endpoint_ids),
            log_group=verify.heartbeat_log_group,
        )


def alert_title(target: Target) -> str:
    return f"{HEARTBEAT_PREFIX}{target.account_id}-{target.region}"


def heartbeat_query(log_group: str, account_id: str, region: str) -> str:
    """The Lucene query of one pair's heartbeats (the shipper sets ``owner`` and ``region``)."""
    return f'logGroup:"{log_group}" AND owner:"{account_id}" AND region:"{region}"'


def heartbeat_alert(target: Target, settings: AlertSettings) -> dict[str, Any]:
    """The v2 alert definition for ``target``: COUNT of its heartbeats LESS_THAN 1."""
    minutes = max(1, int(settings.max_age.total_seconds() // 60))
    where = f"{target.account_id}/{target.region}"
    output: dict[str, Any] = {
        "type": "JSON",
        "suppressNotificationsMinutes": settings.suppress_minutes,
    }
    recipients: dict[str, Any] = {}
    if settings.emails:
        recipients["emails"] = list(settings.emails)
    if settings.endpoint_ids:
        recipients["notificationEndpointIds"] = list(settings.endpoint_ids)
    if recipients:
        output["recipients"] = recipients
    return {
        "title": alert_title(target),
        "description": (
            f"No heartbeat from {where} in {minutes} min: its logs are not reaching Logz.io. "
            "Run `xaccount-ops verify --heartbeats` for the broken hop and its fix. "
            "Managed by xaccount-ops (`xaccount-ops alerts apply` overwrites edits)."
        ),
        "tags": ["xaccount-ops", "heartbeat"],
        "searchTimeFrameMinutes": minutes,
        "enabled": True,
        "output": output,
        "subComponents": [
            {
                "queryDefinition": {
                    "query": heartbeat_query(settings.log_group, target.account_id, target.region),
                    "aggregation": {"aggregationType": "COUNT"},
                    "shouldQueryOnAllAccounts": False,
                },
                "trigger": {
                    "operator": "LESS_THAN",
                    "severityThresholdTiers": {settings.severity: 1.0},
                },
                "output": {"shouldUseAllFields": True},
            }
        ],
    }


def covers(existing: Any, desired: Any) -> bool:
    """True when ``existing`` holds every value of ``desired`` (keys Logz.io adds are ignored;
    numbers compare by value, so the API's ``1.0`` equals our ``1``)."""
    if isinstance(desired, Mapping):
        return isinstance(existing, Mapping) and all(
            k in existing and covers(existing[k], v) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(existing, list)
            and len(existing) == len(desired)
            and all(covers(e, d) for e, d in zip(existing, desired, strict=True))
        )
    if isinstance(desired, bool) or isinstance(existing, bool):
        return existing is desired
    if isinstance(desired, int | float) and isinstance(existing, int | float):
        return float(existing) == float(desired)
    return bool(existing == desired)


# -- plan and apply --------------------------------------------------------------------------


@dataclass
class AlertChange:
    """One row of the plan: what happens to one toolkit alert in one Logz.io account."""

    action: str
    title: str
    logzio_account: str
    account_id: str = ""
    region: str = ""
    alert_id: int | None = None
    definition: dict[str, Any] | None = field(default=None, repr=False)
    detail: str = ""


@dataclass
class AlertPlan:
    changes: list[AlertChange]
    settings: AlertSettings

    @property
    def frame(self) -> pd.DataFrame:
        rows = [{k: getattr(c, k) for k in PLAN_SCHEMA} for c in self.changes]
        return frame_with(PLAN_SCHEMA, rows)

    @property
    def pending(self) -> list[AlertChange]:
        return [c for c in self.changes if c.action in ("create", "update", "delete")]


def _accounts_for(
    fleet: Fleet, targets: Sequence[Target], log_group: str
) -> dict[str, tuple[str | None, list[Target]]]:
    """Logz.io account name -> (why it cannot be reached, or None; the pairs it holds)."""
    cfg = fleet.config
    out: dict[str, tuple[str | None, list[Target]]] = {}
    for target in targets:
        route = cfg.logzio.route_for(target.account_id, log_group)
        name = route.name if route is not None else MAIN_ACCOUNT
        problem = None
        if route is not None and route.api_token is None:
            problem = f"route {name} has no api_token: cannot manage alerts in its sub-account"
        out.setdefault(name, (problem, []))[1].append(target)
    return out


def _client_for(fleet: Fleet, name: str) -> AlertsClient:
    cfg = fleet.config
    api = logzio.endpoints(cfg.logzio).api_url
    if name == MAIN_ACCOUNT:
        ref = cfg.logzio.api_token
        if ref is None:
            raise ConfigError(
                "logzio.api_token",
                'not set; alerts need an API token, e.g. api_token = { env = "LOGZIO_API_TOKEN" }',
            )
    else:
        ref = next(r for r in cfg.logzio.routes if r.name == name).api_token
        assert ref is not None  # _accounts_for skips routes without one
    return AlertsClient(api, ref.resolve(lambda s: fleet.landing_client(s)))


ClientFor = Callable[[Fleet, str], AlertsClient]


def plan_alerts(
    fleet: Fleet,
    settings: AlertSettings | None = None,
    *,
    targets: Sequence[Target] | None = None,
    client_for: ClientFor = _client_for,
) -> AlertPlan:
    """Compare the wanted heartbeat alerts with what each Logz.io account holds. Reads only."""
    settings = settings or AlertSettings.from_config(fleet.config)
    wanted_targets = list(targets if targets is not None else fleet.targets)
    by_account = _accounts_for(fleet, wanted_targets, settings.log_group)
    changes: list[AlertChange] = []
    for name, (problem, pairs) in sorted(by_account.items()):
        if problem is not None:
            changes.extend(
                AlertChange("skip", alert_title(t), name, t.account_id, t.region, detail=problem)
                for t in pairs
            )
            continue
        with client_for(fleet, name) as client:
            existing = {a.get("title"): a for a in client.list()}
        wanted = {alert_title(t): t for t in pairs}
        for title, target in sorted(wanted.items()):
            definition = heartbeat_alert(target, settings)
            current = existing.get(title)
            change = AlertChange(
                "create", title, name, target.account_id, target.region, definition=definition
            )
            if current is not None:
                change.alert_id = int(current["id"])
                same = covers(current, definition)
                change.action = "unchanged" if same else "update"
                change.detail = "" if same else "differs from the toolkit's definition"
            changes.append(change)
        if targets is not None:  # a partial run never deletes what it did not look at
            continue
        for title, current in sorted(existing.items(), key=lambda kv: str(kv[0])):
            # Ours (the prefix) and no longer wanted: a pair that left the fleet.
            if (
                isinstance(title, str)
                and title.startswith(HEARTBEAT_PREFIX)
                and title not in wanted
            ):
                changes.append(
                    AlertChange(
                        "delete",
                        title,
                        name,
                        alert_id=int(current["id"]),
                        detail="its pair is no longer in the fleet",
                    )
                )
    return AlertPlan(changes, settings)


def apply_alerts(
    fleet: Fleet, plan: AlertPlan, *, client_for: ClientFor = _client_for
) -> pd.DataFrame:
    """Carry out the plan's create/update/delete rows; the plan's frame with a ``result`` column
    (``done`` or the error). Errors are collected per alert, not raised."""
    import pandas as pd

    results: dict[int, str] = {}
    by_account: dict[str, list[int]] = {}
    for index, change in enumerate(plan.changes):
        if change.action in ("create", "update", "delete"):
            by_account.setdefault(change.logzio_account, []).append(index)
    for name, indexes in by_account.items():
        with client_for(fleet, name) as client:
            for index in indexes:
                change = plan.changes[index]
                try:
                    if change.action == "create":
                        assert change.definition is not None
                        made = client.create(change.definition)
                        change.alert_id = int(made["id"])
                    elif change.action == "update":
                        assert change.definition is not None and change.alert_id is not None
                        client.update(change.alert_id, change.definition)
                    else:
                        assert change.alert_id is not None
                        client.delete(change.alert_id)
                    results[index] = "done"
                    log.info("alerts: %s %s in %s", change.action, change.title, name)
                except AlertsError as err:
                    results[index] = str(err)
    frame = plan.frame
    frame["result"] = pd.Series(
        [results.get(i, "") for i in range(len(plan.changes))], dtype="string"
    )
    return frame
