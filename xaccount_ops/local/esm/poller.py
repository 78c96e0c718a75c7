"""Shard pollers: one thread per shard of a mapping reads, batches, invokes and checkpoints,
with Lambda's retry, bisect and on-failure semantics."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from xaccount_ops.local.esm.model import (
    BACKOFF_FIRST_S,
    BACKOFF_MAX_S,
    GET_RECORDS_LIMIT,
    MAX_PAYLOAD_BYTES,
    POLL_INTERVAL_S,
    InvokeError,
    InvokeResult,
    MappingConfig,
    Record,
    arn_parts,
    now_iso,
)

log = logging.getLogger(__name__)


@dataclass
class _Outcome:
    """What to do with the head of a batch after an invocation."""

    done: int  # records checkpointed (delivered)
    failed: bool  # the rest failed
    function_error: bool = False
    result: InvokeResult | None = None
    not_invoked: bool = False


class ShardPoller:
    """One shard of one mapping: reads, batches, invokes, checkpoints (a thread).

    ``emulator`` is the :class:`~xaccount_ops.local.esm.emulator.EsmEmulator` running it (typed
    ``Any``: naming the class here would be an import circle, emulator → poller → emulator).
    """

    def __init__(self, emulator: Any, mapping_uuid: str, shard_id: str, after: str | None) -> None:
        self._emu = emulator
        self.uuid = mapping_uuid
        self.shard_id = shard_id
        self.checkpoint = after  # last sequence number delivered or skipped
        self._buffer: deque[Record] = deque()
        self._iterator: str | None = None
        self._stop = threading.Event()
        self.in_flight = False
        self.last_empty_poll = 0.0  # monotonic start time of the latest poll that found nothing
        self.invocations = 0
        self._filling_since = 0.0  # when the buffer last went from empty to non-empty
        self._resume_at: str | None = None  # re-read from here after an error (no checkpoint yet)
        self._thread = threading.Thread(
            target=self._run, name=f"esm-{mapping_uuid[:8]}-{shard_id[-4:]}", daemon=True
        )

    def start(self) -> ShardPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def idle_since(self, moment: float) -> bool:
        return not self.in_flight and not self._buffer and self.last_empty_poll > moment

    @property
    def config(self) -> MappingConfig | None:
        return self._emu._configs.get(self.uuid)

    def _kinesis(self, cfg: MappingConfig) -> Any:
        region, account, _ = arn_parts(cfg.stream_arn)
        return self._emu._aws.client(account, "kinesis", region)

    def _position(self, cfg: MappingConfig) -> str:
        kinesis = self._kinesis(cfg)
        kwargs: dict[str, Any] = {"StreamARN": cfg.stream_arn, "ShardId": self.shard_id}
        if self._resume_at is not None:
            kwargs.update(
                ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=self._resume_at
            )
        elif self.checkpoint is not None:
            kwargs.update(
                ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=self.checkpoint
            )
        elif cfg.starting_position == "AT_TIMESTAMP" and cfg.starting_timestamp is not None:
            kwargs.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=cfg.starting_timestamp)
        elif cfg.starting_position == "LATEST":
            kwargs.update(ShardIteratorType="LATEST")
        else:
            kwargs.update(ShardIteratorType="TRIM_HORIZON")
        return str(kinesis.get_shard_iterator(**kwargs)["ShardIterator"])

    def _fetch(self, cfg: MappingConfig) -> int:
        if self._iterator is None:
            self._iterator = self._position(cfg)
        started = time.monotonic()
        got = self._kinesis(cfg).get_records(
            ShardIterator=self._iterator, Limit=GET_RECORDS_LIMIT, StreamARN=cfg.stream_arn
        )
        self._iterator = got.get("NextShardIterator")
        for raw in got.get("Records", []):
            arrival = raw.get("ApproximateArrivalTimestamp")
            self._buffer.append(
                Record(
                    sequence=raw["SequenceNumber"],
                    partition_key=raw["PartitionKey"],
                    data_b64=base64.b64encode(raw["Data"]).decode(),
                    arrival=arrival.timestamp() if arrival is not None else time.time(),
                )
            )
        if not got.get("Records") and not self._buffer:
            self.last_empty_poll = started
        if self._buffer:
            age_ms = max(0.0, (time.time() - self._buffer[0].arrival) * 1000)
            self._emu._telemetry.metric(
                cfg.account,
                cfg.region,
                "IteratorAge",
                age_ms,
                "Milliseconds",
                {
                    "FunctionName": cfg.function_arn.rsplit(":", 1)[-1],
                    "EventSourceMappingUUID": cfg.uuid,
                },
            )
        return len(got.get("Records", []))

    def _run(self) -> None:
        backoff = POLL_INTERVAL_S
        while not self._stop.is_set():
            cfg = self.config
            if cfg is None:
                return
            try:
                fetched = self._fetch(cfg) if len(self._buffer) < cfg.batch_size else 0
                if not self._buffer:
                    self._stop.wait(POLL_INTERVAL_S)
                    continue
                if fetched and len(self._buffer) == fetched:
                    self._filling_since = time.monotonic()
                if cfg.window_s > 0 and len(self._buffer) < cfg.batch_size:
                    left = self._filling_since + cfg.window_s - time.monotonic()
                    if left > 0:
                        self._stop.wait(min(POLL_INTERVAL_S, left))
                        continue
                batch = self._take(cfg)
                self.in_flight = True
                try:
                    self._deliver(cfg, batch, attempts=0)
                finally:
                    self.in_flight = False
                backoff = POLL_INTERVAL_S
            except Exception as err:  # never let one shard take the emulator down
                self.in_flight = False
                log.warning("mapping %s %s: %s", self.uuid, self.shard_id, err)
                # Re-position after the checkpoint, or at the first unread record when there is
                # none yet (LATEST would skip what was already buffered).
                self._resume_at = (
                    self._buffer[0].sequence if self._buffer and self.checkpoint is None else None
                )
                self._iterator = None
                self._buffer.clear()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)

    def _take(self, cfg: MappingConfig) -> list[Record]:
        batch: list[Record] = []
        size = 0
        for record in self._buffer:
            if len(batch) >= cfg.batch_size or (batch and size + record.size > MAX_PAYLOAD_BYTES):
                break
            batch.append(record)
            size += record.size
        return batch

    def _commit(self, records: list[Record]) -> None:
        """Checkpoint past ``records`` (the head of the buffer)."""
        for _ in records:
            self.checkpoint = self._buffer.popleft().sequence
        self._resume_at = None
        self._emu._checkpoints[(self.uuid, self.shard_id)] = self.checkpoint

    def _deliver(self, cfg: MappingConfig, batch: list[Record], attempts: int) -> None:
        """Resolve ``batch`` (the buffer's head): delivered, or given up on and skipped."""
        while batch and not self._stop.is_set():
            cfg = self.config or cfg
            if cfg.max_record_age_s >= 0:
                # record_age_speedup > 1 (tests only) makes AWS's 60 s minimum pass faster.
                cutoff = time.time() - cfg.max_record_age_s / self._emu.record_age_speedup
                expired = [r for r in batch if r.arrival < cutoff]
                if expired:
                    count = batch.index(expired[-1]) + 1
                    self._give_up(cfg, batch[:count], "RecordAgeExceeded", attempts, None)
                    batch = batch[count:]
                    continue
            outcome = self._invoke(cfg, batch)
            if outcome.not_invoked:
                self._stop.wait(1.0)
                continue
            attempts += 1
            self._commit(batch[: outcome.done])
            rest = batch[outcome.done :]
            if not outcome.failed:
                return
            if outcome.function_error and cfg.bisect and len(rest) > 1:
                half = len(rest) // 2
                # Splitting does not consume the retry quota; each half starts afresh.
                self._deliver(cfg, rest[:half], attempts=0)
                if self._stop.is_set():
                    return
                batch, attempts = rest[half:], 0
                continue
            if attempts > cfg.max_retries:
                self._give_up(cfg, rest, "RetryAttemptsExhausted", attempts, outcome)
                return
            batch = rest
            self._stop.wait(min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (attempts - 1)))

    def _invoke(self, cfg: MappingConfig, batch: list[Record]) -> _Outcome:
        try:
            lane = f"{cfg.uuid}/{self.shard_id}"
            runtime = self._emu._functions.runtime(cfg.function_arn, lane)
            event = {"Records": [self._event_record(cfg, r, runtime.spec.role) for r in batch]}
            result = runtime.invoke(event)
        except InvokeError as err:
            # Before invocation (missing function, broken zip): Lambda retries until records
            # expire, without counting retries.
            log.warning("mapping %s: cannot invoke %s: %s", cfg.uuid, cfg.function_arn, err)
            return _Outcome(done=0, failed=True, not_invoked=True)
        self.invocations += 1
        if result.function_error:
            return _Outcome(0, True, True, result)
        if not cfg.report_item_failures:
            return _Outcome(len(batch), False, result=result)
        failures = (
            (result.payload or {}).get("batchItemFailures")
            if isinstance(result.payload, dict)
            else None
        )
        if not failures:
            return _Outcome(len(batch), False, result=result)
        by_seq = {r.sequence: i for i, r in enumerate(batch)}
        indexes = []
        for item in failures:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not ident or ident not in by_seq:
                return _Outcome(0, True, True, result)  # malformed response: whole batch failed
            indexes.append(by_seq[ident])
        return _Outcome(min(indexes), True, False, result)

    def _event_record(self, cfg: MappingConfig, record: Record, role: str) -> dict[str, Any]:
        region, _, _ = arn_parts(cfg.stream_arn)
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record.partition_key,
                "sequenceNumber": record.sequence,
                "data": record.data_b64,
                "approximateArrivalTimestamp": round(record.arrival, 3),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{self.shard_id}:{record.sequence}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": role,
            "awsRegion": region,
            "eventSourceARN": cfg.stream_arn,
        }

    def _give_up(
        self,
        cfg: MappingConfig,
        records: list[Record],
        condition: str,
        attempts: int,
        outcome: _Outcome | None,
    ) -> None:
        """Skip ``records``; send Lambda's on-failure record when a destination is set."""
        if not records:
            return
        log.warning(
            "mapping %s %s: %s, skipping %d records from %s",
            cfg.uuid,
            self.shard_id,
            condition,
            len(records),
            records[0].sequence,
        )
        if cfg.on_failure:
            message = failure_record(cfg, self.shard_id, records, condition, attempts, outcome)
            if is_s3_destination(cfg.on_failure):
                # S3 destinations get the whole invocation event too (an escaped JSON string).
                role = ""
                with contextlib.suppress(InvokeError):
                    role = self._emu._functions.spec(cfg.function_arn).role
                event = {"Records": [self._event_record(cfg, r, role) for r in records]}
                message["payload"] = json.dumps(event, separators=(",", ":"))
            try:
                self._emu._send_failure(cfg, self.shard_id, message)
            except Exception as err:
                log.error(
                    "mapping %s: on-failure destination %s refused: %s",
                    cfg.uuid,
                    cfg.on_failure,
                    err,
                )
        self._commit(records)


