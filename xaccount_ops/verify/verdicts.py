"""``xaccount-ops health``: one verdict per part of the pipeline, with the fix for each red one.

The parts, in the order a line travels them, and what decides each verdict (the metrics the
dashboard shows and the alarms watch, plus the heartbeats):

- ``sending accounts``: every (account, region)'s newest heartbeat in Logz.io is younger than
  the max age (``verify --heartbeats``); a silent pair is red with its hop.
- ``destinations``: each region has a destination whose policy allows every fleet account.
- ``stream``: no throttled writes (``AWS/Kinesis`` ``WriteProvisionedThroughputExceeded``).
- ``shipper``: no ``Errors``/``Throttles``, the iterator age under its limit, no ``dropped``
  lines, and not silent (records in, no line out: the silence alarm's rule).
- ``listener``: no ``auth_failures`` (a rotated token), no ``listener_faults``; ``partial_bodies``,
  ``request_timeouts`` and ``resent_after_timeout`` (lines resent after an ambiguous timeout:
  possible duplicates) warn.
- ``failure store``: no batch waiting for replay (queue depth, ``OnFailureDestinationDelivered``).

Statuses are the per-metric ``health`` ones: ``ok``, ``warn``, ``fail`` (red). A part whose
metrics have no datapoints is ``ok`` (an idle pipeline publishes nothing) unless the heartbeats
say otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from xaccount_ops import aws
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.fleet.pipeline import Pipeline, discover
from xaccount_ops.frames import Categories, frame_with
from xaccount_ops.verify import heartbeats
from xaccount_ops.verify.health import HEALTH_STATUSES, RESEND_FIX, SHIPPER_NAMESPACE, health
from xaccount_ops.verify.metrics import metric_sum

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

PARTS = ("sending accounts", "destinations", "stream", "shipper", "listener", "failure store")
VERDICT_SCHEMA: dict[str, Any] = {
    "part": Categories(PARTS, ordered=True),
    "status": Categories(HEALTH_STATUSES, ordered=True),
    "evidence": "string",
    "fix": "string",
}


@dataclass
class Finding:
    part: str
    status: str
    evidence: str
    fix: str = ""


def _worst(findings: list[Finding]) -> str:
    order = {s: i for i, s in enumerate(HEALTH_STATUSES)}
    return max((f.status for f in findings), key=order.__getitem__, default="ok")


def verdicts(
    fleet: Fleet,
    *,
    window: timedelta = timedelta(hours=1),
    max_age: timedelta | None = None,
    pipeline: Pipeline | None = None,
    beats: heartbeats.HeartbeatResult | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> pd.DataFrame:
    """One row per part (:data:`PARTS`): its status, the evidence, and the fix when not ok."""
    pipeline = pipeline or discover(fleet)
    since = now() - window
    metrics = health(fleet, window=window, pipeline=pipeline, now=now)
    findings: list[Finding] = []
    findings += _sending(fleet, max_age, beats)
    findings += _from_health(metrics)
    findings += _shipper_metrics(fleet, pipeline, since)
    rows = []
    for part in PARTS:
        mine = [f for f in findings if f.part == part]
        status = _worst(mine)
        shown = [f for f in mine if f.status == status] if status != "ok" else mine
        rows.append(
            {
                "part": part,
                "status": status,
                "evidence": "; ".join(f.evidence for f in shown if f.evidence) or "no problem seen",
                "fix": " ".join(dict.fromkeys(f.fix for f in shown if f.fix and status != "ok")),
            }
        )
    return frame_with(VERDICT_SCHEMA, rows)


def _sending(
    fleet: Fleet, max_age: timedelta | None, beats: heartbeats.HeartbeatResult | None
) -> list[Finding]:
    part = "sending accounts"
    if fleet.config.verify.heartbeat_minutes == 0 and beats is None:
        return [
            Finding(
                part,
                "warn",
                "heartbeats are off ([verify] heartbeat_minutes = 0): silence goes unnoticed",
                "set [verify] heartbeat_minutes = 5 and run `xaccount-ops subscribe apply`",
            )
        ]
    try:
        beats = beats or heartbeats.check(fleet, max_age=max_age)
    except Exception as err:  # the search API down is a finding, not a crash of the report
        return [Finding(part, "warn", f"cannot read heartbeats: {err}", "check logzio.api_token")]
    frame = beats.frame
    silent = frame[frame["status"] != "ok"]
    if silent.empty:
        return [Finding(part, "ok", f"{len(frame)} account/region pairs sent a heartbeat")]
    found = []
    hops = beats.diagnosis.groupby(["account_id", "region"], observed=True)
    for row in silent.itertuples():
        key = (row.account_id, row.region)
        where = f"{row.account_id}/{row.region}"
        try:
            first = hops.get_group(key).iloc[0]
            evidence = f"{where} {row.status}: {first['hop']}: {first['problem']}"
            fix = str(first["fix"])
        except KeyError:
            evidence, fix = f"{where} {row.status}: {row.detail}", "`xaccount-ops verify`"
        found.append(Finding(part, "fail", evidence, fix))
    return found


# Per-metric health rows -> part, and the fix when the row is not ok.
_HEALTH_PARTS = {
    "policy_coverage": (
        "destinations",
        "`xaccount-ops accounts add <id>` for the accounts not allowed, then `xaccount-ops deploy`",
    ),
    "kinesis_write_throttled": (
        "stream",
        "use KinesisStreamMode ON_DEMAND or more shards (`xaccount-ops deploy`)",
    ),
    "iterator_age_ms": (
        "shipper",
        "the shipper falls behind: raise ParallelizationFactor or KinesisStreamBatchSize",
    ),
    "function_errors": ("shipper", "read the shipper's log group for the error, then fix it"),
    "function_throttles": ("shipper", "raise the account's Lambda concurrency limit"),
    "resent_after_timeout": ("listener", RESEND_FIX),
    "failure_queue_depth": (
        "failure store",
        "fix the cause, then `xaccount-ops replay` ships the stored batches",
    ),
}


def _from_health(frame: pd.DataFrame) -> list[Finding]:
    import pandas as pd

    found = []
    for row in frame.itertuples():
        part, fix = _HEALTH_PARTS.get(row.metric, (None, ""))
        if part is None:
            continue
        value = "no data" if pd.isna(row.value) else f"{row.value:g} {row.unit}"
        detail = str(row.detail).removesuffix(f"; {fix}")  # the fix column says it
        evidence = f"{row.metric} {value}" + (f" ({detail})" if detail else "")
        found.append(Finding(part, str(row.status), evidence, fix if row.status != "ok" else ""))
    return found


def _sum(
    cloudwatch: Any, namespace: str, metric: str, dim: str, value: str, since: datetime
) -> float:
    try:
        return metric_sum(cloudwatch, namespace, metric, dim, value, since) or 0.0
    except Exception as err:  # unreadable is "no data", said in the log
        log.warning("cannot read %s/%s: %s", namespace, metric, aws.error_code(err))
        return 0.0


def _shipper_metrics(fleet: Fleet, pipeline: Pipeline, since: datetime) -> list[Finding]:
    """The shipper's own EMF counters and the mapping's event metrics."""
    function = pipeline.function_name
    if function is None:
        return []
    cloudwatch = fleet.landing_client("cloudwatch")

    def total(metric: str) -> float:
        return _sum(cloudwatch, SHIPPER_NAMESPACE, metric, "FunctionName", function, since)

    found = []
    auth = total("auth_failures")
    if auth:
        found.append(
            Finding(
                "listener",
                "fail",
                f"{auth:g} requests refused with 401 (auth_failures)",
                "the shipping token was rotated or revoked: put the new one in the secret "
                "(or LogzioTOKEN) and `xaccount-ops deploy`, then `xaccount-ops replay`",
            )
        )
    faults = total("listener_faults")
    if faults:
        found.append(
            Finding(
                "listener",
                "fail",
                f"{faults:g} batches failed at the listener (listener_faults)",
                "check the listener URL/region (logzio.region) and Logz.io's status page",
            )
        )
    for metric, words in (
        ("partial_bodies", "bodies partly refused (400)"),
        ("request_timeouts", "requests timed out"),
    ):
        value = total(metric)
        if value:
            found.append(
                Finding(
                    "listener",
                    "warn",
                    f"{value:g} {words} ({metric})",
                    "read the shipper's log lines for the listener's answer",
                )
            )
    dropped = total("dropped")
    if dropped:
        found.append(
            Finding(
                "shipper",
                "fail",
                f"{dropped:g} events dropped (dropped)",
                "the shipper logs each dropped event id and why: read its log group",
            )
        )
    records, lines, filtered = total("records"), total("lines"), total("records_filtered")
    if records > filtered and lines == 0:
        found.append(
            Finding(
                "shipper",
                "fail",
                f"silent: {records:g} records in, no line shipped",
                "check INCLUDE_LOG_GROUPS/EXCLUDE_LOG_GROUPS and the shipper's log group, then "
                "`xaccount-ops verify`",
            )
        )
    elif lines:
        found.append(Finding("shipper", "ok", f"{lines:g} lines shipped"))
    mapping = pipeline.mapping or {}
    uuid = mapping.get("UUID")
    if uuid:
        stored = _sum(
            cloudwatch,
            "AWS/Lambda",
            "OnFailureDestinationDeliveredEventCount",
            "EventSourceMappingUUID",
            uuid,
            since,
        )
        if stored:
            found.append(
                Finding(
                    "failure store",
                    "fail",
                    f"{stored:g} records given up on and stored",
                    "fix the cause, then `xaccount-ops replay`",
                )
            )
    return found
