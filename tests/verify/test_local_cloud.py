"""End to end on the local cloud: canaries travel the real pipeline (cross-account destination,
Kinesis, the event source mapping emulator running the shipper built from shipper_lambda/, the
Logz.io emulator) and are found through its search API.

The landing pipeline is built here with boto3 (conftest.build_landing), under a stack name of this
module's own, so these tests depend neither on the stacks module nor on other tests' state.
Tests run in file order and each one restores what it breaks.
"""

from __future__ import annotations

import json
import types
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.logzio_faults import faults as admin
from xaccount_ops.cli import main
from xaccount_ops.config import filter_name, load_config
from xaccount_ops.fleet.accounts import Fleet, Target
from xaccount_ops.verify import health, verify


@pytest.fixture(scope="module")
def world(
    local_cloud: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, helpers: Any
) -> Iterator[Any]:
    stack = helpers.unique("vlc")
    regions = tuple(local_cloud["regions"])
    senders = list(local_cloud["sending_accounts"])

    def config_for(canary_group: str, directory: str) -> Path:
        return helpers.local_config(
            tmp_path_factory.mktemp(directory),
            local_cloud,
            stack,
            canary_group=canary_group,
            timeout_s=60,
        )

    path = config_for(f"/xaccount-ops/{stack}-canary", "verify-main")
    fleet = Fleet.from_config(load_config(path))
    landing = helpers.local_landing(
        fleet,
        local_cloud,
    )
    yield types.SimpleNamespace(
        fleet=fleet,
        path=path,
        landing=landing,
        senders=senders,
        regions=regions,
        info=local_cloud,
        helpers=helpers,
        config_for=config_for,
        stack=stack,
    )


