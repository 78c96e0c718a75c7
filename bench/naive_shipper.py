"""The benchmark's baseline: the reference shipper's technique (Logz.io's aws-cross-account).

Stdlib ``json`` per line after copying the payload metadata into a dict per event and trying
``json.loads`` on every string field of the event (as the reference's ``_json_string_to_dict``),
written line by line into a ``gzip.GzipFile`` at level 9, a body sent with ``urllib`` once 3 MB of
lines are in it (the reference's bulk size), a new connection per request. Its bugs (epoch
``@timestamp``, ids parsed as integers, the size check that never fires) are not reproduced: the
point is the cost of the technique, and the benchmark checks that it delivers every event once.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import urllib.request
from typing import Any

MAX_BULK_BYTES = 3 * 1024 * 1024
DEFAULT_TYPE = "aws-cross-account"


def _type_from_log_group(log_group: str) -> str:
    parts = log_group.split("/")
    try:
        service = parts[2]
        if service.lower() in ("event", "events"):
            return parts[3]
    except IndexError:
        return DEFAULT_TYPE
    return service


def _parse_strings(event: dict[str, Any]) -> dict[str, Any]:
    parsed = dict(event)
    for key, value in parsed.items():
        if isinstance(value, str) and key != "id":
            try:
                parsed[key] = json.loads(value)
            except ValueError:
                parsed[key] = value
    return parsed


class _Bulk:
    def __init__(self, url: str) -> None:
        self.url = url
        self.requests = 0
        self._reset()

    def _reset(self) -> None:
        self.buffer = io.BytesIO()
        self.writer = gzip.GzipFile(mode="wb", fileobj=self.buffer, compresslevel=9)
        self.size = 0

    def add(self, line: str) -> None:
        self.writer.write((line + "\n").encode("utf-8"))
        self.size += len(line) + 1
        if self.size > MAX_BULK_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.size:
            return
        self.writer.close()
        request = urllib.request.Request(
            self.url,
            data=self.buffer.getvalue(),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            response.read()
        self.requests += 1
        self._reset()


def ship(event: dict[str, Any], url: str) -> int:
    """Ship every DATA_MESSAGE event to ``url`` (with the token in it); return the request count."""
    bulk = _Bulk(url)
    for record in event["Records"]:
        data = base64.b64decode(record["kinesis"]["data"])
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        payload = json.loads(data)
        if payload.get("messageType") != "DATA_MESSAGE":
            continue
        for log_event in payload["logEvents"]:
            line = {k: v for k, v in payload.items() if k != "logEvents"}
            parsed = _parse_strings(log_event)
            if isinstance(parsed.get("message"), dict):
                line.update(parsed.pop("message"))
            line.update(parsed)
            line["@timestamp"] = line.pop("timestamp")
            line["type"] = _type_from_log_group(line["logGroup"])
            bulk.add(json.dumps(line))
    bulk.flush()
    return bulk.requests
