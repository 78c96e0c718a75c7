"""One bulk POST to the Logz.io listener, with retries, over a pooled keep-alive connection.

The connection lives at module level so warm invocations of the same container reuse it. Retries
cover what can succeed later (429, 5xx, timeouts, connection errors) with exponential backoff and
jitter, and stop at ``retry_attempts`` or at the invocation's deadline, whichever comes first.
Everything else comes back to the caller as an :class:`Outcome` to decide on (split, bisect, fail).

The token travels in the query string, so no URL is ever logged or put in an error: only the
listener's ``host:port`` (``Listener.display``).
"""

from __future__ import annotations

import http.client
import logging
import random
import ssl
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from shipper_lambda import codec
from shipper_lambda.config import Config
from shipper_lambda.metrics import Stats

log = logging.getLogger(__name__)

MIN_ATTEMPT_S = 0.05  # do not start a request with less time left than this
MAX_RETRY_AFTER_S = 30.0
USER_AGENT = "xaccount-ops-shipper/1"
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

OK = "ok"
REJECTED = "rejected"  # 400: some lines malformed
TOO_LARGE = "too_large"  # 413
AUTH = "auth"  # 401/403: bad token, never drop
FATAL = "fatal"  # other 4xx: retrying the same body cannot help
UNAVAILABLE = "unavailable"  # retries or time exhausted on 429/5xx/timeouts/connection errors

_pool: dict[tuple[str, str, int], http.client.HTTPConnection] = {}
_ssl_context: ssl.SSLContext | None = None


@dataclass(frozen=True)
class Outcome:
    """How a POST ended: ``kind`` is one of the module constants; ``detail`` is safe to log."""

    kind: str
    status: int | None
    detail: str = ""


class Listener:
    """Where bodies go: the listener base URL plus the token, kept out of anything printable."""

    def __init__(self, base_url: str, token: str) -> None:
        parts = urlsplit(base_url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = parts.path.rstrip("/") + "/?token=" + quote(token, safe="")
        self.display = f"{self.scheme}://{self.host}:{self.port}"

    def connection(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        """The pooled connection (and whether it is reused), created when absent."""
        key = (self.scheme, self.host, self.port)
        conn = _pool.get(key)
        if conn is None:
            if self.scheme == "https":
                global _ssl_context
                _ssl_context = _ssl_context or ssl.create_default_context()
                conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=timeout, context=_ssl_context
                )
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            _pool[key] = conn
        reused = conn.sock is not None
        if reused:
            conn.sock.settimeout(timeout)
        else:
            conn.timeout = timeout
        return conn, reused

    def discard(self) -> None:
        conn = _pool.pop((self.scheme, self.host, self.port), None)
        if conn is not None:
            conn.close()


def close_pool() -> None:
    """Close pooled connections (tests; Lambda simply freezes them)."""
    while _pool:
        _pool.popitem()[1].close()


class Sender:
    """POSTs bodies with retries inside the invocation's time budget."""

    def __init__(self, listener: Listener, config: Config, deadline: float, stats: Stats) -> None:
        self.listener = listener
        self.config = config
        self.deadline = deadline  # time.monotonic() value
        self.stats = stats
        self.headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if config.compress:
            self.headers["Content-Encoding"] = "gzip"

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def post(self, payload: bytes | bytearray | memoryview) -> Outcome:
        """Send one body (uncompressed lines); retry what may succeed later."""
        data = codec.gzip_compress(payload) if self.config.compress else payload
        attempt = 0
        stale_retried = False
        while True:
            remaining = self.time_left()
            if remaining < MIN_ATTEMPT_S:
                return Outcome(UNAVAILABLE, None, "time budget exhausted")
            attempt += 1
            status, detail, retry_after, stale = self._request(
                data, min(self.config.timeout_s, remaining)
            )
            if stale and not stale_retried:
                # A kept-alive connection the listener had closed: reconnect at once, no backoff.
                stale_retried = True
                attempt -= 1
                self.stats.reconnects += 1
                continue
            if status is not None and 200 <= status < 300:
                return Outcome(OK, status)
            kind = _classify(status)
            if kind != UNAVAILABLE:
                return Outcome(kind, status, detail)
            if attempt >= self.config.retry_attempts:
                return Outcome(UNAVAILABLE, status, f"{detail} after {attempt} attempts")
            delay = self._backoff(attempt, retry_after)
            if delay >= self.time_left() - MIN_ATTEMPT_S:
                return Outcome(UNAVAILABLE, status, f"{detail}; no time left to retry")
            self.stats.retries += 1
            log.warning(
                "listener %s: %s; retry %d/%d in %.2fs",
                self.listener.display,
                detail,
                attempt,
                self.config.retry_attempts - 1,
                delay,
            )
            time.sleep(delay)

    def _request(
        self, data: bytes | bytearray | memoryview, timeout: float
    ) -> tuple[int | None, str, float | None, bool]:
        """(status or None, safe detail, Retry-After seconds, failed-on-a-stale-connection)."""
        conn, reused = self.listener.connection(timeout)
        self.stats.requests += 1
        self.stats.bytes_out += len(data)
        try:
            conn.request("POST", self.listener.path, body=data, headers=self.headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as err:
            self.listener.discard()
            stale = reused and isinstance(err, _STALE)
            # Exception text from sockets/http.client never holds the URL; keep it short anyway.
            return None, f"{type(err).__name__}: {str(err)[:200]}", None, stale
        detail = f"HTTP {response.status}"
        if body:
            detail += f" {body[:300].decode('utf-8', 'replace')}"
        return response.status, detail, _retry_after(response.getheader("Retry-After")), False

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.config.retry_max_s, self.config.retry_base_s * 2 ** (attempt - 1))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # equal jitter
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
        return delay


def _classify(status: int | None) -> str:
    if status is None or status == 429 or status >= 500:
        return UNAVAILABLE
    if status == 400:
        return REJECTED
    if status == 413:
        return TOO_LARGE
    if status in (401, 403):
        return AUTH
    return FATAL


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from a listener; the backoff applies