def test_every_path_delivered(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(world.path), "verify", "--timeout", "60", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == len(world.senders) * len(world.regions)
    assert {r["status"] for r in rows} == {"delivered"}
    assert all(r["fields_ok"] for r in rows), [r["field_problems"] for r in rows]
    assert all(r["latency_s"] > 0 for r in rows)
    assert {(r["owner"], r["seen_region"]) for r in rows} == {
        (a, r) for a in world.senders for r in world.regions
    }

    frame = health(world.fleet)
    by_metric = {(r.metric, r.region): str(r.status) for r in frame.itertuples()}
    assert by_metric[("policy_coverage", world.regions[0])] == "ok"
    assert by_metric[("failure_queue_depth", world.regions[0])] == "ok"


def test_account_removed_from_policy_is_reported(world: Any) -> None:
    """A fresh canary group: subscribing it is refused by the policy, so the path is missing."""
    account, region = world.senders[1], world.regions[1]
    logs = world.fleet.landing_client("logs", region)
    arn = world.landing.destinations[region]
    world.helpers.put_policy(logs, arn, [a for a in world.senders if a != account])
    try:
        path = world.config_for(f"/xaccount-ops/{world.stack}-canary-policy", "verify-policy")
        fleet = Fleet.from_config(load_config(path))
        result = verify(fleet, timeout_s=15, progress=False)
    finally:
        world.helpers.put_policy(logs, arn, world.senders)
    status = {(r.account_id, r.region): str(r.status) for r in result.frame.itertuples()}
    assert status.pop((account, region)) == "missing"
    assert set(status.values()) == {"delivered"}
    diag = result.diagnosis
    assert list(zip(diag.account_id, diag.region, strict=True)) == [(account, region)]
    assert str(diag.iloc[0]["hop"]) == "destination policy"
    assert f"accounts add {account}" in diag.iloc[0]["fix"]


def test_removed_subscription_is_reported(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    account, region = world.senders[0], world.regions[0]
    group = world.fleet.config.verify.canary_log_group
    logs = world.fleet.client("logs", account, region)
    logs.delete_subscription_filter(logGroupName=group, filterName=filter_name(region))
    try:
        code = main(["--config", str(world.path), "verify", "--timeout", "10", "--no-prepare"])
        _, err = capsys.readouterr()
        assert code == 1
        assert "1 missing" in err
        result = verify(world.fleet, timeout_s=5, prepare=False, targets=[Target(account, region)])
    finally:
        logs.put_subscription_filter(
            logGroupName=group,
            filterName=filter_name(region),
            filterPattern="",
            destinationArn=world.landing.destinations[region],
        )
    assert list(result.frame["status"].astype(str)) == ["missing"]
    diag = result.diagnosis
    assert [str(h) for h in diag["hop"]] == ["filter"]
    assert filter_name(region) in diag.iloc[0]["problem"]


def test_listener_rejecting_is_reported(world: Any) -> None:
    target = Target(world.senders[2], world.regions[0])
    admin(world.info["listener_url"], "POST", {"status": 401, "count": 1000})
    try:
        result = verify(world.fleet, timeout_s=10, targets=[target], progress=False)
    finally:
        admin(world.info["listener_url"], "DELETE")
    assert list(result.frame["status"].astype(str)) == ["missing"]
    diag = result.diagnosis
    hops = [str(h) for h in diag["hop"]]
    assert "listener" in hops, diag.to_dict("records")
    listener = diag.iloc[hops.index("listener")]
    assert "401" in listener["problem"] or "shipping token" in listener["problem"]
    assert "shipping" in listener["fix"]


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/__admin/stats", timeout=10) as response:
        return json.loads(response.read())


def test_400_with_one_bad_line_delivers_every_good_line_once_and_resends_nothing(
    world: Any,
) -> None:
    """2,000 events, one of which the listener rejects (the emulator's ``reject_lines`` fault
    answers Logz.io's 400 with the counts and keeps the good lines, as Logz.io does: see
    ``/work/shared/reference/logzio-api.md``). Before this rule the shipper bisected and resent,
    and ~6,000 lines were indexed; now each good line is indexed exactly once."""
    import time

    from xaccount_ops.logzio import SearchClient

    account, region = world.senders[0], world.regions[0]
    marker = f"REJECT-ME-{world.helpers.unique('x')}"
    group = f"/xaccount-ops/{world.stack}-bad400"
    logs = world.fleet.client("logs", account, region)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_subscription_filter(
        logGroupName=group,
        filterName=filter_name(region),
        filterPattern="",
        destinationArn=world.landing.destinations[region],
    )
    start_ms = int(time.time() * 1000)
    bad = 1234
    messages = [f"event {i} of the 400 test" for i in range(2000)]
    messages[bad] = f"event {bad} {marker}"
    listener_url = world.info["listener_url"]
    before = _stats(listener_url)
    admin(listener_url, "POST", {"reject_lines": marker, "match": marker, "count": 1000})
    try:
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[{"timestamp": start_ms + i, "message": m} for i, m in enumerate(messages)],
        )
        search = SearchClient.from_config(world.fleet.config)
        query = {
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"logGroup.keyword": group}},
                        {
                            "range": {
                                "@timestamp": {
                                    "gte": start_ms - 1,
                                    "lte": start_ms + 2001,
                                    "format": "epoch_millis",
                                }
                            }
                        },
                    ]
                }
            },
            "size": 10_000,
            "_source": ["id", "message"],
        }
        deadline = time.monotonic() + 120
        lines: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            lines = search.hits(query)
            if len(lines) >= 1999:
                break
            time.sleep(0.5)
        # The shipper's summary line (EMF) lands in its log group shortly after the invocation.
        function_logs = world.fleet.landing_client("logs", world.regions[0])
        summaries: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            messages_out = [
                e["message"]
                for e in function_logs.filter_log_events(
                    logGroupName=f"/aws/lambda/{world.landing.function_name}",
                    startTime=start_ms - 1000,
                )["events"]
            ]
            summaries = [
                json.loads(m)
                for m in messages_out
                if m.startswith('{"message":"shipper invocation"')
            ]
            if sum(s.get("rejected_malformed", 0) for s in summaries) >= 1:
                break
            time.sleep(0.5)
    finally:
        admin(listener_url, "DELETE")
    after = _stats(listener_url)

    # THEN every good line is in the emulator exactly once, the bad one not at all
    assert sorted(line["message"] for line in lines) == sorted(
        m for i, m in enumerate(messages) if i != bad
    ), (before, _stats(listener_url))
    assert len({line["id"] for line in lines}) == 1999
    # the bad one was counted (by the listener and in the shipper's metrics) and nothing resent
    assert after["lines_rejected"]["malformed"] - before["lines_rejected"]["malformed"] == 1
    accepted = after["lines_accepted"] - before["lines_accepted"]
    assert accepted == 1999
    fours = after["requests_by_status"].get("400", 0) - before["requests_by_status"].get("400", 0)
    assert fours == sum(s["partial_bodies"] for s in summaries) >= 1
    assert sum(s["rejected_malformed"] for s in summaries) == 1
    assert all(s["failed_sequence_number"] is None for s in summaries)
    partial = [m for m in messages_out if "partial success" in m]
    assert len(partial) == fours
    assert any("malformedLines=1" in m for m in partial)