def failure_record(
    cfg: MappingConfig,
    shard_id: str,
    records: list[Record],
    condition: str,
    attempts: int,
    outcome: _Outcome | None,
) -> dict[str, Any]:
    """The JSON document Lambda sends to a stream mapping's on-failure destination.

    The shape is AWS's example invocation record (requestContext, responseContext, version,
    timestamp, KinesisBatchInfo); for an S3 destination the caller adds ``payload``, "the original
    invocation record as an escaped JSON string" (AWS Lambda Developer Guide, "Retain discarded
    batch records for a Kinesis Data Streams event source", Example Amazon S3 invocation record).
    """
    result = outcome.result if outcome else None
    record: dict[str, Any] = {
        "requestContext": {
            "requestId": result.request_id if result else str(uuid.uuid4()),
            "functionArn": cfg.function_arn,
            "condition": condition,
            # Recorded on AWS: at least 1, also for records that expired before any invocation.
            "approximateInvokeCount": max(attempts, 1),
        },
    }
    if condition != "RecordAgeExceeded":
        # Recorded on AWS: a RecordAgeExceeded record has no responseContext; otherwise
        # functionError is "Unhandled" after a function error and null when the function
        # returned (ReportBatchItemFailures retries used up). Fixtures lambda/on_failure_*.
        record["responseContext"] = {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled"
            if outcome is not None and outcome.function_error
            else None,
        }
    return {
        **record,
        "version": "1.0",
        "timestamp": now_iso(),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": records[0].sequence,
            "endSequenceNumber": records[-1].sequence,
            "approximateArrivalOfFirstRecord": now_iso(records[0].arrival),
            "approximateArrivalOfLastRecord": now_iso(records[-1].arrival),
            "batchSize": len(records),
            "streamArn": cfg.stream_arn,
        },
    }


def is_s3_destination(arn: str) -> bool:
    return arn.startswith("arn:") and arn.split(":", 3)[2:3] == ["s3"]


def failure_object_key(mapping_uuid: str, shard_id: str, when: float | None = None) -> str:
    """Where Lambda puts a discarded batch in an S3 on-failure destination.

    AWS Lambda Developer Guide, "Retain discarded batch records for a Kinesis Data Streams event
    source", example S3 invocation record: ``aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/
    YYYY-MM-DDTHH.MM.SS-<Random UUID>``.
    """
    moment = dt.datetime.fromtimestamp(time.time() if when is None else when, dt.UTC)
    return (
        f"aws/lambda/{mapping_uuid}/{shard_id}/{moment:%Y/%m/%d}/"
        f"{moment:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
    )
