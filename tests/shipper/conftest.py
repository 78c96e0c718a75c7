"""Fixtures for the shipper: a real threaded HTTP listener on loopback that records what it
accepted and can be scripted per request, Kinesis event builders, and a fake Lambda context.

Every test also checks that the shipping token never reached a log record, stdout or stderr.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shipper_lambda import codec, sender, token_source

EVENTS = Path(__file__).resolve().parents[1] / "events"
TOKEN = "tkn-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
RELEASE_WAIT_S = 10.0


@dataclass
class Request:
    """One request the listener saw (body decompressed)."""

    index: int
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes
    body: bytes

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.body.split(b"\n")] if self.body else []

    @property
    def ids(self) -> list[str]:
        return [line["id"] for line in self.lines]


@dataclass
class Reply:
    """What to answer: ``hang`` holds the request without answering until the test ends."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


class FakeListener:
    """A Logz.io-like bulk listener: token check, gzip, recorded bodies, scripted answers."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.route_tokens: set[str] = set()  # sub-accounts' tokens, also accepted
        self.requests: list[Request] = []
        self.accepted: list[Request] = []
        self.script: Callable[[Request], Reply | None] | None = None
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def lines(self) -> list[dict[str, Any]]:
        """Every line of every accepted (200) body, in arrival order."""
        return [line for request in self.accepted for line in request.lines]

    def ids(self) -> list[str]:
        return [line["id"] for line in self.lines()]

    def id_counts(self) -> Counter[str]:
        return Counter(self.ids())

    @staticmethod
    def answer(status: int = 200, body: bytes = b"", **kwargs: Any) -> Reply:
        """A scripted reply (``listener.script = lambda req: listener.answer(500)``)."""
        return Reply(status, body, **kwargs)

    def drop_connections(self) -> None:
        """Close every kept-alive connection from the server side, as an idle timeout does."""
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def start(self) -> FakeListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, request: Request) -> Reply:
        if request.query.get("token", [""])[0] not in {self.token, *self.route_tokens}:
            return Reply(401, b"unauthorized")
        reply = self.script(request) if self.script else None
        return reply or Reply()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with listener._lock:
                    listener._conns.append(self.connection)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = raw
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(raw)
                with listener._lock:
                    request = Request(
                        index=len(listener.requests),
                        query=parse_qs(urlsplit(self.path).query),
                        headers=dict(self.headers),
                        raw=raw,
                        body=body,
                    )
                    listener.requests.append(request)
                reply = listener._answer(request)
                if reply.hang:
                    listener.release.wait(RELEASE_WAIT_S)
                    self.close_connection = True
                    return
                if reply.status == 200:
                    with listener._lock:
                        listener.accepted.append(request)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output about the shipper

        return Handler


class FakeContext:
    """The bits of the Lambda context the handler uses."""

    function_name = "logzio-xacct-shipper"

    def __init__(self, budget_ms: int = 30_000) -> None:
        self._ends = time.monotonic() + budget_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


class Kinesis:
    """Builders for CloudWatch Logs payloads inside Kinesis events."""

    counter = 0

    @staticmethod
    def payload(
        log_group: str = "/aws/lambda/orders",
        messages: list[str] | None = None,
        *,
        prefix: str = "e",
        owner: str = "210987654321",
        log_stream: str = "2024/05/14/[$LATEST]abc",
        filters: list[str] | None = None,
        timestamp: int = 1715688000000,
    ) -> dict[str, Any]:
        messages = ["hello"] if messages is None else messages
        return {
            "messageType": "DATA_MESSAGE",
            "owner": owner,
            "logGroup": log_group,
            "logStream": log_stream,
            "subscriptionFilters": ["logzio-xacct-eu-west-1"] if filters is None else filters,
            "logEvents": [
                {"id": f"{prefix}{i:05d}", "timestamp": timestamp + i, "message": message}
                for i, message in enumerate(messages)
            ],
        }

    @staticmethod
    def record(payload: dict[str, Any] | bytes, sequence: str) -> dict[str, Any]:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        data = gzip.compress(raw, mtime=0) if not isinstance(payload, bytes) else raw
        return {
            "eventSource": "aws:kinesis",
            "kinesis": {
                "sequenceNumber": sequence,
                "partitionKey": "pk",
                "data": base64.b64encode(data).decode(),
            },
        }

    @classmethod
    def event(cls, *payloads: dict[str, Any]) -> dict[str, Any]:
        return {"Records": [cls.record(p, cls.seq(i)) for i, p in enumerate(payloads)]}

    @staticmethod
    def seq(index: int) -> str:
        return f"49590132987645872547890123456789012345678901234567{index:06d}"

    @staticmethod
    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS / name).read_text())

    @staticmethod
    def decode(record: dict[str, Any]) -> dict[str, Any]:
        return json.loads(gzip.decompress(base64.b64decode(record["kinesis"]["data"])))


@pytest.fixture
def listener() -> Iterator[FakeListener]:
    server = FakeListener().start()
    yield server
    server.stop()


@pytest.fixture
def kinesis() -> type[Kinesis]:
    return Kinesis


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


@pytest.fixture
def token() -> str:
    """The shipping token the fake listener accepts (and that must never be logged)."""
    return TOKEN


@pytest.fixture
def make_context() -> type[FakeContext]:
    return FakeContext


@pytest.fixture(params=["fast", "stdlib"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with orjson+isal and again with the stdlib only."""
    name = codec.select(stdlib_only=request.param == "stdlib")
    yield name
    codec.select()


