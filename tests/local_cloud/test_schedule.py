"""local/schedule.py: EventBridge scheduled rules fire on their rate and write the event to their
CloudWatch Logs targets as EventBridge does (the recorded shape in
``recorded/eventbridge_scheduled_event.json``). Plain moto stores such rules and never fires them,
so every written event here is the runner's.

The runner is driven by a fake clock (``run_due``), so nothing here waits on the schedule."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import local_client
from xaccount_ops.local import schedule

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account (the keys below)
RECORDED = json.loads(
    (Path(__file__).parent / "recorded" / "eventbridge_scheduled_event.json").read_text()
)


def client(endpoint: str, service: str) -> Any:
    return local_client(endpoint, service, REGION)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def events_policy(group_arn: str) -> str:
    """The resource policy of AWS's knowledge-center article, for one group."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EventBridgeToLogs",
                    "Effect": "Allow",
                    "Principal": {
                        "Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]
                    },
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": f"{group_arn}:*",
                }
            ],
        }
    )


@pytest.fixture
def rule(ext_endpoint: str) -> dict[str, Any]:
    """A rate(5 minutes) rule whose target is a log group of its own, with the resource policy."""
    logs, events = client(ext_endpoint, "logs"), client(ext_endpoint, "events")
    name = f"hb-{time.monotonic_ns()}"
    group = f"/xaccount-ops/{name}"
    logs.create_log_group(logGroupName=group)
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    logs.put_resource_policy(policyName=name, policyDocument=events_policy(group_arn))
    rule_arn = events.put_rule(Name=name, ScheduleExpression="rate(5 minutes)")["RuleArn"]
    events.put_targets(Rule=name, Targets=[{"Id": "heartbeat", "Arn": group_arn}])
    yield {"name": name, "group": group, "arn": rule_arn, "logs": logs, "events": events}
    events.remove_targets(Rule=name, Ids=["heartbeat"])
    events.delete_rule(Name=name)
    logs.delete_resource_policy(policyName=name)


def written(logs: Any, group: str) -> list[tuple[str, dict[str, Any], int]]:
    """(stream, parsed message, timestamp) of every event in ``group``."""
    out = []
    for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
        name = stream["logStreamName"]
        for event in logs.get_log_events(logGroupName=group, logStreamName=name)["events"]:
            out.append((name, json.loads(event["message"]), event["timestamp"]))
    return out


def mine(fired: list[schedule.Firing], rule: dict[str, Any]) -> list[schedule.Firing]:
    return [f for f in fired if f.rule == rule["name"]]


def test_event_has_the_recorded_shape() -> None:
    recorded = RECORDED["scheduled_event"]
    from datetime import UTC, datetime

    event = schedule.scheduled_event(
        "111111111111", REGION, f"arn:aws:events:{REGION}:111111111111:rule/r", datetime.now(UTC)
    )

    assert list(event) == list(recorded)  # same keys, same order
    for key in ("version", "detail-type", "source", "account", "detail"):
        assert event[key] == recorded[key]
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", event["id"]
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    assert event["region"] == REGION
    assert event["resources"] == [f"arn:aws:events:{REGION}:111111111111:rule/r"]


def test_rule_fires_each_period_and_writes_the_whole_event(rule: dict[str, Any]) -> None:
    clock = Clock()
    runner = schedule.ScheduleRunner(minute_s=0.1, clock=clock)
    assert mine(runner.run_due(), rule) == []  # first seen: the first firing is one period on
    clock.now += 0.49
    assert mine(runner.run_due(), rule) == []

    clock.now += 0.02
    (firing,) = mine(runner.run_due(), rule)
    clock.now += 0.5
    assert len(mine(runner.run_due(), rule)) == 1

    events = written(rule["logs"], rule["group"])
    assert len(events) == 2
    stream, message, timestamp = next(e for e in events if e[1]["id"] == firing.event["id"])
    assert message == firing.event
    assert stream == firing.event["id"]
    assert message["account"] == ACCOUNT and message["region"] == REGION
    assert message["resources"] == [rule["arn"]]
    assert timestamp % 1000 == 0  # the event's own time, which has whole seconds
    assert firing.delivered and not firing.failed


def test_no_resource_policy_no_event(rule: dict[str, Any]) -> None:
    rule["logs"].delete_resource_policy(policyName=rule["name"])
    rule["logs"].put_resource_policy(
        policyName=rule["name"], policyDocument=events_policy("arn:aws:logs:*:*:log-group:/other")
    )
    clock = Clock()
    runner = schedule.ScheduleRunner(minute_s=0.1, clock=clock)
    runner.run_due()
    clock.now += 0.5

    (firing,) = mine(runner.run_due(), rule)

    assert written(rule["logs"], rule["group"]) == []
    assert "resource policy" in next(iter(firing.failed.values()))


def test_disabled_rule_does_not_fire_until_enabled_again(rule: dict[str, Any]) -> None:
    clock = Clock()
    runner = schedule.ScheduleRunner(minute_s=0.1, clock=clock)
    runner.run_due()
    rule["events"].disable_rule(Name=rule["name"])
    clock.now += 5
    assert mine(runner.run_due(), rule) == []

    rule["events"].enable_rule(Name=rule["name"])
    clock.now += 0.1
    assert mine(runner.run_due(), rule) == []  # a period from when it was seen enabled
    clock.now += 0.5
    assert len(mine(runner.run_due(), rule)) == 1
    assert len(written(rule["logs"], rule["group"])) == 1


def test_one_firing_after_a_stall_not_a_burst(rule: dict[str, Any]) -> None:
    clock = Clock()
    runner = schedule.ScheduleRunner(minute_s=0.1, clock=clock)
    runner.run_due()
    clock.now += 50  # a hundred periods

    assert len(mine(runner.run_due(), rule)) == 1
    assert mine(runner.run_due(), rule) == []


@pytest.mark.parametrize(
    ("expression", "minutes"),
    [
        ("rate(1 minute)", 1),
        ("rate(5 minutes)", 5),
        ("rate(2 hours)", 120),
        ("rate(1 day)", 1440),
        ("cron(0 12 * * ? *)", None),
    ],
)
def test_rate_minutes(expression: str, minutes: int | None) -> None:
    assert schedule.rate_minutes(expression) == minutes


def test_admin_endpoint_sets_the_minute(local_cloud: dict[str, Any]) -> None:
    url = local_cloud["aws_endpoint"] + schedule.ADMIN_PATH
    before = requests.get(url, timeout=10).json()
    try:
        bad = requests.post(url, json={"minute_s": -1}, timeout=10)
        assert bad.status_code == 400
        assert "-1" in bad.json()["message"]

        changed = requests.post(url, json={"minute_s": 0.5}, timeout=10).json()
        assert changed["minute_s"] == 0.5
    finally:
        requests.post(url, json={"minute_s": before["minute_s"]}, timeout=10)
    assert requests.get(url, timeout=10).json()["minute_s"] == before["minute_s"]
