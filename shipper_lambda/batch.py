"""Lines → request bodies of at most ``max_body_bytes``, cut at record boundaries when possible.

A body is one ``bytearray`` of newline-terminated lines (the final newline is not sent) plus the
list of Kinesis records whose lines it holds, as ``Segment(record_index, end_offset)``. The
segments are what lets delivery split a failing body per record and report the earliest record
not delivered. Cutting before the record that overflows (rather than in its middle) means a failed
body never holds the tail of a record whose head was already delivered, so a retry of that record
duplicates nothing, unless a single record is larger than a body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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


class Batcher:
    """Accumulates lines and hands full bodies to ``deliver`` (which raises to stop the batch).

    The current body is kept as a list of lines and its size; the ``bytearray`` is built once,
    with one join, when the body is handed over (one copy of every byte, no buffer regrowth).
    """

    def __init__(self, max_body_bytes: int, deliver: Callable[[Body], None]) -> None:
        self.max_body = max_body_bytes
        self._deliver = deliver
        self._lines: list[bytes] = []
        self._size = 0  # bytes of self._lines, a newline after each
        self._segments: list[Segment] = []
        self._record = -1
        self._record_start = 0  # index in self._lines where the current record starts
        self._record_start_size = 0
        self.lines = 0
        self.bytes = 0

    def add_record(self, index: int, lines: Iterable[bytes]) -> None:
        """Append one record's lines (none holds a newline: JSON escapes them), cutting bodies
        as they fill. A record that fits the body is appended whole (the common case);
        otherwise line by line, inline rather than a method call per line."""
        self._record = index
        self._record_start = len(self._lines)
        self._record_start_size = self._size
        if type(lines) is not list:
            lines = list(lines)
        if not lines:
            return
        size = sum(map(len, lines)) + len(lines)
        self.lines += len(lines)
        self.bytes += size
        # The body sent is the lines without the last newline: size - 1 must fit.
        if self._size + size - 1 <= self.max_body:
            self._lines += lines
            self._size += size
            self._segments.append(Segment(index, self._size))
            return
        max_body = self.max_body
        for line in lines:
            if self._size + len(line) > max_body and self._lines:
                self._cut()
            self._lines.append(line)
            self._size += len(line) + 1
        if self._size > self._record_start_size:
            self._segments.append(Segment(index, self._size))

    def first_undelivered(self, current: int) -> int:
        """The earliest record not fully handed to delivery, ``current`` being processed now."""
        return self._segments[0].record if self._segments else current

    def flush(self) -> None:
        """Deliver whatever is buffered (after the last record)."""
        if self._lines:
            self._deliver(Body(_joined(self._lines), self._size, self._segments))
            self._reset([], 0)

    def _cut(self) -> None:
        # Deliver first, reset after: should delivery raise, the batcher still names its records.
        start = self._record_start
        if self._segments:
            # Whole records only: the current record's lines so far move to the next body.
            done = self._record_start_size
            self._deliver(Body(_joined(self._lines[:start]), done, self._segments))
            self._reset(self._lines[start:], self._size - done)
        else:
            # The current record alone fills a body: it has to be split.
            segment = Segment(self._record, self._size)
            self._deliver(Body(_joined(self._lines), self._size, [segment]))
            self._reset([], 0)

    def _reset(self, lines: list[bytes], size: int) -> None:
        self._lines = lines
        self._size = size
        self._segments = []
        self._record_start = 0
        self._record_start_size = 0


def _joined(lines: list[bytes]) -> bytearray:
    """The body bytes: every line followed by a newline, built with one join."""
    lines.append(b"")  # the final newline, without regrowing a 10 MB buffer to add it
    try:
        return bytearray(b"\n").join(lines)
    finally:
        lines.pop()
