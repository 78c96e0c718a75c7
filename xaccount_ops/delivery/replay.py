"""The failure store and ``replay``: batches Lambda gave up on, shipped again exactly once.

The event source mapping's on-failure destination is an S3 bucket (``cfn/main.yaml``). For an S3
destination Lambda writes one JSON object per discarded batch: AWS's invocation record
(``requestContext``, ``responseContext``, ``KinesisBatchInfo``...) plus ``payload``, the whole
invocation event as an escaped JSON string, under ``aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/
YYYY-MM-DDTHH.MM.SS-<uuid>`` (AWS Lambda Developer Guide, "Retain discarded batch records for a
Kinesis Data Streams event source", Example Amazon S3 invocation record). So the records outlive
the stream's retention, and this module can:

- :func:`load_store` list what is there (batches, records, events, time range, accounts and
  regions), :func:`summary` and :func:`per_hour` tabulate it;
- :func:`replay` ship it through the shipper's own code (``shipper_lambda.handler.process``) with
  the configured shipping token and listener, and the deployed function's other settings (type,
  additional fields, include/exclude), so a replayed line is the line the function would have
  sent. Before sending, every event id is looked up in Logz.io (``SearchClient.delivered_keys``,
  chunked, over the batch's timestamp range) and found ones are left out: a replay after a
  partial delivery, or a second replay, ships nothing twice.

A batch delivered by a replay is tagged ``xaccount-ops-replayed=<UTC time>`` and later replays
skip it without sending (search can lag ingestion by minutes, so a lookup alone could miss what a
replay just sent). Nothing is deleted unless ``delete=True``. The stack's notification queue
(``<stack>-shipper-failures``: one S3 event per stored batch, which the depth alarm and ``health``
watch) loses the messages of the batches now delivered, so its depth means "batches to replay".
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import logging
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xaccount_ops import logzio
from xaccount_ops.delivery import reship
from xaccount_ops.errors import ConfigError, XaccountOpsError
from xaccount_ops.fleet.pipeline import event_source_mapping, failure_queue, shipper_function

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

STORE_PREFIX = "aws/lambda/"
REPLAYED_TAG = "xaccount-ops-replayed"
BATCH_BUDGET_S = 300.0  # time one batch may take to ship (the shipper retries inside it)
SEARCH_SLACK_MS = 1000  # widen the batch's timestamp range a little for the lookup

# Statuses of a batch after replay: the first four mean "everything in it is in Logz.io".
DELIVERED = ("replayed", "already present", "already replayed", "nothing to ship")
WOULD_SEND = "would send"
FAILED = "failed"


class StoreError(XaccountOpsError):
    """The failure store cannot be found or read."""


@dataclass
class StoredRecord:
    """One Kinesis record of a stored batch, decoded."""

    sequence: str
    kinesis: dict[str, Any]  # the record as Lambda passed it (kinesis, eventSource, ...)
    kind: str  # "data", "control", "other" (an unknown messageType) or "undecodable"
    payload: dict[str, Any] | None = None
    owner: str = ""
    region: str = ""
    log_group: str = ""

    @property
    def events(self) -> list[dict[str, Any]]:
        return list((self.payload or {}).get("logEvents") or []) if self.kind == "data" else []


@dataclass
class StoredBatch:
    """One object of the failure store: a batch Lambda discarded, with its records."""

    bucket: str
    key: str
    stored_at: dt.datetime
    condition: str
    shard_id: str
    records: list[StoredRecord]
    replayed_at: str | None = None  # the value of the replayed tag, when present
    tags: dict[str, str] = field(default_factory=dict)
    problem: str = ""  # why the object could not be read, when it could not

    @property
    def events(self) -> int:
        return sum(len(r.events) for r in self.records)

    def event_times(self) -> list[int]:
        return [int(e.get("timestamp") or 0) for r in self.records for e in r.events]


# -- finding and reading the store -----------------------------------------------------------


def store_bucket(fleet: Any) -> str:
    """The bucket of the shipper mapping's S3 on-failure destination (``arn:aws:s3:::name``)."""
    function = shipper_function(fleet)
    if not function:
        raise StoreError(
            f"no shipper function for stack {fleet.config.landing.stack_name!r} in the landing "
            "account: deploy cfn/main.yaml first (xaccount-ops stacks deploy)"
        )
    mapping = event_source_mapping(fleet, function) or {}
    arn = ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination", "")
    if not arn.startswith("arn:aws:s3:::") and ":s3:::" not in arn:
        raise StoreError(
            f"the event source mapping of {function} has on-failure destination {arn or 'none'!r}, "
            "not an S3 bucket: update the stack to the current cfn/main.yaml, whose failure "
            "store keeps the batches' records (an SQS destination keeps only their metadata)"
        )
    return arn.split(":::", 1)[1].split("/", 1)[0]


