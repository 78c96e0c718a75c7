"""The shipper's AWS SDK calls (reading the token secret) under our whole-request deadline.

botocore bounds each socket operation (``connect_timeout``, ``read_timeout``: 60 s each), not a
request: a proxy or endpoint that trickles its answer a byte at a time holds the call, and the
invocation, for as long as it trickles. So the client's HTTP send is replaced, through botocore's
``before-send`` event (a handler that returns a response is used instead of botocore's own send),
by one ``http.client`` request under the same watchdog as the Logz.io requests
(``sender.Watchdog``): the socket is shut down when the deadline passes, also once an answer
says ``Connection: close`` or is HTTP/1.0 and ``http.client`` forgets the socket.

Everything else stays botocore's: signing, retries (a connection error comes back as
``EndpointConnectionError``, which it retries), parsing. The proxy is read as botocore reads it
(``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``, see ``proxy``): a CONNECT tunnel for https, the
absolute form for http. TLS verifies against ``AWS_CA_BUNDLE`` when set, else the system store.
A request that does not complete in time raises :class:`RequestDeadline` (not retried: the time
is spent), which names the endpoint, never a URL's query or a header.
"""

from __future__ import annotations

import http.client
import os
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from shipper_lambda import proxy as proxies
from shipper_lambda.sender import Watchdog

_ssl_contexts: dict[str, ssl.SSLContext] = {}


class RequestDeadline(TimeoutError):
    """An AWS request got no complete answer within its deadline."""


class _Body:
    """The ``raw`` of a botocore ``AWSResponse``: the body, already read."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_: Any, **__: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def with_deadline(client: Any, timeout_s: float, deadline: float | None = None) -> Any:
    """``client`` (a botocore client) with every request sent by :func:`send` under a deadline
    of ``timeout_s`` seconds, and none starting after ``deadline`` (``time.monotonic()``)."""
    client.meta.events.register("before-send", sender_for(timeout_s, deadline))
    return client


def sender_for(timeout_s: float, deadline: float | None = None) -> Callable[..., Any]:
    """A ``before-send`` handler sending each request under the deadline."""

    def handler(request: Any, **_: Any) -> Any:
        left = timeout_s if deadline is None else min(timeout_s, deadline - time.monotonic())
        if left <= 0:
            raise RequestDeadline(f"no time left for a request to {_endpoint(request.url)}")
        return send(request, left)

    return handler


def send(request: Any, timeout_s: float) -> Any:
    """One botocore ``AWSPreparedRequest`` over ``http.client``, connect + send + read within
    ``timeout_s`` seconds; a botocore ``AWSResponse``."""
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import EndpointConnectionError

    parts = urlsplit(request.url)
    proxy = proxies.for_listener(os.environ, request.url)
    conn, target, headers = _connection(parts, proxy, timeout_s)
    headers.update(request.headers.items())
    body = request.body
    if isinstance(body, str):
        body = body.encode()
    elif hasattr(body, "read"):
        body = body.read()
    watchdog = Watchdog(conn, timeout_s)
    try:
        conn.request(request.method, target, body=body, headers=headers)
        watchdog.sock = conn.sock  # kept: http.client drops it on Connection: close / HTTP/1.0
        response = conn.getresponse()
        data = response.read()
        if watchdog.cancel():
            raise TimeoutError("request deadline")  # EOF mid-answer can parse as complete
    except (OSError, http.client.HTTPException) as err:
        where = _endpoint(request.url) + (f" via proxy {proxy.display}" if proxy else "")
        if watchdog.fired:
            raise RequestDeadline(
                f"no complete answer from {where} within the request deadline of {timeout_s:.2f}s"
            ) from None
        raise EndpointConnectionError(endpoint_url=where, error=f"{type(err).__name__}") from None
    finally:
        watchdog.cancel()
        conn.close()
    return AWSResponse(request.url, response.status, response.getheaders(), _Body(data))


def _connection(
    parts: Any, proxy: proxies.Proxy | None, timeout_s: float
) -> tuple[http.client.HTTPConnection, str, dict[str, Any]]:
    """(connection, request target, extra headers) for the URL, through the proxy if any."""
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers: dict[str, Any] = {}
    connect = (proxy.host, proxy.port) if proxy else (host, port)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            *connect, timeout=timeout_s, context=_ssl_context()
        )
        if proxy is not None:
            conn.set_tunnel(host, port, headers=proxy.headers())  # TLS end to end
    else:
        conn = http.client.HTTPConnection(*connect, timeout=timeout_s)
        if proxy is not None:
            target = f"http://{host}:{port}{target}"  # absolute form
            headers.update(proxy.headers())
    return conn, target, headers


def _ssl_context() -> ssl.SSLContext:
    bundle = os.environ.get("AWS_CA_BUNDLE") or ""
    context = _ssl_contexts.get(bundle)
    if context is None:
        context = _ssl_contexts[bundle] = ssl.create_default_context(cafile=bundle or None)
    return context


def _endpoint(url: str) -> str:
    """``scheme://host:port`` of a URL (no path or query: safe to log)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"
