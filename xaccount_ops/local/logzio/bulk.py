"""The bulk listener's rules, apart from HTTP: decode the body, split and judge its lines.

Logz.io's documented limits (``/work/shared/reference/logzio-api.md``): a body of at most
10,485,760 bytes uncompressed, lines of at most 500,000 bytes, one JSON object per line. A request
with any bad line is answered 400 with the counts, and its good lines are still kept (the docs do
not say; keeping them is the harsher case for a shipper that resends).

What counts as what (the emulator's reading, where Logz.io's docs are silent):

- *empty*: a line that is blank (whitespace only) or the empty object ``{}``. The final ``\\n``
  that ends a body is a terminator, not an empty line; a body with no bytes at all is one empty
  line (a shipper should never send it).
- *oversized*: more than 500,000 bytes, not counting the ``\\n`` (checked before parsing).
- *malformed*: not UTF-8 JSON, or JSON that is not an object.

The stored document is the line's object. ``type`` is set from the request's ``type`` query
parameter (default ``http-bulk``) only when the line has no ``type`` of its own: the line wins.
``@timestamp`` is added (receive time, ISO-8601 UTC with milliseconds) when the line has none,
as Logz.io does; a line whose ``@timestamp`` does not parse keeps it as sent and is filed under its
receive time.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

try:  # optional speed-up; the stdlib is enough
    import orjson

    def _loads(data: bytes) -> Any:
        return orjson.loads(data)

except ImportError:  # pragma: no cover - exercised only without orjson
    import json

    def _loads(data: bytes) -> Any:
        return json.loads(data)


MAX_BODY_BYTES = 10_485_760
MAX_LINE_BYTES = 500_000
DEFAULT_TYPE = "http-bulk"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class BodyTooLarge(Exception):
    """The (decompressed) body is over :data:`MAX_BODY_BYTES`: the listener answers 413."""


class BadEncoding(Exception):
    """The body cannot be decoded as its ``Content-Encoding`` says: the listener answers 400."""


@dataclass
class Line:
    """One accepted line: its document, the epoch milliseconds it is filed under, and its JSON
    text as sent when the listener added nothing to it (so the store need not re-encode it)."""

    source: dict[str, Any]
    ts_ms: int
    raw: bytes | None = None


@dataclass
class BulkResult:
    """What one bulk request held: the accepted lines and the count of each kind of reject."""

    lines: list[Line] = field(default_factory=list)
    malformed: int = 0
    oversized: int = 0
    empty: int = 0

    @property
    def rejected(self) -> int:
        return self.malformed + self.oversized + self.empty

    def counts(self) -> dict[str, int]:
        """The body of Logz.io's 400 answer."""
        return {
            "malformedLines": self.malformed,
            "successfulLines": len(self.lines),
            "oversizedLines": self.oversized,
            "emptyLogLines": self.empty,
        }


def decode_body(raw: bytes, content_encoding: str | None) -> bytes:
    """The uncompressed body. Raises :class:`BodyTooLarge` past the limit (without inflating a
    gzip bomb any further) and :class:`BadEncoding` for an encoding that does not decode."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        body = raw
    elif encoding in ("gzip", "x-gzip", "deflate"):
        body = _inflate(raw, gzip=encoding != "deflate")
    else:
        raise BadEncoding(f"Content-Encoding {encoding!r} is not supported; use gzip or none")
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"body is {len(body)} bytes uncompressed; the limit is {MAX_BODY_BYTES}")
    return body


def _inflate(raw: bytes, *, gzip: bool) -> bytes:
    # Several gzip members may follow each other (concatenated gzip files are valid gzip).
    limit = MAX_BODY_BYTES + 1
    parts: list[bytes] = []
    size = 0
    data = raw
    try:
        while data:
            inflater = zlib.decompressobj(wbits=31 if gzip else 15)
            chunk = inflater.decompress(data, limit - size)
            parts.append(chunk)
            size += len(chunk)
            if size >= limit or inflater.unconsumed_tail:
                raise BodyTooLarge(f"body inflates past the limit of {MAX_BODY_BYTES} bytes")
            if not inflater.eof:
                raise BadEncoding("compressed body is truncated")
            data = inflater.unused_data if gzip else b""
    except zlib.error as err:
        kind = "gzip" if gzip else "deflate"
        raise BadEncoding(f"body is not valid {kind}: {err}") from None
    return b"".join(parts)


def parse_lines(
    body: bytes, *, default_type: str, received_ms: int, reject: bytes | None = None
) -> BulkResult:
    """Judge every line of ``body`` (see the module docstring for the rules). Lines containing
    ``reject`` count as malformed (the ``reject_lines`` fault)."""
    result = BulkResult()
    raw_lines = body.split(b"\n")
    if len(raw_lines) > 1 and raw_lines[-1] == b"":
        raw_lines.pop()  # the terminator of the last line
    received_iso: str | None = None
    for raw in raw_lines:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if len(raw) > MAX_LINE_BYTES:
            result.oversized += 1
            continue
        if not raw.strip():
            result.empty += 1
            continue
        if reject is not None and reject in raw:
            result.malformed += 1
            continue
        try:
            doc = _loads(raw)
        except ValueError:  # json and orjson decode errors (and bad UTF-8) are ValueErrors
            result.malformed += 1
            continue
        if not isinstance(doc, dict):
            result.malformed += 1
            continue
        if not doc:
            result.empty += 1
            continue
        unchanged = True
        if "type" not in doc:
            doc["type"] = default_type
            unchanged = False
        stamp = doc.get("@timestamp")
        ts_ms = parse_timestamp(stamp) if stamp is not None else None
        if stamp is None:
            if received_iso is None:
                received_iso = iso_ms(received_ms)
            doc["@timestamp"] = received_iso
            unchanged = False
        ts = received_ms if ts_ms is None else ts_ms
        result.lines.append(Line(doc, ts, raw if unchanged else None))
    return result


def parse_timestamp(value: Any) -> int | None:
    """Epoch milliseconds of an ``@timestamp`` value: an ISO-8601 string (a naive one is UTC) or
    a number of epoch milliseconds, as Elasticsearch's default date format reads it. ``None``
    when it does not parse."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // _MS  # integer arithmetic: no float rounding of milliseconds


def iso_ms(epoch_ms: int) -> str:
    """``2024-05-01T12:00:00.123Z`` for epoch milliseconds."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"
