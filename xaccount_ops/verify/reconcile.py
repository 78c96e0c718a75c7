"""Reconcile: did every event CloudWatch received reach Logz.io? Counts per log group, over a window.

A canary proves that a path works; this answers "did yesterday's events arrive". For every
(account, region, log group) our filter subscribes to this region's destination:

- ``cloudwatch_events``: CloudWatch's ``AWS/Logs`` ``IncomingLogEvents`` (dimension
  ``LogGroupName``, Sum) over the window, one GetMetricData query per group, up to 500 per call;
- ``logzio_events``: the lines Logz.io holds with that ``owner``/``region``/``logGroup`` and an
  ``@timestamp`` in the window (Search API ``terms`` aggregations region > logGroup, one search
  per account and chunk of at most 1,000 groups, Logz.io's bucket limit; a few searches at once,
  far under its 100 concurrent requests). A split oversize event is one event: only lines without
  ``part`` or with ``part`` 1 count;
- ``ratio`` = logzio / cloudwatch (<NA> when CloudWatch counted nothing).

**Window alignment.** CloudWatch stamps ``IncomingLogEvents`` with the minute the events were
*received*; Logz.io indexes them at their own ``@timestamp``. For live logs the two agree to within
seconds, so the window is made of whole minutes on both sides: it ends at the first whole minute
at or after ``until - lag`` (``until`` defaults to now) and starts ``window`` earlier, rounded
down. The default ``lag`` of 5 minutes keeps events that CloudWatch has counted but that are
still on their way (Kinesis, the shipper's retries, indexing) out of the window, so they are not
reported short. Older windows are aligned to the coarser periods CloudWatch keeps (5 minutes
past 15 days, 1 hour past 63 days: the MetricStat ``Period`` rules). Events whose timestamp is
far from their ingestion time (agents that batch, clock skew, a backfill) fall into different
windows on the two sides; over an hour or more this is noise well under the threshold.

**Filter patterns and event filters.** When our filter on a group has a pattern, or the
shipper's drop/keep rules (``[[logzio.drop]]``/``[[logzio.keep]]``) apply to it, only some events
ship: CloudWatch's count is then an upper bound, and a low ratio is reported (hop ``filter``)
without counting the group as short. A line the shipper's multiline rule joined counts as the
``joined`` events it holds.

**Over.** More lines than events (a ratio above ``1 + (1 - threshold)``) means duplicates: a
finding marked ``over`` names the likely causes (a request that timed out after the listener
kept its body and was resent, a second filter or route to the same account, a replay or
backfill without the API token to look ids up); ``verify --duplicates`` counts the ids Logz.io
holds more than once. It fails the run like a short group.

Findings name the likely hop with :mod:`xaccount_ops.verify.diagnose`'s vocabulary: the
destination or its policy when the sending side is broken, else what the landing side shows
(listener rejections, failure queue, shipper errors), else ``search`` (late lines).

>>> result = reconcile(fleet, window=timedelta(hours=6))  # doctest: +SKIP
>>> result.frame, result.findings, result.ok  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from xaccount_ops import aws, config, validate
from xaccount_ops.fleet import inventory as inv
from xaccount_ops.fleet.accounts import (
    Fleet,
    Target,
    all_errors,
    fan_out,
    organization_id,
)
from xaccount_ops.fleet.pipeline import Pipeline, discover
from xaccount_ops.frames import Categories, frame_with
from xaccount_ops.logzio import SearchClient
from xaccount_ops.verify.diagnose import HOPS, shipper_problems

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(hours=1)
DEFAULT_LAG = timedelta(minutes=5)
DEFAULT_THRESHOLD = 0.999
# Logz.io: terms aggregation size at most 1,000; 100 concurrent requests per account.
AGG_BUCKETS = 1_000
SEARCH_CONCURRENCY = 8
# Logz.io searches daily indices; a day per search keeps every request small and bounded.
SEARCH_SLICE = timedelta(days=1)
METRIC_QUERIES_PER_CALL = 500  # GetMetricData's limit
METRIC_RETENTION = timedelta(days=455)  # hourly points, the oldest CloudWatch keeps
# Fields of the shipped line (design.md's line schema).
OWNER, REGION, LOG_GROUP, PART = "owner", "region", "logGroup", "part"
JOINED = "joined"  # a multiline-joined line: how many events it holds

RECONCILE_SCHEMA: dict[str, Any] = {
    "account_id": "string",
    "region": "string",
    "log_group": "string",
    "cloudwatch_events": "Int64",
    "logzio_events": "Int64",
    "ratio": "Float64",
}
FINDINGS_SCHEMA: dict[str, Any] = {
    "account_id": "string",
    "region": "string",
    "log_group": "string",
    "ratio": "Float64",
    "short": "boolean",
    "over": "boolean",
    "hop": Categories(HOPS, ordered=True),
    "problem": "string",
    "fix": "string",
}
# Which landing-side finding most likely explains missing lines: the cause before its effects.
_LIKELY = ("listener", "shipper", "failure queue", "kinesis", "iterator age")


@dataclass(frozen=True)
class Window:
    """``[start, end)``, UTC, on whole CloudWatch periods."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M}..{self.end:%Y-%m-%d %H:%M} UTC"


