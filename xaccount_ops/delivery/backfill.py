"""Backfill: ship the history a log group held before our subscription filter was created.

A subscription filter delivers "a real-time stream of log events ingested through PutLogEvents"
(PutSubscriptionFilter, CloudWatch Logs API reference): events ingested *after* the filter's
``creationTime`` reach Logz.io through the pipeline, events ingested before it never do. So the
boundary is on **ingestion time**, not on the event's own timestamp:

- an event ingested before the filter's creation ships here, whatever its timestamp;
- an event ingested after it is the pipeline's (skipped here), even when its timestamp is older
  (late arrivals) -- shipping it again would duplicate it;
- PutLogEvents rejects events "more than 2 hours in the future", so an event with a timestamp
  more than 2 h after the creation cannot have been ingested before it: reading timestamps up to
  ``creationTime + 2 h`` (FilterLogEvents selects by timestamp) finds every backlog event;
- ``creationTime`` and ``ingestionTime`` come from different parts of AWS and are in ms: events
  ingested within ``BOUNDARY_GUARD_MS`` of the creation are looked up in Logz.io by id
  (:meth:`SearchClient.delivered_keys`) and shipped only when absent.

For every group the ``subscribe`` selection picks (:func:`subscriptions.selection`) that carries
our filter ``logzio-xacct-<region>``, events are read with FilterLogEvents (botocore's
paginator, the filter's own pattern, paced to the API's quota per account and region, adaptive
retries from the fleet's clients) in day-long windows, rebuilt as CloudWatch ``DATA_MESSAGE``
payloads in Kinesis-shaped records and shipped with :func:`shipper_lambda.handler.process`: the
lines are the ones the shipper makes (owner, region from the filter name, logGroup, type, id).

A checkpoint per group (``backfill/`` beside the inventory cache) records the timestamp range
done and the window in flight. A second run reads only what is not covered; a window left in
flight by a failed run is read again and its events looked up by id first, so nothing ships
twice. A recreated filter (another ``creationTime``) invalidates the range: everything is
looked up by id. ``dry_run`` reads and counts (events, bytes, calls, time at the quota) and
changes nothing.

>>> result = backfill(fleet, since=timedelta(days=7), dry_run=True)  # doctest: +SKIP
>>> result.frame[["log_group", "events", "bytes", "est_seconds"]]  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xaccount_ops import aws
from xaccount_ops.config import MODE_FILTERS, Config, filter_name
from xaccount_ops.delivery import reship
from xaccount_ops.errors import XaccountOpsError
from xaccount_ops.fleet.accounts import Fleet, Target, fan_out
from xaccount_ops.fleet.inventory import InventoryResult, cache_dir, log_groups
from xaccount_ops.fleet.selection import never_subscribed, selection
from xaccount_ops.frames import frame_with
from xaccount_ops.logzio import SearchClient

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# FilterLogEvents' default quota per account and region (CloudWatch Logs quotas page: 10 TPS in
# most regions, 25 in us-east-1, 5 in a few): 10 everywhere keeps under all but the smallest.
FILTER_TPS = 10.0
# Groups read at once per target, sharing the target's pacer: enough to reach the quota at
# ~100 ms per call; the adaptive retry mode absorbs whatever else shares the quota.
WORKERS_PER_TARGET = 4
MAX_FUTURE_MS = 2 * 3600 * 1000  # PutLogEvents rejects events more than 2 h in the future
BOUNDARY_GUARD_MS = 5_000  # ingested this close to the filter's creation: look the id up
WINDOW_MS = 24 * 3600 * 1000  # checkpoint granularity (and what a failed run re-checks)
# Per rebuilt payload: CloudWatch sends at most ~1 MB per record; stay well under it.
RECORD_MAX_EVENTS = 1_000
RECORD_MAX_BYTES = 900_000
SHIP_BUDGET_S = 300.0  # per process() call; the shipper keeps its safety margin back
CHECKPOINT_DIR = "backfill"
CHECKPOINT_VERSION = 1

STATUSES = ("shipped", "up to date", "would ship", "failed")
RESULT_SCHEMA: dict[str, str] = {
    "account_id": "string",
    "region": "string",
    "log_group": "string",
    "filter_name": "string",
    "filter_created": "datetime64[ns, UTC]",
    "since": "datetime64[ns, UTC]",
    "until": "datetime64[ns, UTC]",
    "events": "Int64",  # backlog events found (to ship, or shipped)
    "bytes": "Int64",  # their messages, UTF-8
    "shipped": "Int64",
    "already_shipped": "Int64",  # found in Logz.io by id, not sent again
    "filtered": "Int64",  # left out by the function's drop/keep rules, as the live shipper does
    "live": "Int64",  # ingested after the filter's creation: the pipeline's
    "calls": "Int64",  # FilterLogEvents pages read
    "est_seconds": "Float64",  # the calls at FILTER_TPS
    "status": "string",
    "detail": "string",
}
ERROR_SCHEMA: dict[str, str] = {
    "account_id": "string",
    "region": "string",
    "error": "string",
    "hint": "string",
}


class BackfillError(XaccountOpsError):
    """A group's history could not be shipped (the checkpoint keeps what was done)."""


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupWork:
    """One log group to backfill: where, our filter, its pattern and creation time (epoch ms)."""

    target: Target
    log_group: str
    filter_name: str
    filter_pattern: str
    created_ms: int


