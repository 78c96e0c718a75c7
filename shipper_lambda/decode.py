"""Kinesis record → CloudWatch Logs payload: base64, then gunzip, then JSON.

A record that fails any step can never succeed on a retry, so the handler counts it, logs its
sequence number and moves on (it does not block the shard). CloudWatch always gzips; plain JSON
is accepted as well, as the reference shipper did, because it costs nothing and helps hand tests.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from typing import Any

from shipper_lambda import codec

GZIP_MAGIC = b"\x1f\x8b"
DATA_MESSAGE = "DATA_MESSAGE"
CONTROL_MESSAGE = "CONTROL_MESSAGE"


class UndecodableRecord(ValueError):
    """The record's data is not base64 + gzip + a CloudWatch Logs JSON payload."""


def sequence_number(record: Any) -> str | None:
    """The Kinesis sequence number, or None for a record too broken to have one."""
    try:
        value = record["kinesis"]["sequenceNumber"]
    except (KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def decode_record(record: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """The decoded payload and its uncompressed size in bytes.

    Raises :class:`UndecodableRecord` with the failing step in the message.
    """
    try:
        data = record["kinesis"]["data"]
    except (KeyError, TypeError):
        raise UndecodableRecord("no kinesis.data") from None
    if not isinstance(data, str | bytes):
        raise UndecodableRecord(f"kinesis.data is a {type(data).__name__}, not base64 text")
    try:
        raw = codec.b64decode(data)
    except (binascii.Error, ValueError) as err:
        raise UndecodableRecord(f"not base64: {err}") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = codec.gunzip(raw)
        except Exception as err:  # zlib.error, EOFError, OSError, isal's errors: all mean corrupt
            raise UndecodableRecord(f"not gzip: {type(err).__name__}: {err}") from None
    elif raw[:1] != b"{":
        raise UndecodableRecord("not gzip (and not plain JSON)")
    try:
        payload = codec.loads(raw)
    except ValueError as err:
        raise UndecodableRecord(f"not JSON: {err}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("messageType"), str):
        raise UndecodableRecord("JSON is not a CloudWatch Logs payload (no messageType)")
    if payload["messageType"] == DATA_MESSAGE:
        if not isinstance(payload.get("logEvents"), list):
            raise UndecodableRecord("DATA_MESSAGE without a logEvents list")
        if not isinstance(payload.get("logGroup"), str):
            raise UndecodableRecord("DATA_MESSAGE without a logGroup string")
    return payload, len(raw)
