"""verify's diagnosis of a shipper that cannot reach the listener, read from the log lines the real
shipper writes when its connections never open (no route, a name that does not resolve, a proxy
that refuses its credentials)."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from shipper_lambda import sender
from shipper_lambda.handler import lambda_handler
from xaccount_ops.verify.diagnose import summarize_shipper_logs

TOKEN = "tkn-network-diagnosis-0123456789abcdef"


class _Context:
    function_name = "logzio-xacct-shipper"

    def __init__(self) -> None:
        self._ends = time.monotonic() + 30

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


def _event() -> dict:
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": "210987654321",
        "logGroup": "/aws/lambda/orders",
        "logStream": "s",
        "subscriptionFilters": ["logzio-xacct-eu-west-1"],
        "logEvents": [{"id": "e1", "timestamp": 1715688000000, "message": "hello"}],
    }
    data = base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()
    return {"Records": [{"kinesis": {"sequenceNumber": "1", "partitionKey": "p", "data": data}}]}


@pytest.fixture
def shipper_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOGZIO_TOKEN", TOKEN)
    monkeypatch.setenv("LOGZIO_TIMEOUT_SECONDS", "0.3")
    monkeypatch.setenv("LOGZIO_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("LOGZIO_RETRY_BASE_MS", "1")
    monkeypatch.setenv("LOGZIO_RETRY_MAX_MS", "2")
    monkeypatch.setenv("LOGZIO_SAFETY_MARGIN_MS", "0")
    yield monkeypatch
    sender.close_pool()


def _shipper_log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """One invocation's log lines as CloudWatch holds them (Lambda's level/time/id prefix)."""
    caplog.set_level(logging.INFO, logger="shipper_lambda")
    lambda_handler(_event(), _Context())
    lines = [
        f"[{r.levelname}]\t2026-01-01T00:00:00.000Z\tabc\t{r.getMessage()}"
        for r in caplog.records
        if r.name.startswith("shipper_lambda")
    ]
    assert lines and not any(TOKEN in line for line in lines)
    return lines


@pytest.fixture
def unroutable() -> Iterator[str]:
    """A listening socket whose accept queue is full and never drained: Linux then drops new
    SYNs, so a connect hangs as it does towards a host with no route (no answer at all)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield f"http://127.0.0.1:{port}"
    for sock in (*fillers, server):
        sock.close()


def test_connections_that_never_open_read_as_no_route_from_the_subnets(
    shipper_env, unroutable, caplog
):
    shipper_env.setenv("LOGZIO_LISTENER_URL", unroutable)

    problems = summarize_shipper_logs(_shipper_log_lines(caplog))

    (route,) = [p for p in problems if "no route" in p[1]]
    assert route[0] == "listener"
    assert route[1].startswith("no route to the listener from the function's subnets: ")
    assert "could not connect within the request deadline" in route[1]
    assert "PrivateLink" in route[2] and "HttpsProxy" in route[2]


def test_a_name_that_does_not_resolve_points_at_private_dns(shipper_env, caplog):
    # .invalid never resolves (RFC 6761), online or not.
    shipper_env.setenv("LOGZIO_LISTENER_URL", "http://listener.logz.invalid:8071")

    problems = summarize_shipper_logs(_shipper_log_lines(caplog))

    (dns,) = [p for p in problems if "does not resolve" in p[1]]
    assert "private DNS" in dns[2]
    assert not any("no route" in p[1] for p in problems)


def test_a_proxy_refusing_credentials_names_the_parameter(shipper_env, caplog):
    proxy = socket.create_server(("127.0.0.1", 0))

    def refuse() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = proxy.accept()
                with conn:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")

    threading.Thread(target=refuse, daemon=True).start()
    shipper_env.setenv("LOGZIO_LISTENER_URL", "https://listener.logz.io:8071")
    shipper_env.setenv("HTTPS_PROXY", f"http://u:secret-pw@127.0.0.1:{proxy.getsockname()[1]}")
    try:
        lines = _shipper_log_lines(caplog)
    finally:
        proxy.close()

    problems = summarize_shipper_logs(lines)

    (refused,) = [p for p in problems if "407" in p[1]]
    assert "HttpsProxy" in refused[2]
    assert not any("secret-pw" in line for line in lines)
