"""``health`` reports the lines the shipper resent after an ambiguous request timeout (issue 26,
item 2), on the local cloud: the Logz.io emulator answers one bulk request later than the
shipper's request timeout while keeping its lines (a delay-only fault), so the shipper's retry
delivers them a second time and its ``resent_after_timeout`` (EMF, extracted by the local cloud's
CloudWatch Logs) counts them. ``health --metrics`` and ``health`` warn, naming the cause, the
timeout, the fix and ``verify --duplicates``; a warning, not a failure (exit 0).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.logzio_faults import faults as admin
from xaccount_ops.cli import main
from xaccount_ops.config import filter_name, load_config
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.logzio import SearchClient
from xaccount_ops.verify.health import RESEND_FIX, SHIPPER_NAMESPACE
from xaccount_ops.verify.metrics import metric_sum

DEADLINE_S = 120.0
EVENTS = 5


def poll(what: str, probe: Any, seen: Any = lambda: "") -> Any:
    """``probe()`` until it returns something truthy, or fail after DEADLINE_S naming ``what``
    (and what ``seen()`` says was there instead)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {DEADLINE_S:g} s; {seen()}")


def shipper_lines(fleet: Fleet, function: str, since_ms: int) -> list[str]:
    """The shipper's log lines since ``since_ms`` (its summaries are the EMF documents)."""
    logs = fleet.landing_client("logs")
    return [
        e["message"]
        for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", startTime=since_ms)[
            "events"
        ]
    ]


def test_a_listener_slower_than_the_timeout_shows_as_resends_in_health(
    local_cloud: dict[str, Any],
    tmp_path: Path,
    helpers: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = helpers.unique("resend")
    region, sender = local_cloud["regions"][0], local_cloud["sending_accounts"][0]
    path = helpers.local_config(tmp_path, local_cloud, stack, accounts=[sender], regions=[region])
    fleet = Fleet.from_config(load_config(path))
    # A short timeout, still long enough for the emulator's ordinary answers on a loaded
    # machine (every attempt timing out would give up the batch instead).
    landing = helpers.local_landing(fleet, local_cloud, environment={"LOGZIO_TIMEOUT_SECONDS": "2"})
    group = f"/xaccount-ops/{stack}-slow"
    logs = fleet.client("logs", sender, region)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_subscription_filter(
        logGroupName=group,
        filterName=filter_name(region),
        filterPattern="",
        destinationArn=landing.destinations[region],
    )
    listener = local_cloud["listener_url"]
    # The first request carrying this group's lines: kept, answered after 5 s (timeout 2 s).
    admin(listener, "POST", {"delay_s": 5, "count": 1, "match": group})
    try:
        now_ms = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[{"timestamp": now_ms + i, "message": f"slow {i}"} for i in range(EVENTS)],
        )
        search = SearchClient.from_config(fleet.config)
        query = {"query": {"term": {"logGroup.keyword": group}}, "size": 100, "_source": ["id"]}

        def both_copies() -> list[dict[str, Any]]:
            hits = search.hits(query)
            return hits if len(hits) >= 2 * EVENTS else []

        held = poll("second copy of the lines in Logz.io", both_copies)
        cloudwatch = fleet.landing_client("cloudwatch")
        since = datetime.now(UTC) - timedelta(minutes=10)
        resent = poll(
            "resent_after_timeout datapoint",
            lambda: metric_sum(
                cloudwatch,
                SHIPPER_NAMESPACE,
                "resent_after_timeout",
                "FunctionName",
                landing.function_name,
                since,
            ),
            lambda: f"the shipper logged: {shipper_lines(fleet, landing.function_name, now_ms)}",
        )
        search.close()
    finally:
        admin(listener, "DELETE")
    # The ambiguous case itself: every event is in Logz.io twice, and the shipper counted them.
    ids = [h["id"] for h in held]
    assert len(ids) == 2 * EVENTS and len(set(ids)) == EVENTS
    assert resent == EVENTS, shipper_lines(fleet, landing.function_name, now_ms)

    code = main(
        ["--config", str(path), "health", "--metrics", "--window", "15m", "--format", "json"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err  # a warning: the lines were delivered, maybe twice
    (row,) = [r for r in json.loads(out) if r["metric"] == "resent_after_timeout"]
    assert (row["status"], row["value"], row["unit"]) == ("warn", EVENTS, "lines")
    assert "slower than the shipper's request timeout (2 s)" in row["detail"]
    assert RESEND_FIX in row["detail"]
    assert ", 1 warn, 0 fail" in err

    code = main(["--config", str(path), "health", "--window", "15m", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    (part,) = [r for r in json.loads(out) if r["part"] == "listener"]
    assert part["status"] == "warn"
    assert (
        f"resent_after_timeout {EVENTS} lines (lines sent again after a request timed out"
        in (part["evidence"])
    )
    assert RESEND_FIX in part["fix"] and "verify --duplicates" in part["fix"]
    assert "listener (warn): " in err
