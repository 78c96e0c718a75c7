"""Lines → request bodies of at most ``max_body_bytes``, cut at record boundaries when possible.

A body is the first ``end`` bytes of a ``bytearray``: newline-terminated lines (the final newline
is not sent), plus the list of Kinesis records whose lines it holds, as ``Segment(record_index,
end_offset)``. The segments are what lets delivery split a failing body per record and report the
earliest record not delivered. Cutting before the record that overflows (rather than in its
middle) means a failed body never holds the tail of a record whose head was already delivered, so
a retry of that record duplicates nothing, unless a single record is larger than a body.

With routes to sub-accounts a body holds one route's lines only (each goes with its own token), and
it is cut where the route changes: bodies then cover consecutive records, so when one fails, every
record before it is delivered and none after it is (Lambda retries from the failed record, so a
later record of another route already delivered would arrive twice).

The buffer is kept for the next body and, through :meth:`Batcher.release`, the next invocation:
a body (up to 10 MB) grown record by record in a fresh buffer cost a page fault per 4 KiB each
invocation (the allocator hands the memory back to the system after it) and a copy per growth
step: a sixth of the shipper's CPU on the bench (README, Performance). Delivery is synchronous,
so a body's bytes are never overwritten before its delivery returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

# Buffers of finished batchers, for the next one (a warm Lambda's next invocation). One is
# enough for the handler; a list keeps concurrent batchers (tests, threads) apart.
_spare: list[bytearray] = []
_MAX_SPARE = 2  # buffers kept at most (each up to a body's size)


class Segment(NamedTuple):
    """Lines of one record inside a body, ending (exclusive, newline included) at ``end``."""

    record: int
    end: int


@dataclass
class Body:
    """A request body ready to deliver: ``buf[:end]``. ``buf`` is the batcher's buffer: it is
    neither resized nor written while the body is being delivered, and is reused after."""

    buf: bytearray
    end: int
    segments: list[Segment] = field(default_factory=list)
    route: int = -1  # shipper_lambda.routes: whose token the body goes with


class Batcher:
    """Accumulates lines and hands full bodies to ``deliver`` (which raises to stop the batch)."""

    def __init__(self, max_body_bytes: int, deliver: Callable[[Body], None]) -> None:
        self.max_body = max_body_bytes
        self._deliver = deliver
        # Bytes [0, _size) are the body being filled; the rest is room kept from earlier bodies.
        try:
            self._buf = _spare.pop()  # atomic: two threads never get the same buffer
        except IndexError:
            self._buf = bytearray()
        self._size = 0
        self._segments: list[Segment] = []
        self._record = -1
        self._record_start = 0
        self._route = -1
        self.lines = 0
        self.bytes = 0

    def release(self) -> None:
        """Hand the buffer on to the next batcher (call once, when done with this one)."""
        if len(self._buf) <= self.max_body + 1 and len(_spare) < _MAX_SPARE:
            _spare.append(self._buf)
        self._buf = bytearray()
        self._size = 0

    def add_record(self, index: int, data: bytes, count: int, route: int = -1) -> None:
        """Append one record's ``count`` lines (``data``: each line ended by a newline, none
        holding another: JSON escapes them), cutting bodies as they fill or where the route
        changes. A record that fits the body is appended in one copy (the common case);
        otherwise line by line, cutting where the next line would not fit."""
        if route != self._route:
            self.flush()
            self._route = route
        self._record = index
        self._record_start = self._size
        if not data:
            return
        # The body sent is the buffer without its last newline.
        if self._size + len(data) - 1 <= self.max_body:
            self._append(data)
            self._segments.append(Segment(index, self._size))
            self.lines += count
            self.bytes += len(data)
            return
        max_body = self.max_body
        for line in data.split(b"\n")[:-1]:
            # buf + line + "\n" - 1 must fit.
            if self._size + len(line) > max_body and self._size:
                self._cut()  # a delivery failure raises here: only what was added is counted
            self._append(line)
            self._append(b"\n")
            self.lines += 1
            self.bytes += len(line) + 1
        self._segments.append(Segment(index, self._size))

    def first_undelivered(self, current: int) -> int:
        """The earliest record not fully handed to delivery, ``current`` being processed now."""
        return self._segments[0].record if self._segments else current

    def flush(self) -> None:
        """Deliver whatever is buffered (after the last record)."""
        if self._size:
            self._deliver(Body(self._buf, self._size, self._segments, self._route))
            self._reset(self._size)

    def _append(self, data: bytes) -> None:
        size = self._size
        end = size + len(data)
        if end <= len(self._buf):
            # Through a memoryview: one copy (a bytearray's slice assignment from bytes copies
            # the value into a temporary bytearray first).
            with memoryview(self._buf) as view:
                view[size:end] = data
        else:
            # Past the end: the assignment grows the buffer as ``+=`` would (realloc,
            # amortised), and it stays that size for the bodies after.
            self._buf[size:] = data
        self._size = end

    def _cut(self) -> None:
        # Deliver first, reset after: should delivery raise, the buffer still names its records.
        start = self._record_start
        if self._segments:
            # Whole records only: the current record's lines so far move to the next body.
            self._deliver(Body(self._buf, start, self._segments, self._route))
            self._reset(start)
        else:
            # The current record alone fills a body: it has to be split.
            whole = [Segment(self._record, self._size)]
            self._deliver(Body(self._buf, self._size, whole, self._route))
            self._reset(self._size)

    def _reset(self, start: int) -> None:
        """Start the next body with the bytes from ``start`` on (a record's lines so far)."""
        size = self._size
        if start < size:
            self._buf[: size - start] = self._buf[start:size]
        self._size = size - start
        self._segments = []
        self._record_start = 0
