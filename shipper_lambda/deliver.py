"""What to do with a body the listener did not take with a 200: accept, split, or stop.

- 400 with Logz.io's counts and ``successfulLines > 0``: partial success. The listener indexed the
  good lines (Logz.io's own logzio-java-sender never retries a 400, see
  ``/work/shared/reference/logzio-api.md``), so resending any line of the body would duplicate
  them: the body counts as delivered, and the counts and the body's first/last event ids are
  logged and counted (``partial_bodies``, ``rejected_*``).
- 400 without the counts (a proxy's page, a bad gzip) or with ``successfulLines == 0``: every line
  was validated before sending, so a listener that takes none of them is not judging the lines: a
  listener/proxy fault. Nothing was indexed, so failing the batch from the body's first record
  resends nothing twice and drops nothing (after Lambda's retries it lands in the failure store).
  When 400s come for every body of an invocation, the rule applies body by body: bodies with
  taken lines are delivered, and the first body with none stops the batch there.
- 413: a body within Logz.io's limits (10 MB uncompressed, 500,000 bytes a line) is a listener or
  proxy fault: fail the batch from the body's first record, never split forever or drop. A body
  over the limits (which the batcher never builds) is split at a line boundary.
- 429/5xx with a Retry-After longer than the time left (``DEFERRED``): fail the batch from the
  body's first record rather than split and resend in a burst the listener just refused.
- 429/5xx/timeouts, retries exhausted: when the body spans several records, split it at a record
  boundary and deliver the halves in order, so that records the listener does take get through
  and the failure lands on the earliest record it does not; a single record that still fails
  stops the batch there.
  When the body's last attempt timed out once connected (ambiguous: the listener may have kept
  it), each half's first attempt is a possible resend and is counted as one
  (``resent_after_timeout``, see ``sender``).
- 401/403 and other 4xx: stop the batch at the body's first record (a bad token never drops data).

Stopping raises :class:`DeliveryFailed`; nothing after the failed part is sent, so a retry of the
batch from that record resends nothing that was delivered before it (records before it are done).
Nothing here drops a line.
"""

from __future__ import annotations

import logging
from typing import NoReturn

from shipper_lambda import sender
from shipper_lambda.batch import Body, Segment
from shipper_lambda.config import MAX_BODY_BYTES, MAX_LINE_BYTES
from shipper_lambda.metrics import Stats

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """A record could not be delivered; ``record`` is its index in the Kinesis batch."""

    def __init__(self, record: int, outcome: sender.Outcome) -> None:
        super().__init__(f"record #{record} not delivered: {outcome.kind} ({outcome.detail})")
        self.record = record
        self.outcome = outcome


