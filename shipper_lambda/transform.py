"""CloudWatch log events → shipped lines (one minified JSON object each, as bytes).

A line is ``{<message fields>, "@timestamp", "id", "owner", "region", "logGroup", "logStream",
"type", <additional fields>}``. The metadata after ``id`` is the same for every event of a record,
so it is serialised once per record (the *suffix*) and each event costs one string encode, a
cached timestamp and a join. Messages that start with ``{`` and parse as a JSON object are merged
at top level with the metadata keys removed from them first (metadata wins, and no key appears
twice). Everything else ships as ``message`` unchanged.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shipper_lambda import codec
from shipper_lambda.config import METADATA_KEYS, Config

log = logging.getLogger(__name__)

# A region at the end of a filter name: logzio-xacct-eu-west-1, ...-us-gov-west-1, ...-cn-north-1.
_REGION_SUFFIX = re.compile(r"(?:^|-)([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2})$")
# '.123Z","id":"' for every millisecond value: the per-event timestamp is two lookups.
_MS_ID = [b'.%03dZ","id":"' % ms for ms in range(1000)]
_MESSAGE_HEAD = b'{"message":'


class MalformedEvent(ValueError):
    """A log event without a usable id, timestamp or message."""


def derive_type(log_group: str, config: Config) -> str:
    """The line's ``type``: a ``LOGZIO_TYPE_MAP`` prefix, else what the reference shipper derives.

    ``/aws/lambda/x`` → ``lambda``, ``/aws/events/x/y`` → ``x``, anything else → the default type
    (``LOGZIO_TYPE``, default ``aws-cross-account``). Unlike the reference, only ``/aws/...`` groups
    derive a type: ``/ecs/app/web`` stays the default instead of becoming ``app``.
    """
    for prefix, type_name in config.type_map:
        if log_group.startswith(prefix):
            return type_name
    parts = log_group.split("/")
    if len(parts) > 2 and parts[0] == "" and parts[1] == "aws":
        service = parts[2]
        if service.lower() in ("event", "events"):
            return parts[3] if len(parts) > 3 and parts[3] else config.default_type
        return service or config.default_type
    return config.default_type


def region_from_filters(filters: Any) -> str | None:
    """The source region from a subscription filter name ending in one (``logzio-xacct-eu-west-1``)."""
    if not isinstance(filters, list):
        return None
    for name in filters:
        if isinstance(name, str):
            match = _REGION_SUFFIX.search(name)
            if match:
                return match.group(1)
    return None


@dataclass
class RecordContext:
    """Per-record metadata, serialised once; per-event overrides (``@aws.*``) are cached too."""

    owner: str
    region: str | None
    log_group: str
    log_stream: str
    type: str
    additional: Mapping[str, Any]

    def __post_init__(self) -> None:
        self._suffixes: dict[tuple[str, str | None], bytes] = {}
        self.suffix = self.suffix_for(self.owner, self.region)

    def suffix_for(self, owner: str, region: str | None) -> bytes:
        """``","owner":...,"type":...,<additional>}``: everything after the event id's digits."""
        key = (owner, region)
        suffix = self._suffixes.get(key)
        if suffix is None:
            meta: dict[str, Any] = {"owner": owner}
            if region:
                meta["region"] = region
            meta.update(
                {"logGroup": self.log_group, "logStream": self.log_stream, "type": self.type}
            )
            meta.update(self.additional)
            suffix = self._suffixes[key] = b'",' + codec.dumps_obj(meta)[1:]
        return suffix


def record_context(payload: Mapping[str, Any], config: Config) -> RecordContext:
    """Metadata for a DATA_MESSAGE payload (region from the filter name when it ends in one)."""
    log_group = payload["logGroup"]
    return RecordContext(
        owner=str(payload.get("owner") or payload.get("@aws.account") or ""),
        region=_str_or_none(payload.get("@aws.region"))
        or region_from_filters(payload.get("subscriptionFilters")),
        log_group=log_group,
        log_stream=str(payload.get("logStream") or ""),
        type=derive_type(log_group, config),
        additional=config.additional_fields,
    )


