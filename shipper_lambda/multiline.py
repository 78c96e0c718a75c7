"""Multiline joining inside one CloudWatch payload (one log stream's batch of events).

An event whose message does not match the rule's ``start`` is a continuation: it is appended,
newline-joined, to the event before it. The joined event keeps the first event's ``id``,
``timestamp`` (and ``extractedFields``) and lists the others' ids in ``joined_ids``; the line
carries ``joined`` (how many events it holds) and ``joined_ids``, so dedupe, replay, backfill and
reconcile can count it as that many events.

Joins never cross payloads: a payload is one stream's batch, and the next batch of the same
stream may reach another invocation (or this one much later); carrying a half-built event over
would need a store. A continuation with no start before it in the payload ships alone. A join
that would exceed ``max_lines`` events or ``max_bytes`` of message (UTF-8) ends there, and the
continuation that did not fit starts the next joined event: nothing is dropped (other shippers
discard the lines beyond their limit).
"""

from __future__ import annotations

from typing import Any

from shipper_lambda.rules import MultilineRule

JOINED_IDS = "joined_ids"  # the key a joined event carries (the line's joined_ids field)


def join(events: list[Any], rule: MultilineRule) -> tuple[list[Any], int]:
    """The payload's events with continuations joined; and how many events were appended to
    another (each is still counted, inside the line that holds it)."""
    start = rule.start.search
    max_lines, max_bytes = rule.max_lines, rule.max_bytes
    out: list[Any] = []
    group: list[Any] = []  # the events of the joined event being built (empty: none)
    size = 0  # its joined message's UTF-8 bytes
    appended = 0
    for event in events:
        message = event.get("message") if isinstance(event, dict) else None
        if not isinstance(message, str):  # not text: ships as it is (the encoder judges it)
            _flush(out, group)
            group = []
            out.append(event)
            continue
        length = len(message) if message.isascii() else len(message.encode("utf-8", "replace"))
        if start(message) is not None:
            _flush(out, group)
            group, size = [event], length
        elif not group:  # a continuation with no start before it in the payload: alone
            out.append(event)
        elif len(group) < max_lines and size + 1 + length <= max_bytes:
            group.append(event)
            size += 1 + length
            appended += 1
        else:  # full: this continuation begins the next joined event (never dropped)
            _flush(out, group)
            group, size = [event], length
    _flush(out, group)
    return out, appended


def _flush(out: list[Any], group: list[Any]) -> None:
    if not group:
        return
    if len(group) == 1:
        out.append(group[0])
        return
    first = group[0]
    pieces = []
    for event in group:
        message = event["message"]
        pieces.append(message if message.endswith("\n") or event is group[-1] else message + "\n")
    joined = dict(first)
    joined["message"] = "".join(pieces)
    joined[JOINED_IDS] = [_id(e) for e in group[1:]]
    out.append(joined)


def _id(event: dict[str, Any]) -> str:
    value = event.get("id")
    return value if isinstance(value, str) else str(value)
