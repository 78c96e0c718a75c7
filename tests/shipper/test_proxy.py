"""The shipper through an egress proxy (HTTPS_PROXY/HTTP_PROXY/NO_PROXY) and the whole-request
deadline when the peer answers ``Connection: close`` or HTTP/1.0.

The proxy is a real one on loopback, started by the test: CONNECT tunnels (for an https
listener, TLS end to end with a certificate the test signs) and absolute-form forwarding (for an
http listener), Basic proxy authentication, and scripted faults: 407, 502 and a trickled answer.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shipper_lambda import config, proxy, sender, token_source
from shipper_lambda.handler import lambda_handler

from .conftest import TOKEN, FakeListener

PROXY_USER = "egress-user"
PROXY_PASSWORD = "pr0xy-s3cret-Zq81"  # must never reach a log line or an error
HOP_BY_HOP = {"proxy-authorization", "proxy-connection", "connection", "keep-alive"}


# -- a proxy on loopback ---------------------------------------------------------------------


@dataclass
class Seen:
    """One request head the proxy read (the request line and its headers)."""

    line: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def authorized(self) -> bool:
        expected = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
        return self.headers.get("proxy-authorization") == f"Basic {expected}"


class LoopbackProxy:
    """A forward proxy: CONNECT tunnels and absolute-form HTTP, with Basic auth when
    ``require_auth``; ``fault`` makes it answer every request with ``"407"``, ``"502"``, or a
    200 trickled one byte per ``every_s`` (``"trickle"``, ~4 s in all)."""

    def __init__(self, require_auth: bool = False, every_s: float = 0.02) -> None:
        self.require_auth = require_auth
        self.fault: str | None = None
        self.every_s = every_s
        self.seen: list[Seen] = []
        self.completed_trickles = 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn:
            reader = conn.makefile("rb")
            while not self._stop.is_set():
                head = _read_head(reader)
                if head is None:
                    return
                if not self._one(conn, reader, head):
                    return

    def _one(self, conn: socket.socket, reader, head: Seen) -> bool:
        """Answer one request; whether the connection stays open for another."""
        self.seen.append(head)
        method, target, _ = head.line.split(" ", 2)
        length = int(head.headers.get("content-length", "0"))
        body = reader.read(length) if length else b""
        if self.fault == "407" or (self.require_auth and not head.authorized):
            conn.sendall(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="egress"\r\nContent-Length: 0\r\n\r\n'
            )
            return method != "CONNECT"
        if self.fault == "502":
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad")
            return method != "CONNECT"
        if self.fault == "trickle":
            self._trickle(conn)
            return False
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)), timeout=10)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(conn, upstream)
            return False
        url = urlsplit(target)
        forward = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        headers = {k: v for k, v in head.headers.items() if k not in HOP_BY_HOP}
        path = url.path + (f"?{url.query}" if url.query else "")
        forward.request(method, path, body=body, headers=headers)
        answer = forward.getresponse()
        payload = answer.read()
        forward.close()
        conn.sendall(
            f"HTTP/1.1 {answer.status} {answer.reason}\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        return True

    def _trickle(self, conn: socket.socket) -> None:
        answer = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"." * 200 + b"\r\nContent-Length: 0\r\n\r\n"
        with contextlib.suppress(OSError):
            for byte in answer:
                if self._stop.wait(self.every_s):
                    return
                conn.sendall(bytes([byte]))
            self.completed_trickles += 1

    def url(self, credentials: str = "") -> str:
        return f"http://{credentials}127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.close()


def _read_head(reader) -> Seen | None:
    line = reader.readline()
    if not line:
        return None
    head = Seen(line.decode("latin-1").rstrip("\r\n"))
    while True:
        header = reader.readline()
        if header in (b"\r\n", b"\n", b""):
            return head
        name, _, value = header.decode("latin-1").partition(":")
        head.headers[name.strip().lower()] = value.strip()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    def copy(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    other = threading.Thread(target=copy, args=(b, a), daemon=True)
    other.start()
    copy(a, b)
    other.join(10)
    b.close()


@pytest.fixture
def egress() -> Iterator[LoopbackProxy]:
    server = LoopbackProxy(require_auth=True)
    yield server
    server.stop()


# -- an https listener with a certificate the test signs ------------------------------------


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, listener certificate, listener key) for 127.0.0.1."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test egress CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def tls_listener(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeListener, str]]:
    """The fake listener behind TLS, and its https URL; the shipper trusts the test's CA."""
    ca, leaf, key = _certificates(tmp_path)
    server = FakeListener()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf, key)
    server._server.socket = context.wrap_socket(server._server.socket, server_side=True)
    server.start()
    # The shipper's context is created once per container; a corporate CA would come in through
    # SSL_CERT_FILE, read when it is created: here it is created for the test's CA.
    monkeypatch.setattr(sender, "_ssl_context", ssl.create_default_context(cafile=str(ca)))
    yield server, f"https://127.0.0.1:{server.url.rsplit(':', 1)[1]}"
    server.stop()


