"""Health snapshot of the landing pipeline over a window: one row per metric, ok/warn/fail.

What it looks at: the shipper's iterator age, errors and throttles; the lines it resent after an
ambiguous request timeout (``resent_after_timeout``: possible duplicates); the on-failure queue
depth; Kinesis write throttling; and destination policy coverage (how many fleet accounts each
region's destination allows). Missing metrics are not failures: CloudWatch publishes nothing for an idle
function, and the local cloud publishes no service metrics at all; such rows say "no data".

>>> health(fleet, window=timedelta(hours=1))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from xaccount_ops import aws
from xaccount_ops.fleet.accounts import Fleet, organization_id
from xaccount_ops.fleet.pipeline import Pipeline, discover
from xaccount_ops.frames import Categories, frame_with
from xaccount_ops.verify.metrics import metric_sum, queue_depth

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SHIPPER_NAMESPACE = "XaccountOps/Shipper"  # shipper_lambda.metrics.NAMESPACE: its EMF metrics
# Why lines are resent after a timeout, and what to do (health's detail, the verdict's fix).
RESEND_CAUSE = (
    "lines sent again after a request timed out: the listener answered slower than the "
    "shipper's request timeout ({timeout}) and may have kept the first copy, so they may be "
    "in Logz.io twice"
)
RESEND_FIX = (
    "raise logzio.request_timeout_s (stack parameter LogzioRequestTimeoutSeconds) and "
    "`xaccount-ops deploy`, or check the listener (Logz.io's status page, a proxy on the way); "
    "`xaccount-ops verify --duplicates` counts the duplicates"
)

HEALTH_STATUSES = ("ok", "warn", "fail")
HEALTH_SCHEMA: dict[str, Any] = {
    "metric": "string",
    "region": "string",
    "resource": "string",
    "value": "Float64",
    "unit": "string",
    "warn_at": "Float64",
    "fail_at": "Float64",
    "status": Categories(HEALTH_STATUSES, ordered=True),
    "detail": "string",
}


@dataclass(frozen=True)
class Thresholds:
    """A metric warns at ``warn`` and fails at ``fail`` (both inclusive; None: never fails)."""

    iterator_age_ms: tuple[float, float] = (60_000, 600_000)
    function_errors: tuple[float, float] = (1, 10)
    function_throttles: tuple[float, float] = (1, 10)
    failure_queue_depth: tuple[float, float] = (1, 1)
    # Resent lines are delivered (maybe twice), never lost: a warning, however many.
    resent_after_timeout: tuple[float, float | None] = (1, None)
    kinesis_write_throttled: tuple[float, float] = (1, 100)
    # Fraction of fleet accounts the destination allows: less than this is a failure.
    policy_coverage: tuple[float, float] = (1.0, 1.0)


# Digits that mean something per unit: CloudWatch's IteratorAge is whole milliseconds at best
# (a Maximum over a window averages nothing, but sums of counts come back as floats).
UNIT_DIGITS = {"ms": 0, "count": 0, "messages": 0, "lines": 0, "fraction": 3}


def rounded(value: float | None, unit: str) -> float | None:
    """``value`` rounded to what its unit means (1489.9728298187256 ms -> 1490.0)."""
    import pandas as pd

    if value is None or pd.isna(value):
        return value
    return round(float(value), UNIT_DIGITS.get(unit, 3))


def grade(value: float | None, warn: float, fail: float | None) -> str:
    """ok/warn/fail for a "higher is worse" value; None (no data) is ok."""
    import pandas as pd

    if value is None or pd.isna(value):
        return "ok"
    if fail is not None and value >= fail:
        return "fail"
    if value >= warn:
        return "warn"
    return "ok"


def health(
    fleet: Fleet,
    *,
    window: timedelta = timedelta(hours=1),
    thresholds: Thresholds | None = None,
    pipeline: Pipeline | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> pd.DataFrame:
    """One row per health metric over the last ``window``; status ok/warn/fail."""
    limits = thresholds or Thresholds()
    pipeline = pipeline or discover(fleet)
    since = now() - window
    rows: list[dict[str, Any]] = []
    region = fleet.landing_region
    function = pipeline.function_name
    cloudwatch = fleet.landing_client("cloudwatch")

    def add(
        metric: str,
        resource: str,
        value: float | None,
        unit: str,
        limit: tuple[float, float | None],
        detail: str = "",
        status: str | None = None,
        where: str = region,
    ) -> None:
        warn, fail = limit
        rows.append(
            {
                "metric": metric,
                "region": where,
                "resource": resource,
                "value": rounded(value, unit),
                "unit": unit,
                "warn_at": warn,
                "fail_at": fail,
                "status": status or grade(value, warn, fail),
                "detail": detail or ("no datapoints in the window" if value is None else ""),
            }
        )

    lambda_metrics = (
        ("iterator_age_ms", "IteratorAge", "Maximum", "ms", limits.iterator_age_ms),
        ("function_errors", "Errors", "Sum", "count", limits.function_errors),
        ("function_throttles", "Throttles", "Sum", "count", limits.function_throttles),
    )
    for metric, name, statistic, unit, limit in lambda_metrics:
        if function is None:
            add(metric, "", None, unit, limit, "no shipper function found", status="fail")
            continue
        value = _safe_metric(
            cloudwatch, "AWS/Lambda", name, "FunctionName", function, since, statistic
        )
        add(metric, function, value, unit, limit)

    if function is not None:
        resent = _safe_metric(
            cloudwatch, SHIPPER_NAMESPACE, "resent_after_timeout", "FunctionName", function, since
        )
        detail = ""
        if resent:
            cause = RESEND_CAUSE.format(timeout=request_timeout(fleet, function))
            detail = f"{cause}; {RESEND_FIX}"
        add("resent_after_timeout", function, resent, "lines", limits.resent_after_timeout, detail)

    if pipeline.queue_url is None:
        add(
            "failure_queue_depth",
            "",
            None,
            "messages",
            limits.failure_queue_depth,
            "no on-failure queue found: exhausted batches are dropped without a record",
            status="warn",
        )
    else:
        depth = queue_depth(fleet, pipeline)
        detail = "current depth (visible + in flight)"
        # S3 sends one s3:TestEvent when the bucket notification is set up (every fresh deploy):
        # it names no stored batch, so it is not a failure.
        tests = s3_test_events(fleet.landing_client("sqs"), pipeline.queue_url) if depth else 0
        if tests and depth is not None:
            depth = max(0, depth - tests)
            detail += (
                f"; {tests} s3:TestEvent not counted (S3's message when the bucket notification "
                "is set up; `xaccount-ops deploy` and `replay` delete it)"
            )
        add(
            "failure_queue_depth",
            pipeline.queue_name or "",
            depth,
            "messages",
            limits.failure_queue_depth,
            detail,
        )

    stream = pipeline.stream_name
    if stream is None:
        add(
            "kinesis_write_throttled",
            "",
            None,
            "count",
            limits.kinesis_write_throttled,
            "no Kinesis stream found",
            status="fail",
        )
    else:
        stream_cw = fleet.landing_client("cloudwatch", pipeline.stream_region)
        value = _safe_metric(
            stream_cw,
            "AWS/Kinesis",
            "WriteProvisionedThroughputExceeded",
            "StreamName",
            stream,
            since,
        )
        add(
            "kinesis_write_throttled",
            stream,
            value,
            "count",
            limits.kinesis_write_throttled,
            where=pipeline.stream_region or region,
        )

    rows.extend(_coverage_rows(fleet, pipeline, limits))
    frame = frame_with(HEALTH_SCHEMA, rows)
    return frame


def request_timeout(fleet: Fleet, function: str) -> str:
    """The deployed shipper's request timeout (its ``LOGZIO_TIMEOUT_SECONDS``), as words; the
    config's ``logzio.request_timeout_s`` when the function cannot be read."""
    try:
        conf = fleet.landing_client("lambda").get_function_configuration(FunctionName=function)
        value = ((conf.get("Environment") or {}).get("Variables") or {})["LOGZIO_TIMEOUT_SECONDS"]
        return f"{float(value):g} s"
    except Exception as err:  # the message still holds: say where the number came from
        log.info("shipper timeout unreadable (%s); using the config's", aws.error_code(err))
        return f"{fleet.config.logzio.request_timeout_s:g} s in the config"


