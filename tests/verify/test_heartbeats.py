"""Heartbeats end to end on the local cloud: EventBridge rules (run by the local cloud on a
test-sized minute) write into each pair's heartbeat group, the real pipeline ships them, and
``verify --heartbeats`` reads their age from the Logz.io emulator with one aggregation search.

Breaking one pair three ways (its filter deleted, its account taken out of the destination
policy, its rule disabled) makes exactly that pair stale, with the hop that explains it.
"""

from __future__ import annotations

import json
import time
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from xaccount_ops.cli import main
from xaccount_ops.config import filter_name, heartbeat_name, load_config
from xaccount_ops.fleet.accounts import Fleet, Target
from xaccount_ops.subscriptions import heartbeat
from xaccount_ops.verify import heartbeats
from xaccount_ops.verify.verdicts import PARTS, verdicts

# Minutes of real pipeline (heartbeats every second, three pairs made stale, an outage): first.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MINUTE_S = 1.0  # one schedule minute lasts this long on the local cloud during these tests
DEADLINE_S = 90
# Fresh/stale are judged against a moment the test picks, not a fixed age: "a heartbeat written
# after t" (max_age = now - t). A loaded machine slows the pipeline by seconds; a fixed 10 s age
# then calls a healthy pair stale. A broken pair writes nothing after its break, at any load.
MARGIN_S = 1.0  # EventBridge stamps whole seconds; a heartbeat fired at t may carry t - 0.999


@pytest.fixture(scope="module")
def world(
    local_cloud: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, helpers: Any
) -> Iterator[Any]:
    stack = helpers.unique("hb")
    group = f"/xaccount-ops/{stack}-heartbeat"
    path = helpers.local_config(
        tmp_path_factory.mktemp("heartbeats"),
        local_cloud,
        stack,
        accounts=local_cloud["sending_accounts"][:2],
        heartbeat_minutes=1,
    )
    fleet = Fleet.from_config(load_config(path))
    landing = helpers.local_landing(fleet, local_cloud)
    knob = local_cloud["aws_endpoint"] + "/__local/schedule"
    before = requests.get(knob, timeout=10).json()["minute_s"]
    requests.post(knob, json={"minute_s": MINUTE_S}, timeout=10).raise_for_status()
    for target in fleet.targets:
        heartbeat.ensure(
            fleet.client("logs", target.account_id, target.region),
            fleet.client("events", target.account_id, target.region),
            fleet.config,
            target.account_id,
            target.region,
            landing.destinations[target.region],
        )
    try:
        yield types.SimpleNamespace(
            fleet=fleet, path=path, landing=landing, group=group, helpers=helpers
        )
    finally:
        requests.post(knob, json={"minute_s": before}, timeout=10)
        for target in fleet.targets:
            heartbeat.remove_all(
                fleet.client("logs", target.account_id, target.region),
                fleet.client("events", target.account_id, target.region),
                fleet.config,
            )


def age_since(moment: float) -> timedelta:
    """The max_age that makes a pair ok exactly when it has a heartbeat stamped after ``moment``
    (``moment`` may lie ahead: then no pair is ok yet)."""
    return timedelta(seconds=max(0.001, time.time() - moment))


