"""Fault injection and request counters for the bulk listener (``/__admin/faults``, ``/stats``).

A fault rule says: the next ``count`` bulk requests (whose decompressed body contains ``match``,
when given) are answered ``status`` after ``delay_s`` seconds. A rule with a delay and no status
delays the answer and then handles the request normally (the lines are kept), which is how a
client timeout that still delivered looks from the listener's side. Rules fire in the order they
were added; each request fires at most one rule. Faults apply only to requests with a valid token
whose body decodes (they stand for an unhealthy listener, not for a client's mistakes).

A rule with ``for_s`` is armed for that many seconds instead of (or as well as) a count: with
no ``count`` it fires on every request until it expires (``xaccount-ops local fault 503 --for
2m`` rehearses an outage that way). Expired rules are dropped before each request.

A rule with ``reject_lines`` (and no status) makes the listener judge the lines containing that
string malformed, as Logz.io may reject a line for reasons a shipper cannot check beforehand: the
answer is Logz.io's 400 with the counts, and the other lines are kept, as for any 400.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

MAX_DELAY_S = 600.0
MAX_FOR_S = 24 * 3600.0
_FIELDS = ("status", "count", "delay_s", "match", "retry_after", "reject_lines", "for_s")


class FaultSpecError(ValueError):
    """A ``POST /__admin/faults`` body that is not a valid rule; the message says why."""


@dataclass
class Fault:
    """One armed rule. ``count`` is what is left of it (None: no limit, until ``for_s`` ends)."""

    count: int | None
    status: int | None = None
    delay_s: float = 0.0
    match: str | None = None
    retry_after: int | None = None
    reject_lines: str | None = None
    for_s: float | None = None
    # time.monotonic() when the rule stops firing (set from for_s when it is armed).
    expires_at: float | None = None

    @classmethod
    def from_json(cls, body: Any) -> Fault:
        if not isinstance(body, dict):
            raise FaultSpecError(
                'fault must be a JSON object like {"status": 503, "count": 2}, got '
                f"{type(body).__name__}"
            )
        unknown = set(body) - set(_FIELDS)
        if unknown:
            raise FaultSpecError(
                f"unknown fault field(s) {sorted(unknown)}; known: {', '.join(_FIELDS)}"
            )
        status = body.get("status")
        if status is not None and (
            not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599
        ):
            raise FaultSpecError(f"status must be an HTTP status 100..599, got {status!r}")
        for_s = body.get("for_s")
        if for_s is not None and (
            not isinstance(for_s, int | float)
            or isinstance(for_s, bool)
            or not 0 < for_s <= MAX_FOR_S
        ):
            raise FaultSpecError(
                f"for_s must be a number of seconds 0..{MAX_FOR_S:g}, got {for_s!r}"
            )
        # A time-boxed rule fires on every request until it expires unless a count is given too.
        count = body.get("count", None if for_s is not None else 1)
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 1
        ):
            raise FaultSpecError(f"count must be an integer >= 1, got {count!r}")
        delay_s = body.get("delay_s", 0)
        if (
            not isinstance(delay_s, int | float)
            or isinstance(delay_s, bool)
            or not 0 <= delay_s <= MAX_DELAY_S
        ):
            raise FaultSpecError(f"delay_s must be a number 0..{MAX_DELAY_S:g}, got {delay_s!r}")
        match = body.get("match")
        if match is not None and (not isinstance(match, str) or not match):
            raise FaultSpecError(f"match must be a non-empty string, got {match!r}")
        retry_after = body.get("retry_after")
        if retry_after is not None and (
            not isinstance(retry_after, int) or isinstance(retry_after, bool) or retry_after < 0
        ):
            raise FaultSpecError(f"retry_after must be an integer >= 0, got {retry_after!r}")
        reject_lines = body.get("reject_lines")
        if reject_lines is not None and (not isinstance(reject_lines, str) or not reject_lines):
            raise FaultSpecError(f"reject_lines must be a non-empty string, got {reject_lines!r}")
        if reject_lines is not None and status is not None:
            raise FaultSpecError("reject_lines answers Logz.io's 400 itself: give no status")
        if status is None and not delay_s and reject_lines is None:
            raise FaultSpecError("a fault needs a status, a delay_s > 0, or reject_lines")
        return cls(
            count=count,
            status=status,
            delay_s=float(delay_s),
            match=match,
            retry_after=retry_after,
            reject_lines=reject_lines,
            for_s=float(for_s) if for_s is not None else None,
        )


@dataclass(frozen=True)
class Firing:
    """What a fired rule asks of the request at hand."""

    status: int | None
    delay_s: float
    retry_after: int | None
    reject_lines: str | None = None


class Faults:
    """The armed rules, safe to use from the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            if fault.for_s is not None:
                fault.expires_at = time.monotonic() + fault.for_s
            self._rules.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        """The armed rules; a time-boxed one with the seconds it has left (``expires_in_s``)."""
        with self._lock:
            self._expire()
            now = time.monotonic()
            out = []
            for rule in self._rules:
                item = asdict(rule)
                expires_at = item.pop("expires_at")
                if expires_at is not None:
                    item["expires_in_s"] = round(max(0.0, expires_at - now), 1)
                out.append(item)
            return out

    def _expire(self) -> None:
        now = time.monotonic()
        self._rules = [r for r in self._rules if r.expires_at is None or r.expires_at > now]

    def take(self, body: bytes) -> Firing | None:
        """Fire the first rule that applies to ``body`` (using up one of its count), if any."""
        with self._lock:
            self._expire()
            for index, rule in enumerate(self._rules):
                if rule.match is not None and rule.match.encode() not in body:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        del self._rules[index]
                return Firing(rule.status, rule.delay_s, rule.retry_after, rule.reject_lines)
        return None


class Stats:
    """Counters of the bulk listener, in memory (a restart or ``/__admin/reset`` zeroes them).

    ``requests`` and ``requests_by_status`` count bulk requests only (searches are counted in
    ``search_requests``); ``bytes_received`` is the bodies as sent (compressed or not).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._by_status: Counter[int] = Counter()
            self._accepted = 0
            self._malformed = 0
            self._oversized = 0
            self._empty = 0
            self._bytes = 0
            self._bytes_uncompressed = 0
            self._faults_fired = 0
            self._searches = 0

    def bulk(
        self,
        status: int,
        *,
        bytes_received: int,
        bytes_uncompressed: int = 0,
        accepted: int = 0,
        malformed: int = 0,
        oversized: int = 0,
        empty: int = 0,
        fault: bool = False,
    ) -> None:
        with self._lock:
            self._requests += 1
            self._by_status[status] += 1
            self._bytes += bytes_received
            self._bytes_uncompressed += bytes_uncompressed
            self._accepted += accepted
            self._malformed += malformed
            self._oversized += oversized
            self._empty += empty
            self._faults_fired += int(fault)

    def search(self) -> None:
        with self._lock:
            self._searches += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self._requests,
                "requests_by_status": {str(k): v for k, v in sorted(self._by_status.items())},
                "lines_accepted": self._accepted,
                "lines_rejected": {
                    "malformed": self._malformed,
                    "oversized": self._oversized,
                    "empty": self._empty,
                },
                "bytes_received": self._bytes,
                "bytes_uncompressed": self._bytes_uncompressed,
                "faults_fired": self._faults_fired,
                "search_requests": self._searches,
            }
