"""``xaccount-ops backfill`` on the local cloud, end to end (issue #14 item 2).

Three groups of our own get history before they are subscribed (one event stamped in the future,
ingested before the filter: it is backlog), then live events after (one stamped before the filter
but ingested after it: a late arrival, which is the pipeline's). The tests run in file order:

1. a dry run counts exactly the backlog and changes nothing (no line, no checkpoint);
2. a backfill while the listener rejects one group's later bodies: the other groups ship, that
   group fails part-way with some of its lines delivered (exit 1);
3. the listener healthy again, a backfill finishes: every event id -- backlog and live -- is in
   the Logz.io emulator exactly once, with the shipper's line schema;
4. a second backfill ships nothing (exit 0).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.logzio_faults import faults as fault
from xaccount_ops.cli import main
from xaccount_ops.delivery import backfill, reship
from xaccount_ops.fleet.inventory import cache_dir
from xaccount_ops.logzio import marker_query

FAIL_MARKER = "bf-listener-rejects-this"


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture(scope="module")
def world(
    local_cloud: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, bf_helpers: Any
) -> Iterator[Any]:
    w = bf_helpers.make_world(local_cloud, tmp_path_factory.mktemp("bf"), bf_helpers.unique)
    a0, a1 = w.senders[0], w.senders[1]
    r0, r1 = w.regions
    w.groups = {
        "app": (a0, r0, f"{w.prefix}/app"),
        "jobs": (a1, r1, f"{w.prefix}/jobs"),
        "partial": (a0, r1, f"{w.prefix}/partial"),
    }
    for account, region, group in w.groups.values():
        w.logs(account, region).create_log_group(logGroupName=group)
    start = now_ms() - 40 * 60_000
    w.window = (start - 60 * 60_000, now_ms() + 60 * 60_000)
    app, jobs, partial = w.groups["app"], w.groups["jobs"], w.groups["partial"]
    w.put(*app, "web-1", [(start + i, json.dumps({"n": i, "level": "info"})) for i in range(20)])
    # Stamped 10 minutes ahead but ingested now, before the filter exists: backlog.
    w.put(*app, "clock-skew", [(now_ms() + 10 * 60_000, "event from a fast clock")])
    w.put(*jobs, "batch", [(start + 1000 + i, f"job {i} done ✓") for i in range(15)])
    # Small bodies (below): the first stream's delivered before the marked stream's are refused.
    w.put(*partial, "a", [(start + i, f"partial a {i} " + "x" * 200) for i in range(10)])
    w.put(*partial, "b", [(start + 100 + i, f"{FAIL_MARKER} {i}") for i in range(5)])
    w.backlog = {name: set(w.ids(*where)) for name, where in w.groups.items()}
    w.subscribe()
    w.put(*app, "web-2", [(now_ms() + i, f"live {i}") for i in range(5)])
    # Stamped before the filter, ingested after it: the subscription delivers it, not backfill.
    w.put(*app, "late", [(start + 30, "late arrival")])
    w.live = set(w.ids(*app)) - w.backlog["app"]
    assert len(w.live) == 6
    w.wait_for(sorted(w.live), *w.window)
    yield w
    # The local cloud is shared: leave no groups of ours for other modules' inventories.
    for account, region, group in w.groups.values():
        w.logs(account, region).delete_log_group(logGroupName=group)


def cli(world: Any, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list, str]:
    code = main(["--config", str(world.path), "backfill", "--since", "2h", *args, "--no-progress"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else [], err


def by_group(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["log_group"].rsplit("/", 1)[-1]: r for r in rows}


def test_dry_run_counts_the_backlog_and_changes_nothing(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, err = cli(world, capsys, "--dry-run", "--format", "json")
    assert code == 0, err
    rows = by_group(rows)
    assert set(rows) == {"app", "jobs", "partial"}
    for name, row in rows.items():
        events = world.ids(*world.groups[name])
        backlog = [events[i] for i in world.backlog[name]]
        assert row["status"] == "would ship", row
        assert row["events"] == len(backlog), (name, row)
        assert row["bytes"] == sum(len(e["message"].encode()) for e in backlog)
        assert row["shipped"] == 0 and row["calls"] >= 1 and row["est_seconds"] > 0
    assert rows["app"]["live"] + rows["app"]["already_shipped"] == len(world.live)
    assert "dry run, nothing shipped" in err
    everything = sorted(set().union(*world.backlog.values()))
    assert world.counts(everything, *world.window) == {}
    assert not (cache_dir(world.fleet.config) / backfill.CHECKPOINT_DIR).exists()


def test_listener_failure_fails_one_group_part_way(
    world: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fast_shipper: None,
) -> None:
    """Exact boundary without the id lookup (guard 0): backlog by ingestion time only."""
    monkeypatch.setattr(backfill, "BOUNDARY_GUARD_MS", 0)
    monkeypatch.setitem(reship.TUNING, "LOGZIO_MAX_BODY_BYTES", "1024")
    listener = world.info["listener_url"]
    fault(listener, "POST", {"status": 503, "count": 1, "match": FAIL_MARKER})
    try:
        code, rows, err = cli(world, capsys, "--format", "json")
    finally:
        fault(listener, "DELETE")
    assert code == 1, err
    rows = by_group(rows)
    assert rows["app"]["status"] == rows["jobs"]["status"] == "shipped"
    assert rows["app"]["shipped"] == len(world.backlog["app"])
    assert rows["app"]["live"] == len(world.live)  # ingested after the filter: not read as backlog
    assert rows["partial"]["status"] == "failed"
    assert "re-run backfill" in rows["partial"]["detail"]
    arrived = world.counts(sorted(world.backlog["partial"]), *world.window)
    assert 0 < len(arrived) < len(world.backlog["partial"])  # part-way: the resume must dedupe


def test_rerun_finishes_and_every_event_is_there_once(
    world: Any, capsys: pytest.CaptureFixture[str], fast_shipper: None
) -> None:
    code, rows, err = cli(world, capsys, "--format", "json")
    assert code == 0, err
    rows = by_group(rows)
    assert rows["partial"]["status"] == "shipped"
    assert rows["partial"]["already_shipped"] + rows["partial"]["shipped"] == len(
        world.backlog["partial"]
    )
    assert rows["partial"]["already_shipped"] > 0
    assert rows["app"]["status"] == rows["jobs"]["status"] == "up to date"
    for name, where in world.groups.items():
        ids = sorted(world.ids(*where))
        counts = world.counts(ids, *world.window)
        assert counts == dict.fromkeys(ids, 1), name
    # The line schema is the shipper's: owner, region (from the filter name), logGroup, type, id.
    account, region, group = world.groups["jobs"]
    event_id = sorted(world.backlog["jobs"])[0]
    with world.search() as search:
        (line,) = search.hits(marker_query([event_id], field="id"))
    assert (line["owner"], line["region"], line["logGroup"]) == (account, region, group)
    # The seed's rule: the third piece of the name (`/bf.../<piece>/jobs`), as the live pipeline.
    assert line["type"] == (group.split("/")[2] or "aws-cross-account")
    assert line["logStream"] == "batch"
    assert line["message"].startswith("job ") and line["@timestamp"].endswith("Z")


def test_second_backfill_ships_nothing(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows, err = cli(world, capsys, "--format", "json")
    assert code == 0, err
    # (seen once under load: every group shipped again; the rows and checkpoints say why)
    checkpoints = sorted((cache_dir(world.path) / "backfill").glob("*.json"))
    why = [rows, err, [c.read_text() for c in checkpoints]]
    assert {r["status"] for r in rows} == {"up to date"}, why
    assert sum(r["shipped"] for r in rows) == 0 and sum(r["calls"] for r in rows) == 0
    assert "0 event(s) shipped" in err
    ids = sorted(set().union(*world.backlog.values()))
    assert set(world.counts(ids, *world.window).values()) == {1}


def test_selection_without_creation_times_asks_cloudwatch(world: Any) -> None:
    """An inventory without the filters' creation times (an older cache) gives the same groups:
    DescribeSubscriptionFilters is asked for them."""
    from xaccount_ops.fleet.inventory import log_groups

    inventory = log_groups(world.fleet, progress=False)
    works, errors = backfill.select_groups(world.fleet, inventory=inventory)
    assert errors.empty and {w.log_group for w in works} == {g for _, _, g in world.groups.values()}
    inventory.frame["filters"] = inventory.frame["filters"].map(
        lambda fs: [{k: v for k, v in f.items() if k != "created_ms"} for f in fs or ()]
    )
    again, errors = backfill.select_groups(world.fleet, inventory=inventory)
    assert errors.empty and sorted(again, key=str) == sorted(works, key=str)
    assert all(w.created_ms > 0 and w.filter_pattern == "" for w in works)


def test_events_the_drop_rule_leaves_out_are_counted_not_shipped(
    world: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Backfill ships through the function's own rules: a dropped event is `filtered`, never
    `shipped`, and never reaches Logz.io (as the live shipper would have left it out)."""
    account, region = world.senders[0], world.regions[0]
    group = f"{world.prefix}/noisy"
    world.groups["noisy"] = (account, region, group)  # the fixture deletes it
    world.logs(account, region).create_log_group(logGroupName=group)
    start = now_ms() - 30 * 60_000
    world.put(
        account,
        region,
        group,
        "s",
        [(start + i, f"{'DEBUG' if i % 2 else 'INFO'} {i}") for i in range(10)],
    )
    world.subscribe()
    monkeypatch.setitem(reship.TUNING, "LOGZIO_DROP_EVENTS", json.dumps([{"pattern": "^DEBUG"}]))
    code, rows, err = cli(world, capsys, "--format", "json")
    assert code == 0, err
    row = by_group(rows)["noisy"]
    assert (row["events"], row["shipped"], row["filtered"]) == (10, 5, 5)
    assert "5 left out by the function's drop/keep rules" in err
    events = world.ids(account, region, group)
    counts = world.counts(sorted(events), *world.window)
    assert counts == {i: 1 for i, e in events.items() if e["message"].startswith("INFO")}
