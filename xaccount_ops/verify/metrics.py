"""CloudWatch metrics the verify side reads: sums and points of a metric over a window, and the
failure queue's depth. Shared by :mod:`diagnose` and :mod:`health`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.fleet.pipeline import Pipeline

METRIC_PERIOD_S = 60


def metric_sum(
    cloudwatch: Any,
    namespace: str,
    metric: str,
    dimension: str,
    value: str,
    since: datetime,
    *,
    statistic: str = "Sum",
    until: datetime | None = None,
) -> float | None:
    """Sum (or Maximum) of a metric since ``since``; None when there are no datapoints at all."""
    points = metric_points(
        cloudwatch, namespace, metric, dimension, value, since, statistic=statistic, until=until
    )
    if not points:
        return None
    values = [p[statistic] for p in points]
    return max(values) if statistic == "Maximum" else sum(values)


def metric_points(
    cloudwatch: Any,
    namespace: str,
    metric: str,
    dimension: str,
    value: str,
    since: datetime,
    *,
    statistic: str = "Sum",
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    until = until or datetime.now(UTC)
    start = since.replace(second=0, microsecond=0)
    response = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": dimension, "Value": value}],
        StartTime=start,
        EndTime=until + timedelta(seconds=METRIC_PERIOD_S),
        Period=METRIC_PERIOD_S,
        Statistics=[statistic],
    )
    return sorted(response.get("Datapoints", []), key=lambda p: p["Timestamp"])


def queue_depth(fleet: Fleet, pipeline: Pipeline) -> int | None:
    """Messages in the on-failure queue (visible + in flight); None without a queue."""
    if not pipeline.queue_url:
        return None
    attributes = (
        fleet.landing_client("sqs")
        .get_queue_attributes(
            QueueUrl=pipeline.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        .get("Attributes", {})
    )
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )
