"""The event source mapping emulator's records and settings: what a mapping, a function
version, an invocation and a Kinesis record are, plus the timings the pollers use."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

DISCOVERY_INTERVAL_S = 0.3
POLL_INTERVAL_S = 0.2  # AWS polls a shard about once a second; faster keeps demo latency low
GET_RECORDS_LIMIT = 10000
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit
RECORD_OVERHEAD_BYTES = 420  # JSON around one record's data in the event
INFINITE_RETRY_CAP = 100  # MaximumRetryAttempts -1 means "until the record expires" in AWS
BACKOFF_FIRST_S = 0.02
BACKOFF_MAX_S = 0.5
LOG_FLUSH_INTERVAL_S = 0.2
CHILD_START_TIMEOUT_S = 30.0
TIMEOUT_SLACK_S = 0.5
MANAGEMENT_ACCOUNT = "123456789012"
EMULATOR_ROLE = "esm-emulator"


class InvokeError(Exception):
    """The function could not be invoked at all (missing, broken zip, child would not start)."""


# -- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MappingConfig:
    """What a poller needs from one event source mapping (from ListEventSourceMappings)."""

    uuid: str
    account: str
    region: str
    stream_arn: str
    function_arn: str
    batch_size: int
    window_s: float
    starting_position: str
    starting_timestamp: Any
    report_item_failures: bool
    bisect: bool
    max_retries: int
    max_record_age_s: int
    on_failure: str

    @classmethod
    def from_api(cls, account: str, region: str, raw: dict[str, Any]) -> MappingConfig:
        retries = int(
            raw.get("MaximumRetryAttempts") if raw.get("MaximumRetryAttempts") is not None else -1
        )
        return cls(
            uuid=raw["UUID"],
            account=account,
            region=region,
            stream_arn=raw["EventSourceArn"],
            function_arn=raw["FunctionArn"],
            batch_size=int(raw.get("BatchSize") or 100),
            window_s=float(raw.get("MaximumBatchingWindowInSeconds") or 0),
            starting_position=raw.get("StartingPosition") or "TRIM_HORIZON",
            starting_timestamp=raw.get("StartingPositionTimestamp"),
            report_item_failures="ReportBatchItemFailures"
            in (raw.get("FunctionResponseTypes") or []),
            bisect=flag(raw.get("BisectBatchOnFunctionError")),
            max_retries=INFINITE_RETRY_CAP if retries < 0 else retries,
            max_record_age_s=int(raw.get("MaximumRecordAgeInSeconds") or -1),
            on_failure=((raw.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                "Destination", ""
            ),
        )


@dataclass(frozen=True)
class FunctionSpec:
    """One deployed function version, as GetFunction reports it."""

    account: str
    region: str
    name: str
    arn: str
    handler: str
    role: str
    timeout_s: float
    memory_mb: int
    version: str
    environment: tuple[tuple[str, str], ...]
    code_sha256: str
    last_modified: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.arn, self.code_sha256, self.last_modified)


@dataclass
class InvokeResult:
    """One invocation's outcome, in Lambda's terms."""

    request_id: str
    function_error: bool
    payload: Any = None
    error_type: str = ""
    error_message: str = ""
    duration_ms: float = 0.0


@dataclass
class Record:
    """A Kinesis record read from a shard, kept until checkpointed."""

    sequence: str
    partition_key: str
    data_b64: str
    arrival: float  # epoch seconds

    @property
    def seq_int(self) -> int:
        return int(self.sequence)

    @property
    def size(self) -> int:
        return len(self.data_b64) + len(self.partition_key) + RECORD_OVERHEAD_BYTES


def flag(value: Any) -> bool:
    """A boolean property; CloudFormation parameters may arrive as "true"/"false" strings."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def arn_parts(arn: str) -> tuple[str, str, str]:
    """(region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    return parts[3], parts[4], parts[5]


def now_iso(when: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp(time.time() if when is None else when, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