def load_store(
    fleet: Any,
    *,
    since: dt.timedelta | None = None,
    bucket: str | None = None,
    s3: Any = None,
) -> list[StoredBatch]:
    """Every batch in the store (stored within ``since`` when given), oldest first."""
    bucket = bucket or store_bucket(fleet)
    s3 = s3 or fleet.landing_client("s3")
    cutoff = dt.datetime.now(dt.UTC) - since if since else None
    batches: list[StoredBatch] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=STORE_PREFIX):
        for obj in page.get("Contents", []):
            if cutoff is not None and obj["LastModified"] < cutoff:
                continue
            try:
                batches.append(read_batch(s3, bucket, obj["Key"], obj["LastModified"]))
            except StoreError as err:  # listed, reported, never replayed
                log.error("%s", err)
                batches.append(
                    StoredBatch(
                        bucket, obj["Key"], obj["LastModified"], "", "", [], problem=str(err)
                    )
                )
    batches.sort(key=lambda b: (b.stored_at, b.key))
    return batches


def read_batch(s3: Any, bucket: str, key: str, stored_at: dt.datetime) -> StoredBatch:
    """Parse one stored object; raise :class:`StoreError` naming the key when it is not AWS's
    S3 invocation record with a payload."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        doc = json.loads(body)
        info = doc["KinesisBatchInfo"]
        payload = doc["payload"]
        event = json.loads(payload) if isinstance(payload, str) else payload
        raw_records = event["Records"]
    except (ValueError, KeyError, TypeError) as err:
        raise StoreError(
            f"s3://{bucket}/{key} is not a Lambda S3 on-failure record with a payload "
            f"(KinesisBatchInfo and payload.Records): {type(err).__name__}: {err}"
        ) from None
    tags = {
        t["Key"]: t["Value"]
        for t in s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet", [])
    }
    return StoredBatch(
        bucket=bucket,
        key=key,
        stored_at=stored_at,
        condition=str((doc.get("requestContext") or {}).get("condition") or ""),
        shard_id=str(info.get("shardId") or ""),
        records=[_decode(r) for r in raw_records],
        replayed_at=tags.get(REPLAYED_TAG),
        tags=tags,
    )


def event_region(payload: dict[str, Any]) -> str:
    """The source region a payload's events carry (``emitSystemFields``): AWS puts
    ``@aws.region`` inside each event's ``extractedFields`` (tests/fidelity fixture
    logs/delivered_event_system_fields); the event's top level is read as a fallback."""
    for event in payload.get("logEvents") or ():
        if not isinstance(event, dict):
            continue
        fields = event.get("extractedFields")
        found = (fields.get("@aws.region") if isinstance(fields, dict) else None) or event.get(
            "@aws.region"
        )
        if found:
            return str(found)
    return ""


def _decode(record: dict[str, Any]) -> StoredRecord:
    from shipper_lambda.decode import (
        CONTROL_MESSAGE,
        DATA_MESSAGE,
        UndecodableRecord,
        decode_record,
        sequence_number,
    )
    from shipper_lambda.transform import region_from_filters

    seq = sequence_number(record) or ""
    try:
        payload, _ = decode_record(record)
    except UndecodableRecord:
        return StoredRecord(seq, record, "undecodable")
    kind = {DATA_MESSAGE: "data", CONTROL_MESSAGE: "control"}.get(payload["messageType"], "other")
    return StoredRecord(
        sequence=seq,
        kinesis=record,
        kind=kind,
        payload=payload,
        owner=str(payload.get("owner") or ""),
        region=str(
            event_region(payload) or region_from_filters(payload.get("subscriptionFilters")) or ""
        ),
        log_group=str(payload.get("logGroup") or ""),
    )