def _no_password_anywhere(caplog: pytest.LogCaptureFixture) -> None:
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    assert PROXY_PASSWORD not in text
    assert base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode() not in text


# -- through the proxy ------------------------------------------------------------------------


def test_https_listener_is_reached_through_an_authenticated_connect_tunnel(
    env, tls_listener, egress, kinesis, context, caplog, token
):
    # GIVEN an https listener reachable only through the proxy, credentials in HTTPS_PROXY
    server, url = tls_listener
    env.setenv("LOGZIO_LISTENER_URL", url)
    env.setenv("HTTPS_PROXY", egress.url(f"{PROXY_USER}:{PROXY_PASSWORD}@"))
    event = kinesis.event(kinesis.payload(messages=["a", "b"]), kinesis.payload(prefix="x"))

    # WHEN two invocations run (the second reuses the tunnel)
    first = lambda_handler(event, context)
    second = lambda_handler(kinesis.event(kinesis.payload(prefix="y")), context)

    # THEN everything arrived once over one CONNECT to the listener's host:port, authenticated,
    # and the proxy never saw the token (it travels inside TLS)
    assert first == second == {"batchItemFailures": []}
    assert server.ids() == ["e00000", "e00001", "x00000", "y00000"]
    assert [s.line for s in egress.seen] == [f"CONNECT 127.0.0.1:{urlsplit(url).port} HTTP/1.0"]
    assert egress.seen[0].authorized
    assert token not in repr(egress.seen)
    _no_password_anywhere(caplog)


def test_http_listener_is_reached_in_absolute_form_with_proxy_credentials(
    env, listener, egress, kinesis, context, caplog
):
    # GIVEN an http listener and HTTP_PROXY with credentials, lower case winning over upper
    env.setenv("http_proxy", egress.url(f"{PROXY_USER}:{PROXY_PASSWORD}@"))
    env.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there

    # WHEN
    result = lambda_handler(kinesis.event(kinesis.payload(messages=["a", "b"])), context)

    # THEN the proxy forwarded an absolute-form POST; its credentials stopped at the proxy
    assert result == {"batchItemFailures": []}
    assert listener.ids() == ["e00000", "e00001"]
    (seen,) = egress.seen
    assert seen.line.startswith(f"POST {listener.url}/?token=")
    assert seen.authorized
    assert not any(k.lower() == "proxy-authorization" for k in listener.requests[0].headers)
    _no_password_anywhere(caplog)


def test_no_proxy_sends_directly(env, listener, egress, kinesis, context):
    env.setenv("HTTP_PROXY", egress.url())
    env.setenv("NO_PROXY", "internal.example,127.0.0.1")

    result = lambda_handler(kinesis.event(kinesis.payload()), context)

    assert result == {"batchItemFailures": []}
    assert listener.ids() == ["e00000"]
    assert egress.seen == []


