"""Discovery, diagnosis and health on a plain moto server, with situations built on purpose.

Plain moto cannot deliver subscriptions (that is the local cloud's extension), so these tests set
up each situation directly: a stream holding (or not) the canary's record, a shipper log group
with the shipper's structured lines, metrics put with PutMetricData, a message in the failure
queue, a destination policy without an account.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from xaccount_ops.config import filter_name, load_config
from xaccount_ops.fleet.accounts import Fleet, Target
from xaccount_ops.fleet.pipeline import policy_allows
from xaccount_ops.verify import discover, health
from xaccount_ops.verify.canary import Canary
from xaccount_ops.verify.diagnose import (
    diagnose,
    landing_problems,
    listener_statuses,
    scan_stream,
    sender_problems,
    shipper_records,
    summarize_shipper_logs,
)

REGIONS = ("us-east-1", "eu-west-1")


def account_id(helpers: Any) -> str:
    return f"{int(helpers.unique('8')):012d}"[-12:]


@pytest.fixture
def world(moto_endpoint: str, tmp_path: Path, helpers: Any) -> Any:
    """A fleet of two sending accounts and a landing pipeline (stack name of this test's own)."""
    import types

    landing = f"5{account_id(helpers)[1:]}"
    senders = [f"6{account_id(helpers)[1:]}", f"7{account_id(helpers)[1:]}"]
    stack = helpers.unique("vt")
    group = f"/xaccount-ops/{helpers.unique('canary')}"
    path = helpers.write_config(
        tmp_path,
        endpoint=moto_endpoint,
        landing=landing,
        accounts=senders,
        regions=REGIONS,
        stack=stack,
        canary_group=group,
    )
    fleet = Fleet.from_config(load_config(path))
    built = helpers.build_landing(
        lambda service, region: fleet.landing_client(service, region),
        stack=stack,
        landing_region=REGIONS[0],
        regions=REGIONS,
        sending_accounts=senders,
    )
    # CreateEventSourceMapping answers "Creating" (as AWS does); the diagnosis rightly names a
    # mapping that is not yet Enabled, so these situations start from a running one.
    lam = fleet.landing_client("lambda", REGIONS[0])
    deadline = time.monotonic() + 10
    while lam.get_event_source_mapping(UUID=built.mapping_uuid)["State"] != "Enabled":
        assert time.monotonic() < deadline, "the event source mapping never became Enabled"
        time.sleep(0.1)
    return types.SimpleNamespace(fleet=fleet, landing=built, senders=senders, group=group)


def canary(world: Any, account: str, region: str, marker: str = "m-1") -> Canary:
    return Canary(
        target=Target(account, region),
        marker=marker,
        log_group=world.group,
        log_stream="verify-test",
        sent_at=datetime.now(UTC),
    )


# -- pure pieces --------------------------------------------------------------------------------


def test_policy_allows_accounts_and_organizations() -> None:
    accounts = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["111111111111", "arn:aws:iam::222222222222:root"]},
                "Action": "logs:PutSubscriptionFilter",
            }
        ]
    }
    assert policy_allows(accounts, "111111111111", None)
    assert policy_allows(accounts, "222222222222", None)
    assert not policy_allows(accounts, "333333333333", None)
    org = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["logs:PutSubscriptionFilter"],
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}},
            }
        ]
    }
    assert policy_allows(org, "333333333333", "o-abc")
    assert not policy_allows(org, "333333333333", "o-other")
    assert not policy_allows(org, "333333333333", None)
    deny_only = {"Statement": [{**accounts["Statement"][0], "Effect": "Deny"}]}
    assert not policy_allows(deny_only, "111111111111", None)
    assert not policy_allows(None, "111111111111", None)


def test_shipper_lines_and_listener_statuses() -> None:
    lines = [
        "START RequestId: abc Version: $LATEST",
        '[INFO]\t2026-01-01T00:00:00Z\tabc\t{"event": "x", "listener_status": 401}',
        json.dumps({"event": "shipped", "sends": [{"status": 200}, {"status": 503}]}),
        json.dumps({"event": "shipped", "listener": {"status": 200}, "events": 5}),
        "not json {",
    ]
    records = shipper_records(lines)
    assert len(records) == 3
    assert listener_statuses(records[0]) == [401]
    assert listener_statuses(records[1]) == [200, 503]
    problems = summarize_shipper_logs(lines)
    assert [p[1] for p in problems] == [
        "the Logz.io listener answered 401 (1 time(s))",
        "the Logz.io listener answered 503 (1 time(s))",
    ]
    assert "shipping" in problems[0][2]