def align(
    window: timedelta | str = DEFAULT_WINDOW,
    *,
    until: datetime | None = None,
    lag: timedelta | str = DEFAULT_LAG,
    now: datetime | None = None,
) -> Window:
    """The whole-period window this run compares (see the module docstring)."""
    window, lag = validate.duration(window), validate.duration(lag, "lag")
    if window <= timedelta(0):
        raise ValueError(f"window {window} must be positive, e.g. 1h")
    if lag < timedelta(0):
        raise ValueError(f"lag {lag} must be zero or positive, e.g. 5m")
    now = now or datetime.now(UTC)
    until = (until or now).astimezone(UTC) - lag
    # CloudWatch keeps 1-minute points 15 days, 5-minute points 63 days, then hourly ones.
    age = now - (until - window)
    if age > METRIC_RETENTION:
        raise ValueError(
            f"the window starts {age.days} days ago: CloudWatch keeps metrics 455 days (15 months)"
        )
    step = 60 if age <= timedelta(days=15) else 300 if age <= timedelta(days=63) else 3600
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    end_s = math.ceil((until - epoch).total_seconds() / step) * step
    start_s = math.floor((end_s - window.total_seconds()) / step) * step
    return Window(epoch + timedelta(seconds=start_s), epoch + timedelta(seconds=end_s))


@dataclass
class ReconcileResult:
    """Counts per group over the window (``frame``), what is short and why (``findings``), the
    counts each group was judged on (``judged``: since its subscription when that came inside the
    window; pattern-bounded groups left out; what the heatmap shows), failed targets."""

    frame: pd.DataFrame
    findings: pd.DataFrame
    judged: pd.DataFrame
    window: Window
    errors: pd.DataFrame
    threshold: float = DEFAULT_THRESHOLD

    @property
    def short(self) -> pd.DataFrame:
        return self.findings[self.findings["short"].fillna(False).astype(bool)]

    @property
    def over(self) -> pd.DataFrame:
        """Groups with more lines in Logz.io than CloudWatch received events: duplicates."""
        return self.findings[self.findings["over"].fillna(False).astype(bool)]

    @property
    def ok(self) -> bool:
        """Every shipping group agrees (neither short nor over), every target was counted."""
        return self.short.empty and self.over.empty and self.errors.empty

    def summary(self) -> str:
        """One line: the window, how many groups agree, are short, or are bounded by a pattern."""
        cw = int(self.frame["cloudwatch_events"].sum())
        lz = int(self.frame["logzio_events"].sum())
        counted = int((self.frame["cloudwatch_events"] > 0).sum())
        ratio = self.frame["ratio"]
        agree = int(((ratio >= self.threshold) & (ratio <= over_limit(self.threshold))).sum())
        bounded = len(self.findings) - len(self.short) - len(self.over)
        text = (
            f"reconcile {self.window}: {len(self.frame)} shipping group(s), {counted} with "
            f"events: {agree} agree, {len(self.short)} short (ratio < {self.threshold:g}), "
            f"{len(self.over)} over (ratio > {over_limit(self.threshold):g}: duplicates)"
        )
        if bounded:
            text += (
                f", {bounded} noted (a filter pattern bounds the count, or the group was "
                "subscribed inside the window and agrees since)"
            )
        # Events received before a group's subscription (or not matching its filter pattern)
        # never ship: said, so the two totals do not read as loss.
        expected = int(self.judged["cloudwatch_events"].sum()) if len(self.judged) else cw
        text += f"; CloudWatch {cw} events, Logz.io {lz}"
        if cw > expected:
            text += (
                f" ({cw - expected} of CloudWatch's were received before their group was "
                "subscribed or do not match its filter pattern: not expected in Logz.io)"
            )
        if len(self.errors):
            text += f"; {len(self.errors)} target(s) could not be counted"
        return text


