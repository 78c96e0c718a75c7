"""moto_ext.metrics over HTTP: ``AWS/Logs`` ``IncomingLogEvents``/``IncomingBytes`` per log group.

Plain moto 5.2.5 publishes no ``AWS/Logs`` metrics at all, so every assertion on a datapoint here
would fail without the extension. AWS's definitions: "the number of log events uploaded to the
log group" and their uncompressed bytes, dimension ``LogGroupName``, statistic Sum, one-minute
granularity, stamped with the minute the events were received.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support import local_client

REGION = "eu-west-1"


def client(endpoint: str, service: str) -> Any:
    return local_client(endpoint, service, REGION)


def query(group: str, metric: str, period: int) -> dict[str, Any]:
    return {
        "Id": metric.lower(),
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Logs",
                "MetricName": metric,
                "Dimensions": [{"Name": "LogGroupName", "Value": group}],
            },
            "Period": period,
            "Stat": "Sum",
        },
    }


def test_put_log_events_publishes_per_group_minute_metrics(ext_endpoint: str) -> None:
    logs, cloudwatch = client(ext_endpoint, "logs"), client(ext_endpoint, "cloudwatch")
    group, other = f"/metrics/{time.monotonic_ns()}", f"/metrics/{time.monotonic_ns()}-other"
    for name in (group, other):
        logs.create_log_group(logGroupName=name)
        logs.create_log_stream(logGroupName=name, logStreamName="s")
    now_ms = int(time.time() * 1000)
    messages = ["héllo", "x" * 100, "three"]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now_ms, "message": m} for m in messages[:2]],
    )
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            # 20 days old: AWS (and moto) reject it, and it is not counted.
            {"timestamp": now_ms - 20 * 86_400_000, "message": "too old"},
            {"timestamp": now_ms, "message": messages[2]},
        ],
    )
    logs.put_log_events(
        logGroupName=other, logStreamName="s", logEvents=[{"timestamp": now_ms, "message": "o"}]
    )
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    end = start + timedelta(minutes=4)
    result = cloudwatch.get_metric_data(
        MetricDataQueries=[
            query(group, "IncomingLogEvents", 240),
            query(group, "IncomingBytes", 240),
        ],
        StartTime=start,
        EndTime=end,
    )
    values = {r["Id"]: sum(r["Values"]) for r in result["MetricDataResults"]}
    assert values["incominglogevents"] == 3  # the other group's event is not in this group's
    assert values["incomingbytes"] == sum(len(m.encode()) for m in messages)

    # One-minute granularity: the points sit on whole minutes, at most two (a minute boundary
    # may fall between the puts), summing to the same count.
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/Logs",
        MetricName="IncomingLogEvents",
        Dimensions=[{"Name": "LogGroupName", "Value": group}],
        StartTime=start,
        EndTime=end,
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert 1 <= len(points) <= 2
    assert sum(p["Sum"] for p in points) == 3
    assert all(p["Timestamp"].second == 0 for p in points)
    listed = cloudwatch.list_metrics(
        Namespace="AWS/Logs", Dimensions=[{"Name": "LogGroupName", "Value": other}]
    )["Metrics"]
    assert {m["MetricName"] for m in listed} == {"IncomingLogEvents", "IncomingBytes"}