def test_shipper_summary_lines_are_read() -> None:
    """The shipper's real output: its EMF summary line and its error lines."""
    summary = {
        "message": "shipper invocation",
        "records": 3,
        "records_failed": 3,
        "auth_failures": 1,
        "dropped": 2,
        "records_undecodable": 0,
        "_aws": {"CloudWatchMetrics": []},
    }
    lines = [
        "[ERROR]\t2026-01-01T00:00:00Z\tabc\tlistener http://127.0.0.1:1 refused the shipping "
        "token (HTTP 401 Unauthorized): check LOGZIO_TOKEN/LOGZIO_TOKEN_SECRET",
        json.dumps(summary),
    ]
    problems = summarize_shipper_logs(lines)
    hops = [p[0] for p in problems]
    assert hops == ["listener", "listener", "shipper"]
    assert problems[0][1] == "the Logz.io listener answered 401 (1 time(s))"
    assert "dropped 2 line(s)" in problems[1][1]
    assert "3 record(s) failed in 1 invocation(s)" in problems[2][1]
    # Only the token count: still named as a token problem.
    problems = summarize_shipper_logs([json.dumps({**summary, "dropped": 0, "records_failed": 0})])
    assert problems == [
        (
            "listener",
            "the listener refused the shipping token 1 time(s)",
            problems[0][2],
        )
    ]
    assert "shipping" in problems[0][2]


# -- discovery and the stream --------------------------------------------------------------------


def test_discover_finds_every_piece(world: Any) -> None:
    found = discover(world.fleet)
    assert found.function_name == world.landing.function_name
    assert found.stream_arn == world.landing.stream_arn
    assert found.queue_url and found.queue_url.endswith(f"{world.landing.stack}-shipper-failures")
    assert found.mapping and found.mapping["UUID"] == world.landing.mapping_uuid
    assert {r: d.arn for r, d in found.destinations.items()} == world.landing.destinations
    assert all(found.destinations[r].allows(a, None) for r in REGIONS for a in world.senders)
    assert found.lookup_errors == ()


def put_payload(world: Any, marker: str) -> None:
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": world.senders[0],
        "logGroup": world.group,
        "logStream": "s",
        "subscriptionFilters": [filter_name(REGIONS[0])],
        "logEvents": [{"id": "1", "timestamp": 0, "message": json.dumps({"m": marker})}],
    }
    world.fleet.landing_client("kinesis").put_record(
        StreamName=f"{world.landing.stack}-stream",
        Data=gzip.compress(json.dumps(payload).encode()),
        PartitionKey="k",
    )


def test_scan_stream_finds_markers_in_gzip_payloads(world: Any) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    put_payload(world, "marker-in-stream")
    kinesis = world.fleet.landing_client("kinesis")
    stream = f"{world.landing.stack}-stream"
    assert scan_stream(kinesis, stream, ["marker-in-stream", "marker-absent"], since) == {
        "marker-in-stream"
    }
    for _ in range(3):
        put_payload(world, "filler")
    # A budget too small to reach the end of the shard: the answer is "unknown", not "absent".
    assert scan_stream(kinesis, stream, ["marker-absent"], since, max_calls=1) is None


# -- diagnosis --------------------------------------------------------------------------------------