def poll(fleet: Fleet, done: Any, what: str, since: float) -> heartbeats.HeartbeatResult:
    """Check until ``done(frame)``; ok means a heartbeat newer than ``since`` (a time.time())."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        result = heartbeats.check(fleet, max_age=age_since(since), diagnose_stale=False)
        if done(result.frame):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {DEADLINE_S} s:\n{result.frame}")
        time.sleep(0.5)


def statuses(frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    return {(r.account_id, r.region): str(r.status) for r in frame.itertuples()}


def test_every_pair_has_a_fresh_heartbeat(world: Any) -> None:
    started = time.time()
    result = poll(world.fleet, lambda f: (f["status"] == "ok").all(), "every pair ok", started)

    assert len(result.frame) == len(world.fleet.targets) == 4
    assert (result.frame["age_s"] <= result.max_age.total_seconds()).all()
    assert result.frame["route"].eq("main").all()
    assert result.ok

    verdict = verdicts(world.fleet, window=timedelta(minutes=10), beats=result)
    parts = verdict.set_index("part")
    assert list(verdict["part"]) == list(PARTS)
    assert parts.loc["sending accounts", "status"] == "ok"
    assert "4 account/region pairs" in parts.loc["sending accounts", "evidence"]


def test_shipped_heartbeat_is_the_eventbridge_event(
    world: Any, local_cloud: dict[str, Any]
) -> None:
    target = world.fleet.targets[0]
    body = {
        "query": {
            "bool": {
                "filter": [
                    {"term": {"logGroup": world.group}},
                    {"term": {"owner": target.account_id}},
                    {"term": {"region": target.region}},
                ]
            }
        },
        "size": 1,
    }
    hits = requests.post(
        f"{local_cloud['api_url']}/v1/search",
        json=body,
        headers={"X-API-TOKEN": local_cloud["api_token"]},
        timeout=10,
    ).json()["hits"]["hits"]

    (line,) = [h["_source"] for h in hits]
    assert line["detail-type"] == "Scheduled Event"
    assert line["source"] == "aws.events"
    assert line["account"] == target.account_id
    assert line["resources"] == [
        f"arn:aws:events:{target.region}:{target.account_id}:rule/{heartbeat_name(world.group)}"
    ]


def test_three_broken_pairs_go_stale_with_their_hop_and_the_fourth_stays_ok(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = world.fleet
    accounts = sorted({t.account_id for t in fleet.targets})
    regions = list(fleet.regions)
    no_filter = Target(accounts[0], regions[0])
    no_policy = Target(accounts[1], regions[1])
    disabled = Target(accounts[0], regions[1])
    healthy = Target(accounts[1], regions[0])
    fleet.client("logs", *astuple(no_filter)).delete_subscription_filter(
        logGroupName=world.group, filterName=filter_name(no_filter.region)
    )
    landing_logs = fleet.landing_client("logs", no_policy.region)
    arn = world.landing.destinations[no_policy.region]
    world.helpers.put_policy(landing_logs, arn, [a for a in accounts if a != no_policy.account_id])
    events = fleet.client("events", *astuple(disabled))
    events.disable_rule(Name=heartbeat_name(world.group))
    broken_at = time.time() + MARGIN_S  # no broken pair has a heartbeat stamped after this
    try:
        broken = {astuple(no_filter), astuple(no_policy), astuple(disabled)}
        poll(
            fleet,
            lambda f: statuses(f) == {**dict.fromkeys(broken, "stale"), astuple(healthy): "ok"},
            "exactly the three broken pairs stale, the healthy one fresh",
            broken_at,
        )
        stale = [no_filter, no_policy, disabled]
        found = heartbeats.diagnose_pairs(
            fleet, stale, since=datetime.fromtimestamp(broken_at, UTC) - timedelta(seconds=10)
        )
        hops = {(r.account_id, r.region): str(r.hop) for r in found.itertuples()}
        assert hops[astuple(no_filter)] == "filter"
        assert hops[astuple(no_policy)] == "destination policy"
        assert hops[astuple(disabled)] == "heartbeat"
        assert astuple(healthy) not in hops
        why = found.set_index(["account_id", "region"])
        assert "DISABLED" in why.loc[astuple(disabled), "problem"]

        # whole seconds since the break, rounded down: the healthy pair's heartbeat (after
        # broken_at) is younger, the broken pairs' are older
        max_age = f"{int(time.time() - broken_at + MARGIN_S)}s"
        code = main(["--config", str(world.path), "verify", "--heartbeats", "--max-age", max_age])
        out, err = capsys.readouterr()
        assert code == 1, err
        assert out.count("stale") == 3
        assert f"{disabled.account_id}/{disabled.region}: heartbeat:" in err
    finally:
        events.enable_rule(Name=heartbeat_name(world.group))
        world.helpers.put_policy(landing_logs, arn, accounts)
        heartbeat.ensure(
            fleet.client("logs", *astuple(no_filter)),
            fleet.client("events", *astuple(no_filter)),
            fleet.config,
            no_filter.account_id,
            no_filter.region,
            world.landing.destinations[no_filter.region],
        )
    repaired_at = time.time() + MARGIN_S
    poll(
        fleet, lambda f: (f["status"] == "ok").all(), "every pair ok after the repair", repaired_at
    )


def test_cli_prints_a_row_per_pair_and_exits_0_when_all_are_fresh(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.time() + MARGIN_S
    poll(world.fleet, lambda f: (f["status"] == "ok").all(), "every pair ok", started)
    # Every pair has a heartbeat from this test's own minute (the poll saw it); the CLI's start
    # takes seconds on a loaded machine, so its bound is the test's, not a few seconds.
    argv = ["--config", str(world.path), "verify", "--heartbeats", "--max-age", "10m"]
    code = main([*argv, "--format", "json"])
    out, err = capsys.readouterr()

    assert code == 0, err
    rows = json.loads(out)
    assert {(r["account_id"], r["region"]) for r in rows} == {
        astuple(t) for t in world.fleet.targets
    }
    assert {r["status"] for r in rows} == {"ok"}


def astuple(target: Target) -> tuple[str, str]:
    return (target.account_id, target.region)


def test_a_401_outage_raises_the_auth_failure_alarm_and_health_says_the_fix(
    world: Any, local_cloud: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """main.yaml's ShipperAuthFailuresAlarm, as the template defines it, on this pipeline's
    function: the local cloud evaluates it from the shipper's EMF ``auth_failures``."""
    from cfnlint.decode import decode_str

    from tests.logzio_faults import faults

    template, _ = decode_str((REPO / "cfn" / "main.yaml").read_text())
    props = dict(template["Resources"]["ShipperAuthFailuresAlarm"]["Properties"])
    name = f"{world.landing.stack}-shipper-auth-failures"
    cloudwatch = world.fleet.landing_client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        AlarmDescription=props["AlarmDescription"],
        Namespace=props["Namespace"],
        MetricName=props["MetricName"],
        Dimensions=[{"Name": "FunctionName", "Value": world.landing.function_name}],
        Statistic=props["Statistic"],
        Period=props["Period"],
        EvaluationPeriods=props["EvaluationPeriods"],
        Threshold=float(props["Threshold"]),
        ComparisonOperator=props["ComparisonOperator"],
        TreatMissingData=props["TreatMissingData"],
    )
    faults(local_cloud["listener_url"], "POST", {"status": 401, "count": 100000})
    try:
        deadline = time.monotonic() + DEADLINE_S
        state = ""
        while time.monotonic() < deadline:
            state = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]
            if state == "ALARM":
                break
            time.sleep(0.5)
        assert state == "ALARM"

        code = main(["--config", str(world.path), "health", "--window", "10m", "--max-age", "1h"])
        out, err = capsys.readouterr()
        assert code == 1
        assert "listener (fail)" in err and "token was rotated" in err
        assert "401" in out
    finally:
        faults(local_cloud["listener_url"], "DELETE")
        cloudwatch.delete_alarms(AlarmNames=[name])
