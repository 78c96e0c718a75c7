"""Per-invocation counters, written as one JSON line that is also a CloudWatch EMF document.

The line goes straight to stdout rather than through ``logging``: the Lambda runtime's log handler
prefixes text to every record, and CloudWatch only extracts embedded metrics from log events that
are pure JSON. One line serves both readers: people and Logs Insights see the counts as top-level
fields, CloudWatch turns the ones named in ``_aws.CloudWatchMetrics`` into metrics.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

NAMESPACE = "XaccountOps/Shipper"
REDACTED_PREFIX = "redacted_"

# Counter → EMF unit. Everything else in the line is a property, not a metric.
METRIC_UNITS = {
    "records": "Count",
    "records_undecodable": "Count",
    "records_control": "Count",
    "records_filtered": "Count",
    "records_failed": "Count",
    "events": "Count",
    "lines": "Count",
    "bytes_in": "Bytes",
    "bytes_out": "Bytes",
    "requests": "Count",
    "retries": "Count",
    "dropped": "Count",
    "truncated": "Count",
    "split": "Count",
    "surrogates": "Count",
    "malformed": "Count",
    "auth_failures": "Count",
    "partial_bodies": "Count",
    "rejected_malformed": "Count",
    "rejected_oversized": "Count",
    "rejected_empty": "Count",
    "listener_faults": "Count",
    "deferred": "Count",
    "request_timeouts": "Count",
    "resent_after_timeout": "Count",
    "filtered_events": "Count",
    "joined": "Count",
    "joined_lines": "Count",
    "duration_ms": "Milliseconds",
}


@dataclass
class Stats:
    """What one invocation did. ``bytes_in`` is decompressed payload JSON, ``bytes_out`` wire bytes."""

    records: int = 0
    records_undecodable: int = 0
    records_control: int = 0
    records_filtered: int = 0
    records_failed: int = 0
    events: int = 0
    lines: int = 0
    bytes_in: int = 0
    bytes_lines: int = 0
    bytes_out: int = 0
    requests: int = 0
    retries: int = 0
    reconnects: int = 0
    dropped: int = 0
    truncated: int = 0
    split: int = 0  # oversize events shipped as parts (their lines count in ``lines``)
    surrogates: int = 0  # lone surrogates replaced by U+FFFD
    renamed: int = 0  # JSON-message fields moved to msg_<key> (metadata won the key)
    malformed: int = 0
    auth_failures: int = 0
    # 400s: bodies taken as delivered (partial success) and the listener's counts of their lines
    partial_bodies: int = 0
    rejected_malformed: int = 0
    rejected_oversized: int = 0
    rejected_empty: int = 0
    listener_faults: int = 0  # 400 taking no line, 413 within the limits: the batch failed
    deferred: int = 0  # Retry-After beyond the time left: the batch failed
    request_timeouts: int = 0  # attempts cut off at the whole-request deadline
    # lines sent again right after an attempt timed out once connected: possible duplicates
    resent_after_timeout: int = 0
    filtered_events: int = 0  # events LOGZIO_DROP_EVENTS/LOGZIO_KEEP_EVENTS left out
    joined: int = 0  # events LOGZIO_MULTILINE appended to the event before them
    joined_lines: int = 0  # events that hold others (their line carries joined/joined_ids)
    # LOGZIO_REDACT: replacements per rule, on the line as redacted_<name>
    redacted: dict[str, int] = field(default_factory=dict)
    duration_ms: float = 0.0
    backend: str = ""
    failed_sequence_number: str | None = None
    dropped_ids: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The counters as a dict (without the dropped ids, which are logged one by one);
        redaction counts as ``redacted_<rule name>``."""
        doc = asdict(self)
        doc.pop("dropped_ids")
        for name, count in doc.pop("redacted").items():
            doc[REDACTED_PREFIX + name] = count
        return doc


def emf_document(stats: Stats, function_name: str | None = None) -> dict[str, Any]:
    """The summary plus the ``_aws`` block that makes CloudWatch extract the metrics."""
    doc: dict[str, Any] = {"message": "shipper invocation", **stats.summary()}
    dimensions: list[list[str]] = [[]]
    if function_name:
        doc["FunctionName"] = function_name
        dimensions = [["FunctionName"]]
    doc["_aws"] = {
        "Timestamp": int(time.time() * 1000),
        "CloudWatchMetrics": [
            {
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": [{"Name": name, "Unit": unit} for name, unit in METRIC_UNITS.items()]
                + [{"Name": REDACTED_PREFIX + name, "Unit": "Count"} for name in stats.redacted],
            }
        ],
    }
    return doc


def emit(stats: Stats, function_name: str | None = None, stream: TextIO | None = None) -> None:
    """Write the invocation's one summary/EMF line."""
    out = stream or sys.stdout
    out.write(json.dumps(emf_document(stats, function_name), separators=(",", ":")) + "\n")
    out.flush()
