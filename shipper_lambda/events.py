"""A record's events before they become lines: multiline joins, drop/keep filters, redaction.

The order is Filebeat's and Elastic's forwarder's: events are joined first, so a filter or a
redaction sees a whole stack trace (a secret cut across two CloudWatch events is still found,
a drop rule matching a trace's first line drops the trace, not its first line alone); then the
filters (``LOGZIO_KEEP_EVENTS``: when a group has keep rules, an event must match one;
``LOGZIO_DROP_EVENTS``: an event matching one is dropped; drop wins); then redaction, on what is
left. Filters search the message as it arrives (a JSON message's text, escapes included).

Every change is counted: ``filtered_events`` (source events, a joined event counting as all the
events it holds), ``joined`` (events appended to another), ``joined_lines``, and
``redacted_<name>`` per redaction rule. Dropped events' ids are logged at DEBUG.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from shipper_lambda import multiline
from shipper_lambda.redaction import Redactor
from shipper_lambda.rules import MultilineRule, RegexRule, Rules

log = logging.getLogger(__name__)


@dataclass
class _GroupRules:
    multiline: MultilineRule | None
    keep: tuple[RegexRule, ...]
    drop: tuple[RegexRule, ...]
    redact: tuple[RegexRule, ...]


@dataclass
class EventRules:
    """The configured rules for one invocation, with their counters."""

    rules: Rules
    filtered_events: int = 0
    joined: int = 0  # events appended to the one before them
    joined_lines: int = 0  # joined events (lines holding more than one event)
    redactor: Redactor = field(init=False)

    def __post_init__(self) -> None:
        self.redactor = Redactor(self.rules.redact)
        self._groups: dict[str, _GroupRules] = {}

    @property
    def redacted(self) -> dict[str, int]:
        return self.redactor.counts

    def _for(self, log_group: str) -> _GroupRules:
        cached = self._groups.get(log_group)
        if cached is None:
            rules = self.rules
            cached = self._groups[log_group] = _GroupRules(
                multiline=next((r for r in rules.multiline if r.applies_to(log_group)), None),
                keep=tuple(r for r in rules.keep if r.applies_to(log_group)),
                drop=tuple(r for r in rules.drop if r.applies_to(log_group)),
                redact=self.redactor.for_group(log_group),
            )
        return cached

    def apply(self, events: list[Any], log_group: str) -> list[Any]:
        """The record's events as they will ship. The payload's events are never changed in
        place: a changed event is a new dict (the list itself is returned when nothing applies)."""
        group = self._for(log_group)
        if group.multiline is not None:
            events, appended = multiline.join(events, group.multiline)
            if appended:
                self.joined += appended
                self.joined_lines += sum(
                    1 for e in events if isinstance(e, dict) and multiline.JOINED_IDS in e
                )
        if group.keep or group.drop:
            events = self._filter(events, group)
        if group.redact:
            events = self.redactor.events(events, group.redact)
        return events

    def _filter(self, events: list[Any], group: _GroupRules) -> list[Any]:
        keep, drop = group.keep, group.drop
        if not keep:
            # The drop rules' prefilters once over the record: mostly no event can match.
            try:
                joined = "\n".join([event["message"] for event in events])
            except (TypeError, KeyError):
                joined = None
            if joined is not None:
                drop = tuple(r for r in drop if r.may_match(joined))
                if not drop:
                    return events
        kept: list[Any] = []
        dropped: list[str] = []
        for event in events:
            message = event.get("message") if isinstance(event, dict) else None
            if type(message) is not str:
                kept.append(event)  # not text: the encoder ships or refuses it as usual
                continue
            if (keep and not any(r.search(message) for r in keep)) or any(
                r.search(message) for r in drop
            ):
                ids = [str(event.get("id")), *event.get(multiline.JOINED_IDS, ())]
                self.filtered_events += len(ids)
                dropped.extend(ids)
                continue
            kept.append(event)
        if dropped and log.isEnabledFor(logging.DEBUG):
            log.debug("filtered %d events: ids %s", len(dropped), ",".join(dropped))
        return kept