def over_limit(threshold: float) -> float:
    """The ratio above which a group holds duplicates: as far above 1 as ``threshold`` is below."""
    return 1 + (1 - threshold)


# -- which groups ship, and their filter patterns --------------------------------------------------


@dataclass(frozen=True)
class Shipping:
    account_id: str
    region: str
    log_group: str
    pattern: str  # our filter's pattern ("" = every event)


def filters_to_us(inventory: pd.DataFrame, destinations: dict[str, str]) -> dict[Shipping, int]:
    """Groups with more than one filter pointing at this region's destination (each ships every
    event once more)."""
    found = {}
    for row in inventory[inventory["ships"]].itertuples():
        arn = destinations.get(str(row.region))
        mine = [f for f in (row.filters or []) if arn and f.get("destination_arn") == arn]
        if len(mine) > 1:
            ours = [f for f in mine if f.get("owned")]
            pattern = str(ours[0].get("filter_pattern") or "") if ours else ""
            key = Shipping(str(row.account_id), str(row.region), str(row.log_group), pattern)
            found[key] = len(mine)
    return found


def shipping_groups(inventory: pd.DataFrame, destinations: dict[str, str]) -> list[Shipping]:
    """The groups our filter subscribes to this region's destination, from an inventory frame."""
    found = []
    for row in inventory[inventory["ships"]].itertuples():
        arn = destinations.get(str(row.region))
        ours = [
            f for f in (row.filters or []) if f.get("owned") and f.get("destination_arn") == arn
        ]
        pattern = str(ours[0].get("filter_pattern") or "") if ours else ""
        found.append(Shipping(str(row.account_id), str(row.region), str(row.log_group), pattern))
    return found


def event_filters(logzio: Any, log_group: str) -> list[str]:
    """The shipper's drop/keep rules (``[[logzio.drop]]``/``[[logzio.keep]]``) that apply to
    ``log_group``, as ``drop:<name>``/``keep:<name>``: with any, fewer lines than events is
    expected and CloudWatch's count is an upper bound."""
    from shipper_lambda import rules as shipper_rules

    found = []
    for kind, items in (("drop", logzio.drop), ("keep", logzio.keep)):
        parsed = shipper_rules.parse_filters([dict(i) for i in items], f"logzio.{kind}")
        found += [f"{kind}:{r.name}" for r in parsed if r.applies_to(log_group)]
    return found


# -- CloudWatch ---------------------------------------------------------------------------------


def cloudwatch_counts(cloudwatch: Any, groups: Sequence[str], window: Window) -> dict[str, int]:
    """``IncomingLogEvents`` Sum per group over ``window`` (0 where CloudWatch has no points:
    it publishes nothing for a minute without events)."""
    counts = dict.fromkeys(groups, 0)
    for offset in range(0, len(groups), METRIC_QUERIES_PER_CALL):
        chunk = list(groups[offset : offset + METRIC_QUERIES_PER_CALL])
        queries = [
            {
                "Id": f"g{index}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Logs",
                        "MetricName": "IncomingLogEvents",
                        "Dimensions": [{"Name": "LogGroupName", "Value": name}],
                    },
                    "Period": window.seconds,  # a multiple of the period CloudWatch keeps
                    "Stat": "Sum",
                },
                "ReturnData": True,
            }
            for index, name in enumerate(chunk)
        ]
        for page in cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=window.start, EndTime=window.end
        ):
            for item in page.get("MetricDataResults", []):
                name = chunk[int(item["Id"][1:])]
                counts[name] += round(sum(item.get("Values", [])))
    return counts


# -- Logz.io ------------------------------------------------------------------------------------


def window_and_first_parts(since_ms: int, until_ms: int) -> list[dict[str, Any]]:
    """Search filters: ``@timestamp`` in ``[since_ms, until_ms)``, and a split event's first part
    only (no ``part``, or part 1), so each event counts once."""
    return [
        {"range": {"@timestamp": {"gte": since_ms, "lt": until_ms, "format": "epoch_millis"}}},
        {
            "bool": {
                "should": [
                    {"bool": {"must_not": [{"exists": {"field": PART}}]}},
                    {"term": {PART: 1}},
                ],
                "minimum_should_match": 1,
            }
        },
    ]