class LineEncoder:
    """Turns one record's events into lines. Holds the per-invocation timestamp cache."""

    def __init__(self, config: Config) -> None:
        self.max_line = config.max_line_bytes
        self.reserved = METADATA_KEYS | frozenset(config.additional_fields)
        self._seconds: dict[int, bytes] = {}
        self.truncated = 0
        self.malformed: list[str] = []

    def lines(self, events: list[Any], ctx: RecordContext) -> Iterator[bytes]:
        """One line per well-formed event, in order. Malformed events are counted, not shipped.

        A line is joined once from six pieces (head, message, timestamp to the second, the
        milliseconds and ``"id":"``, the id, the record's suffix): one copy of the message bytes.
        """
        dumps_str = codec.dumps_str
        join = b"".join
        seconds = self._seconds
        ms_id = _MS_ID
        max_line = self.max_line
        suffix = ctx.suffix
        for event in events:
            try:
                message = event["message"]
                timestamp = event["timestamp"]
                event_id = event["id"]
                line_suffix = suffix if len(event) <= 3 else self._event_suffix(event, ctx)
                if type(message) is not str:
                    message = str(message)
                if type(timestamp) is not int:
                    timestamp = int(timestamp)
                sec, ms = divmod(timestamp, 1000)
                stamp = seconds.get(sec)
                if stamp is None:
                    stamp = seconds[sec] = _stamp(sec)
                if type(event_id) is str and event_id.isdigit() and event_id.isascii():
                    id_bytes = event_id.encode()  # CloudWatch ids: 56 digits, nothing to escape
                else:
                    id_bytes = dumps_str(str(event_id))[1:-1]
                head = self._merged_head(message) if message[:1] == "{" else None
                if head is None:
                    line = join(
                        (_MESSAGE_HEAD, dumps_str(message), stamp, ms_id[ms], id_bytes, line_suffix)
                    )
                else:
                    line = join((head, stamp, ms_id[ms], id_bytes, line_suffix))
                if len(line) > max_line:
                    line = self._truncated(message, join((stamp, ms_id[ms], id_bytes, line_suffix)))
                yield line
            except (KeyError, TypeError, ValueError, OverflowError, OSError) as err:
                self._malformed(event, err)

    def _event_suffix(self, event: Mapping[str, Any], ctx: RecordContext) -> bytes:
        # emitSystemFields puts @aws.account/@aws.region on each event; they win over the payload.
        owner = _str_or_none(event.get("@aws.account")) or ctx.owner
        region = _str_or_none(event.get("@aws.region")) or ctx.region
        return ctx.suffix_for(owner, region)

    def _merged_head(self, message: str) -> bytes | None:
        """``{<message fields>`` (no closing brace) for a JSON-object message, or None to ship
        the message as text.

        When the object holds none of the metadata keys and sits on one line, its own text is
        reused (the strict parse proved it valid JSON): no re-serialisation, numbers and escapes
        exactly as written. Otherwise the parsed object is re-serialised without those keys.
        """
        text = message.rstrip()
        if text[-1:] != "}":
            return None
        try:
            doc = codec.strict_loads(text)
            if type(doc) is not dict or not doc:
                return None  # not an object, or {}: nothing to merge, ship the text
            clash = self.reserved.intersection(doc)
            if not clash and "\n" not in text and "\r" not in text:
                return text[:-1].encode("utf-8", "surrogatepass")
            for key in clash:
                del doc[key]
            if not doc:
                return None  # nothing left to merge ({} or only metadata keys): ship the text
            return codec.dumps_obj(doc)[:-1]
        except (ValueError, TypeError, RecursionError):
            return None

    def _truncated(self, message: str, tail: bytes) -> bytes:
        """A line within the limit: the message cut, marked, and its original size in bytes."""
        raw = message.encode("utf-8", "surrogatepass")
        rest = b',"truncated":true,"originalSize":%d' % len(raw) + tail
        budget = self.max_line - len(rest) - len(_MESSAGE_HEAD)  # room for the JSON string
        cut = budget - 2  # its quotes
        while True:
            encoded = codec.dumps_str(raw[:cut].decode("utf-8", "ignore"))
            if len(encoded) <= budget or cut <= 0:
                self.truncated += 1
                return _MESSAGE_HEAD + encoded + rest
            # Escaping made it longer than its bytes (\u0001 is 6): scale the cut by the overrun.
            cut = min(cut - 1, int(cut * (budget - 2) / (len(encoded) - 2)))

    def _malformed(self, event: Any, err: Exception) -> None:
        event_id = event.get("id") if isinstance(event, dict) else None
        self.malformed.append(str(event_id))
        log.warning("skipping malformed log event id=%s: %s: %s", event_id, type(err).__name__, err)


def _stamp(second: int) -> bytes:
    """``,"@timestamp":"2024-05-14T12:00:00`` (UTC), cached per second by the caller."""
    return b',"@timestamp":"' + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
