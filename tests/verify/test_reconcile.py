"""``verify --reconcile`` on the local cloud: CloudWatch's IncomingLogEvents (published by
moto_ext.metrics on every PutLogEvents) against the lines the Logz.io emulator holds, per group.

The landing pipeline is this module's own (conftest.build_landing, a stack name of its own), so
only the groups created here ship to its destinations. Events really travel: PutLogEvents ->
destination -> Kinesis -> event source mapping emulator -> the shipper -> the listener. Tests run
in file order (one xdist worker: ``--dist loadscope``); the last one makes a group lose its
events on purpose.
"""

from __future__ import annotations

import json
import time
import types
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from tests.logzio_faults import faults as admin_faults
from xaccount_ops.cli import main
from xaccount_ops.config import filter_name, load_config
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.lab import plots
from xaccount_ops.logzio import SearchClient
from xaccount_ops.verify import reconcile
from xaccount_ops.verify.reconcile import count_query

DELIVERY_TIMEOUT_S = 90.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(
    local_cloud: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, helpers: Any
) -> Iterator[Any]:
    stack = helpers.unique("rec")
    regions = tuple(local_cloud["regions"])
    senders = list(local_cloud["sending_accounts"])[:2]
    path = helpers.local_config(
        tmp_path_factory.mktemp("reconcile"), local_cloud, stack, accounts=senders
    )
    fleet = Fleet.from_config(load_config(path))
    landing = helpers.local_landing(
        fleet,
        local_cloud,
    )
    search = SearchClient.from_config(fleet.config)
    # History: events a group received before our filter existed (test 3 subscribes it later).
    history = f"/reconcile/{stack}/history"
    logs = fleet.client("logs", senders[0], regions[1])
    logs.create_log_group(logGroupName=history)
    logs.create_log_stream(logGroupName=history, logStreamName="s")
    logs.put_log_events(
        logGroupName=history,
        logStreamName="s",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": f"old {i}"} for i in (1, 2)],
    )
    world = types.SimpleNamespace(
        fleet=fleet,
        path=path,
        landing=landing,
        senders=senders,
        regions=regions,
        info=local_cloud,
        stack=stack,
        search=search,
        groups={},
    )
    # Subscribed now, it loses events later: the minute a filter is created in is not judged.
    subscribe(world, senders[1], regions[1], "lost")
    world.lost_minute = int(time.time() // 60)
    yield world
    search.close()


def subscribe(
    world: Any, account: str, region: str, name: str, pattern: str = "", *, create: bool = True
) -> str:
    group = f"/reconcile/{world.stack}/{name}"
    logs = world.fleet.client("logs", account, region)
    if create:
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_subscription_filter(
        logGroupName=group,
        filterName=filter_name(region),
        filterPattern=pattern,
        destinationArn=world.landing.destinations[region],
    )
    world.groups[name] = (account, region, group)
    return group


def put(world: Any, name: str, messages: list[str]) -> None:
    account, region, group = world.groups[name]
    now_ms = int(time.time() * 1000)
    world.fleet.client("logs", account, region).put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now_ms + i, "message": m} for i, m in enumerate(messages)],
    )


def lines(world: Any, name: str) -> int:
    """Lines in the emulator for a group, counted with the job's own query (no time limit)."""
    account, region, group = world.groups[name]
    body = count_query(account, [group], [region], 0, int(time.time() * 1000) + 3_600_000)
    buckets = world.search.search(body)["aggregations"]["region"]["buckets"]
    return sum(g["doc_count"] for r in buckets for g in r["group"]["buckets"])


def wait_for_lines(world: Any, expected: dict[str, int]) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    seen: dict[str, int] = {}
    while time.monotonic() < deadline:
        seen = {name: lines(world, name) for name in expected}
        if seen == expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"lines in Logz.io {seen}, expected {expected}")