def is_s3_test_event(body: str) -> bool:
    """Whether an SQS message body is S3's ``s3:TestEvent`` (sent when a notification is set up)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("Event") == "s3:TestEvent"


def s3_test_events(sqs: Any, queue_url: str, *, rounds: int = 3) -> int:
    """How many visible messages of the queue are S3 test events, looked at without taking them:
    each received message is made visible again at once (VisibilityTimeout 0)."""
    seen: set[str] = set()
    tests = 0
    try:
        for _ in range(rounds):  # short polling samples servers: a few looks find a lone message
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            seen.update(m["MessageId"] for m in fresh)
            tests += sum(is_s3_test_event(m.get("Body", "")) for m in fresh)
            if not messages:
                break
    except Exception as err:  # looking is advice: the depth as read stays
        log.warning("cannot look at the failure queue's messages: %s", aws.error_code(err))
    return tests


def _safe_metric(
    cloudwatch: Any,
    namespace: str,
    name: str,
    dimension: str,
    value: str,
    since: datetime,
    statistic: str = "Sum",
) -> float | None:
    try:
        return metric_sum(cloudwatch, namespace, name, dimension, value, since, statistic=statistic)
    except Exception as err:  # a metric we cannot read is "no data", said in the log
        log.warning("cannot read %s/%s: %s", namespace, name, aws.error_code(err))
        return None


def _coverage_rows(fleet: Fleet, pipeline: Pipeline, limits: Thresholds) -> list[dict[str, Any]]:
    """Per region: the share of fleet accounts the destination policy allows."""
    org_id = organization_id(fleet)
    accounts = sorted(fleet.accounts)
    warn_below, fail_below = limits.policy_coverage
    rows = []
    for region in fleet.regions:
        destination = pipeline.destinations.get(region)
        base = {
            "metric": "policy_coverage",
            "region": region,
            "unit": "fraction",
            "warn_at": warn_below,
            "fail_at": fail_below,
        }
        if destination is None:
            rows.append(
                {
                    **base,
                    "resource": "",
                    "value": None,
                    "status": "fail",
                    "detail": "no destination in this region: `xaccount-ops deploy`",
                }
            )
            continue
        refused = [a for a in accounts if not destination.allows(a, org_id)]
        share = (len(accounts) - len(refused)) / len(accounts) if accounts else 1.0
        # Lower is worse here: below fail_below fails, below warn_below warns.
        status = "fail" if share < fail_below else "warn" if share < warn_below else "ok"
        detail = (
            f"not allowed: {', '.join(refused[:10])}{' …' if len(refused) > 10 else ''}; "
            # The config and the stacks disagree: either side can be made to match.
            f"`xaccount-ops accounts add {' '.join(refused[:10])}` lets them ship, or take them "
            "out of senders.accounts if they should not"
            if refused
            else f"all {len(accounts)} accounts allowed"
        )
        rows.append(
            {
                **base,
                "resource": destination.arn,
                "value": rounded(share, "fraction"),
                "status": status,
                "detail": detail,
            }
        )
    return rows