# -- what is in the store ----------------------------------------------------------------------


def _ms(value: int) -> pd.Timestamp:
    import pandas as pd

    return pd.Timestamp(value, unit="ms", tz="UTC")


def records_frame(batches: Iterable[StoredBatch]) -> pd.DataFrame:
    """One row per stored record: batch key, account, region, log group, events, time range."""
    import pandas as pd

    rows = []
    for batch in batches:
        for record in batch.records:
            times = [int(e.get("timestamp") or 0) for e in record.events]
            rows.append(
                {
                    "key": batch.key,
                    "stored_at": batch.stored_at,
                    "account_id": record.owner,
                    "region": record.region,
                    "log_group": record.log_group,
                    "kind": record.kind,
                    "events": len(times),
                    "first_event": _ms(min(times)) if times else pd.NaT,
                    "last_event": _ms(max(times)) if times else pd.NaT,
                }
            )
    columns = [
        "key",
        "stored_at",
        "account_id",
        "region",
        "log_group",
        "kind",
        "events",
        "first_event",
        "last_event",
    ]
    return pd.DataFrame(rows, columns=columns)


def summary(batches: Iterable[StoredBatch]) -> pd.DataFrame:
    """Per account and region: batches, records, events and the events' time range."""
    import pandas as pd

    frame = records_frame(batches)
    columns = ["account_id", "region", "batches", "records", "events", "first_event", "last_event"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    grouped = frame.groupby(["account_id", "region"], dropna=False).agg(
        batches=("key", "nunique"),
        records=("key", "size"),
        events=("events", "sum"),
        first_event=("first_event", "min"),
        last_event=("last_event", "max"),
    )
    return grouped.reset_index()[columns]


def per_hour(batches: Iterable[StoredBatch]) -> pd.DataFrame:
    """Events in the store per hour of their timestamp (for :func:`xaccount_ops.lab.plots.per_hour`)."""
    import pandas as pd

    frame = records_frame(batches)
    frame = frame[frame["events"] > 0]
    if frame.empty:
        return pd.DataFrame(columns=["hour", "events", "batches"])
    frame = frame.assign(hour=frame["first_event"].dt.floor("h"))
    grouped = frame.groupby("hour").agg(events=("events", "sum"), batches=("key", "nunique"))
    return grouped.reset_index()


# -- replay ----------------------------------------------------------------------------------------


@dataclass
class ReplayResult:
    """Per-batch outcome (one row per stored object) and whether the store is now delivered."""

    frame: pd.DataFrame
    dry_run: bool
    acknowledged: int = 0  # notification-queue messages removed for delivered batches

    @property
    def ok(self) -> bool:
        return bool(self.frame.empty or self.frame["status"].isin(DELIVERED).all())

    def totals(self) -> dict[str, int]:
        f = self.frame
        return {
            "batches": len(f),
            "events": int(f["events"].sum()) if len(f) else 0,
            "sent": int(f["sent"].sum()) if len(f) else 0,
            "filtered": int(f["filtered"].sum()) if len(f) else 0,
            "skipped_present": int(f["skipped_present"].sum()) if len(f) else 0,
            "failed": int((f["status"] == FAILED).sum()) if len(f) else 0,
        }


RESULT_COLUMNS = [
    "key",
    "stored_at",
    "shard_id",
    "condition",
    "records",
    "events",
    "skipped_present",
    "sent",
    "filtered",
    "status",
    "replayed_at",
    "deleted",
    "detail",
]


def _rebuild(record: StoredRecord, missing: set[str]) -> dict[str, Any] | None:
    """The Kinesis-shaped record with only the events in ``missing``; None when none is."""
    assert record.payload is not None
    events = [e for e in record.events if str(e.get("id")) in missing]
    if not events:
        return None
    if len(events) == len(record.events):
        return record.kinesis  # unchanged: ship the stored bytes as they are
    payload = {**record.payload, "logEvents": events}
    data = base64.b64encode(gzip.compress(json.dumps(payload).encode(), mtime=0)).decode()
    return {**record.kinesis, "kinesis": {**record.kinesis["kinesis"], "data": data}}


def _now_tag() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def replay(
    fleet: Any,
    *,
    since: dt.timedelta | None = None,
    dry_run: bool = False,
    delete: bool = False,
    progress: bool | None = None,
    search: logzio.SearchClient | None = None,
    budget_s: float = BATCH_BUDGET_S,
    batches: list[StoredBatch] | None = None,
) -> ReplayResult:
    """Ship what is in the failure store that Logz.io does not hold yet; see the module doc.

    ``dry_run`` looks everything up and says what would be sent, changing nothing. ``delete``
    removes objects whose events are all delivered (never without it).
    """
    from tqdm.auto import tqdm

    s3 = fleet.landing_client("s3")
    if batches is None:
        batches = load_store(fleet, since=since, s3=s3)
    own_search = search is None
    if search is None:
        search = logzio.SearchClient.from_config(fleet.config, lambda s: fleet.landing_client(s))
    shipper: reship.Reshipper | None = None
    rows: list[dict[str, Any]] = []
    disable = None if progress is None else not progress
    try:
        with tqdm(total=len(batches), desc="replay", unit="batch", disable=disable) as bar:
            for batch in batches:
                row = _row(batch)
                try:
                    if batch.problem:
                        row.update(status=FAILED, detail=batch.problem)
                    elif batch.replayed_at:
                        row.update(status="already replayed", replayed_at=batch.replayed_at)
                    else:
                        if not dry_run and shipper is None:
                            # Once per run; a shipper ConfigError here stops the run (it would
                            # fail every batch the same way).
                            try:
                                shipper = reship.from_fleet(fleet)
                            except ValueError as err:
                                raise ConfigError("shipper settings", str(err)) from None
                        _replay_one(batch, row, search, shipper, budget_s)
                        if row["status"] in DELIVERED and not dry_run:
                            row["replayed_at"] = _now_tag()
                            _tag(s3, batch, row["replayed_at"])
                    if delete and row["status"] in DELIVERED:
                        if not dry_run:
                            s3.delete_object(Bucket=batch.bucket, Key=batch.key)
                        row["deleted"] = True
                except (XaccountOpsError, ConfigError):
                    raise
                except Exception as err:  # one broken batch must not stop the others
                    log.error("replay of s3://%s/%s failed: %s", batch.bucket, batch.key, err)
                    row.update(status=FAILED, detail=f"{type(err).__name__}: {err}")
                rows.append(row)
                bar.update(1)
    finally:
        if own_search:
            search.close()
    import pandas as pd  # after the calls (xaccount_ops.frames)

    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    acknowledged = 0
    done = {r["key"] for r in rows if r["status"] in DELIVERED}
    if done and not dry_run and batches:
        acknowledged = _acknowledge(fleet, batches[0].bucket, done)
    result = ReplayResult(frame, dry_run, acknowledged)
    totals = result.totals()
    log.info(
        "replay%s: %d batches, %d events, %d sent, %d skipped as already in Logz.io, "
        "%d left out by drop/keep rules, %d failed",
        " (dry run)" if dry_run else "",
        totals["batches"],
        totals["events"],
        totals["sent"],
        totals["skipped_present"],
        totals["filtered"],
        totals["failed"],
    )
    return result


def _row(batch: StoredBatch) -> dict[str, Any]:
    return {
        "key": batch.key,
        "stored_at": batch.stored_at,
        "shard_id": batch.shard_id,
        "condition": batch.condition,
        "records": len(batch.records),
        "events": batch.events,
        "skipped_present": 0,
        "sent": 0,
        "filtered": 0,
        "status": "",
        "replayed_at": None,
        "deleted": False,
        "detail": "",
    }


def _replay_one(
    batch: StoredBatch,
    row: dict[str, Any],
    search: logzio.SearchClient,
    shipper: reship.Reshipper | None,
    budget_s: float,
) -> None:
    """Look the batch's events up and ship the missing ones (``shipper`` None: a dry run)."""
    ids = [str(e.get("id")) for r in batch.records for e in r.events]
    if not ids:
        row.update(status="nothing to ship", detail="control or undecodable records only")
        return
    times = batch.event_times()
    found = search.delivered_keys(
        ids, since_ms=min(times) - SEARCH_SLACK_MS, until_ms=max(times) + SEARCH_SLACK_MS
    )
    # The dedupe key is (id, part): a whole event found is not sent again; of an event split into
    # parts, only the parts Logz.io lacks are (the shipper skips the others).
    held = reship.present(found)
    missing = set(ids) - held.whole
    row["skipped_present"] = sum(1 for i in ids if i in held.touched)
    if held.touched:
        log.info(
            "s3://%s/%s: %d of %d events already in Logz.io (whole or in part), not sent again",
            batch.bucket,
            batch.key,
            row["skipped_present"],
            len(ids),
        )
    if not missing:
        row.update(status="already present")
        return
    records = [
        rebuilt
        for r in batch.records
        if r.kind == "data" and (rebuilt := _rebuild(r, missing)) is not None
    ]
    to_send = sum(1 for i in ids if i in missing)
    if shipper is None:
        row.update(status=WOULD_SEND, sent=0, detail=f"would send {to_send} events")
        return
    result = shipper.ship(records, budget_s, held.parts)
    stats = result.stats
    if result.failed is None:
        # Events the function's drop/keep rules leave out are not sent, as the live shipper did.
        filtered = int(stats.filtered_events)
        detail = f"{stats.lines} lines"
        if filtered:
            detail += f", {filtered} events left out by the function's drop/keep rules"
        row.update(status="replayed", sent=to_send - filtered, filtered=filtered, detail=detail)
        return
    from shipper_lambda.decode import decode_record

    done = sum(len(decode_record(r)[0]["logEvents"]) for r in records[: result.failed])
    row.update(
        status=FAILED,
        sent=done,
        detail=(
            f"stopped at record #{result.failed} (seq {stats.failed_sequence_number}); "
            f"auth failures {stats.auth_failures}, retries {stats.retries}: see the log; "
            "fix the listener or token and replay again (delivered events will be skipped)"
        ),
    )


def _tag(s3: Any, batch: StoredBatch, when: str) -> None:
    tags = {**batch.tags, REPLAYED_TAG: when}
    s3.put_object_tagging(
        Bucket=batch.bucket,
        Key=batch.key,
        Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]},
    )
    batch.tags, batch.replayed_at = tags, when