def test_sender_side_problems_each_named(world: Any) -> None:
    fleet = world.fleet
    pipeline = discover(fleet)
    a, b = world.senders
    region = REGIONS[0]

    # No canary group at all.
    rows = sender_problems(fleet, canary(world, a, region), pipeline, None)
    assert [r["hop"] for r in rows] == ["canary group"]

    # The group without our filter.
    logs = fleet.client("logs", a, region)
    logs.create_log_group(logGroupName=world.group)
    rows = sender_problems(fleet, canary(world, a, region), pipeline, None)
    assert [r["hop"] for r in rows] == ["filter"]
    assert filter_name(region) in rows[0]["problem"]

    # Our filter name, pointing somewhere else (a stream in the sending account itself).
    own = fleet.client("kinesis", a, region)
    own.create_stream(StreamName="elsewhere", ShardCount=1)
    arn = own.describe_stream_summary(StreamName="elsewhere")["StreamDescriptionSummary"][
        "StreamARN"
    ]
    # A Kinesis ARN as the destination needs a role (AWS refuses it without one).
    trust_logs = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "logs.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_arn = fleet.client("iam", a, region).create_role(
        RoleName="elsewhere-logs", AssumeRolePolicyDocument=json.dumps(trust_logs)
    )["Role"]["Arn"]
    logs.put_subscription_filter(
        logGroupName=world.group,
        filterName=filter_name(region),
        filterPattern="",
        destinationArn=arn,
        roleArn=role_arn,
    )
    rows = sender_problems(fleet, canary(world, a, region), pipeline, None)
    assert [r["hop"] for r in rows] == ["filter"]
    assert arn in rows[0]["problem"] and world.landing.destinations[region] in rows[0]["problem"]

    # The destination policy without account b.
    helpers_policy(fleet, region, world.landing.destinations[region], [a])
    pipeline = discover(fleet)
    rows = sender_problems(fleet, canary(world, b, region), pipeline, None)
    hops = [r["hop"] for r in rows]
    assert "destination policy" in hops
    policy_row = rows[hops.index("destination policy")]
    assert b in policy_row["problem"] and f"accounts add {b}" in policy_row["fix"]

    # A region without a destination.
    fleet.landing_client("logs", REGIONS[1]).delete_destination(
        destinationName=f"{world.landing.stack}-destination"
    )
    pipeline = discover(fleet)
    rows = sender_problems(fleet, canary(world, a, REGIONS[1]), pipeline, None)
    assert rows[0]["hop"] == "destination" and REGIONS[1] in rows[0]["problem"]


def helpers_policy(fleet: Fleet, region: str, arn: str, accounts: list[str]) -> None:
    name = arn.rsplit(":", 1)[-1]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": accounts},
                "Action": "logs:PutSubscriptionFilter",
                "Resource": arn,
            }
        ],
    }
    fleet.landing_client("logs", region).put_destination_policy(
        destinationName=name, accessPolicy=json.dumps(policy)
    )


def test_refused_subscription_is_the_diagnosis(world: Any) -> None:
    """A PutSubscriptionFilter AccessDenied recorded while preparing explains the miss."""
    c = canary(world, world.senders[0], REGIONS[0])
    c.setup_problem = ("destination policy", "refused (AccessDeniedException)", "add it")
    fleet = world.fleet
    fleet.client("logs", c.target.account_id, c.target.region).create_log_group(
        logGroupName=world.group
    )
    frame = diagnose(fleet, [c])
    assert list(frame["hop"].astype(str)) == ["destination policy"]
    assert frame.iloc[0]["problem"] == "refused (AccessDeniedException)"


def test_landing_side_not_in_stream(world: Any) -> None:
    c = canary(world, world.senders[0], REGIONS[0], marker="never-sent-marker")
    rows = landing_problems(world.fleet, [c], discover(world.fleet))
    assert [r["hop"] for r in rows] == ["kinesis"]
    assert f"{world.landing.stack}-stream" in rows[0]["problem"]


def test_landing_side_listener_rejection_and_failure_queue(world: Any) -> None:
    fleet = world.fleet
    c = canary(world, world.senders[0], REGIONS[0], marker="reached-stream-marker")
    put_payload(world, "reached-stream-marker")
    logs = fleet.landing_client("logs")
    group = f"/aws/lambda/{world.landing.function_name}"
    logs.create_log_stream(logGroupName=group, logStreamName="2026/01/01/[$LATEST]x")
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2026/01/01/[$LATEST]x",
        logEvents=[
            {
                "timestamp": now_ms,
                "message": json.dumps(
                    {"message": "shipper invocation", "records": 1, "auth_failures": 1}
                ),
            },
            {"timestamp": now_ms, "message": "END RequestId: x"},
        ],
    )
    fleet.landing_client("sqs").send_message(
        QueueUrl=world.landing.queue_url, MessageBody=json.dumps({"requestContext": {}})
    )
    rows = landing_problems(fleet, [c], discover(fleet))
    by_hop = {r["hop"]: r for r in rows}
    assert set(by_hop) == {"failure queue", "listener"}
    assert "refused the shipping token" in by_hop["listener"]["problem"]
    assert "shipping" in by_hop["listener"]["fix"]
    assert "1 batch(es)" in by_hop["failure queue"]["problem"]