def wait_for_next_minute(minute: int) -> None:
    deadline = time.monotonic() + 65
    while int(time.time() // 60) <= minute:
        assert time.monotonic() < deadline
        time.sleep(0.5)


def ship_extra_part(world: Any, name: str) -> None:
    """A second part of an already shipped event, straight to the listener: one event split in
    two lines (``part`` 1 is the shipped line's role; part 2 must not count again)."""
    group = world.groups[name][2]
    source = world.search.hits(
        {"query": {"bool": {"filter": [{"term": {"logGroup": group}}]}}, "size": 1}
    )[0]
    line = {**source, "part": 2, "parts": 2, "message": "second half"}
    request = urllib.request.Request(
        f"{world.info['listener_url']}/?token={world.info['shipping_token']}&type=test",
        data=(json.dumps(line) + "\n").encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def run_cli(world: Any, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict], str]:
    code = main(
        [
            "--config",
            str(world.path),
            "verify",
            "--reconcile",
            "--window",
            "15m",
            "--lag",
            "0",
            "--format",
            "json",
        ]
    )
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_healthy_world_agrees(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = world.senders
    r1, r2 = world.regions
    subscribe(world, a, r1, "orders")
    subscribe(world, a, r2, "payments")
    subscribe(world, b, r1, "cart")
    subscribe(world, b, r2, "errors-only", pattern="ERROR")
    put(world, "orders", [f"order {i}" for i in range(5)])
    put(world, "payments", [f"payment {i}" for i in range(3)])
    put(world, "cart", [json.dumps({"level": "INFO", "n": i}) for i in range(4)])
    put(world, "errors-only", ["ERROR one", "INFO two", "ERROR three", "INFO four"])
    wait_for_lines(world, {"orders": 5, "payments": 3, "cart": 4, "errors-only": 2})
    ship_extra_part(world, "orders")
    assert lines(world, "orders") == 5  # the query counts the split event once

    code, rows, err = run_cli(world, capsys)

    assert code == 0, err
    assert list(rows[0]) == [
        "account_id",
        "region",
        "log_group",
        "cloudwatch_events",
        "logzio_events",
        "ratio",
    ]
    by_group = {r["log_group"].rsplit("/", 1)[-1]: r for r in rows}
    assert set(by_group) == {"orders", "payments", "cart", "errors-only", "lost"}
    assert (by_group["lost"]["cloudwatch_events"], by_group["lost"]["ratio"]) == (0, None)
    for name, count in (("orders", 5), ("payments", 3), ("cart", 4)):
        assert by_group[name]["cloudwatch_events"] == count, by_group[name]
        assert by_group[name]["logzio_events"] == count
        assert by_group[name]["ratio"] == 1.0
    # The pattern ships 2 of 4: CloudWatch's count is an upper bound, reported, not short.
    assert (by_group["errors-only"]["cloudwatch_events"], by_group["errors-only"]["ratio"]) == (
        4,
        0.5,
    )
    assert "0 short" in err and "upper bound" in err


def test_history_before_the_subscription_is_not_short(world: Any) -> None:
    """Events received before our filter existed never ship by subscription: counted from the
    first whole minute after the filter's, the group agrees, and the finding points at backfill.

    Whether the filter lands in the history's minute or a later one, the history is left out
    (the creation minute is never judged), so no minute boundary has to pass first."""
    a, region = world.senders[0], world.regions[1]
    group = subscribe(world, a, region, "history", create=False)
    put(world, "history", ["new 1"])
    wait_for_lines(world, {"history": 1})

    result = reconcile(world.fleet, window="15m", lag="0", progress=False)

    row = result.frame[result.frame["log_group"] == group].iloc[0]
    assert (row["cloudwatch_events"], row["logzio_events"]) == (3, 1)
    note = result.findings[result.findings["log_group"] == group].iloc[0]
    assert (str(note["hop"]), bool(note["short"])) == ("filter", False)
    assert "backfill" in note["fix"] and "created at" in note["problem"]
    assert group not in set(result.short["log_group"])
    judged = result.judged[result.judged["log_group"] == group].iloc[0]
    assert judged["basis"] == "since subscribed"
    assert judged["cloudwatch_events"] < 3  # the two events before the filter are not judged
    # A noted row shows the ratio it was judged on (since subscribed), not the window's.
    if pd.isna(judged["ratio"]):  # nothing received since the filter's minute: no ratio
        assert pd.isna(note["ratio"])
    else:
        assert note["ratio"] == pytest.approx(judged["ratio"])
    # The pattern-bounded group is left out of what the heatmap shows.
    assert not result.judged["log_group"].str.endswith("/errors-only").any()
    assert plots.reconcile_ratio(result.judged, result.threshold).png()[:4] == b"\x89PNG"


def test_lost_events_show_as_short(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    group = world.groups["lost"][2]
    # The minute a filter is created in is never judged (reconcile cannot tell history from
    # shipped events in it), and that minute is the local cloud's clock, not ours: the lost
    # events must be received in a later one. Last in the module, so this rarely waits.
    wait_for_next_minute(world.lost_minute)
    # The listener refuses (401) every bulk request carrying this group's lines; the mapping
    # gives up after its retries (MaximumRetryAttempts 2) and nothing replays them.
    admin_faults(world.info["listener_url"], "POST", {"status": 401, "count": 1000, "match": group})
    try:
        put(world, "lost", [f"lost {i}" for i in range(3)])
        sqs = world.fleet.landing_client("sqs", world.regions[0])
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while time.monotonic() < deadline:
            attributes = sqs.get_queue_attributes(
                QueueUrl=world.landing.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            if int(attributes["ApproximateNumberOfMessages"]):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the batch with the lost events never reached the failure queue")
    finally:
        admin_faults(world.info["listener_url"], "DELETE")
    put(world, "orders", ["order 5"])  # the pipeline works again for everyone else
    wait_for_lines(world, {"orders": 6, "lost": 0})

    code, rows, err = run_cli(world, capsys)

    assert code == 1, err
    by_group = {r["log_group"].rsplit("/", 1)[-1]: r for r in rows}
    assert (by_group["lost"]["cloudwatch_events"], by_group["lost"]["logzio_events"]) == (3, 0)
    assert by_group["lost"]["ratio"] == 0.0
    assert by_group["orders"]["ratio"] == 1.0
    assert "1 short" in err and group in err

    result = reconcile(world.fleet, window=timedelta(minutes=15), lag=timedelta(0), progress=False)
    assert not result.ok
    short = result.short
    assert list(short["log_group"]) == [group]
    assert str(short.iloc[0]["hop"]) in ("listener", "failure queue"), short.to_dict("records")


def resend(world: Any, name: str) -> int:
    """Every line of the group sent to the listener once more, as a shipper does after a request
    timed out although the listener kept the body (issue 26's ambiguous timeout)."""
    group = world.groups[name][2]
    sources = world.search.hits(
        {"query": {"bool": {"filter": [{"term": {"logGroup": group}}]}}, "size": 100}
    )
    body = "".join(json.dumps(source) + "\n" for source in sources).encode()
    request = urllib.request.Request(
        f"{world.info['listener_url']}/?token={world.info['shipping_token']}&type=test",
        data=body,
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return len(sources)


def test_duplicates_are_over_and_counted(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    a, region = world.senders[0], world.regions[0]
    group = subscribe(world, a, region, "twice")
    put(world, "twice", [f"twice {i}" for i in range(3)])
    wait_for_lines(world, {"twice": 3})
    assert resend(world, "twice") == 3
    wait_for_lines(world, {"twice": 6})

    code, rows, err = run_cli(world, capsys)

    assert code == 1, err  # ratio 2.0 is not "agree": duplicates fail the run
    row = next(r for r in rows if r["log_group"] == group)
    assert (row["cloudwatch_events"], row["logzio_events"], row["ratio"]) == (3, 6, 2.0)
    assert "1 over (ratio > 1.001: duplicates)" in err
    assert "more than sent" in err and "verify --duplicates" in err

    code = main(
        [
            "--config",
            str(world.path),
            "verify",
            "--duplicates",
            "--window",
            "15m",
            "--format",
            "json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1, err
    found = [r for r in json.loads(out) if r["log_group"] == group]
    assert [(r["duplicate_ids"], r["extra_lines"], r["capped"]) for r in found] == [(3, 3, False)]
    assert found[0]["account_id"] == a and found[0]["region"] == region
    assert "(x2)" in found[0]["example_ids"]
    assert "hold 3 id(s) more than once (3 extra line(s))" in err


def test_duplicates_flags_are_checked(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(world.path), "verify", "--duplicates", "--lag", "0"])
    assert code == 2
    assert "--lag is for --reconcile, not --duplicates" in capsys.readouterr().err