SHIPPER_VARS = [
    "LOGZIO_TOKEN",
    "TOKEN",
    "LOGZIO_TOKEN_SECRET",
    "LOGZIO_REGION",
    "REGION",
    "LOGZIO_LISTENER_URL",
    "LOGZIO_COMPRESS",
    "COMPRESS",
    "LOGZIO_TYPE",
    "LOGZIO_TYPE_MAP",
    "LOGZIO_OVERSIZE",
    "ADDITIONAL_FIELDS",
    "INCLUDE_LOG_GROUPS",
    "EXCLUDE_LOG_GROUPS",
    "LOGZIO_MAX_BODY_BYTES",
    "LOGZIO_TIMEOUT_SECONDS",
    "LOGZIO_RETRY_ATTEMPTS",
    "LOGZIO_RETRY_BASE_MS",
    "LOGZIO_RETRY_MAX_MS",
    "LOGZIO_SAFETY_MARGIN_MS",
    "LOGZIO_ROUTES",
    "LOGZIO_ROUTE_TOKENS",
    "LOGZIO_REDACT",
    "LOGZIO_DROP_EVENTS",
    "LOGZIO_KEEP_EVENTS",
    "LOGZIO_MULTILINE",
]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, listener: FakeListener) -> pytest.MonkeyPatch:
    """A shipper environment pointing at the fake listener, with millisecond retry backoff."""
    for name in SHIPPER_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOGZIO_TOKEN", TOKEN)
    monkeypatch.setenv("LOGZIO_LISTENER_URL", listener.url)
    monkeypatch.setenv("LOGZIO_RETRY_BASE_MS", "1")
    monkeypatch.setenv("LOGZIO_RETRY_MAX_MS", "4")
    monkeypatch.setenv("LOGZIO_RETRY_ATTEMPTS", "3")
    monkeypatch.setenv("LOGZIO_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("LOGZIO_SAFETY_MARGIN_MS", "0")
    return monkeypatch


@pytest.fixture(autouse=True)
def _no_token_in_output(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[None]:
    """The token must never appear in logs, stdout or stderr, whatever the test did."""
    caplog.set_level(logging.DEBUG, logger="shipper_lambda")
    yield
    out, err = capsys.readouterr()
    print(out, end="")  # keep it visible on failure
    records = caplog.get_records("setup") + caplog.get_records("call")
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in records)
    assert TOKEN not in logged
    assert TOKEN not in out
    assert TOKEN not in err
    sender.close_pool()
    token_source.clear_cache()


def summary_line(out: str) -> dict[str, Any]:
    """The handler's one JSON summary/EMF line from captured stdout (the last one)."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith('{"message"')]
    assert lines, f"no summary line in {out!r}"
    return lines[-1]


@pytest.fixture
def summary(capsys: pytest.CaptureFixture[str]) -> Callable[[], dict[str, Any]]:
    """Read the latest summary line (stdout stays captured for the token check)."""

    def read() -> dict[str, Any]:
        out, err = capsys.readouterr()
        print(out, end="")
        print(err, end="", file=__import__("sys").stderr)
        return summary_line(out)

    return read