def count_query(
    account_id: str, groups: Sequence[str], regions: Sequence[str], since_ms: int, until_ms: int
) -> dict[str, Any]:
    """One search: lines of ``account_id``'s ``groups`` in ``[since_ms, until_ms)``, counted per
    region and log group. A split event counts once (no ``part``, or part 1)."""
    if len(groups) > AGG_BUCKETS or len(regions) > AGG_BUCKETS:
        raise ValueError(f"at most {AGG_BUCKETS} groups and regions per search (Logz.io's limit)")
    return {
        "query": {
            "bool": {
                "filter": [
                    {"term": {OWNER: account_id}},
                    {"terms": {LOG_GROUP: list(groups)}},
                    *window_and_first_parts(since_ms, until_ms),
                ]
            }
        },
        "size": 0,
        "aggs": {
            "region": {
                "terms": {"field": REGION, "size": max(1, len(regions))},
                "aggs": {
                    "group": {
                        "terms": {"field": LOG_GROUP, "size": max(1, len(groups))},
                        # joined lines by how many events they hold (absent: one event)
                        "aggs": {"joined": {"terms": {"field": JOINED, "size": AGG_BUCKETS}}},
                    }
                },
            }
        },
    }


def _slices(window: Window) -> list[tuple[int, int]]:
    out = []
    start = window.start
    while start < window.end:
        end = min(start + SEARCH_SLICE, window.end)
        out.append((int(start.timestamp() * 1000), int(end.timestamp() * 1000)))
        start = end
    return out


