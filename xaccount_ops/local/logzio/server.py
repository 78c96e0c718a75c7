"""The HTTP side: a threaded stdlib server on loopback, and :class:`LogzioEmulator` to run it.

The handler reads the request (``Content-Length`` or chunked), hands it to :class:`LogzioApp`
and writes the reply; it speaks HTTP/1.1 with keep-alive, as Logz.io's listener does. Its access
log goes to the ``xaccount_ops.local.logzio`` logger at DEBUG with the query string's token
replaced by ``***``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from xaccount_ops.local.logzio.app import LogzioApp, Reply
from xaccount_ops.local.logzio.bulk import MAX_BODY_BYTES
from xaccount_ops.local.logzio.store import Store

log = logging.getLogger("xaccount_ops.local.logzio")

# A raw body this much larger than the uncompressed limit cannot be valid: answer 413 unread.
MAX_RAW_BYTES = 4 * MAX_BODY_BYTES
_TOKEN_IN_TEXT = re.compile(r"(token=)[^&\s\"']*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with any ``token=...`` value replaced by ``***``."""
    return _TOKEN_IN_TEXT.sub(r"\1***", text)


class _BodyTooLarge(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "logzio-emulator"
    sys_version = ""
    app: LogzioApp  # set on the subclass made per server

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BodyTooLarge:
            self.close_connection = True
            self._send(Reply(413, b'{"code":413,"message":"body too large"}'))
            return
        except ValueError as err:
            self.close_connection = True
            self._send(Reply(400, f'{{"code":400,"message":"{err}"}}'.encode()))
            return
        split = urlsplit(self.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            reply = self.app.handle(self.command, split.path, params, headers, body)
        except Exception:
            log.exception("logzio emulator: %s %s failed", self.command, split.path)
            reply = Reply(500, b'{"code":500,"message":"emulator error; see its log"}')
        self._send(reply)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length") or "0"
        try:
            length = int(length_text)
        except ValueError:
            raise ValueError(f"bad Content-Length {length_text!r}") from None
        if length > MAX_RAW_BYTES:
            raise _BodyTooLarge
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise ValueError("bad chunk size") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_RAW_BYTES:
                raise _BodyTooLarge
            parts.append(self.rfile.read(size))
            self.rfile.readline(16)  # CRLF after the chunk

    def _send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if reply.body and self.command != "HEAD":
                self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. timed out on an injected delay): nothing to answer.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), redact(format % args))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Connection drops during shutdown or client timeouts are not worth a traceback.
        log.debug("logzio emulator: connection error from %s", client_address, exc_info=True)


class LogzioEmulator:
    """A Logz.io bulk listener and search API on one loopback port, in a background thread.

    ``db_path`` keeps the documents in that SQLite file across restarts; without it they live in
    a temporary file removed by :meth:`stop`.

    >>> with LogzioEmulator(shipping_token="s", api_token="a") as logzio:  # doctest: +SKIP
    ...     requests.post(f"{logzio.listener_url}/?token=s&type=test", data=b'{"message":"hi"}')
    """

    def __init__(
        self,
        *,
        shipping_token: str,
        api_token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: str | Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._db_path = Path(db_path) if db_path is not None else None
        self._tokens = (shipping_token, api_token)
        if not shipping_token or not api_token:
            raise ValueError("the Logz.io emulator needs a non-empty shipping token and API token")
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: str | None = None
        self._stopping = threading.Event()
        self.app: LogzioApp | None = None
        self.url = ""

    def __repr__(self) -> str:  # never shows the tokens
        return f"LogzioEmulator(url={self.url!r}, db_path={self.db_path!s})"

    @property
    def db_path(self) -> Path | None:
        return self._db_path

    @property
    def listener_url(self) -> str:
        return self.url

    @property
    def api_url(self) -> str:
        return self.url

    def start(self) -> LogzioEmulator:
        """Bind, open the store and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            return self
        if self._db_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="logzio-emulator-")
            self._db_path = Path(self._tmpdir) / "logzio.sqlite3"
        else:
            self._db_path.parent.mkdir(parents=True, exist_ok=True)
        self._stopping.clear()
        store = Store(self._db_path)
        shipping_token, api_token = self._tokens
        self.app = LogzioApp(
            shipping_token=shipping_token, api_token=api_token, store=store, stopping=self._stopping
        )
        handler = type("LogzioHandler", (_Handler,), {"app": self.app})
        try:
            self._server = _Server((self.host, self.port), handler)
        except OSError:
            store.close()
            raise
        host, port = self._server.server_address[:2]
        self.port = port
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"logzio-emulator-{port}",
            daemon=True,
        )
        self._thread.start()
        log.info("logzio emulator listening on %s (store %s)", self.url, self._db_path)
        return self

    def stop(self) -> None:
        """Stop serving, release delayed requests, close the store. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.app is not None:
            with contextlib.suppress(Exception):
                self.app.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
            self._db_path = None
        log.info("logzio emulator on %s stopped", self.url)

    def __enter__(self) -> LogzioEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
