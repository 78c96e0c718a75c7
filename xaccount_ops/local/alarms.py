"""CloudWatch alarms, evaluated: moto stores alarms (``PutMetricAlarm``, CloudFormation) and the
metrics the local cloud publishes, but never moves an alarm out of its first state. This
evaluates every single-metric alarm once a (local) minute, as CloudWatch does, so an alarm of
``cfn/main.yaml`` goes to ``ALARM`` when its metric breaches, and ``xaccount-ops health`` or a test
reads its state with ``DescribeAlarms`` as against AWS.

The rules, from AWS's "Using Amazon CloudWatch alarms" ("Evaluating an alarm", "Configuring how
CloudWatch alarms treat missing data"):

- The alarm looks at its most recent ``EvaluationPeriods`` periods of ``Period`` seconds, each
  reduced by its ``Statistic``; it goes to ``ALARM`` when at least ``DatapointsToAlarm`` (default:
  ``EvaluationPeriods``) of them breach ``Threshold`` by ``ComparisonOperator``.
- Missing periods follow ``TreatMissingData``: ``breaching`` counts them as breaching,
  ``notBreaching`` as good, ``ignore`` keeps the current state when all are missing, ``missing``
  (the default) gives ``INSUFFICIENT_DATA`` when all are missing.
- Each state change gets a ``StateReason`` naming the datapoints and the threshold.

Assumed (``xaccount_ops/local/README.md``): the current, still-filling period counts as a
datapoint (AWS evaluates with a short delay); metric-math alarms (``Metrics`` with expressions)
are left in their state.
"""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
_WORDS = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


def decide(
    values: list[float],
    *,
    periods: int,
    to_alarm: int,
    threshold: float,
    comparison: str,
    treat_missing: str,
    current: str,
) -> tuple[str, int]:
    """(new state, breaching count) for the datapoints of the last ``periods`` periods."""
    compare = COMPARE[comparison]
    breaching = sum(1 for v in values if compare(v, threshold))
    missing = max(0, periods - len(values))
    if treat_missing == "breaching":
        breaching += missing
    if breaching >= to_alarm:
        return "ALARM", breaching
    if values or treat_missing in ("notBreaching", "breaching"):
        return "OK", breaching
    if treat_missing == "ignore":
        return current, breaching
    return "INSUFFICIENT_DATA", breaching


def evaluate(backend: Any, alarm: Any, now: datetime) -> str | None:
    """Evaluate one moto alarm against ``backend``'s metrics; its new state if it changed."""
    if not alarm.metric_name or alarm.metric_data_queries or not alarm.statistic:
        return None  # metric math, percentiles: left as they are
    period = int(alarm.period)
    periods = int(alarm.evaluation_periods)
    end = now.replace(tzinfo=None) + timedelta(seconds=1)  # moto keeps naive UTC
    start = end - timedelta(seconds=period * periods)
    dimensions = [{"Name": d.name, "Value": d.value} for d in alarm.dimensions]
    stats = backend.get_metric_statistics(
        alarm.namespace, alarm.metric_name, start, end, period, [alarm.statistic], dimensions
    )
    points = []
    for stat in stats:
        value = stat.get_statistics_for_type(alarm.statistic)
        if value is not None:
            points.append((stat.timestamp, float(value)))
    points = points[-periods:]
    state, breaching = decide(
        [v for _, v in points],
        periods=periods,
        to_alarm=int(alarm.datapoints_to_alarm or periods),
        threshold=float(alarm.threshold),
        comparison=alarm.comparison_operator,
        treat_missing=alarm.treat_missing_data or "missing",
        current=alarm.state_value,
    )
    if state == alarm.state_value:
        return None
    shown = ", ".join(f"{v:g} ({t:%d/%m/%y %H:%M:%S})" for t, v in points) or "no datapoints"
    reason = (
        f"Threshold Crossed: {breaching} out of the last {periods} datapoints [{shown}] "
        f"{'were' if state == 'ALARM' else 'were not'} {_WORDS[alarm.comparison_operator]} the "
        f"threshold ({float(alarm.threshold):g})."
    )
    data = json.dumps(
        {
            "version": "1.0",
            "queryDate": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "statistic": alarm.statistic,
            "period": period,
            "recentDatapoints": [v for _, v in points],
            "threshold": float(alarm.threshold),
        }
    )
    alarm.update_state(reason, data, state)
    return state


def evaluate_all(now: datetime | None = None) -> dict[tuple[str, str, str], str]:
    """Evaluate every alarm in every moto CloudWatch backend made so far; the changes."""
    from moto.cloudwatch.models import cloudwatch_backends

    moment = now or datetime.now(UTC)
    changed: dict[tuple[str, str, str], str] = {}
    for account_id, regions in list(dict.items(cloudwatch_backends)):
        for region, backend in list(dict.items(regions)):
            for name, alarm in list(backend.alarms.items()):
                try:
                    state = evaluate(backend, alarm, moment)
                except Exception:  # one odd alarm must not stop the others
                    log.exception("alarm %s in %s/%s: evaluation failed", name, account_id, region)
                    continue
                if state is not None:
                    changed[(account_id, region, name)] = state
                    log.info("alarm %s in %s/%s: %s", name, account_id, region, state)
    return changed