def logzio_counts(
    search: SearchClient, shipping: Sequence[Shipping], window: Window
) -> dict[tuple[str, str, str], int]:
    """Lines per (account, region, group) in ``window``: searches by account, in chunks of at most
    :data:`AGG_BUCKETS` groups, a day of ``@timestamp`` each, :data:`SEARCH_CONCURRENCY` at once."""
    by_account: dict[str, list[Shipping]] = {}
    for item in shipping:
        by_account.setdefault(item.account_id, []).append(item)
    jobs = []
    for account, items in sorted(by_account.items()):
        names = sorted({i.log_group for i in items})
        regions = sorted({i.region for i in items})
        for offset in range(0, len(names), AGG_BUCKETS):
            for since_ms, until_ms in _slices(window):
                jobs.append(
                    (
                        account,
                        count_query(
                            account,
                            names[offset : offset + AGG_BUCKETS],
                            regions,
                            since_ms,
                            until_ms,
                        ),
                    )
                )
    counts: dict[tuple[str, str, str], int] = {}

    def run(job: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        return job[0], search.search(job[1])

    with ThreadPoolExecutor(SEARCH_CONCURRENCY, thread_name_prefix="xacct-reconcile") as pool:
        for account, response in pool.map(run, jobs):
            regions = response.get("aggregations", {}).get("region", {})
            for region in regions.get("buckets", []):
                for group in region.get("group", {}).get("buckets", []):
                    key = (account, str(region["key"]), str(group["key"]))
                    events = int(group["doc_count"])
                    for joined in group.get("joined", {}).get("buckets", []):
                        # a line holding n events counts n (it is in doc_count once already)
                        events += (int(joined["key"]) - 1) * int(joined["doc_count"])
                    counts[key] = counts.get(key, 0) + events
    return counts


# -- findings -----------------------------------------------------------------------------------


def _finding(
    item: Shipping,
    ratio: float | None,
    short: bool,
    hop: str,
    problem: str,
    fix: str,
    over: bool = False,
) -> dict[str, Any]:
    return {
        "account_id": item.account_id,
        "region": item.region,
        "log_group": item.log_group,
        "ratio": ratio,
        "short": short,
        "over": over,
        "hop": hop,
        "problem": problem,
        "fix": fix,
    }


def over_finding(item: Shipping, cw: int, lz: int, filters: int = 1) -> dict[str, Any]:
    """A group with more lines than events: the extra lines and what most likely made them."""
    causes = [
        "requests that timed out after the listener had kept the body, then were resent (the "
        "shipper's `resent_after_timeout` counts them)",
        "a replay or backfill run without the API token, which cannot look ids up first",
    ]
    hop = "shipper"
    if filters > 1:  # two of our filters/routes on one group ship every event twice
        hop = "filter"
        causes.insert(0, f"{filters} subscription filters on this group point at our destination")
    else:
        causes.append("a second filter or route to the same account (`xaccount-ops audit`)")
    return _finding(
        item,
        lz / cw,
        False,
        hop,
        f"CloudWatch received {cw} event(s), Logz.io holds {lz} line(s): {lz - cw} more than "
        f"sent, so some events arrived more than once. Likely: {'; '.join(causes)}",
        "`xaccount-ops verify --duplicates` counts the ids held more than once, per group",
        over=True,
    )


def findings_frame(rows: Iterable[dict[str, Any]] = ()) -> pd.DataFrame:
    frame = frame_with(FINDINGS_SCHEMA, rows)
    return frame.sort_values(["account_id", "region", "log_group"], ignore_index=True)


def explain(
    fleet: Fleet,
    short: Sequence[tuple[Shipping, int, int, Window]],
    pipeline: Pipeline,
    window: Window,
) -> list[dict[str, Any]]:
    """A finding per short group ``(group, cloudwatch, logzio, over)``, naming the likely hop.
    The landing side is looked at once, from the start of ``window``."""
    if not short:
        return []
    org_id = organization_id(fleet)  # None outside an organization: account lists still work
    landing_side: list[tuple[str, str, str]] | None = None
    rows = []
    for item, cw, lz, over in short:
        ratio = lz / cw
        counted = f"CloudWatch received {cw} event(s) in {over}, Logz.io holds {lz} ({ratio:.3f})"
        destination = pipeline.destinations.get(item.region)
        if destination is None:
            rows.append(
                _finding(
                    item,
                    ratio,
                    True,
                    "destination",
                    f"{counted}; the landing account has no destination in {item.region}",
                    f"deploy the landing stacks for {item.region}: `xaccount-ops deploy`",
                )
            )
            continue
        if not destination.allows(item.account_id, org_id):
            rows.append(
                _finding(
                    item,
                    ratio,
                    True,
                    "destination policy",
                    f"{counted}; the policy of {destination.arn} does not allow account "
                    f"{item.account_id}, so CloudWatch Logs stopped delivering",
                    f"`xaccount-ops accounts add {item.account_id}`, then `xaccount-ops deploy`",
                )
            )
            continue
        if landing_side is None:
            landing_side = shipper_problems(fleet, pipeline, window.start)
        likely = sorted(
            (p for p in landing_side if p[0] in _LIKELY), key=lambda p: _LIKELY.index(p[0])
        )
        if likely:
            hop, problem, fix = likely[0]
            rows.append(_finding(item, ratio, True, hop, f"{counted}; {problem}", fix))
        else:
            rows.append(
                _finding(
                    item,
                    ratio,
                    True,
                    "search",
                    f"{counted}; no destination, shipper or listener problem was seen: the "
                    "missing lines may still be on their way, or carry timestamps outside the "
                    "window",
                    "re-run with a larger --lag; `xaccount-ops replay` ships batches that gave up",
                )
            )
    return rows


# -- groups subscribed inside the window ----------------------------------------------------------


def subscribed_at(fleet: Fleet, item: Shipping) -> datetime | None:
    """When our filter on the group was created (``creationTime``), or None if unknown."""
    name = config.filter_name(item.region)
    logs = fleet.client("logs", item.account_id, item.region)
    try:
        filters = logs.describe_subscription_filters(
            logGroupName=item.log_group, filterNamePrefix=name
        ).get("subscriptionFilters", [])
    except ClientError as err:
        log.info("cannot read the filters of %s: %s", item.log_group, aws.error_code(err))
        return None
    created = [f.get("creationTime") for f in filters if f.get("filterName") == name]
    return datetime.fromtimestamp(created[0] / 1000, UTC) if created and created[0] else None


def recount_since_subscribed(
    fleet: Fleet, search: SearchClient, item: Shipping, cw: int, lz: int, span: Window
) -> tuple[int, int, Window, datetime | None]:
    """Counts from the first whole minute after our filter was created, when that is inside
    ``span``: events received before a subscription never ship, so they say nothing about loss
    (``backfill`` ships them). A busy group receives events in the creation minute both before
    and after the filter exists, and CloudWatch's minute cannot tell them apart, so that minute
    is left out of the judgement on both sides. Otherwise the counts as they were."""
    created = subscribed_at(fleet, item)
    if created is None or created <= span.start:
        return cw, lz, span, None
    minute = created.replace(second=0, microsecond=0)
    start = min(minute if minute == created else minute + timedelta(minutes=1), span.end)
    since = Window(start, span.end)
    if since.seconds <= 0:
        return 0, 0, since, created
    cloudwatch = fleet.client("cloudwatch", item.account_id, item.region)
    cw_since = cloudwatch_counts(cloudwatch, [item.log_group], since)[item.log_group]
    key = (item.account_id, item.region, item.log_group)
    lz_since = logzio_counts(search, [item], since).get(key, 0)
    return cw_since, lz_since, since, created


# -- the whole run --------------------------------------------------------------------------------


def judged_frame(
    frame: pd.DataFrame,
    rebased: dict[tuple[str, str, str], tuple[int, int]],
    bounded: set[tuple[str, str, str]],
) -> pd.DataFrame:
    """The counts each group was judged on: the window's, or those since its subscription
    (``basis``); groups whose count is only an upper bound (filter pattern) are left out."""
    rows = []
    for row in frame.itertuples(index=False):
        key = (row.account_id, row.region, row.log_group)
        if key in bounded:
            continue
        cw, lz = rebased.get(key, (row.cloudwatch_events, row.logzio_events))
        rows.append(
            {
                "account_id": row.account_id,
                "region": row.region,
                "log_group": row.log_group,
                "cloudwatch_events": cw,
                "logzio_events": lz,
                "ratio": lz / cw if cw else None,
                "basis": "since subscribed" if key in rebased else "window",
            }
        )
    return frame_with({**RECONCILE_SCHEMA, "basis": "string"}, rows)


def _recheck(
    fleet: Fleet,
    search: SearchClient,
    candidates: Sequence[tuple[Shipping, int, int]],
    span: Window,
    threshold: float,
    progress: bool | None,
) -> tuple[
    list[tuple[Shipping, int, int, Window]],
    list[dict[str, Any]],
    dict[tuple[str, str, str], tuple[int, int]],
]:
    """Split low groups into short ones and ones subscribed inside the window that agree since;
    also the counts since subscribing of every group subscribed inside the window."""
    by_target: dict[Target, list[tuple[Shipping, int, int]]] = {}
    for entry in candidates:
        by_target.setdefault(Target(entry[0].account_id, entry[0].region), []).append(entry)
    checked = fan_out(
        lambda t: [recount_since_subscribed(fleet, search, *e, span) for e in by_target[t]],
        list(by_target),
        max_workers=min(fleet.config.aws.max_workers, SEARCH_CONCURRENCY),
        desc="subscribed when",
        progress=progress,
    )
    short, notes = [], []
    rebased: dict[tuple[str, str, str], tuple[int, int]] = {}
    for target, entries in by_target.items():
        results = checked.values.get(target) or [(cw, lz, span, None) for _, cw, lz in entries]
        for (item, cw, lz), (cw_since, lz_since, since, created) in zip(
            entries, results, strict=True
        ):
            if created is None:
                short.append((item, cw, lz, span))
                continue
            rebased[(item.account_id, item.region, item.log_group)] = (cw_since, lz_since)
            if cw_since and lz_since / cw_since < threshold:
                short.append((item, cw_since, lz_since, since))
            else:
                notes.append(
                    _finding(
                        item,
                        lz_since / cw_since if cw_since else None,  # what it was judged on
                        False,
                        "filter",
                        f"our filter was created at {created:%Y-%m-%d %H:%M:%S} UTC, inside the "
                        f"window: the events received before it never ship by subscription; "
                        f"since {since.start:%H:%M} UTC CloudWatch received {cw_since}, "
                        f"Logz.io holds {lz_since}",
                        "`xaccount-ops backfill` ships the history before the subscription",
                    )
                )
    return short, notes, rebased


def reconcile(
    fleet: Fleet,
    *,
    window: timedelta | str = DEFAULT_WINDOW,
    until: datetime | None = None,
    lag: timedelta | str = DEFAULT_LAG,
    threshold: float = DEFAULT_THRESHOLD,
    inventory: pd.DataFrame | None = None,
    search: SearchClient | None = None,
    pipeline: Pipeline | None = None,
    progress: bool | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReconcileResult:
    """Compare CloudWatch's and Logz.io's event counts per shipping log group over a window.

    ``inventory`` (an inventory frame) saves listing the log groups again. A target whose
    metrics cannot be read is a row in ``errors`` (its groups are left out of ``frame``).
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold {threshold!r} must be in (0, 1], e.g. 0.999")
    span = align(window, until=until, lag=lag, now=now())
    errors: list[pd.DataFrame] = []
    pipeline = pipeline or discover(fleet)
    destinations = {region: d.arn for region, d in pipeline.destinations.items()}
    if inventory is None:
        listed = inv.log_groups(fleet, progress=progress, destinations=destinations)
        inventory = listed.frame
        errors.append(listed.errors)
    # The heartbeat group always has an event in flight; `verify --heartbeats` judges it.
    heartbeat = fleet.config.verify.heartbeat_log_group
    shipping = [s for s in shipping_groups(inventory, destinations) if s.log_group != heartbeat]
    by_target: dict[Target, list[str]] = {}
    for item in shipping:
        by_target.setdefault(Target(item.account_id, item.region), []).append(item.log_group)
    metrics = fan_out(
        lambda t: cloudwatch_counts(
            fleet.client("cloudwatch", t.account_id, t.region), by_target[t], span
        ),
        sorted(by_target, key=lambda t: (t.account_id, t.region)),
        max_workers=fleet.config.aws.max_workers,
        desc="IncomingLogEvents",
        progress=progress,
    )
    errors.append(metrics.errors)
    counted = [s for s in shipping if Target(s.account_id, s.region) in metrics.values]
    own_search = search is None
    search = search or SearchClient.from_config(fleet.config, lambda s: fleet.landing_client(s))
    try:
        lines = logzio_counts(search, counted, span) if counted else {}
        rows, candidates, notes, over = [], [], [], []
        doubled = filters_to_us(inventory, destinations)
        bounded: set[tuple[str, str, str]] = set()
        for item in counted:
            cw = metrics.values[Target(item.account_id, item.region)][item.log_group]
            lz = lines.get((item.account_id, item.region, item.log_group), 0)
            ratio = lz / cw if cw else None
            rows.append(
                {
                    "account_id": item.account_id,
                    "region": item.region,
                    "log_group": item.log_group,
                    "cloudwatch_events": cw,
                    "logzio_events": lz,
                    "ratio": ratio,
                }
            )
            if ratio is not None and ratio > over_limit(threshold):
                over.append(over_finding(item, cw, lz, doubled.get(item, 1)))
                continue
            if ratio is None or ratio >= threshold:
                continue
            rules = event_filters(fleet.config.logzio, item.log_group)
            if rules and not item.pattern:
                bounded.add((item.account_id, item.region, item.log_group))
                notes.append(
                    _finding(
                        item,
                        ratio,
                        False,
                        "filter",
                        f"CloudWatch received {cw} event(s), Logz.io holds {lz}: the shipper's "
                        f"event filters ({', '.join(rules)}) leave events out, so CloudWatch's "
                        "count is an upper bound (the shipper counts them as filtered_events)",
                        "nothing to fix if the filters are intended; [[logzio.drop]] / "
                        "[[logzio.keep]] in the config",
                    )
                )
            elif item.pattern:
                bounded.add((item.account_id, item.region, item.log_group))
                notes.append(
                    _finding(
                        item,
                        ratio,
                        False,
                        "filter",
                        f"CloudWatch received {cw} event(s), Logz.io holds {lz}: our filter's "
                        f"pattern {item.pattern!r} ships only matching events, so CloudWatch's "
                        "count is an upper bound",
                        "nothing to fix if the pattern is intended; `xaccount-ops subscribe plan` "
                        "shows it",
                    )
                )
            else:
                candidates.append((item, cw, lz))
        short, late, rebased = _recheck(fleet, search, candidates, span, threshold, progress)
        notes.extend(late)
    finally:
        if own_search:
            search.close()
    frame = frame_with(RECONCILE_SCHEMA, rows)
    frame = frame.sort_values(["account_id", "region", "log_group"], ignore_index=True)
    judged = judged_frame(frame, rebased, bounded)
    findings = findings_frame([*explain(fleet, short, pipeline, span), *notes, *over])
    return ReconcileResult(
        frame=frame,
        findings=findings,
        judged=judged,
        window=span,
        errors=all_errors(errors),
        threshold=threshold,
    )
