"""The one place that builds boto3 sessions' clients: retries, timeouts, endpoint, user agent.

Every AWS client in the library comes from :func:`client`, so the local cloud's endpoint and the
tests' smaller retry budgets plug in here and nowhere else.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.config import Config as BotocoreConfig
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ProxyConnectionError

from xaccount_ops import __version__
from xaccount_ops.errors import EndpointUnreachable

if TYPE_CHECKING:  # boto3 loads with the first session (the config checks need only botocore)
    import boto3
    import botocore.loaders
    import botocore.session

USER_AGENT_EXTRA = f"xaccount-ops/{__version__}"
# Adaptive mode adds client-side rate limiting on top of exponential backoff: what throttled
# per-account APIs (PutSubscriptionFilter, DescribeLogGroups) need at fleet scale.
RETRY_MODE = "adaptive"
DEFAULT_MAX_ATTEMPTS = 10
# Short: a refused or blackholed endpoint must fail in seconds, not after a 60 s connect wait.
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 60


def botocore_config(
    max_attempts: int | None = None, *, max_pool_connections: int = 32
) -> BotocoreConfig:
    """Retry and timeout settings shared by every client. ``AWS_MAX_ATTEMPTS`` overrides the default."""
    attempts = max_attempts or int(os.environ.get("AWS_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
    return BotocoreConfig(
        retries={"mode": RETRY_MODE, "max_attempts": attempts},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        max_pool_connections=max_pool_connections,
        user_agent_extra=USER_AGENT_EXTRA,
    )


@functools.cache
def data_loader() -> botocore.loaders.Loader:
    """botocore's data loader, one per process. It keeps what it has parsed: the endpoint data
    (a megabyte of JSON, read by the config checks, every session and every client) and the
    service models are then parsed once, not once per botocore session."""
    import botocore.loaders

    return botocore.loaders.create_loader()


_LOADER_LOCK = threading.Lock()


def botocore_session() -> botocore.session.Session:
    """A new botocore session that reads its data through :func:`data_loader`."""
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", data_loader())
    return core


def session(core: botocore.session.Session | None = None, **kwargs: Any) -> boto3.Session:
    """A boto3 session (``kwargs``: profile_name, credentials) over ``core``, by default a new
    :func:`botocore_session`: every session of the toolkit shares the one data loader."""
    import boto3

    made = boto3.Session(botocore_session=core or botocore_session(), **kwargs)
    # boto3 adds its own data folder to the (shared) loader's search path at every session.
    with _LOADER_LOCK:
        paths = data_loader().search_paths
        paths[:] = dict.fromkeys(paths)
    return made


def client(
    session: boto3.Session,
    service: str,
    region: str,
    *,
    endpoint_url: str | None = None,
    config: BotocoreConfig | None = None,
) -> Any:
    """A botocore client for ``service`` in ``region``; ``endpoint_url`` routes it (local cloud).

    Failing to connect is not retried (see :func:`_no_retry_on_connect_error`).
    """
    made = session.client(
        service,
        region_name=region,
        endpoint_url=endpoint_url or None,
        config=config or botocore_config(),
    )
    event = f"needs-retry.{made.meta.service_model.service_id.hyphenize()}"
    made.meta.events.register_first(
        event, _no_retry_on_connect_error, unique_id="xaccount-ops-no-connect-retry"
    )
    return made


# Could not open a connection at all: refused, no route, no DNS name, connect timeout, proxy down.
# botocore's standard/adaptive retries treat these as transient and back off up to 10 times
# (~30 s per call); a fan-out over 100 targets then waits for minutes on an endpoint that is
# simply not there. Read timeouts and closed connections (a server that *is* there) still retry.
CONNECT_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)


def _no_retry_on_connect_error(caught_exception: BaseException | None = None, **_: Any) -> Any:
    """needs-retry handler, run before botocore's: ``False`` (no retry) for a failed connect.

    botocore takes the first non-None answer of the needs-retry handlers, and ``False`` means
    "do not retry" (botocore.endpoint.Endpoint._needs_retry).
    """
    return False if isinstance(caught_exception, CONNECT_ERRORS) else None


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def unreachable(error: BaseException | None) -> EndpointUnreachable | None:
    """An :class:`EndpointUnreachable` when ``error`` (or what caused it) is a failed connect.

    Knows botocore's connect errors and requests' (the Logz.io clients). The message names the
    endpoint, why it failed and the likely fix, e.g. ``cannot reach http://127.0.0.1:4566/
    (connection refused): is `xaccount-ops local up` running?``.
    """
    import requests

    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, EndpointUnreachable):
            return error
        if isinstance(error, CONNECT_ERRORS):
            kwargs = getattr(error, "kwargs", {})
            url = str(kwargs.get("endpoint_url") or kwargs.get("proxy_url") or "")
            timed_out = isinstance(error, ConnectTimeoutError)
            return _unreachable(url, kwargs.get("error"), timed_out=timed_out)
        if isinstance(error, requests.exceptions.ConnectionError) and not isinstance(
            error, requests.exceptions.ReadTimeout
        ):
            request = getattr(error, "request", None)
            url = str(getattr(request, "url", "") or "")
            url = url.split("?", 1)[0]  # a query string may hold a token
            timed_out = isinstance(error, requests.exceptions.ConnectTimeout)
            return _unreachable(url, error, timed_out=timed_out)
        error = error.__cause__ or error.__context__
    return None


def raise_if_unreachable(error: BaseException) -> None:
    """For catch-all handlers that turn errors into rows: an unreachable endpoint is not a row."""
    found = unreachable(error)
    if found is not None:
        raise found from error


def _unreachable(url: str, cause: object, *, timed_out: bool) -> EndpointUnreachable:
    text = str(cause or "")
    if timed_out:
        why = f"no answer within {CONNECT_TIMEOUT_S} s"
    elif "refused" in text.lower():
        why = "connection refused"
    elif any(s in text for s in ("resolve", "Name or service", "nodename", "getaddrinfo")):
        why = "host name not found"
    elif "unreachable" in text.lower() or "No route" in text:
        why = "network unreachable"
    else:
        why = "cannot connect"
    if is_loopback(url):
        fix = "is `xaccount-ops local up` running? (or fix aws.endpoint_url in the config)"
    else:
        fix = "check the network (VPN, proxy, DNS) and any endpoint_url/listener_url in the config"
    return EndpointUnreachable(f"cannot reach {url or 'the endpoint'} ({why}): {fix}", endpoint=url)


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else the exception's class name."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__


class Pacer:
    """At most ``rate`` calls per second across the threads that share it (0: no limit).

    Self-pacing under an API's per-account, per-region quota (PutSubscriptionFilter,
    FilterLogEvents): cheaper than being throttled and retried by botocore."""

    def __init__(self, rate: float, clock: Callable[[], float] | None = None) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock = clock or time.monotonic
        self.sleep = time.sleep
        self.lock = threading.Lock()
        self.next_at = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = self.clock()
            start = max(now, self.next_at)
            self.next_at = start + self.interval
        if start > now:
            self.sleep(start - now)