def test_landing_side_all_quiet_says_search(world: Any) -> None:
    c = canary(world, world.senders[0], REGIONS[0], marker="quiet-marker")
    put_payload(world, "quiet-marker")
    rows = landing_problems(world.fleet, [c], discover(world.fleet))
    assert [r["hop"] for r in rows] == ["search"]
    assert "quiet-marker" in rows[0]["fix"]


# -- health -----------------------------------------------------------------------------------------


def test_health_grades_each_metric(world: Any) -> None:
    fleet = world.fleet
    function = world.landing.function_name
    frame = health(fleet)
    assert set(frame["status"].astype(str)) == {"ok"}, frame.to_dict("records")
    assert set(frame["metric"]) == {
        "iterator_age_ms",
        "function_errors",
        "function_throttles",
        "resent_after_timeout",
        "failure_queue_depth",
        "kinesis_write_throttled",
        "policy_coverage",
    }

    fleet.landing_client("cloudwatch").put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "Errors",
                "Dimensions": [{"Name": "FunctionName", "Value": function}],
                "Value": 3,
                "Timestamp": datetime.now(UTC),
            }
        ],
    )
    fleet.landing_client("sqs").send_message(QueueUrl=world.landing.queue_url, MessageBody="{}")
    helpers_policy(fleet, REGIONS[1], world.landing.destinations[REGIONS[1]], world.senders[:1])
    frame = health(fleet, window=timedelta(minutes=30))
    status = {(r.metric, r.region): (str(r.status), r.value, r.detail) for r in frame.itertuples()}
    assert status[("function_errors", REGIONS[0])][:2] == ("warn", 3)
    assert status[("failure_queue_depth", REGIONS[0])][:2] == ("fail", 1)
    assert status[("policy_coverage", REGIONS[0])][:2] == ("ok", 1.0)
    coverage = status[("policy_coverage", REGIONS[1])]
    assert coverage[:2] == ("fail", 0.5) and world.senders[1] in coverage[2]
    assert status[("iterator_age_ms", REGIONS[0])][0] == "ok"


def test_health_warns_on_lines_resent_after_a_timeout(world: Any) -> None:
    """The shipper's ``resent_after_timeout`` (its EMF metric): a warning naming the cause, the
    timeout, the fix and ``verify --duplicates``; never a failure (the lines were delivered)."""
    fleet = world.fleet
    function = world.landing.function_name
    frame = health(fleet)
    row = frame[frame["metric"] == "resent_after_timeout"].iloc[0]
    assert (str(row["status"]), row["detail"]) == ("ok", "no datapoints in the window")
    fleet.landing_client("cloudwatch").put_metric_data(
        Namespace="XaccountOps/Shipper",
        MetricData=[
            {
                "MetricName": "resent_after_timeout",
                "Dimensions": [{"Name": "FunctionName", "Value": function}],
                "Value": value,
                "Unit": "Count",
                "Timestamp": datetime.now(UTC),
            }
            for value in (500, 700)
        ],
    )
    frame = health(fleet, window=timedelta(minutes=30))
    row = frame[frame["metric"] == "resent_after_timeout"].iloc[0]
    assert (str(row["status"]), row["value"], row["unit"]) == ("warn", 1200, "lines")
    assert (row["warn_at"], row["resource"]) == (1, function) and pd.isna(row["fail_at"])
    # This function's environment has no LOGZIO_TIMEOUT_SECONDS: the config's value is named.
    assert "slower than the shipper's request timeout (15 s in the config)" in row["detail"]
    assert (
        "raise logzio.request_timeout_s (stack parameter LogzioRequestTimeoutSeconds)"
        in (row["detail"])
    )
    assert "`xaccount-ops verify --duplicates` counts the duplicates" in row["detail"]
