"""CloudWatch log events → shipped lines (one minified JSON object each, as bytes).

A line is ``{<message fields> | "message", "@timestamp", "id", [extractedFields], "owner",
["region"], "logGroup", "logStream", "messageType", "subscriptionFilters", "type",
<additional fields>}`` (the schema, and what wins, is in the README). The metadata after ``id`` is
the same for every event of a record, so it is serialised once per record (the *suffix*) and each
event costs one string encode, a cached timestamp and a join.

A message that starts with ``{`` and parses as a JSON object is merged at top level. Metadata wins
its key; the message's own value for a key the line carries moves to ``msg_<key>`` (never
dropped); a key the line does not carry (``region`` when none is known) stays where it was. When
nothing clashes, the message's own text is reused: numbers and escapes exactly as written.

A message over the line limit is split into parts (``part`` 1..n, ``parts`` n, same ``id``, the
metadata on each) whose ``message`` strings concatenate to the original text, cut only between
characters and never inside a JSON escape (:func:`split_encoded`). An oversize JSON-object message
is split the same way, as text: its fields are not merged (a part cannot hold half an object).
``LOGZIO_OVERSIZE=truncate`` cuts the message instead and marks ``truncated``/``originalSize``.

Every line is valid UTF-8 (lone surrogates become U+FFFD, counted), one JSON object, not empty and
within the line limit. Lines built from the codec's own output on the common path are valid by
construction; the paths that could produce a bad line (re-serialised, split or truncated lines)
are checked with :func:`check_line` before they are yielded.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipper_lambda import codec
from shipper_lambda.config import ALWAYS_RESERVED, CLASH_PREFIX, Config
from shipper_lambda.multiline import JOINED_IDS
from shipper_lambda.regions import region_suffix

log = logging.getLogger(__name__)

# emitSystemFields: where AWS puts them (inside extractedFields) and what they become.
SYSTEM_ACCOUNT, SYSTEM_REGION, SYSTEM_SOURCE_LOG = "@aws.account", "@aws.region", "@source.log"
SYSTEM_FIELDS = (SYSTEM_ACCOUNT, SYSTEM_REGION, SYSTEM_SOURCE_LOG)
SYSTEM_FIELDS_SET = frozenset(SYSTEM_FIELDS)
SOURCE_LOG_FIELD = "sourceLog"  # @source.log on the line
# '.123Z","id":"' for every millisecond value: the per-event timestamp is two lookups.
_MS_ID = [b'.%03dZ","id":"' % ms for ms in range(1000)]
_MESSAGE_HEAD = b'{"message":'
# A \uD800-\uDFFF escape in a JSON message: possibly a lone surrogate, so do not reuse the text.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_MIN_PART_ROOM = 64  # bytes of message a part must be able to hold
# A line's bytes besides the message (or merged head), the id and the suffix, at most: the
# message head, ',"@timestamp":"' and a year of up to 5 digits, '.123Z","id":"'.
_TAIL_MAX = len(_MESSAGE_HEAD) + len(b',"@timestamp":"99999-12-31T23:59:59') + len(_MS_ID[0])


class MalformedEvent(ValueError):
    """A log event without a usable id, timestamp or message."""


class InvalidLine(ValueError):
    """A line that the listener would reject; never sent (see :func:`check_line`)."""


def derive_type(log_group: str, config: Config) -> str:
    """The line's ``type``: ``LOGZIO_TYPE_MAP`` (longest prefix, then regexes in order), else
    exactly what the seed derives, else the default type (``LOGZIO_TYPE``).

    The seed splits the name on ``/`` and takes the third piece (``/aws/lambda/x`` → ``lambda``,
    ``/ecs/orders-svc`` → ``orders-svc``, ``a/b/c`` → ``c``); when that piece, lower-cased, is
    ``event``, or is exactly ``events``, it takes the fourth (``/aws/events/trail/x`` → ``trail``,
    ``/aws/EVENT/x`` → ``x``, but ``/aws/Events/x`` → ``Events``: the seed's own test). A missing
    piece gives the default; so does an empty one (``/ecs/``: the seed's one defect, an empty type).
    """
    for prefix, type_name in config.type_map:
        if log_group.startswith(prefix):
            return type_name
    for pattern, type_name in config.type_regexes:
        if pattern.search(log_group):
            return type_name
    return seed_type(log_group) or config.default_type


def seed_type(log_group: str) -> str:
    """The seed's derivation (empty when it has none: the caller's default applies)."""
    parts = log_group.split("/")
    if len(parts) < 3:
        return ""
    piece = parts[2]
    if piece.lower() == "event" or piece == "events":  # the seed's test, exactly
        return parts[3] if len(parts) > 3 else ""
    return piece


def region_from_filters(filters: Any) -> str | None:
    """The source region from a subscription filter name ending in an AWS region's name
    (``logzio-xacct-eu-west-1``, ``logzio-xacct-eusc-de-east-1``); ``my-sub-01`` names none."""
    if not isinstance(filters, list):
        return None
    for name in filters:
        if isinstance(name, str):
            region = region_suffix(name)
            if region:
                return region
    return None


@dataclass(frozen=True)
class SystemFields:
    """An event's ``emitSystemFields`` values (None where absent)."""

    account: str | None = None
    region: str | None = None
    source_log: str | None = None


def system_fields(event: Mapping[str, Any]) -> SystemFields:
    """``@aws.account``, ``@aws.region``, ``@source.log`` of one log event: inside its
    ``extractedFields`` (where AWS delivers them), else at the top of the event (a fallback for
    producers that put them there). Replay and backfill read them with this too."""
    extracted = event.get("extractedFields")
    inner = extracted if isinstance(extracted, dict) else {}
    values = []
    for name in SYSTEM_FIELDS:
        value = _str_or_none(inner.get(name)) or _str_or_none(event.get(name))
        values.append(value)
    return SystemFields(*values)


def payload_origin(payload: Mapping[str, Any]) -> tuple[str, str | None]:
    """(account, region) of a DATA_MESSAGE payload, as its lines get them: the first event's
    system fields, else the payload's ``owner`` and a region from its filter names."""
    events = payload.get("logEvents")
    first = events[0] if isinstance(events, list) and events else None
    fields = system_fields(first) if isinstance(first, dict) else SystemFields()
    account = fields.account or str(payload.get("owner") or payload.get(SYSTEM_ACCOUNT) or "")
    region = (
        fields.region
        or _str_or_none(payload.get(SYSTEM_REGION))
        or region_from_filters(payload.get("subscriptionFilters"))
    )
    return account, region


@dataclass
class RecordContext:
    """Per-record metadata, serialised once; per-event overrides (``@aws.*``) are cached too."""

    owner: str
    region: str | None
    log_group: str
    log_stream: str
    type: str
    additional: Mapping[str, Any]
    message_type: str = "DATA_MESSAGE"
    filters: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._suffixes: dict[tuple[str, str | None, str | None], tuple[bytes, frozenset[str]]]
        self._suffixes = {}
        # LineEncoder._event_suffix's cache: per-event fields (system, extracted) → suffix
        self.event_suffixes: dict[Any, tuple[bytes, frozenset[str]]] = {}
        self.suffix, self.reserved = self.suffix_for(self.owner, self.region)

    def suffix_for(
        self, owner: str, region: str | None, source_log: str | None = None
    ) -> tuple[bytes, frozenset[str]]:
        """``","owner":...,"type":...,<additional>}\\n`` (everything after the event id's digits,
        the line's newline included) and the keys a merged message loses to the metadata: those
        the line carries, and ``part``/``parts``/``joined``/``joined_ids`` always (the dedupe
        keys: a message's own ``part`` must never read as one)."""
        key = (owner, region, source_log)
        cached = self._suffixes.get(key)
        if cached is None:
            meta: dict[str, Any] = {"owner": owner}
            if region:
                meta["region"] = region
            meta["logGroup"] = self.log_group
            meta["logStream"] = self.log_stream
            if source_log:
                meta[SOURCE_LOG_FIELD] = source_log
            meta["messageType"] = self.message_type
            meta["subscriptionFilters"] = self.filters
            meta["type"] = self.type
            meta.update(self.additional)
            suffix = b'",' + codec.dumps_obj(meta)[1:] + b"\n"
            reserved = frozenset(meta) | {"@timestamp", "id"} | ALWAYS_RESERVED
            cached = self._suffixes[key] = (suffix, reserved)
        return cached


def record_context(payload: Mapping[str, Any], config: Config) -> RecordContext:
    """Metadata for a DATA_MESSAGE payload (region from the filter name when it ends in one)."""
    log_group = payload["logGroup"]
    filters = payload.get("subscriptionFilters")
    return RecordContext(
        owner=str(payload.get("owner") or payload.get(SYSTEM_ACCOUNT) or ""),
        region=_str_or_none(payload.get(SYSTEM_REGION)) or region_from_filters(filters),
        log_group=log_group,
        log_stream=str(payload.get("logStream") or ""),
        type=derive_type(log_group, config),
        additional=config.additional_fields,
        message_type=str(payload.get("messageType") or "DATA_MESSAGE"),
        filters=filters if isinstance(filters, list) else [],
    )


class LineEncoder:
    """Turns one record's events into lines. Holds the per-invocation timestamp cache."""

    def __init__(self, config: Config) -> None:
        self.max_line = config.max_line_bytes
        self.split_oversize = config.oversize != "truncate"
        self._seconds: dict[int, bytes] = {}
        self.truncated = 0
        self.split = 0  # events shipped as parts
        self.parts = 0  # lines those events became
        self.renamed = 0  # message fields moved to msg_<key>
        # (id, part) lines Logz.io already holds: replay/backfill resend only an event's missing
        # parts (the split is deterministic, so part k is the same line again).
        self.skip_parts: frozenset[tuple[str, int]] = frozenset()
        self.malformed: list[str] = []
        self._surrogates_at_start = codec.surrogates

    @property
    def surrogates(self) -> int:
        """Lone surrogates replaced by U+FFFD by this encoder's lines."""
        return codec.surrogates - self._surrogates_at_start

    def lines(self, events: list[Any], ctx: RecordContext) -> list[bytes]:
        """The lines of well-formed events, in order (one per event, or its parts), without
        their newlines: :meth:`record` split (lines never hold a raw newline)."""
        data, _ = self.record(events, ctx)
        return data.split(b"\n")[:-1]

    def record(self, events: list[Any], ctx: RecordContext) -> tuple[bytes, int]:
        """The record's lines as one ``bytes``, each ended by a newline, and how many lines:
        one per well-formed event, or its parts. Malformed events are counted, logged with their
        id, not shipped.

        A line is six pieces (head, message, timestamp to the second, the milliseconds and
        ``"id":"``, the id, the record's suffix with the newline) and the record is one join of
        all of them: the message bytes are copied once, no object per line is made, and the
        batcher appends the record in one copy. This loop runs per event: everything it needs
        is a local, the backend's functions are called without their fallback wrappers (the
        fallback is the except branch). The line limit is checked against a bound that holds
        for every timestamp up to year 99999; only a line near the limit is joined to measure.
        """
        dumps = codec.raw_dumps_str
        seconds = self._seconds
        ms_id = _MS_ID
        suffix, reserved = ctx.suffix, ctx.reserved
        # Bytes left for the message (or merged head) and the id on a line within the limit.
        room = self.max_line - len(suffix) - _TAIL_MAX
        merged_head = self._merged_head
        # msgspec's raw top-level parse and its encoder (None without msgspec)
        raw_decode = codec.raw_object_decode
        raw_encode = codec.raw_object_bytes
        pieces: list[bytes] = []
        extend = pieces.extend
        count = 0
        last_extracted: Any = None  # the previous event's extractedFields and its suffix
        last_suffix: tuple[bytes, frozenset[str]] = (suffix, reserved)
        last_room = room
        for event in events:
            try:
                message = event["message"]
                timestamp = event["timestamp"]
                event_id = event["id"]
                if len(event) <= 3:
                    line_suffix, line_reserved, line_room = suffix, reserved, room
                elif len(event) == 4 and (extracted := event.get("extractedFields")) is not None:
                    # emitSystemFields: id, timestamp, message, extractedFields, mostly the same
                    # extractedFields as the event before (a dict compare, in C).
                    if extracted != last_extracted or last_extracted is None:
                        last_extracted = extracted
                        last_suffix = self._event_suffix(event, ctx)
                        last_room = self.max_line - len(last_suffix[0]) - _TAIL_MAX
                    line_suffix, line_reserved = last_suffix
                    line_room = last_room
                else:
                    line_suffix, line_reserved = self._event_suffix(event, ctx)
                    line_room = self.max_line - len(line_suffix) - _TAIL_MAX
                if type(message) is not str:  # null, an object, a bool: its JSON text
                    message = codec.dumps_obj(message).decode()
                if type(timestamp) is not int:
                    timestamp = int(timestamp)
                sec, ms = divmod(timestamp, 1000)
                stamp = seconds.get(sec)
                if stamp is None:
                    stamp = seconds[sec] = _stamp(sec)
                # CloudWatch ids are 56 ASCII digits: nothing to escape (bytes.isdigit is ASCII).
                if type(event_id) is not str or not (id_bytes := event_id.encode()).isdigit():
                    id_bytes = codec.dumps_str(str(event_id))[1:-1]
                if message[:1] != "{":
                    head = None
                elif (
                    raw_decode is None or message[-1:] != "}" or "\n" in message or "\r" in message
                ):
                    head = merged_head(message, line_reserved)
                else:
                    # msgspec's compact top level, the common case of _merged_head, inline.
                    try:
                        doc = raw_decode(message)
                    except (ValueError, TypeError, RecursionError):
                        doc = None
                    if doc and line_reserved.isdisjoint(doc):
                        head = raw_encode(doc)[:-1]
                    else:  # a clash, {}, or a text msgspec refuses: the general case
                        head = merged_head(message, line_reserved, doc)
                if head is None:
                    try:
                        text = dumps(message)
                    except (TypeError, ValueError):  # lone surrogates: the wrapper scrubs them
                        text = codec.dumps_str(message)
                    line = (_MESSAGE_HEAD, text, stamp, ms_id[ms], id_bytes, line_suffix)
                    fits = len(text) + len(id_bytes) <= line_room
                else:
                    line = (head, stamp, ms_id[ms], id_bytes, line_suffix)
                    fits = len(head) + len(id_bytes) <= line_room
                if fits or len(b"".join(line)) - 1 <= self.max_line:  # - 1: the newline
                    extend(line)
                    count += 1
                    continue
                tail = b"".join((stamp, ms_id[ms], id_bytes))
                if self.split_oversize:
                    parts = self._parts(message, tail, line_suffix[:-1])
                    if self.skip_parts:
                        key = str(event_id)
                        parts = [
                            p for n, p in enumerate(parts, 1) if (key, n) not in self.skip_parts
                        ]
                else:
                    truncated = self._truncated(message, tail + line_suffix[:-1])
                    parts = [check_line(truncated, self.max_line)]
                for part in parts:
                    extend((part, b"\n"))
                count += len(parts)
            except (KeyError, TypeError, ValueError, OverflowError, OSError) as err:
                self._malformed(event, err)
        return b"".join(pieces), count

    def _event_suffix(
        self, event: Mapping[str, Any], ctx: RecordContext
    ) -> tuple[bytes, frozenset[str]]:
        """The suffix of an event with more than id/timestamp/message: system fields (they win
        over the payload's owner and the filter name's region), a join, extracted fields.

        With ``emitSystemFields`` every event has ``extractedFields``, mostly the same values
        in a whole payload: the suffix is cached per record by those values (a tuple key costs
        a fraction of building the suffix again)."""
        extracted = event.get("extractedFields")
        key: Any = None
        if JOINED_IDS not in event:
            key = (
                tuple(extracted.items()) if type(extracted) is dict else extracted,
                event.get(SYSTEM_ACCOUNT),
                event.get(SYSTEM_REGION),
                event.get(SYSTEM_SOURCE_LOG),
            )
            try:
                cached = ctx.event_suffixes.get(key)
            except TypeError:  # an unhashable extracted value (a list): not cached
                key = None
            else:
                if cached is not None:
                    return cached
        result = self._build_event_suffix(event, ctx, extracted)
        if key is not None:
            ctx.event_suffixes[key] = result
        return result

    def _build_event_suffix(
        self, event: Mapping[str, Any], ctx: RecordContext, extracted: Any
    ) -> tuple[bytes, frozenset[str]]:
        system = system_fields(event)
        suffix, reserved = ctx.suffix_for(
            system.account or ctx.owner, system.region or ctx.region, system.source_log
        )
        head = b'",'
        joined_ids = event.get(JOINED_IDS)
        if type(joined_ids) is list and joined_ids:
            head += b'"joined":%d,"joined_ids":' % (len(joined_ids) + 1)
            head += codec.dumps_obj(joined_ids) + b","
        if type(extracted) is dict and extracted:
            if not SYSTEM_FIELDS_SET.isdisjoint(extracted):
                extracted = {k: v for k, v in extracted.items() if k not in SYSTEM_FIELDS_SET}
            if extracted:
                # A field-extracting filter pattern: shipped as it comes, as the seed did (shared
                # reference seed-lines.md); the system fields are on the line as owner/region.
                head += b'"extractedFields":' + codec.dumps_obj(extracted) + b","
                reserved = reserved | {"extractedFields"}
        elif extracted is not None and type(extracted) is not dict:
            head += b'"extractedFields":' + codec.dumps_obj(extracted) + b","
            reserved = reserved | {"extractedFields"}
        if len(head) == 2:
            return suffix, reserved
        return head + suffix[2:], reserved

    def _merged_head(
        self, message: str, reserved: frozenset[str], parsed: dict[str, Any] | None = None
    ) -> bytes | None:
        """``{<message fields>`` (no closing brace) for a JSON-object message, or None to ship
        the message as text.

        When the object holds none of the line's keys, no key twice at its top level, sits on
        one line and has no surrogate escape, it is reused as written (with msgspec: its
        top level rewritten compact, each value byte for byte). Otherwise it is re-serialised:
        clashing keys renamed, a repeated key's last value kept (as ``json.loads`` does;
        Elasticsearch refuses a field twice), from msgspec's raw values (numbers and escapes
        as written) or a parse without orjson's big-integer loss (:func:`codec.exact_loads`).
        A number beyond a double makes the message ship as text on every backend.
        """
        text = message if message[-1:] == "}" else message.rstrip()  # no copy when it can
        if text[-1:] != "}":
            return None
        if parsed:  # the caller's msgspec parse of this text
            doc, body = parsed, codec.raw_object_bytes(parsed)
        else:
            try:
                doc, body = codec.raw_object(text)
            except (ValueError, TypeError, RecursionError):
                doc = body = None
        # The common case first (once per JSON message): msgspec's compact top level, on one
        # line (a raw newline in the text is whitespace: maybe inside a raw value), no clash.
        if body and doc and "\n" not in text and "\r" not in text and reserved.isdisjoint(doc):
            return body[:-1]  # bytes: only msgspec's encoding (the others give None or b"")
        # A text the raw backend parsed holds no lone surrogate when that backend is orjson or
        # msgspec (they refuse them, escaped or raw), so the surrogate scan below is skipped then.
        clean = codec.RAW_LOADS_REFUSES_SURROGATES
        raw = codec.RAW_OBJECT_VALUES_RAW
        if doc is None:
            clean = raw = False
            try:  # orjson/msgspec refuse some valid JSON (lone surrogate escapes): the stdlib
                doc = codec.strict_loads(text)
            except (ValueError, TypeError, RecursionError):
                return None
            body = codec.DUPLICATE_KEYS  # not the backend's parse: re-serialise to be sure
        if type(doc) is not dict or not doc:
            return None  # not an object, or {}: nothing to merge, ship the text
        # The text first: ``bytes in bytes`` costs a raised-and-cleared TypeError in CPython
        # (it tries the needle as an int first), ``str in str`` does not; the body is the text's
        # bytes with its top-level whitespace dropped, so a text without one has none either.
        if "\n" in text or "\r" in text:
            if body is None:
                body = codec.DUPLICATE_KEYS  # whitespace newlines: re-serialise onto one line
            elif body and (body.find(b"\n") >= 0 or body.find(b"\r") >= 0):
                body = codec.DUPLICATE_KEYS  # a raw value spans lines
        if body is not codec.DUPLICATE_KEYS and reserved.isdisjoint(doc):
            if body is not None:
                return body[:-1]
            if clean or "\\u" not in text or not _SURROGATE_ESCAPE.search(text):
                try:
                    return text[:-1].encode()
                except UnicodeEncodeError:
                    pass  # a raw lone surrogate: re-serialise (scrubbed and counted)
        clash = reserved.intersection(doc)
        if codec.HUGE_NUMBER.search(text):
            try:
                codec.dumps_finite(codec.exact_loads(text), text)
            except (ValueError, TypeError, RecursionError):
                return None  # beyond a double: orjson would write null, the stdlib refuse
        try:
            # msgspec's raw values: rename at the top, values byte for byte; else a re-parse.
            keep_raw = raw and bool(body)
            if not keep_raw:
                doc = codec.exact_loads(text)
            for key in clash:
                name = CLASH_PREFIX + key
                while name in doc or name in reserved:
                    name = CLASH_PREFIX + name
                doc[name] = doc.pop(key)
            self.renamed += len(clash)
            out = codec.raw_object_bytes(doc) if keep_raw else codec.dumps_obj(doc)
            return out[:-1]  # valid by construction: codec output
        except (ValueError, TypeError, RecursionError):
            return None

    def _parts(self, message: str, tail: bytes, line_suffix: bytes) -> list[bytes]:
        """The oversize event as consecutive lines whose messages concatenate to ``message``.

        CloudWatch takes events up to 1 MB since 2025 (PutLogEvents; shared reference
        aws-facts.md) while a Logz.io line is at most 500,000 bytes (logzio-api.md): a big event
        needs two or three parts."""
        encoded = codec.dumps_str(message)[1:-1]
        rest = line_suffix[2:]  # '"owner":...}' after the '",' that closes the id
        digits = 1
        while True:
            fixed = len(b'{"message":""') + len(tail) + len(b'","part":,"parts":,') + len(rest)
            room = self.max_line - fixed - 2 * digits
            if room < _MIN_PART_ROOM:
                raise InvalidLine(
                    f"the line's metadata alone is {fixed} bytes: no room for the message within "
                    f"{self.max_line} bytes"
                )
            pieces = split_encoded(encoded, room)
            if len(str(len(pieces))) <= digits:
                break
            digits += 1
        total = len(pieces)
        self.split += 1
        self.parts += total
        return [
            check_line(
                b"".join(
                    (
                        b'{"message":"',
                        piece,
                        b'"',
                        tail,
                        b'","part":%d,"parts":%d,' % (number, total),
                        rest,
                    )
                ),
                self.max_line,
            )
            for number, piece in enumerate(pieces, 1)
        ]

    def _truncated(self, message: str, tail: bytes) -> bytes:
        """A line within the limit: the message cut, marked, and its original size in bytes."""
        raw = codec.scrub(message).encode()
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


def split_encoded(encoded: bytes, room: int) -> list[bytes]:
    """Cut a JSON string's content (escaped, UTF-8, no quotes) into pieces of at most ``room``
    bytes, each valid JSON string content on its own, so the decoded pieces concatenate to the
    decoded whole. A cut never falls inside a UTF-8 sequence or a JSON escape (``\\"``,
    ``\\\\``, ``\\u0001``)."""
    pieces: list[bytes] = []
    start, size = 0, len(encoded)
    while size - start > room:
        end = start + room
        while encoded[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte: back to the char start
            end -= 1
        end = _escape_start(encoded, end, start)
        if end <= start:
            raise ValueError(f"{room} bytes cannot hold one character or escape")
        pieces.append(encoded[start:end])
        start = end
    pieces.append(encoded[start:])
    return pieces


def _escape_start(encoded: bytes, end: int, floor: int) -> int:
    """``end``, moved back to the start of the escape sequence it would cut, if any."""
    # Backslashes right before the cut: an odd run means the last one starts an escape.
    run = end
    while run > floor and encoded[run - 1] == 0x5C:
        run -= 1
    if (end - run) % 2:
        return end - 1
    # Inside \uXXXX: a backslash (starting an escape) 2..5 bytes before the cut, then 'u'.
    for back in range(2, 6):
        at = end - back
        if at < floor:
            break
        if encoded[at] == 0x5C and encoded[at + 1] == 0x75:  # \u
            lead = at
            while lead > floor and encoded[lead - 1] == 0x5C:
                lead -= 1
            if (at - lead) % 2 == 0:  # this backslash is not itself escaped
                return at
    return end


def check_line(line: bytes, max_line: int) -> bytes:
    """``line`` if the listener would take it: not empty, at most ``max_line`` bytes, valid
    UTF-8, one JSON object (Logz.io's 400 rules: see the shared logzio-api reference). Raises
    :class:`InvalidLine` naming what is wrong."""
    if not line:
        raise InvalidLine("empty line")
    if len(line) > max_line:
        raise InvalidLine(f"line is {len(line)} bytes, over the {max_line}-byte limit")
    if b"\n" in line:
        raise InvalidLine("line holds a newline")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidLine(f"line is not valid UTF-8 ({err.reason} at byte {err.start})") from None
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise InvalidLine(f"line is not one JSON value: {err}") from None
    if type(doc) is not dict:
        raise InvalidLine(f"line is a JSON {type(doc).__name__}, not an object")
    return line


def _stamp(second: int) -> bytes:
    """``,"@timestamp":"2024-05-14T12:00:00`` (UTC), cached per second by the caller."""
    return b',"@timestamp":"' + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
