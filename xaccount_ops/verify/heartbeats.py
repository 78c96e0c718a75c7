"""``verify --heartbeats``: how old is the newest heartbeat Logz.io holds from each (account, region)?

Every sending pair has an EventBridge rule writing a heartbeat into ``[verify]
heartbeat_log_group`` every ``heartbeat_minutes`` (``xaccount_ops.heartbeat``); the group ships
like any other. One search per Logz.io (sub-)account answers for every pair at once: the lines of
the heartbeat group in the last day, a ``terms`` aggregation on ``owner`` then ``region``, each
bucket with the ``max`` of ``@timestamp`` (a search per 1,000 accounts, Logz.io's bucket limit). A pair is ``ok`` when its newest heartbeat is at most
``max_age`` old, ``stale`` when older, ``never`` when the day holds none; ``error`` when its
(sub-)account cannot be searched. With ``[[logzio.routes]]``, the pairs whose heartbeat group a
route takes are searched in that route's sub-account with its ``api_token``.

For each pair that is not ``ok``, the diagnosis walks the same hops as ``verify``'s: the
heartbeat's own parts (rule enabled, its target, the group's resource policy), the filter, the
destination and its policy, then the landing side (shipper, failure queue, listener).

>>> result = check(fleet, max_age=timedelta(minutes=15))  # doctest: +SKIP
>>> result.frame  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from xaccount_ops import config
from xaccount_ops.fleet.accounts import Fleet, Target, fan_out
from xaccount_ops.fleet.pipeline import Pipeline, discover
from xaccount_ops.frames import Categories, dtypes
from xaccount_ops.logzio import SearchClient, SearchError
from xaccount_ops.verify.diagnose import (
    Row,
    diagnosis_frame,
    policy_row,
    row,
    shipper_problems,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

STATUSES = ("ok", "stale", "never", "error")
MAIN_ROUTE = "main"
LOOKBACK = timedelta(days=1)
MAX_BUCKETS = 1000  # Logz.io's terms aggregation bucket limit
SCHEMA: dict[str, Any] = {
    "account_id": "string",
    "region": "string",
    "route": "string",
    "last_heartbeat": "datetime64[ns, UTC]",
    "age_s": "Float64",
    "status": Categories(STATUSES),
    "detail": "string",
}


@dataclass
class HeartbeatResult:
    """One row per pair (``frame``) and where each pair that is not ok breaks (``diagnosis``)."""

    frame: pd.DataFrame
    diagnosis: pd.DataFrame
    max_age: timedelta

    @property
    def ok(self) -> bool:
        return bool(len(self.frame)) and bool((self.frame["status"] == "ok").all())


def search_body(
    log_group: str, *, accounts: Sequence[str], regions: int, now: datetime
) -> dict[str, Any]:
    """The one search: heartbeat lines of ``accounts`` in the last day, newest ``@timestamp`` per
    owner/region (only those owners, so a bucket is never taken by an owner we did not ask for)."""
    if not 0 < len(accounts) <= MAX_BUCKETS:
        raise ValueError(f"1..{MAX_BUCKETS} accounts per search (Logz.io's bucket limit)")
    since = now - LOOKBACK
    return {
        "query": {
            "bool": {
                "filter": [
                    {"term": {"logGroup": log_group}},
                    {"terms": {"owner": sorted(accounts)}},
                    {
                        "range": {
                            "@timestamp": {
                                "gte": int(since.timestamp() * 1000),
                                "lte": int(now.timestamp() * 1000),
                                "format": "epoch_millis",
                            }
                        }
                    },
                ]
            }
        },
        "size": 0,
        "aggs": {
            "owner": {
                "terms": {"field": "owner", "size": len(accounts)},
                "aggs": {
                    "region": {
                        "terms": {"field": "region", "size": min(MAX_BUCKETS, max(1, regions))},
                        "aggs": {"last": {"max": {"field": "@timestamp"}}},
                    }
                },
            }
        },
    }


def newest(response: dict[str, Any]) -> dict[tuple[str, str], datetime]:
    """``{(account, region): newest heartbeat}`` from a :func:`search_body` response."""
    found: dict[tuple[str, str], datetime] = {}
    owners = response.get("aggregations", {}).get("owner", {}).get("buckets", [])
    for owner in owners:
        for region in owner.get("region", {}).get("buckets", []):
            value = region.get("last", {}).get("value")
            if value is not None:
                found[(str(owner["key"]), str(region["key"]))] = datetime.fromtimestamp(
                    float(value) / 1000, tz=UTC
                )
    return found


def _route(cfg: config.Config, target: Target) -> str:
    route = cfg.logzio.route_for(target.account_id, cfg.verify.heartbeat_log_group)
    return route.name if route is not None else MAIN_ROUTE


def _search_route(
    fleet: Fleet, search: SearchClient, name: str, pairs: Sequence[Target], now: datetime
) -> dict[tuple[str, str], datetime]:
    cfg = fleet.config
    accounts = sorted({t.account_id for t in pairs})
    regions = len({t.region for t in pairs})
    bodies = [
        search_body(
            cfg.verify.heartbeat_log_group,
            accounts=accounts[start : start + MAX_BUCKETS],
            regions=regions,
            now=now,
        )
        for start in range(0, len(accounts), MAX_BUCKETS)
    ]
    if name == MAIN_ROUTE:
        return {k: v for body in bodies for k, v in newest(search.search(body)).items()}
    route = next(r for r in cfg.logzio.routes if r.name == name)
    if route.api_token is None:
        raise SearchError(f"route {name} has no api_token: cannot search its Logz.io sub-account")
    token = route.api_token.resolve(lambda s: fleet.landing_client(s))
    with SearchClient(search.api_url, token) as routed:
        return {k: v for body in bodies for k, v in newest(routed.search(body)).items()}


def check(
    fleet: Fleet,
    *,
    max_age: timedelta | None = None,
    targets: Sequence[Target] | None = None,
    search: SearchClient | None = None,
    diagnose_stale: bool = True,
    wait_s: float = 0,
    poll_s: float = 2.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> HeartbeatResult:
    """Each pair's newest heartbeat in Logz.io, its age and status; the diagnosis of the others.

    ``wait_s`` > 0 searches again every ``poll_s`` until every pair is ok or the time is up (a
    fresh set-up whose first heartbeats are still on their way), then diagnoses what is not."""
    if wait_s > 0:
        deadline = time.monotonic() + wait_s
        while True:
            found = check(
                fleet,
                max_age=max_age,
                targets=targets,
                search=search,
                diagnose_stale=False,
                now=now,
            )
            if found.ok or time.monotonic() + poll_s > deadline:
                break
            time.sleep(poll_s)  # the heartbeats' own pace; nothing to wake us sooner
        if found.ok or not diagnose_stale:
            return found
    cfg = fleet.config
    limit = max_age or timedelta(minutes=cfg.verify.heartbeat_max_age_minutes)
    pairs = list(targets if targets is not None else fleet.targets)
    moment = now()
    own = search is None
    search = search or SearchClient.from_config(cfg, lambda s: fleet.landing_client(s))
    by_route: dict[str, list[Target]] = {}
    for target in pairs:
        by_route.setdefault(_route(cfg, target), []).append(target)
    rows: list[dict[str, Any]] = []
    try:
        for name, group in sorted(by_route.items()):
            try:
                seen = _search_route(fleet, search, name, group, moment)
                problem = ""
            except SearchError as err:
                seen, problem = {}, str(err)
            for target in group:
                last = seen.get((target.account_id, target.region))
                age = (moment - last).total_seconds() if last else None
                if problem:
                    status, detail = "error", problem
                elif last is None:
                    status = "never"
                    detail = f"no heartbeat in Logz.io in the last {_words(LOOKBACK)}"
                elif age is not None and age > limit.total_seconds():
                    status, detail = "stale", f"older than {_words(limit)}"
                else:
                    status, detail = "ok", ""
                rows.append(
                    {
                        "account_id": target.account_id,
                        "region": target.region,
                        "route": name,
                        "last_heartbeat": last,
                        "age_s": round(age, 1) if age is not None else None,
                        "status": status,
                        "detail": detail,
                    }
                )
    finally:
        if own:
            search.close()
    import pandas as pd  # after the searches (xaccount_ops.frames)

    frame = pd.DataFrame(rows, columns=list(SCHEMA))
    frame["last_heartbeat"] = pd.to_datetime(frame["last_heartbeat"], utc=True)
    frame = frame.astype(dtypes(SCHEMA)).sort_values(["account_id", "region"], ignore_index=True)
    broken = [
        Target(r.account_id, r.region) for r in frame.itertuples() if r.status in ("stale", "never")
    ]
    diagnosis = (
        diagnose_pairs(fleet, broken, since=moment - limit)
        if diagnose_stale and broken
        else diagnosis_frame()
    )
    return HeartbeatResult(frame=frame, diagnosis=diagnosis, max_age=limit)


def _words(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} day(s)"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# -- where a silent pair breaks ---------------------------------------------------------------


def diagnose_pairs(
    fleet: Fleet,
    pairs: Sequence[Target],
    *,
    since: datetime,
    pipeline: Pipeline | None = None,
) -> pd.DataFrame:
    """One row per problem on each silent pair's path: its heartbeat parts and sending side
    first (each explains the silence alone), the landing side for the pairs clean up to there."""
    pipeline = pipeline or discover(fleet)
    org_id = _organization_id(fleet)
    checked = fan_out(
        lambda t: sender_problems(fleet, t, pipeline, org_id),
        list(pairs),
        max_workers=fleet.config.aws.max_workers,
        desc="diagnose",
        progress=False,
    )
    rows: list[Row] = []
    clean: list[Target] = []
    for target in pairs:
        found = checked.values.get(target)
        if found:
            rows.extend(found)
        elif found is not None:
            clean.append(target)
    for error in checked.errors.itertuples():
        rows.append(
            row(
                Target(error.account_id, error.region),
                "account",
                f"cannot inspect the heartbeat: {error.error_code}: {error.message}",
                error.hint or "check the role/profile for this account",
            )
        )
    if clean:
        shared = shipper_problems(fleet, pipeline, since)
        for target in clean:
            if shared:
                rows.extend(row(target, *problem) for problem in shared)
            else:
                rows.append(
                    row(
                        target,
                        "search",
                        "the heartbeat's rule, group, filter and destination look right and no "
                        "shipper or listener problem was seen: the heartbeats may be delayed",
                        "run `xaccount-ops verify` for this pair: a canary shows the hop",
                    )
                )
    return diagnosis_frame(rows)


def _organization_id(fleet: Fleet) -> str | None:
    from xaccount_ops.fleet.accounts import organization_id

    return organization_id(fleet)


def sender_problems(
    fleet: Fleet, target: Target, pipeline: Pipeline, org_id: str | None
) -> list[Row]:
    """The heartbeat's own parts, its filter, the destination and its policy for one pair."""
    cfg = fleet.config
    group = cfg.verify.heartbeat_log_group
    name = config.heartbeat_name(group)
    events = fleet.client("events", target.account_id, target.region)
    logs = fleet.client("logs", target.account_id, target.region)
    fix = "`xaccount-ops subscribe apply` (it creates and repairs the heartbeat)"
    rows: list[Row] = []
    try:
        rule = events.describe_rule(Name=name)
    except events.exceptions.ResourceNotFoundException:
        return [row(target, "heartbeat", f"no EventBridge rule {name}", fix)]
    if rule.get("State") != "ENABLED":
        rows.append(
            row(
                target,
                "heartbeat",
                f"the EventBridge rule {name} is {rule.get('State')}: no heartbeat is written",
                f"enable it: `aws events enable-rule --name {name}`, or {fix}",
            )
        )
    arns = [t.get("Arn", "") for t in events.list_targets_by_rule(Rule=name).get("Targets", [])]
    if not any(a.split(":log-group:", 1)[-1].removesuffix(":*") == group for a in arns):
        rows.append(row(target, "heartbeat", f"the rule {name} does not target {group}", fix))
    policies = logs.describe_resource_policies().get("resourcePolicies", [])
    if not any(p.get("policyName") == name for p in policies):
        rows.append(
            row(
                target,
                "heartbeat",
                f"no CloudWatch Logs resource policy {name}: EventBridge may not write to {group}",
                fix,
            )
        )
    destination = pipeline.destinations.get(target.region)
    if destination is None:
        rows.append(
            row(
                target,
                "destination",
                f"the landing account {fleet.landing_account} has no Logs destination in "
                f"{target.region}",
                f"deploy the landing stacks for {target.region}: `xaccount-ops deploy`",
            )
        )
    elif not destination.allows(target.account_id, org_id):
        rows.append(policy_row(target, destination))
    try:
        filters = logs.describe_subscription_filters(logGroupName=group).get(
            "subscriptionFilters", []
        )
    except logs.exceptions.ResourceNotFoundException:
        rows.append(row(target, "heartbeat", f"the log group {group} does not exist", fix))
        return rows
    ours = [f for f in filters if f["filterName"] == config.filter_name(target.region)]
    if not ours:
        rows.append(
            row(
                target,
                "filter",
                f"no subscription filter {config.filter_name(target.region)} on {group}",
                fix,
            )
        )
    elif destination is not None and ours[0].get("destinationArn") != destination.arn:
        rows.append(
            row(
                target,
                "filter",
                f"{ours[0]['filterName']} on {group} points at {ours[0].get('destinationArn')}, "
                f"not at {destination.arn}",
                fix,
            )
        )
    return rows