class Delivery:
    """Delivers bodies through a :class:`sender.Sender`, applying the policy above."""

    def __init__(self, post: sender.Sender, stats: Stats) -> None:
        self.sender = post
        self.stats = stats

    def __call__(self, body: Body) -> None:
        with memoryview(body.buf) as view:
            self._chunk(body.buf, view, 0, body.end, body.segments)

    def _chunk(
        self,
        buf: bytearray,
        view: memoryview,
        start: int,
        end: int,
        segments: list[Segment],
        after_timeout: bool = False,
    ) -> None:
        # end includes the last line's newline, which is not sent.
        outcome = self.sender.post(view[start : end - 1], after_timeout)
        if outcome.kind == sender.OK:
            return
        if outcome.kind == sender.REJECTED:
            self._rejected(buf, start, end, segments, outcome)
            return
        if outcome.kind == sender.TOO_LARGE:
            if _within_limits(buf, start, end):
                self._fault(buf, start, end, segments, outcome, "is within Logz.io's limits")
            if buf.find(b"\n", start, end - 1) == -1:  # one line over the limit: cannot split
                self._fault(buf, start, end, segments, outcome, "is one line over the limit")
            self._halves(buf, view, start, end, segments, _line_boundary(buf, start, end))
            return
        if outcome.kind == sender.DEFERRED:
            self.stats.deferred += 1
            log.error(
                "listener %s: %s; not splitting to resend sooner: the batch fails from record "
                "#%d and is retried",
                self.sender.listener.display,
                outcome.detail,
                segments[0].record,
            )
            raise DeliveryFailed(segments[0].record, outcome)
        if (
            outcome.kind == sender.UNAVAILABLE
            and len(segments) > 1
            and self.sender.time_left() > sender.MIN_ATTEMPT_S
        ):
            split = segments[len(segments) // 2 - 1].end
            log.warning(
                "listener %s: %s; splitting %d records to isolate the failing one",
                self.sender.listener.display,
                outcome.detail,
                len(segments),
            )
            self._halves(buf, view, start, end, segments, split, outcome.ambiguous)
            return
        if outcome.kind == sender.AUTH:
            self.stats.auth_failures += 1
            log.error(
                "listener %s refused the shipping token (%s): check LOGZIO_TOKEN/"
                "LOGZIO_TOKEN_SECRET; nothing dropped, the batch will be retried",
                self.sender.listener.display,
                outcome.detail,
            )
        raise DeliveryFailed(segments[0].record, outcome)

    def _halves(
        self,
        buf: bytearray,
        view: memoryview,
        start: int,
        end: int,
        segments: list[Segment],
        split: int,
        after_timeout: bool = False,
    ) -> None:
        left = [s for s in segments if s.end <= split]
        right = [s for s in segments if s.end > split]
        if len(left) < len(segments) and (not left or left[-1].end < split):
            left.append(Segment(right[0].record, split))  # a record straddles the split
        self._chunk(buf, view, start, split, left, after_timeout)
        self._chunk(buf, view, split, end, right, after_timeout)

    def _rejected(
        self, buf: bytearray, start: int, end: int, segments: list[Segment], outcome: sender.Outcome
    ) -> None:
        """A 400: partial success when the listener took lines, a fault (raise) when not."""
        counts = outcome.counts
        if counts is None or counts["successfulLines"] <= 0:
            self._fault(buf, start, end, segments, outcome, "took none of its validated lines")
        lines = buf.count(b"\n", start, end - 1) + 1
        first, last = _event_ids(buf, start, end)
        stats = self.stats
        stats.partial_bodies += 1
        stats.rejected_malformed += counts["malformedLines"]
        stats.rejected_oversized += counts["oversizedLines"]
        stats.rejected_empty += counts["emptyLogLines"]
        log.error(
            "listener %s took %d of %d lines of a body (event ids %s..%s) and rejected "
            "malformedLines=%d oversizedLines=%d emptyLogLines=%d: a 400 is partial success, "
            "so the body is not resent (that would duplicate its good lines)",
            self.sender.listener.display,
            counts["successfulLines"],
            lines,
            first,
            last,
            counts["malformedLines"],
            counts["oversizedLines"],
            counts["emptyLogLines"],
        )
        if sum(counts.values()) != lines:
            log.warning(
                "listener %s counted %d lines in a body of %d (event ids %s..%s)",
                self.sender.listener.display,
                sum(counts.values()),
                lines,
                first,
                last,
            )

    def _fault(
        self,
        buf: bytearray,
        start: int,
        end: int,
        segments: list[Segment],
        outcome: sender.Outcome,
        why: str,
    ) -> NoReturn:
        """A listener/proxy fault: log it and stop the batch at the body's first record."""
        first, last = _event_ids(buf, start, end)
        self.stats.listener_faults += 1
        log.error(
            "listener %s answered %s to a body of %d bytes (event ids %s..%s) that %s: a "
            "listener or proxy fault; nothing dropped, the batch fails from record #%d",
            self.sender.listener.display,
            outcome.detail,
            end - 1 - start,
            first,
            last,
            why,
            segments[0].record,
        )
        raise DeliveryFailed(segments[0].record, outcome)


def _within_limits(buf: bytearray, start: int, end: int) -> bool:
    """Whether the body [start, end - 1) fits Logz.io's body and line limits."""
    if end - 1 - start > MAX_BODY_BYTES:
        return False
    at = start
    while at < end - 1:
        newline = buf.find(b"\n", at, end - 1)
        stop = end - 1 if newline == -1 else newline
        if stop - at > MAX_LINE_BYTES:
            return False
        at = stop + 1
    return True


def _event_ids(buf: bytearray, start: int, end: int) -> tuple[str, str]:
    """The ``id`` of the body's first and last lines ("?" where a line has none)."""
    first_end = buf.find(b"\n", start, end - 1)
    first_end = end - 1 if first_end == -1 else first_end
    last_start = buf.rfind(b"\n", start, end - 1) + 1 or start
    return sender.event_ids(bytes(buf[start:first_end]) + b"\n" + bytes(buf[last_start : end - 1]))


def _line_boundary(buf: bytearray, start: int, end: int) -> int:
    """An offset just after a newline near the middle of [start, end), strictly inside it."""
    middle = (start + end) // 2
    after = buf.find(b"\n", middle, end - 1)
    if after != -1:
        return after + 1
    before = buf.rfind(b"\n", start, middle)
    return before + 1
