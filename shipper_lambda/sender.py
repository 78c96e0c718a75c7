"""One bulk POST to the Logz.io listener, with retries, over a pooled keep-alive connection.

The connection lives at module level so warm invocations of the same container reuse it. Retries
cover what can succeed later (429, 5xx, timeouts, connection errors) with exponential backoff and
jitter, and stop at ``retry_attempts`` or at the invocation's deadline, whichever comes first.
Everything else comes back to the caller as an :class:`Outcome` to decide on (see ``deliver``).

Each attempt has one deadline for the whole request (connect + send + read): socket timeouts
alone bound each socket operation, so a listener that trickles its answer a byte at a time would
hold the invocation forever. A watchdog shuts the socket down when the deadline passes; it keeps
its own reference to the socket, because ``http.client`` forgets it as soon as an answer says
``Connection: close`` (or is HTTP/1.0) and the body is then read from a socket nobody else holds.

Through a proxy (``HTTPS_PROXY``/``HTTP_PROXY``, see ``proxy``): a CONNECT tunnel for an https
listener, the absolute form for an http one, under the same deadline. A proxy's own refusal of
CONNECT (407, 502, ...) is treated as its HTTP answer: 407 fails at once, 5xx is retried.

A request timeout after the body was sent is ambiguous: the listener may have kept the body and
only answered late. Any attempt made right after such a timeout (a retry here, or the first
attempt of a half ``deliver`` split from a body whose last attempt timed out) may therefore
duplicate its lines: they are counted in ``resent_after_timeout`` and the body's first/last event
ids are logged, so duplicates are visible rather than silent (the lines must still be sent: the
listener may equally have dropped them).

A ``Retry-After`` longer than the time left ends the attempts at once as :data:`DEFERRED`: the
listener asked us to wait, and splitting the body to resend sooner would be the burst it refused.

The token travels in the query string, so no URL is ever logged or put in an error: only the
listener's ``host:port`` (``Listener.display``). Details built from a response body or exception
are scrubbed of the token anyway (a proxy may echo the request URL).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import random
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from shipper_lambda import codec
from shipper_lambda.config import Config
from shipper_lambda.metrics import Stats
from shipper_lambda.proxy import Proxy
from shipper_lambda.redact import Redactor

log = logging.getLogger(__name__)

MIN_ATTEMPT_S = 0.05  # do not start a request with less time left than this
USER_AGENT = "xaccount-ops-shipper/1"
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

OK = "ok"
REJECTED = "rejected"  # 400: some lines malformed
TOO_LARGE = "too_large"  # 413
AUTH = "auth"  # 401/403: bad token, never drop
FATAL = "fatal"  # other 4xx: retrying the same body cannot help
UNAVAILABLE = "unavailable"  # retries or time exhausted on 429/5xx/timeouts/connection errors
DEFERRED = "deferred"  # 429/5xx whose Retry-After is longer than the time left
COUNT_KEYS = ("malformedLines", "successfulLines", "oversizedLines", "emptyLogLines")

_pool: dict[tuple[str, str, int, str], http.client.HTTPConnection] = {}
_ssl_context: ssl.SSLContext | None = None


@dataclass(frozen=True)
class Outcome:
    """How a POST ended: ``kind`` is one of the module constants; ``detail`` is safe to log."""

    kind: str
    status: int | None
    detail: str = ""
    counts: dict[str, int] | None = None  # a 400's JSON line counts, when the body holds them
    ambiguous: bool = False  # the last attempt timed out after sending: the listener may have it


class Listener:
    """Where bodies go: the listener base URL plus the token, kept out of anything printable,
    and the proxy that carries them there when one is configured (see ``proxy``)."""

    def __init__(self, base_url: str, token: str, proxy: Proxy | None = None) -> None:
        parts = urlsplit(base_url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.proxy = proxy
        path = parts.path.rstrip("/") + "/?token=" + quote(token, safe="")
        self.headers: dict[str, str] = {}
        self.display = f"{self.scheme}://{self.host}:{self.port}"
        if proxy is not None:
            self.display += f" via proxy {proxy.display}"
            if self.scheme == "http":
                # Absolute form: the proxy forwards by the request line.
                path = f"http://{self.host}:{self.port}{path}"
                self.headers = proxy.headers()
        self.path = path
        self.scrub = Redactor([token])
        self._key = (self.scheme, self.host, self.port, proxy.display if proxy else "")

    def connection(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        """The pooled connection (and whether it is reused), created when absent."""
        conn = _pool.get(self._key)
        if conn is None:
            host, port = (
                (self.proxy.host, self.proxy.port) if self.proxy else (self.host, self.port)
            )
            if self.scheme == "https":
                global _ssl_context
                _ssl_context = _ssl_context or ssl.create_default_context()
                conn = http.client.HTTPSConnection(
                    host, port, timeout=timeout, context=_ssl_context
                )
                if self.proxy is not None:
                    # CONNECT host:port first; TLS (and the certificate check) is with the
                    # listener, end to end through the tunnel.
                    conn.set_tunnel(self.host, self.port, headers=self.proxy.headers())
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            _pool[self._key] = conn
        reused = conn.sock is not None
        if reused:
            conn.sock.settimeout(timeout)
        else:
            conn.timeout = timeout
        return conn, reused

    def discard(self) -> None:
        conn = _pool.pop(self._key, None)
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
        self._ambiguous = False  # set by each _request: it timed out once connected
        self.headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        self.headers.update(listener.headers)
        if config.compress:
            self.headers["Content-Encoding"] = "gzip"

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def post(self, payload: bytes | bytearray | memoryview, after_timeout: bool = False) -> Outcome:
        """Send one body (uncompressed lines); retry what may succeed later.

        ``after_timeout``: these lines were part of a body whose last attempt ended in an
        ambiguous timeout, so the first attempt here is already a possible resend."""
        data = codec.gzip_compress(payload) if self.config.compress else payload
        attempt = 0
        stale_retried = False
        ambiguous = after_timeout
        while True:
            remaining = self.time_left()
            if remaining < MIN_ATTEMPT_S:
                return Outcome(UNAVAILABLE, None, "time budget exhausted", ambiguous=ambiguous)
            attempt += 1
            if ambiguous:
                self._resent(payload)
            status, detail, retry_after, stale, body = self._request(
                data, min(self.config.timeout_s, remaining)
            )
            ambiguous = self._ambiguous
            if stale and not stale_retried:
                # A kept-alive connection the listener had closed: reconnect at once, no backoff.
                stale_retried = True
                attempt -= 1
                self.stats.reconnects += 1
                continue
            if status is not None and 200 <= status < 300:
                return Outcome(OK, status)
            kind = _classify(status)
            if kind == REJECTED:
                return Outcome(kind, status, detail, _counts(body))
            if kind != UNAVAILABLE:
                return Outcome(kind, status, detail)
            if retry_after is not None and retry_after >= self.time_left() - MIN_ATTEMPT_S:
                return Outcome(
                    DEFERRED,
                    status,
                    f"{detail}; Retry-After {retry_after:g}s is beyond the "
                    f"{max(0.0, self.time_left()):.1f}s left",
                )
            if attempt >= self.config.retry_attempts:
                return Outcome(
                    UNAVAILABLE, status, f"{detail} after {attempt} attempts", ambiguous=ambiguous
                )
            delay = self._backoff(attempt, retry_after)
            if delay >= self.time_left() - MIN_ATTEMPT_S:
                return Outcome(
                    UNAVAILABLE, status, f"{detail}; no time left to retry", ambiguous=ambiguous
                )
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

    def _resent(self, payload: bytes | bytearray | memoryview) -> None:
        """Count and log lines about to be sent again after an ambiguous timeout."""
        raw = bytes(payload)
        lines = raw.count(b"\n") + 1
        self.stats.resent_after_timeout += lines
        first, last = event_ids(raw)
        log.warning(
            "listener %s: resending %d lines (event ids %s..%s) after a request timeout; the "
            "listener may have kept the first copy, so they may arrive twice "
            "(counted in resent_after_timeout)",
            self.listener.display,
            lines,
            first,
            last,
        )

    def _request(
        self, data: bytes | bytearray | memoryview, timeout: float
    ) -> tuple[int | None, str, float | None, bool, bytes]:
        """(status or None, safe detail, Retry-After seconds, failed-on-a-stale-connection,
        response body), all within ``timeout`` seconds from now. Sets ``_ambiguous`` when the
        attempt timed out once connected (the body may have reached the listener)."""
        self._ambiguous = False
        conn, reused = self.listener.connection(timeout)
        self.stats.requests += 1
        self.stats.bytes_out += len(data)
        watchdog = Watchdog(conn, timeout)
        try:
            conn.request("POST", self.listener.path, body=data, headers=self.headers)
            # getresponse() hands the socket to the response and forgets it when the answer
            # is Connection: close or HTTP/1.0: the watchdog keeps its own reference.
            watchdog.sock = conn.sock
            response = conn.getresponse()
            body = response.read()
            if watchdog.cancel():
                # Cut off: EOF mid-headers can parse as a complete answer. Like any timeout, the
                # listener may have taken the body: the same ambiguity a socket timeout has.
                raise TimeoutError("request deadline")
        except (OSError, http.client.HTTPException) as err:
            connected = conn.sock is not None or watchdog.sock is not None
            self.listener.discard()
            # The socket's own timeout (the same length) can beat the watchdog's thread to it on
            # a busy machine: once connected, that is the same ambiguous timeout.
            if watchdog.fired or (isinstance(err, TimeoutError) and connected):
                self.stats.request_timeouts += 1
                if watchdog.fired and watchdog.connecting:
                    # Verify's diagnosis reads "could not connect" as no route to the listener.
                    detail = f"could not connect within the request deadline of {timeout:.2f}s"
                else:
                    self._ambiguous = True
                    detail = f"no complete answer within the request deadline of {timeout:.2f}s"
                return None, detail, None, False, b""
            refused = _tunnel_status(err)
            if refused is not None and self.listener.proxy is not None:
                # The proxy answered CONNECT itself (407, 502, ...): treat it as its answer.
                status, reason = refused
                detail = f"proxy {self.listener.proxy.display} answered CONNECT with {status}"
                detail += f" {reason}"[:120] if reason else ""
                if status == 407:
                    detail += f" (check the credentials in {self.listener.proxy.variable})"
                return status, self.listener.scrub(detail), None, False, b""
            stale = reused and isinstance(err, _STALE)
            detail = self.listener.scrub(f"{type(err).__name__}: {str(err)[:200]}")
            return None, detail, None, stale, b""
        finally:
            watchdog.cancel()
        detail = f"HTTP {response.status}"
        if response.status == 407 and self.listener.proxy is not None:
            detail += (
                f" from proxy {self.listener.proxy.display} (check {self.listener.proxy.variable})"
            )
        if body:
            detail += f" {body[:300].decode('utf-8', 'replace')}"
        retry_after = _retry_after(response.getheader("Retry-After"))
        return response.status, self.listener.scrub(detail), retry_after, False, body

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.config.retry_max_s, self.config.retry_base_s * 2 ** (attempt - 1))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # equal jitter
        if retry_after is not None:
            delay = max(delay, retry_after)  # post() has checked that it fits the time left
        return delay


class Watchdog:
    """Shuts a connection's socket down once ``timeout`` seconds have passed, which makes any
    blocked connect, send or read return at once: one deadline for the whole request."""

    def __init__(self, conn: http.client.HTTPConnection, timeout: float) -> None:
        self.conn = conn
        self.sock: socket.socket | None = None  # pinned once connected (see _request)
        self.fired = False
        self.connecting = False
        self._cancelled = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, timeout), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self.fired = True
        sock = self.conn.sock or self.sock
        self.connecting = sock is None  # still in connect(): no socket yet to shut down
        if sock is not None:
            # The plain socket's shutdown, also under TLS: SSLSocket.shutdown would unwrap the
            # TLS state under the reading thread's feet. OSError: already closed.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def cancel(self) -> bool:
        """Stop the watchdog; whether it had already fired."""
        with self._lock:
            self._cancelled = True
            self._timer.cancel()
            return self.fired


def event_ids(body: bytes) -> tuple[str, str]:
    """The ``id`` of a body's first and last lines ("?" where a line has none)."""
    first, _, _ = body.partition(b"\n")
    _, _, last = body.rpartition(b"\n")
    return _event_id(first), _event_id(last)


def _event_id(line: bytes) -> str:
    try:
        return str(codec.loads(line).get("id"))
    except (ValueError, AttributeError):
        return "?"


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


_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d{3})\b ?(.*)")


def _tunnel_status(err: BaseException) -> tuple[int, str] | None:
    """The proxy's status and reason when ``http.client`` refused a CONNECT answer, else None.

    ``http.client`` reports a non-200 CONNECT answer only as ``OSError("Tunnel connection
    failed: 407 Proxy Authentication Required")``; a test pins that wording."""
    if type(err) is not OSError:
        return None
    match = _TUNNEL_REFUSED.match(str(err))
    return (int(match.group(1)), match.group(2).strip()) if match else None


def _counts(body: bytes) -> dict[str, int] | None:
    """Logz.io's 400 line counts, or None when the body is not that JSON (e.g. from a proxy)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    counts = {key: doc.get(key, 0) for key in COUNT_KEYS}
    if "successfulLines" not in doc or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()
    ):
        return None
    return counts


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from a listener; the backoff applies
