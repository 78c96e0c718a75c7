"""Duplicates: event ids Logz.io holds more than once, per account, region and log group.

Every shipped line carries its CloudWatch event ``id``; an id held twice is an event that arrived
twice. When can that happen? A request that timed out after the listener had kept its body is
ambiguous, and the shipper resends it (its ``resent_after_timeout`` counts the lines); a second
filter or route to the same account ships every event twice; a replay or backfill without the API
token cannot look ids up first. ``verify --reconcile`` reports such groups as ``over``; this
counts the ids.

One search per sending account over the window: lines of that ``owner`` (a split event counted
once: no ``part`` or part 1), aggregated region > log group > ``id`` with ``min_doc_count`` 2 (a
terms aggregation returns only the ids held at least twice). Logz.io caps a terms aggregation at
1,000 buckets: per group at most :data:`IDS_PER_GROUP` ids come back, and a group that reaches it
is marked ``capped`` (its counts are lower bounds).

>>> found = duplicates(fleet, window=timedelta(hours=6))  # doctest: +SKIP
>>> found.frame  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from xaccount_ops.frames import frame_with
from xaccount_ops.logzio import SearchClient
from xaccount_ops.verify.reconcile import (
    AGG_BUCKETS,
    LOG_GROUP,
    OWNER,
    REGION,
    SEARCH_CONCURRENCY,
    SEARCH_SLICE,
    Window,
    align,
    window_and_first_parts,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(hours=1)
IDS_PER_GROUP = 100  # ids returned per group; enough to name examples and to count most cases
GROUPS_PER_REGION = AGG_BUCKETS
EXAMPLES = 3
DUPLICATES_SCHEMA: dict[str, Any] = {
    "account_id": "string",
    "region": "string",
    "log_group": "string",
    "duplicate_ids": "Int64",
    "extra_lines": "Int64",
    "capped": "boolean",
    "example_ids": "string",
}


@dataclass
class DuplicatesResult:
    """One row per group holding an id more than once (``frame``), over ``window``."""

    frame: pd.DataFrame
    window: Window
    accounts: int

    @property
    def ok(self) -> bool:
        return self.frame.empty

    def summary(self) -> str:
        ids = int(self.frame["duplicate_ids"].sum())
        extra = int(self.frame["extra_lines"].sum())
        capped = bool(self.frame["capped"].fillna(False).any())
        at_least = "at least " if capped else ""
        return (
            f"duplicates {self.window}: {self.accounts} account(s) searched; "
            f"{len(self.frame)} group(s) hold {at_least}{ids} id(s) more than once "
            f"({at_least}{extra} extra line(s))"
        )


def duplicates_query(account_id: str, regions: int, since_ms: int, until_ms: int) -> dict:
    """One search: ``account_id``'s lines in ``[since_ms, until_ms)``, ids held twice or more
    per region and log group."""
    return {
        "query": {
            "bool": {
                "filter": [
                    {"term": {OWNER: account_id}},
                    *window_and_first_parts(since_ms, until_ms),
                ]
            }
        },
        "size": 0,
        "aggs": {
            "region": {
                "terms": {"field": REGION, "size": max(1, min(regions, AGG_BUCKETS))},
                "aggs": {
                    "group": {
                        "terms": {"field": LOG_GROUP, "size": GROUPS_PER_REGION},
                        "aggs": {
                            "id": {
                                "terms": {"field": "id", "size": IDS_PER_GROUP, "min_doc_count": 2}
                            }
                        },
                    }
                },
            }
        },
    }


def day_slices(window: Window) -> list[tuple[int, int]]:
    """``window`` as epoch-millisecond ranges of at most a day (Logz.io searches daily indices)."""
    out, start = [], window.start
    while start < window.end:
        end = min(start + SEARCH_SLICE, window.end)
        out.append((int(start.timestamp() * 1000), int(end.timestamp() * 1000)))
        start = end
    return out


def frame_from(held: dict[tuple[str, str, str], dict[str, int]]) -> pd.DataFrame:
    """Rows from ``{(account, region, group): {id: copies}}`` (only ids held twice or more)."""
    rows = []
    for (account, region, group), ids in sorted(held.items()):
        twice = {k: v for k, v in ids.items() if v >= 2}
        if not twice:
            continue
        examples = sorted(twice, key=lambda k: (-twice[k], k))[:EXAMPLES]
        rows.append(
            {
                "account_id": account,
                "region": region,
                "log_group": group,
                "duplicate_ids": len(twice),
                "extra_lines": sum(v - 1 for v in twice.values()),
                "capped": len(twice) >= IDS_PER_GROUP,
                "example_ids": ", ".join(f"{k} (x{twice[k]})" for k in examples),
            }
        )
    return frame_with(DUPLICATES_SCHEMA, rows)


def duplicates(
    fleet: Any,
    *,
    window: timedelta | str = DEFAULT_WINDOW,
    search: SearchClient | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DuplicatesResult:
    """Ids held more than once in Logz.io over the last ``window``, per account/region/group.

    The window is whole minutes ending now (no lag: a duplicate is one whenever it came).
    Within a day slice the counts are exact; an id whose copies fall in different day slices
    of a longer window is counted in each slice only if it is held twice there.
    """
    span = align(window, lag=timedelta(0), now=now())
    accounts = sorted(fleet.accounts)
    jobs = [
        (account, duplicates_query(account, len(fleet.regions), since_ms, until_ms))
        for account in accounts
        for since_ms, until_ms in day_slices(span)
    ]
    own_search = search is None
    search = search or SearchClient.from_config(fleet.config, lambda s: fleet.landing_client(s))
    held: dict[tuple[str, str, str], dict[str, int]] = {}

    def run(job: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        return job[0], search.search(job[1])

    try:
        with ThreadPoolExecutor(SEARCH_CONCURRENCY, thread_name_prefix="xacct-dupes") as pool:
            for account, response in pool.map(run, jobs):
                regions = response.get("aggregations", {}).get("region", {})
                for region in regions.get("buckets", []):
                    for group in region.get("group", {}).get("buckets", []):
                        key = (account, str(region["key"]), str(group["key"]))
                        ids = held.setdefault(key, {})
                        for bucket in group.get("id", {}).get("buckets", []):
                            ids[str(bucket["key"])] = ids.get(str(bucket["key"]), 0) + int(
                                bucket["doc_count"]
                            )
    finally:
        if own_search:
            search.close()
    frame = frame_from(held)
    log.info("duplicates over %s: %d group(s)", span, len(frame))
    return DuplicatesResult(frame=frame, window=span, accounts=len(accounts))
