"""Lambda entry point: Kinesis batch of CloudWatch Logs payloads → Logz.io bulk listener.

Records are processed in order. Each DATA_MESSAGE becomes one line per log event (see
``transform``); lines fill bodies (``batch``) that are sent as they fill (``deliver``/``sender``).
The result names the earliest record not fully delivered, after which nothing more is sent, so
Lambda's checkpoint never makes the listener receive a delivered record twice (with
``ReportBatchItemFailures``, Lambda retries from the lowest sequence number reported).

Undecodable records and CONTROL_MESSAGE records ship nothing and never fail the batch. A bad token
(401/403) stops the batch at its first undelivered record and logs an error: it never drops data.
A configuration error raises: nothing can be sent until it is fixed. The token is scrubbed from
every record the shipper's loggers emit (``redact``).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from shipper_lambda import codec, config, redact, routes, token_source
from shipper_lambda.batch import Batcher, Body
from shipper_lambda.decode import (
    CONTROL_MESSAGE,
    DATA_MESSAGE,
    UndecodableRecord,
    decode_record,
    sequence_number,
)
from shipper_lambda.deliver import Delivery, DeliveryFailed
from shipper_lambda.events import EventRules
from shipper_lambda.metrics import Stats, emit
from shipper_lambda.sender import AUTH, Listener, Outcome, Sender
from shipper_lambda.transform import LineEncoder, record_context

log = logging.getLogger("shipper_lambda")

DEFAULT_BUDGET_S = 60.0  # without a Lambda context (local runs)
LOG_LEVEL_ENV = "LOGZIO_LOG_LEVEL"


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """Ship the batch; return the partial-batch response for ``ReportBatchItemFailures``."""
    started = time.monotonic()
    log.setLevel(os.environ.get(LOG_LEVEL_ENV, "INFO").upper())
    cfg = config.load(os.environ)
    # The token secret's requests get the Logz.io requests' deadline, within the time left.
    token = token_source.resolve(cfg, started + _budget_s(context) - cfg.safety_margin_s)
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        records = []
    table = routes.load(os.environ)
    result = process(records, cfg, token, _budget_s(context), started=started, table=table)
    emit(result.stats, getattr(context, "function_name", None))
    failures: list[dict[str, str]] = []
    if result.failed is not None:
        seq = sequence_number(records[result.failed])
        if seq is None:
            raise RuntimeError(
                f"record #{result.failed} failed and has no sequence number to report"
            )
        failures.append({"itemIdentifier": seq})
    return {"batchItemFailures": failures}


@dataclass
class Result:
    """What :func:`process` did: the earliest record not fully delivered (or None) and counts."""

    failed: int | None
    stats: Stats


def process(
    records: list[Any],
    cfg: config.Config,
    token: str,
    budget_s: float = DEFAULT_BUDGET_S,
    *,
    started: float | None = None,
    table: routes.Table | None = None,
    skip_parts: frozenset[tuple[str, int]] = frozenset(),
) -> Result:
    """Decode, transform and deliver Kinesis records (the handler's whole job, minus the event).

    The toolkit's ``replay`` and ``backfill`` call this with records they rebuilt, so what they
    ship is exactly what the function ships. ``budget_s`` is the time allowed, of which
    ``cfg.safety_margin_s`` is kept back. Records after the failed one are not sent. ``table``
    routes records to sub-account tokens (``token`` is the main one). ``skip_parts`` names
    parts of split events not to send again, as ``(id, part)``.
    """
    started = time.monotonic() if started is None else started
    deadline = started + budget_s - cfg.safety_margin_s
    stats = Stats(backend=codec.BACKEND)
    main = Sender(Listener(cfg.listener_url, token, cfg.proxy), cfg, deadline, stats)
    with redact.guard(token) as redactor:  # whatever gets logged, the tokens do not
        invocation = _Invocation(cfg, main, table or routes.Table(), redactor)
        invocation.encoder.skip_parts = skip_parts
        failed = invocation.run(records)
    if failed is not None:
        stats.records_failed = len(records) - failed
        stats.failed_sequence_number = sequence_number(records[failed])
    stats.duration_ms = round((time.monotonic() - started) * 1000, 1)
    return Result(failed, stats)


class _Invocation:
    """One batch's processing state: encoder, batcher, delivery and counters."""

    def __init__(
        self, cfg: config.Config, post: Sender, table: routes.Table, redactor: redact.Redactor
    ) -> None:
        self.cfg = cfg
        self.redactor = redactor
        self.stats = post.stats
        self.encoder = LineEncoder(cfg)
        self.event_rules = EventRules(cfg.rules) if cfg.rules else None
        self.table = table
        self._main = post
        self._deliveries = {routes.DEFAULT: Delivery(post, post.stats)}
        self.batcher = Batcher(cfg.max_body_bytes, self._deliver)

    def _deliver(self, body: Body) -> None:
        try:
            self._deliveries[body.route](body)
        except DeliveryFailed as failure:
            if body.route != routes.DEFAULT:
                log.error(
                    "route %r failed at record #%d", self.table.name(body.route), failure.record
                )
            raise

    def _route(self, index: int, payload: dict[str, Any]) -> int:
        """The record's route, with its delivery ready; a route whose token cannot be read
        stops the batch at this record (everything before it is delivered first)."""
        route = self.table.route_for(str(payload.get("owner") or ""), payload["logGroup"])
        if route in self._deliveries:
            return route
        try:
            token = self.table.token(
                route, timeout_s=self.cfg.timeout_s, deadline=self._main.deadline
            )
        except routes.RouteTokenUnavailable as err:
            self.batcher.flush()
            self.stats.auth_failures += 1
            raise DeliveryFailed(index, Outcome(AUTH, None, str(err))) from None
        self.redactor.add(token)
        main = self._main
        post = Sender(
            Listener(self.cfg.listener_url, token, self.cfg.proxy),
            self.cfg,
            main.deadline,
            self.stats,
        )
        self._deliveries[route] = Delivery(post, self.stats)
        return route

    def run(self, records: list[Any]) -> int | None:
        """Process every record; the index of the earliest one not fully delivered, or None."""
        index = 0
        try:
            for index, record in enumerate(records):
                self._record(index, record)
            self.batcher.flush()
            return None
        except DeliveryFailed as failure:
            log.error("stopping at record #%d: %s", failure.record, failure)
            return failure.record
        except Exception:
            # A bug must not turn into lost data: report from the earliest record still pending.
            failed = self.batcher.first_undelivered(index)
            log.exception("unexpected error at record #%d; reporting record #%d", index, failed)
            return failed
        finally:
            self.batcher.release()
            stats, encoder = self.stats, self.encoder
            stats.lines, stats.bytes_lines = self.batcher.lines, self.batcher.bytes
            stats.truncated, stats.malformed = encoder.truncated, len(encoder.malformed)
            stats.split, stats.surrogates = encoder.split, encoder.surrogates
            stats.renamed = encoder.renamed
            rules = self.event_rules
            if rules is not None:
                stats.filtered_events, stats.joined = rules.filtered_events, rules.joined
                stats.joined_lines, stats.redacted = rules.joined_lines, dict(rules.redacted)

    def _record(self, index: int, record: Any) -> None:
        stats = self.stats
        stats.records += 1
        try:
            payload, size = decode_record(record)
        except UndecodableRecord as err:
            stats.records_undecodable += 1
            log.error(
                "skipping undecodable record #%d seq=%s: %s", index, sequence_number(record), err
            )
            return
        stats.bytes_in += size
        kind = payload["messageType"]
        if kind == CONTROL_MESSAGE:
            stats.records_control += 1
            return
        if kind != DATA_MESSAGE:
            stats.records_undecodable += 1
            log.error(
                "skipping record #%d seq=%s: unknown messageType %r",
                index,
                sequence_number(record),
                kind[:50],
            )
            return
        events = payload["logEvents"]
        if not self.cfg.ships(payload["logGroup"]):
            stats.records_filtered += 1
            return
        stats.events += len(events)
        ctx = record_context(payload, self.cfg)
        route = self._route(index, payload) if self.table else routes.DEFAULT
        if self.event_rules is not None:  # joins, filters, redaction: before any line is built
            events = self.event_rules.apply(events, payload["logGroup"])
        data, count = self.encoder.record(events, ctx)
        self.batcher.add_record(index, data, count, route)


def _budget_s(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return DEFAULT_BUDGET_S
    return remaining() / 1000
