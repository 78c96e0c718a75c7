"""``AWS/Logs`` service metrics moto 5.2.5 does not publish: ``IncomingLogEvents`` and
``IncomingBytes`` per log group, on every ``PutLogEvents``.

AWS publishes both with the dimension ``LogGroupName``, statistic ``Sum``, at one-minute
granularity ("the number of log events uploaded to the log group"; ``IncomingBytes`` is the
uncompressed volume, unit ``Bytes``). A datapoint belongs to the minute the events were *received*
(ingested), not to the events' own timestamps: this is what makes reconciling against Logz.io's
``@timestamp`` a matter of window alignment (see ``xaccount_ops.verify.reconcile``).

Here every accepted event is added to one aggregated datum per (account, region, metric, log
group, minute), served to moto's CloudWatch through its ``CloudWatchMetricProvider`` hook (the
way moto's own S3 storage metrics are served), so ``GetMetricData``, ``GetMetricStatistics`` and
``ListMetrics`` see them like any other metric. Events moto rejects (too old, too far in the
future) are not counted, as AWS does not count them.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime
from typing import Any

from moto.cloudwatch.models import MetricAggregatedDatum
from moto.core.common_models import CloudWatchMetricProvider

NAMESPACE = "AWS/Logs"
DIMENSION = "LogGroupName"
_MARK = "_moto_ext_metrics"
_LOCK = threading.Lock()
# (account, region) -> (metric, log group, minute) -> datum
_STORE: dict[tuple[str, str], dict[tuple[str, str, datetime], MetricAggregatedDatum]] = defaultdict(
    dict
)


def record(account_id: str, region: str, log_group: str, messages: list[str], at: datetime) -> None:
    """Count one accepted put of ``messages`` into ``log_group``, received at ``at`` (naive UTC,
    as moto keeps its times)."""
    if not messages:
        return
    minute = at.replace(second=0, microsecond=0)
    size = sum(len(m.encode("utf-8", "surrogatepass")) for m in messages)
    with _LOCK:
        store = _STORE[(account_id, region)]
        for metric, value, unit in (
            ("IncomingLogEvents", float(len(messages)), "None"),
            ("IncomingBytes", float(size), "Bytes"),
        ):
            key = (metric, log_group, minute)
            datum = store.get(key)
            if datum is None:
                store[key] = MetricAggregatedDatum(
                    namespace=NAMESPACE,
                    name=metric,
                    min_stat=value,
                    max_stat=value,
                    sample_count=1.0,
                    sum_stat=value,
                    dimensions=[{"Name": DIMENSION, "Value": log_group}],
                    timestamp=minute,
                    unit=unit,
                )
            else:
                datum.sum += value
                datum.sample_count += 1
                datum.min = min(datum.min, value)
                datum.max = max(datum.max, value)


class LogsMetricProvider(CloudWatchMetricProvider):
    """moto's CloudWatch asks every provider subclass for its datums on each metric read."""

    @staticmethod
    def get_cloudwatch_metrics(account_id: str, region: str) -> list[Any]:
        with _LOCK:
            return list(_STORE.get((account_id, region), {}).values())


def install() -> None:
    """Count every accepted ``PutLogEvents`` (idempotent; wraps whatever put is installed)."""
    from moto.logs import models

    from xaccount_ops.local.moto_ext.logs import LOCK as logs_lock

    if getattr(models.LogStream, _MARK, False):
        return
    plain_put = models.LogStream.put_log_events

    def put_log_events(self: Any, log_events: list[dict[str, Any]]) -> str:
        # The logs area's lock (re-entrant): no other put lands between the two reads of events.
        with logs_lock:
            before = len(self.events)
            token: str = plain_put(self, log_events)
            accepted = self.events[before:]
        record(
            self.account_id,
            self.region,
            self.log_group.name,
            [e.message for e in accepted],
            self.last_ingestion_time,
        )
        return token

    models.LogStream.put_log_events = put_log_events
    setattr(models.LogStream, _MARK, True)