@dataclass
class GroupResult:
    """What backfilling one group did (one row of :attr:`BackfillResult.frame`)."""

    work: GroupWork
    since_ms: int
    until_ms: int
    events: int = 0
    bytes: int = 0
    shipped: int = 0
    already_shipped: int = 0
    filtered: int = 0
    live: int = 0
    calls: int = 0
    status: str = "up to date"
    detail: str = ""

    def row(self) -> dict[str, Any]:
        work = self.work
        return {
            "account_id": work.target.account_id,
            "region": work.target.region,
            "log_group": work.log_group,
            "filter_name": work.filter_name,
            "filter_created": _ts(work.created_ms),
            "since": _ts(self.since_ms),
            "until": _ts(self.until_ms),
            "events": self.events,
            "bytes": self.bytes,
            "shipped": self.shipped,
            "already_shipped": self.already_shipped,
            "filtered": self.filtered,
            "live": self.live,
            "calls": self.calls,
            "est_seconds": round(self.calls / FILTER_TPS, 1) if FILTER_TPS > 0 else 0.0,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass
class BackfillResult:
    """Per-group rows (``frame``, :data:`RESULT_SCHEMA`) and per-target errors (``errors``)."""

    frame: pd.DataFrame
    errors: pd.DataFrame
    dry_run: bool = False
    # Wall seconds: finding the groups (inventory, filters), then reading and shipping them.
    select_s: float = 0.0
    run_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every selected group is shipped (or, in a dry run, could be read)."""
        return self.errors.empty and not (self.frame["status"] == "failed").any()

    def summary(self) -> str:
        """E.g. ``3 groups: 1200 events shipped (0 already there), 40 live skipped; 0 failed``."""
        frame = self.frame
        failed = int((frame["status"] == "failed").sum())
        events, live = int(frame["events"].sum()), int(frame["live"].sum())
        if self.dry_run:
            size = int(frame["bytes"].sum())
            seconds = _quota_seconds(frame)
            text = (
                f"dry run, nothing shipped: {len(frame)} group(s), {events} event(s) "
                f"({size} bytes) to ship, {live} ingested after the filter (the pipeline's); "
                f"~{seconds:.1f} s of FilterLogEvents at {FILTER_TPS:g} TPS per account/region"
            )
        else:
            shipped, already = int(frame["shipped"].sum()), int(frame["already_shipped"].sum())
            text = (
                f"{len(frame)} group(s): {shipped} event(s) shipped, {already} already in "
                f"Logz.io, {live} ingested after the filter (the pipeline's)"
            )
            if filtered := int(frame["filtered"].sum()):
                text += f", {filtered} left out by the function's drop/keep rules"
        text += f"; {failed} failed"
        if not self.errors.empty:
            text += f"; {len(self.errors)} target(s) could not be read"
        return text


def per_target(frame: pd.DataFrame) -> pd.DataFrame:
    """Groups, events, bytes, calls and reading time at the quota per (account, region)."""
    columns = {
        "account_id": "string",
        "region": "string",
        "groups": "Int64",
        "events": "Int64",
        "bytes": "Int64",
        "shipped": "Int64",
        "calls": "Int64",
        "est_seconds": "Float64",
    }
    if frame.empty:
        return frame_with(columns)
    grouped = frame.groupby(["account_id", "region"], observed=True, sort=True)
    out = grouped.agg(
        groups=("log_group", "size"),
        events=("events", "sum"),
        bytes=("bytes", "sum"),
        shipped=("shipped", "sum"),
        calls=("calls", "sum"),
    ).reset_index()
    out["est_seconds"] = (out["calls"] / FILTER_TPS).round(1) if FILTER_TPS > 0 else 0.0
    return out[list(columns)].astype(columns)


def _quota_seconds(frame: pd.DataFrame) -> float:
    """Reading time at the quota: targets run in parallel, each bound by its own quota."""
    if frame.empty or FILTER_TPS <= 0:
        return 0.0
    per_target = frame.groupby(["account_id", "region"])["calls"].sum()
    return float(per_target.max()) / FILTER_TPS


def _ts(ms: int) -> pd.Timestamp:
    import pandas as pd

    return pd.Timestamp(ms, unit="ms", tz="UTC")


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


# -- selection ------------------------------------------------------------------------------------


def select_groups(
    fleet: Fleet, *, inventory: InventoryResult | None = None, progress: bool | None = None
) -> tuple[list[GroupWork], pd.DataFrame]:
    """The groups to backfill: selected as ``subscribe`` selects them and subscribed by our
    filter (to our destination); with each filter's pattern and ``creationTime``."""
    import pandas as pd

    cfg = fleet.config
    if cfg.subscriptions.mode != MODE_FILTERS:
        raise XaccountOpsError(
            f"subscriptions.mode = {cfg.subscriptions.mode!r}: backfill needs per-group filters "
            f'("filters" mode); an account policy has no per-group creation time to start from'
        )
    inventory = inventory or log_groups(fleet, tags=bool(cfg.subscriptions.tags), progress=progress)
    errors = [
        {"account_id": e.account_id, "region": e.region, "error": f"{e.error_code}: {e.message}"}
        | {"hint": "" if pd.isna(e.hint) else str(e.hint)}
        for e in inventory.errors.itertuples()
    ]
    works: list[GroupWork] = []
    wanted: dict[Target, list[str]] = {}  # groups whose filter's creation time is unknown
    for row in inventory.frame.itertuples(index=False):
        region = str(row.region)
        if not row.ships or row.our_filter != filter_name(region):
            continue
        if never_subscribed(cfg, row.log_group) or not selection(cfg, row)[0]:
            continue
        target = Target(row.account_id, region)
        ours = next((f for f in row.filters or () if f["name"] == filter_name(region)), None)
        if ours is not None and ours.get("created_ms") is not None:
            works.append(
                GroupWork(
                    target=target,
                    log_group=row.log_group,
                    filter_name=ours["name"],
                    filter_pattern=ours.get("filter_pattern") or "",
                    created_ms=int(ours["created_ms"]),
                )
            )
        else:  # an inventory without creation times (e.g. an older cache): ask
            wanted.setdefault(target, []).append(row.log_group)

    def describe(target: Target) -> list[GroupWork]:
        logs = fleet.client("logs", target.account_id, target.region)
        name = filter_name(target.region)
        found = []
        for group in wanted[target]:
            response = logs.describe_subscription_filters(logGroupName=group, filterNamePrefix=name)
            for f in response.get("subscriptionFilters", []):
                if f["filterName"] == name:
                    found.append(
                        GroupWork(
                            target=target,
                            log_group=group,
                            filter_name=name,
                            filter_pattern=f.get("filterPattern", "") or "",
                            created_ms=int(f["creationTime"]),
                        )
                    )
        return found

    described = fan_out(
        describe,
        sorted(wanted),
        max_workers=cfg.aws.max_workers,
        desc="filters",
        progress=progress,
    )
    for e in described.errors.itertuples():
        errors.append(
            {
                "account_id": e.account_id,
                "region": e.region,
                "error": f"{e.error_code}: {e.message}",
                "hint": "" if pd.isna(e.hint) else str(e.hint),
            }
        )
    works.extend(w for values in described.values.values() for w in values)
    return works, frame_with(ERROR_SCHEMA, errors)


# -- checkpoints ----------------------------------------------------------------------------------


class Checkpoints:
    """One small JSON file per group in ``backfill/`` beside the inventory cache: the filter
    creation time it was taken against, the timestamp range ``[lo, hi)`` done, the window in
    flight. One file per group keeps each (frequent) write small and independent."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def for_config(cls, config: Config) -> Checkpoints:
        return cls(cache_dir(config) / CHECKPOINT_DIR)

    @staticmethod
    def key(work: GroupWork) -> str:
        return f"{work.target.account_id}/{work.target.region}/{work.log_group}"

    def path(self, work: GroupWork) -> Path:
        digest = hashlib.sha256(self.key(work).encode()).hexdigest()[:20]
        return self.directory / f"{work.target.account_id}-{work.target.region}-{digest}.json"

    def get(self, work: GroupWork) -> dict[str, Any]:
        path = self.path(work)
        if not path.is_file():
            return {}
        data = json.loads(path.read_text())
        if data.get("version") != CHECKPOINT_VERSION:
            raise BackfillError(
                f"{path}: checkpoint version {data.get('version')!r}, expected "
                f"{CHECKPOINT_VERSION}; move it away to start over (shipped events are then "
                "found by id, so nothing ships twice)",
                resource=self.key(work),
            )
        return data

    def put(self, work: GroupWork, entry: Mapping[str, Any]) -> None:
        path = self.path(work)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "version": CHECKPOINT_VERSION,
            "log_group": self.key(work),
            **entry,
            "filter_created_ms": work.created_ms,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
        tmp.replace(path)  # atomic: a crash leaves the old or the new file


def _windows(lo: int, hi: int, covered: tuple[int, int] | None) -> list[tuple[int, int]]:
    """``[lo, hi)`` minus ``covered``, cut into windows, ordered so that doing them in order
    keeps the done range contiguous: below it descending, above it ascending."""

    def cut(a: int, b: int) -> list[tuple[int, int]]:
        return [(s, min(s + WINDOW_MS, b)) for s in range(a, b, WINDOW_MS)]

    if covered is None:
        return cut(lo, hi)
    below = cut(lo, covered[0]) if lo < covered[0] else []
    above = cut(covered[1], hi) if covered[1] < hi else []
    return list(reversed(below)) + above


# -- reading and shipping -------------------------------------------------------------------------


@dataclass
class _Shipper:
    """Rebuilds CloudWatch payloads from FilterLogEvents and ships them (``reship``)."""

    shipper: reship.Reshipper
    sequence: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_fleet(cls, fleet: Fleet) -> _Shipper:
        return cls(reship.from_fleet(fleet))

    def records(self, work: GroupWork, events: Sequence[Mapping[str, Any]]) -> list[dict]:
        """Kinesis-shaped records of CloudWatch DATA_MESSAGE payloads, one stream per payload."""
        by_stream: dict[str, list[Mapping[str, Any]]] = {}
        for event in events:
            by_stream.setdefault(event["logStreamName"], []).append(event)
        records = []
        for stream, stream_events in by_stream.items():
            for chunk in _chunks(stream_events):
                payload = {
                    "messageType": "DATA_MESSAGE",
                    "owner": work.target.account_id,
                    "logGroup": work.log_group,
                    "logStream": stream,
                    # The filter's name carries the region (design contract): the shipper reads it.
                    "subscriptionFilters": [work.filter_name],
                    "logEvents": [
                        {"id": e["eventId"], "timestamp": e["timestamp"], "message": e["message"]}
                        for e in chunk
                    ],
                }
                data = gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), 1)
                with self.lock:
                    self.sequence += 1
                    sequence = f"{self.sequence:056d}"  # made up: only ordering matters
                records.append(
                    {
                        "eventSource": "aws:kinesis",
                        "kinesis": {
                            "data": base64.b64encode(data).decode(),
                            "sequenceNumber": sequence,
                            "partitionKey": stream,
                        },
                    }
                )
        return records

    def ship(
        self,
        work: GroupWork,
        events: Sequence[Mapping[str, Any]],
        skip_parts: frozenset[tuple[str, int]] = frozenset(),
    ) -> int:
        """Ship the events; the number the function's drop/keep rules left out."""
        if not events:
            return 0
        result = self.shipper.ship(self.records(work, events), SHIP_BUDGET_S, skip_parts)
        if result.failed is not None:
            stats = result.stats
            raise BackfillError(
                f"the listener did not take every line ({stats.records_failed} of "
                f"{stats.records} payloads not delivered after {stats.retries} retries; "
                f"{stats.auth_failures} auth failures); re-run backfill: what arrived is found "
                "by id and not sent again",
                resource=work.log_group,
            )
        return int(result.stats.filtered_events)


def _chunks(events: Sequence[Mapping[str, Any]]) -> Iterator[list[Mapping[str, Any]]]:
    chunk: list[Mapping[str, Any]] = []
    size = 0
    for event in events:
        length = len(event["message"].encode()) + 100
        if chunk and (len(chunk) >= RECORD_MAX_EVENTS or size + length > RECORD_MAX_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(event)
        size += length
    if chunk:
        yield chunk


class _Run:
    """One backfill run's shared state: clients, pacers per target, checkpoints, search."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        since_ms: int,
        until_ms: int | None,
        dry_run: bool,
        checkpoints: Checkpoints,
        search: SearchClient | None,
        shipper: _Shipper | None,
    ) -> None:
        self.fleet = fleet
        self.since_ms, self.until_ms = since_ms, until_ms
        self.dry_run = dry_run
        self.checkpoints = checkpoints
        self._search = search
        self.shipper = shipper
        self._lock = threading.Lock()
        self._pacers: dict[Target, aws.Pacer] = {}

    def pacer(self, target: Target) -> aws.Pacer:
        with self._lock:
            return self._pacers.setdefault(target, aws.Pacer(FILTER_TPS))

    def search(self) -> SearchClient:
        with self._lock:
            if self._search is None:
                cfg = self.fleet.config
                self._search = SearchClient.from_config(cfg, lambda s: self.fleet.landing_client(s))
            return self._search

    def group(self, work: GroupWork) -> GroupResult:
        hi = work.created_ms + MAX_FUTURE_MS + 1  # exclusive
        if self.until_ms is not None:
            hi = min(hi, self.until_ms + 1)
        result = GroupResult(work, since_ms=self.since_ms, until_ms=hi - 1)
        if self.since_ms >= hi:
            result.detail = "the window starts after the filter could have missed anything"
            return result
        saved = self.checkpoints.get(work)
        same_filter = saved.get("filter_created_ms") == work.created_ms
        covered = tuple(saved["covered"]) if same_filter and saved.get("covered") else None
        in_flight = tuple(saved["in_flight"]) if same_filter and saved.get("in_flight") else None
        # A recreated filter (or an unfinished run after one): what was shipped against the old
        # filter is unknown here, so every id is looked up until a run completes.
        suspect_all = bool(saved) and (not same_filter or bool(saved.get("suspect")))
        if suspect_all:
            log.warning(
                "%s: our filter was recreated since a backfill of this group, which has not "
                "completed since; every event is looked up in Logz.io before it ships",
                Checkpoints.key(work),
            )
        if covered is not None and (covered[1] < self.since_ms or covered[0] > hi):
            covered = None  # a range apart from the one done: it replaces it
        windows = _windows(self.since_ms, hi, covered)  # type: ignore[arg-type]
        if not windows:
            result.detail = "checkpoint: this range is already shipped"
            return result
        try:
            for start, end in windows:
                suspect = suspect_all or _overlaps(in_flight, (start, end))
                if not self.dry_run:
                    self.checkpoints.put(
                        work,
                        {"covered": covered, "in_flight": [start, end], "suspect": suspect_all},
                    )
                self._window(work, start, end, suspect, result)
                covered = (
                    (min(start, covered[0]), max(end, covered[1])) if covered else (start, end)
                )
                if not self.dry_run:
                    last = (start, end) == windows[-1]
                    self.checkpoints.put(
                        work,
                        {
                            "covered": list(covered),
                            "in_flight": None,
                            "suspect": suspect_all and not last,
                        },
                    )
        except Exception as err:  # reported per group, by design; the checkpoint says where
            result.status = "failed"
            result.detail = f"{aws.error_code(err)}: {err}"
            log.warning("backfill of %s failed: %s", Checkpoints.key(work), err)
            return result
        if self.dry_run:
            result.status = "would ship" if result.events else "up to date"
        else:
            result.status = "shipped" if result.shipped else "up to date"
        return result

    def _window(
        self, work: GroupWork, start: int, end: int, suspect: bool, result: GroupResult
    ) -> None:
        target = work.target
        logs = self.fleet.client("logs", target.account_id, target.region)
        kwargs: dict[str, Any] = {
            "logGroupName": work.log_group,
            "startTime": start,
            "endTime": end - 1,  # inclusive in FilterLogEvents
        }
        if work.filter_pattern:
            kwargs["filterPattern"] = work.filter_pattern  # ship what the filter would have
        pacer = self.pacer(target)
        pages = iter(logs.get_paginator("filter_log_events").paginate(**kwargs))
        created = work.created_ms
        while True:
            pacer.wait()
            page = next(pages, None)
            if page is None:
                return
            result.calls += 1
            backlog, check = [], []
            held = reship.Present(frozenset(), frozenset())
            for event in page.get("events", []):
                ingested = int(event.get("ingestionTime", event["timestamp"]))
                if ingested > created + BOUNDARY_GUARD_MS:
                    result.live += 1
                elif suspect or ingested >= created - BOUNDARY_GUARD_MS:
                    check.append(event)
                else:
                    backlog.append(event)
            if check:
                held = self._delivered(check, start, end)
                result.already_shipped += len(held.touched)
                backlog.extend(e for e in check if e["eventId"] not in held.whole)
            result.events += len(backlog)
            result.bytes += sum(len(e["message"].encode()) for e in backlog)
            if not self.dry_run and backlog and self.shipper is not None:
                filtered = self.shipper.ship(work, backlog, held.parts)
                result.filtered += filtered
                result.shipped += len(backlog) - filtered

    def _delivered(
        self, events: Sequence[Mapping[str, Any]], start: int, end: int
    ) -> reship.Present:
        """What Logz.io already holds of these events, by (id, part)."""
        keys = self.search().delivered_keys(
            [e["eventId"] for e in events], since_ms=start, until_ms=end
        )
        return reship.present(keys)


def _overlaps(a: tuple[int, int] | None, b: tuple[int, int]) -> bool:
    return a is not None and a[0] < b[1] and b[0] < a[1]


# -- the job ---------------------------------------------------------------------------------------


def backfill(
    fleet: Fleet,
    *,
    since: timedelta | datetime,
    until: timedelta | datetime | None = None,
    dry_run: bool = False,
    progress: bool | None = None,
    inventory: InventoryResult | None = None,
    search: SearchClient | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BackfillResult:
    """Ship every selected, subscribed group's events from ``since`` up to its filter's creation.

    ``since``/``until`` are event times: datetimes, or how long ago (timedeltas). By default the
    range ends where the filter could have missed nothing (its creation + 2 h, for events stamped
    ahead); ``until`` only narrows it. Nothing ingested after the filter's creation ships here.
    ``dry_run`` reads and counts, ships nothing and writes no checkpoint. Per-group failures are
    ``failed`` rows, per-target ones ``errors`` rows: nothing is raised for AWS errors.
    """
    current = now()
    since_at = current - since if isinstance(since, timedelta) else since
    until_at = current - until if isinstance(until, timedelta) else until
    if since_at.tzinfo is None or (until_at is not None and until_at.tzinfo is None):
        raise ValueError("since/until datetimes must be timezone-aware (e.g. UTC)")
    if until_at is not None and since_at >= until_at:
        raise ValueError(
            f"since {since_at:%Y-%m-%dT%H:%M:%SZ} is not before until {until_at:%Y-%m-%dT%H:%M:%SZ}"
        )
    import time

    started = time.monotonic()
    works, errors = select_groups(fleet, inventory=inventory, progress=progress)
    selected = time.monotonic()
    shipper = None if dry_run or not works else _Shipper.from_fleet(fleet)
    run = _Run(
        fleet,
        since_ms=_ms(since_at),
        until_ms=_ms(until_at) if until_at is not None else None,
        dry_run=dry_run,
        checkpoints=Checkpoints.for_config(fleet.config),
        search=search,
        shipper=shipper,
    )
    results = _run_all(run, works, fleet.config.aws.max_workers, progress)
    if search is None and run._search is not None:
        run._search.close()
    frame = frame_with(RESULT_SCHEMA, (r.row() for r in results))
    frame = frame.sort_values(["account_id", "region", "log_group"], ignore_index=True)
    result = BackfillResult(
        frame=frame,
        errors=errors,
        dry_run=dry_run,
        select_s=round(selected - started, 2),
        run_s=round(time.monotonic() - selected, 2),
    )
    log.info("backfill: %s", result.summary())
    return result


def _run_all(
    run: _Run, works: Sequence[GroupWork], max_workers: int, progress: bool | None
) -> list[GroupResult]:
    """Targets in parallel, ``WORKERS_PER_TARGET`` groups at a time within each."""
    from tqdm.auto import tqdm

    by_target: dict[Target, list[GroupWork]] = {}
    for work in works:
        by_target.setdefault(work.target, []).append(work)
    results: list[GroupResult] = []
    lock = threading.Lock()
    disable = None if progress is None else not progress
    with tqdm(total=len(works), desc="backfill", unit="group", disable=disable) as bar:

        def one_target(target: Target) -> None:
            with ThreadPoolExecutor(WORKERS_PER_TARGET, thread_name_prefix="xacct-bf") as pool:
                for done in pool.map(run.group, by_target[target]):
                    with lock:
                        results.append(done)
                        bar.update(1)
                        bar.set_postfix(events=sum(r.events for r in results), refresh=False)

        workers = max(1, min(max_workers, len(by_target) or 1))
        with ThreadPoolExecutor(workers, thread_name_prefix="xacct-bf-target") as pool:
            list(pool.map(one_target, sorted(by_target)))
    return results