def _acknowledge(fleet: Any, bucket: str, keys: set[str]) -> int:
    """Delete the notification-queue messages of the delivered ``keys`` (and S3's test events);
    leave every other message as it was. Best effort: a failure is logged, never raised."""
    try:
        url = failure_queue(fleet, None)
        if not url:
            return 0
        sqs = fleet.landing_client("sqs")
        removed, seen = 0, set()
        for _ in range(len(keys) // 10 + 20):  # bounded: other messages come back around
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
            messages = [m for m in got.get("Messages", []) if m["MessageId"] not in seen]
            if not messages:
                break
            for message in messages:
                seen.add(message["MessageId"])
                if _notifies_only(message.get("Body", ""), bucket, keys):
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    removed += 1
                else:  # not ours to remove: visible again at once
                    sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
        return removed
    except Exception as err:
        log.warning("could not clear the failure notifications of replayed batches: %s", err)
        return 0


def _notifies_only(body: str, bucket: str, keys: set[str]) -> bool:
    """Whether a queue message is S3's test event or names only objects among ``keys``."""
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    if not isinstance(doc, dict):
        return False
    if doc.get("Event") == "s3:TestEvent":
        return True
    named = set()
    for record in doc.get("Records") or []:
        s3 = (record or {}).get("s3") or {}
        if (s3.get("bucket") or {}).get("name") != bucket:
            return False
        named.add(urllib.parse.unquote_plus(str((s3.get("object") or {}).get("key", ""))))
    return bool(named) and named <= keys
