"""Lines → request bodies of at most ``max_body_bytes``, cut at record boundaries when possible.

A body is one ``bytearray`` of newline-terminated lines (the final newline is not sent) plus the
list of Kinesis records whose lines it holds, as ``Segment(record_index, end_offset)``. The
segments are what lets delivery split a failing body per record and report the earliest record
not delivered. Cutting before the record that overflows (rather than in its middle) means a failed
body never holds the tail of a record whose head was already delivered, so a retry of that record
duplicates nothing, unless a single record is larger than a body.

With routes to sub-accounts a body holds one route's lines only (each goes with its own token), and
it is cut where the route changes: bodies then cover consecutive records, so when one fails, every
record before it is delivered and none after it is (Lambda retries from the failed record, so a
later record of another route already delivered would arrive twice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple


class Segment(NamedTuple):
    """Lines of one record inside a body, ending (exclusive, newline included) at ``end``."""

    record: int
    end: int


@dataclass
class Body:
    """A request body ready to deliver; ``buf`` is never resized after this is built."""

    buf: bytearray
    end: int
    segments: list[Segment] = field(default_factory=list)
    route: int = -1  # shipper_lambda.routes: whose token the body goes with


class Batcher:
    """Accumulates lines and hands full bodies to ``deliver`` (which raises to stop the batch)."""

    def __init__(self, max_body_bytes: int, deliver: Callable[[Body], None]) -> None:
        self.max_body = max_body_bytes
        self._deliver = deliver
        self._buf = bytearray()
        self._segments: list[Segment] = []
        self._record = -1
        self._record_start = 0
        self._route = -1
        self.lines = 0
        self.bytes = 0

    def add_record(self, index: int, data: bytes, count: int, route: int = -1) -> None:
        """Append one record's ``count`` lines (``data``: each line ended by a newline, none
        holding another: JSON escapes them), cutting bodies as they fill or where the route
        changes. A record that fits the body is appended in one copy (the common case);
        otherwise line by line, cutting where the next line would not fit."""
        if route != self._route:
            self.flush()
            self._route = route
        self._record = index
        self._record_start = len(self._buf)
        if not data:
            return
        # The body sent is buf without its last newline.
        if len(self._buf) + len(data) - 1 <= self.max_body:
            self._buf += data
            self._segments.append(Segment(index, len(self._buf)))
            self.lines += count
            self.bytes += len(data)
            return
        max_body = self.max_body
        buf = self._buf
        for line in data.split(b"\n")[:-1]:
            # buf + line + "\n" - 1 must fit.
            if len(buf) + len(line) > max_body and buf:
                self._cut()  # a delivery failure raises here: only what was added is counted
                buf = self._buf
            buf += line
            buf += b"\n"
            self.lines += 1
            self.bytes += len(line) + 1
        self._segments.append(Segment(index, len(buf)))

    def first_undelivered(self, current: int) -> int:
        """The earliest record not fully handed to delivery, ``current`` being processed now."""
        return self._segments[0].record if self._segments else current

    def flush(self) -> None:
        """Deliver whatever is buffered (after the last record)."""
        if self._buf:
            self._deliver(Body(self._buf, len(self._buf), self._segments, self._route))
            self._reset(bytearray())

    def _cut(self) -> None:
        # Deliver first, reset after: should delivery raise, the buffer still names its records.
        start = self._record_start
        if self._segments:
            # Whole records only: the current record's lines so far move to the next body.
            self._deliver(Body(self._buf, start, self._segments, self._route))
            self._reset(self._buf[start:])
        else:
            # The current record alone fills a body: it has to be split.
            whole = [Segment(self._record, len(self._buf))]
            self._deliver(Body(self._buf, len(self._buf), whole, self._route))
            self._reset(bytearray())

    def _reset(self, buf: bytearray) -> None:
        self._buf = buf
        self._segments = []
        self._record_start = 0
