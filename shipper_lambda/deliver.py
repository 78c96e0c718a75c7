"""What to do with a body the listener did not take: split, bisect, drop, or stop.

- 413: split the body in two at a line boundary and send each half.
- 400: bisect down to the lines the listener rejects on their own; drop only those (counted,
  each event id logged). Halves it accepts are delivered.
- 429/5xx/timeouts, retries exhausted: when the body spans several records, split it at a record
  boundary and deliver the halves in order, so that records the listener does take get through
  and the failure lands on the earliest record it does not; a single record that still fails
  stops the batch there.
- 401/403 and other 4xx: stop the batch at the body's first record (a bad token never drops data).

Stopping raises :class:`DeliveryFailed`; nothing after the failed part is sent, so a retry of the
batch from that record resends nothing that was delivered before it (records before it are done).
"""

from __future__ import annotations

import logging

from shipper_lambda import codec, sender
from shipper_lambda.batch import Body, Segment
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
        self, buf: bytearray, view: memoryview, start: int, end: int, segments: list[Segment]
    ) -> None:
        # end includes the last line's newline, which is not sent.
        outcome = self.sender.post(view[start : end - 1])
        if outcome.kind == sender.OK:
            return
        single_line = buf.find(b"\n", start, end - 1) == -1
        if outcome.kind in (sender.REJECTED, sender.TOO_LARGE):
            if single_line:
                self._drop(view[start : end - 1], outcome)
                return
            split = _line_boundary(buf, start, end)
            self._halves(buf, view, start, end, segments, split)
            return
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
            self._halves(buf, view, start, end, segments, split)
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
    ) -> None:
        left = [s for s in segments if s.end <= split]
        right = [s for s in segments if s.end > split]
        if len(left) < len(segments) and (not left or left[-1].end < split):
            left.append(Segment(right[0].record, split))  # a record straddles the split
        self._chunk(buf, view, start, split, left)
        self._chunk(buf, view, split, end, right)

    def _drop(self, line: memoryview, outcome: sender.Outcome) -> None:
        try:
            event_id = str(codec.loads(bytes(line)).get("id"))
        except (ValueError, AttributeError):
            event_id = "?"
        self.stats.dropped += 1
        self.stats.dropped_ids.append(event_id)
        log.error(
            "dropping log event id=%s: the listener rejects it on its own (%s, %d bytes)",
            event_id,
            outcome.detail,
            len(line),
        )


def _line_boundary(buf: bytearray, start: int, end: int) -> int:
    """An offset just after a newline near the middle of [start, end), strictly inside it."""
    middle = (start + end) // 2
    after = buf.find(b"\n", middle, end - 1)
    if after != -1:
        return after + 1
    before = buf.rfind(b"\n", start, middle)
    return before + 1