@pytest.mark.parametrize("tunnel", [True, False], ids=["connect", "absolute-form"])
def test_proxy_407_fails_the_batch_at_once_naming_the_proxy_not_its_credentials(
    env, listener, tls_listener, egress, kinesis, context, caplog, summary, tunnel
):
    # GIVEN a proxy that refuses our (wrong) credentials
    variable = "HTTPS_PROXY" if tunnel else "HTTP_PROXY"
    if tunnel:
        env.setenv("LOGZIO_LISTENER_URL", tls_listener[1])
    env.setenv(variable, egress.url(f"{PROXY_USER}:wrong-{PROXY_PASSWORD}@"))

    # WHEN
    result = lambda_handler(kinesis.event(kinesis.payload()), context)

    # THEN the batch fails from its first record without retries (resending cannot help),
    # nothing reached a listener, and the log names the proxy and the variable to check
    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(0)}]}
    assert len(egress.seen) == 1
    assert listener.requests == tls_listener[0].requests == []
    assert summary()["retries"] == 0
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "407 Proxy Authentication Required" in logged or "HTTP 407" in logged
    assert f"proxy {egress.url()}" in logged and variable in logged
    assert f"wrong-{PROXY_PASSWORD}" not in logged


@pytest.mark.parametrize("tunnel", [True, False], ids=["connect", "absolute-form"])
def test_proxy_502_is_retried_then_fails_the_batch(
    env, listener, tls_listener, egress, kinesis, context, summary, tunnel
):
    if tunnel:
        env.setenv("LOGZIO_LISTENER_URL", tls_listener[1])
    env.setenv(
        "HTTPS_PROXY" if tunnel else "HTTP_PROXY", egress.url(f"{PROXY_USER}:{PROXY_PASSWORD}@")
    )
    egress.fault = "502"

    result = lambda_handler(kinesis.event(kinesis.payload()), context)

    # THEN three attempts (LOGZIO_RETRY_ATTEMPTS), each answered by the proxy, then the failure
    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(0)}]}
    assert len(egress.seen) == 3
    doc = summary()
    assert (doc["requests"], doc["retries"]) == (3, 2)

    # AND once the proxy recovers, the batch goes through
    egress.fault = None
    assert lambda_handler(kinesis.event(kinesis.payload()), context) == {"batchItemFailures": []}
    assert (tls_listener[0] if tunnel else listener).ids() == ["e00000"]


@pytest.mark.parametrize("tunnel", [True, False], ids=["connect", "absolute-form"])
def test_trickling_proxy_is_cut_off_at_the_whole_request_deadline(
    env, tls_listener, egress, kinesis, context, summary, tunnel
):
    # GIVEN a 0.3 s request deadline and a proxy whose answer takes ~4 s, byte by byte
    if tunnel:
        env.setenv("LOGZIO_LISTENER_URL", tls_listener[1])
    env.setenv(
        "HTTPS_PROXY" if tunnel else "HTTP_PROXY", egress.url(f"{PROXY_USER}:{PROXY_PASSWORD}@")
    )
    env.setenv("LOGZIO_TIMEOUT_SECONDS", "0.3")
    env.setenv("LOGZIO_RETRY_ATTEMPTS", "2")
    egress.fault = "trickle"

    result = lambda_handler(kinesis.event(kinesis.payload()), context)

    # THEN both attempts were cut off (never waited out) and the batch fails
    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(0)}]}
    doc = summary()
    assert (doc["requests"], doc["request_timeouts"]) == (2, 2)
    assert egress.completed_trickles == 0


# -- the deadline when the peer closes the connection after its answer -----------------------


class ClosingTrickler:
    """Answers at once with a status line and headers that hand the connection over to the
    response (``Connection: close`` on HTTP/1.1, or HTTP/1.0 with no length), then trickles the
    body one byte per 20 ms (~4 s in all)."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.completed = 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            reader = conn.makefile("rb")
            head = _read_head(reader)
            if head is None:
                return
            reader.read(int(head.headers.get("content-length", "0")))
            body = b"." * 200
            if self.version == "HTTP/1.1":
                start = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 200\r\n\r\n"
            else:
                start = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
            with contextlib.suppress(OSError):
                conn.sendall(start)
                for byte in body:
                    if self._stop.wait(0.02):
                        return
                    conn.sendall(bytes([byte]))
                self.completed += 1

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.close()


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_deadline_holds_when_the_answer_closes_the_connection(
    env, kinesis, context, summary, version
):
    # GIVEN a listener whose headers arrive at once and whose body trickles for ~4 s, on a
    # connection http.client no longer holds (it passed the socket to the response)
    server = ClosingTrickler(version)
    try:
        env.setenv("LOGZIO_LISTENER_URL", server.url)
        env.setenv("LOGZIO_TIMEOUT_SECONDS", "0.3")
        env.setenv("LOGZIO_RETRY_ATTEMPTS", "2")

        # WHEN
        result = lambda_handler(kinesis.event(kinesis.payload()), context)

        # THEN both attempts were cut off at the deadline, never waited out
        assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(0)}]}
        doc = summary()
        assert (doc["requests"], doc["request_timeouts"]) == (2, 2)
        assert server.completed == 0
    finally:
        server.stop()


def test_http10_answers_that_close_are_followed_by_a_fresh_connection(env, kinesis, context):
    # GIVEN a listener that speaks HTTP/1.0 and closes after each answer
    answered = []

    def serve(sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                reader = conn.makefile("rb")
                head = _read_head(reader)
                if head is None:
                    continue
                reader.read(int(head.headers.get("content-length", "0")))
                answered.append(head.line)
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
                conn.shutdown(socket.SHUT_RDWR)  # the end of the body (the reader holds the fd)

    sock = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=serve, args=(sock,), daemon=True).start()
    try:
        env.setenv("LOGZIO_LISTENER_URL", f"http://127.0.0.1:{sock.getsockname()[1]}")
        env.setenv("LOGZIO_MAX_BODY_BYTES", "1024")  # several bodies in one invocation
        messages = [f"message {i} " + "x" * 300 for i in range(6)]

        result = lambda_handler(kinesis.event(kinesis.payload(messages=messages)), context)

        assert result == {"batchItemFailures": []}
        assert len(answered) >= 3
    finally:
        sock.close()


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://proxy.internal:3128", ("proxy.internal", 3128, None)),
        ("proxy.internal:3128", ("proxy.internal", 3128, None)),
        ("http://proxy.internal", ("proxy.internal", 80, None)),
        ("http://a%40b:p%3Ass@proxy.internal:8080", ("proxy.internal", 8080, "a@b:p:ss")),
    ],
)
def test_proxy_urls_parse(value, expected):
    parsed = proxy.parse("HTTPS_PROXY", value)
    auth = parsed.authorization
    decoded = base64.b64decode(auth.split(" ", 1)[1]).decode() if auth else None
    assert (parsed.host, parsed.port, decoded) == expected
    assert "@" not in parsed.display and "p:ss" not in repr(parsed)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"https://u:{PROXY_PASSWORD}@proxy.internal:3128", "must be an http:// proxy URL"),
        ("socks5://proxy.internal:1080", "got scheme 'socks5'"),
        ("proxy.internal", "names no port"),
        (f"http://u:{PROXY_PASSWORD}@proxy.internal:99999", "is not a proxy URL"),
    ],
)
def test_bad_proxy_is_a_config_error_naming_the_variable_not_the_password(value, message):
    with pytest.raises(config.ConfigError) as caught:
        config.load(
            {
                "LOGZIO_TOKEN": "t",
                "LOGZIO_LISTENER_URL": "https://listener.logz.io:8071",
                "HTTPS_PROXY": value,
            }
        )
    assert message in str(caught.value) and "HTTPS_PROXY" in str(caught.value)
    assert PROXY_PASSWORD not in str(caught.value)


def test_proxy_choice_follows_the_listener_scheme_and_no_proxy():
    env = {"HTTPS_PROXY": "http://p:3128", "HTTP_PROXY": "http://q:3128"}
    assert proxy.for_listener(env, "https://listener.logz.io:8071").host == "p"
    assert proxy.for_listener(env, "http://listener.logz.io:8070").host == "q"
    assert proxy.for_listener({**env, "NO_PROXY": ".logz.io"}, "https://listener.logz.io") is None
    assert proxy.for_listener({**env, "no_proxy": "*"}, "https://listener.logz.io") is None
    assert proxy.for_listener({**env, "NO_PROXY": "example.com"}, "https://listener.logz.io")
    assert proxy.for_listener({}, "https://listener.logz.io:8071") is None


def test_tunnel_refusal_wording_of_http_client_is_what_the_sender_parses():
    """The sender reads the proxy's CONNECT status from http.client's OSError text: if a Python
    release changes the wording, this fails instead of 407s turning into blind retries."""
    upstream = socket.create_server(("127.0.0.1", 0))

    def refuse() -> None:
        conn, _ = upstream.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")

    threading.Thread(target=refuse, daemon=True).start()
    conn = http.client.HTTPConnection("127.0.0.1", upstream.getsockname()[1], timeout=5)
    conn.set_tunnel("listener.logz.io", 8071)
    with pytest.raises(OSError) as caught:
        conn.connect()
    upstream.close()
    assert sender._tunnel_status(caught.value) == (407, "Proxy Authentication Required")


# -- the token secret's read under the same deadline -----------------------------------------

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:logzio/shipping-AbCdEf"


def _secret_env(env, endpoint: str) -> None:
    env.delenv("LOGZIO_TOKEN")
    env.setenv("LOGZIO_TOKEN_SECRET", SECRET_ARN)
    env.setenv("AWS_ENDPOINT_URL", endpoint)
    env.setenv("AWS_ACCESS_KEY_ID", "testing")
    env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    env.setenv("LOGZIO_TIMEOUT_SECONDS", "0.3")


def test_secret_read_through_a_trickling_proxy_is_cut_off_naming_the_secret(
    env, listener, egress, moto_endpoint, kinesis, context
):
    # GIVEN the token in Secrets Manager, reached through a proxy that trickles its answer
    # for ~4 s, and a 0.3 s request deadline
    _secret_env(env, moto_endpoint)
    env.setenv("HTTP_PROXY", egress.url(f"{PROXY_USER}:{PROXY_PASSWORD}@"))
    egress.fault = "trickle"

    # WHEN
    with pytest.raises(token_source.TokenUnavailable) as caught:
        lambda_handler(kinesis.event(kinesis.payload()), context)

    # THEN the read was cut off (the trickle never completed), the error names the secret and
    # the deadline, not the proxy's credentials; nothing was shipped
    message = str(caught.value)
    assert SECRET_ARN in message and "request deadline of 0.30s" in message
    assert f"via proxy http://127.0.0.1:{egress.port}" in message
    assert PROXY_PASSWORD not in message
    assert egress.completed_trickles == 0
    assert egress.seen and egress.seen[0].line.startswith("POST http://127.0.0.1:")
    assert listener.requests == []


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_secret_read_deadline_holds_when_the_answer_closes_the_connection(
    env, listener, kinesis, context, version
):
    # GIVEN a Secrets Manager endpoint whose headers arrive at once and whose body trickles on a
    # connection http.client no longer holds (Connection: close, or HTTP/1.0)
    server = ClosingTrickler(version)
    try:
        _secret_env(env, server.url)

        # WHEN / THEN the read is cut off at the deadline, naming the secret
        with pytest.raises(token_source.TokenUnavailable, match="request deadline") as caught:
            lambda_handler(kinesis.event(kinesis.payload()), context)
        assert SECRET_ARN in str(caught.value)
        assert server.completed == 0
        assert listener.requests == []
    finally:
        server.stop()


def test_secret_read_through_the_proxy_gets_the_token(
    env, listener, egress, moto_endpoint, kinesis, context
):
    # GIVEN the token in Secrets Manager (moto), reached through the loopback proxy with Basic
    # credentials: the request is signed by botocore and sent by the shipper's own client
    boto3 = pytest.importorskip("boto3")
    client = boto3.client(
        "secretsmanager",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    arn = client.create_secret(Name=f"logzio/via-proxy-{id(egress)}", SecretString=TOKEN)["ARN"]
    _secret_env(env, moto_endpoint)
    env.setenv("LOGZIO_TOKEN_SECRET", arn)
    env.setenv("LOGZIO_TIMEOUT_SECONDS", "5")
    env.setenv("HTTP_PROXY", egress.url(f"{PROXY_USER}:{PROXY_PASSWORD}@"))  # listener too

    assert lambda_handler(kinesis.event(kinesis.payload()), context) == {"batchItemFailures": []}

    assert listener.ids() == ["e00000"]
    targets = [seen.headers.get("x-amz-target", "") for seen in egress.seen]
    assert "secretsmanager.GetSecretValue" in targets
    assert all(seen.authorized for seen in egress.seen)
