"""A cache in front of moto's request dispatcher, so the threaded server answers in parallel.

moto's ``DomainDispatcherApplication`` finds each request's backend app under one process-wide
lock, parsing the host and, for our endpoint-URL requests, the SigV4 credential scope and the
body (``get_application``/``infer_service_region_host``). Every request of every thread passes
that lock, so a fleet of threads calling the local cloud is served largely one request at a
time (measured: most samples of a 200-target inventory waited on it). AWS has no such lock.

Here the app moto chose for a (service, region) credential scope is remembered and later
requests with the same scope skip the dispatcher. Only services whose app depends on nothing
but the signing name are cached (:data:`CACHED_SERVICES`); S3 (host- or path-style, S3
Control signs as ``s3`` too) and anything unsigned always go through moto's dispatcher.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from xaccount_ops.local.pace import identify

CACHED_SERVICES = frozenset(
    {
        "cloudformation",
        "events",
        "iam",
        "kinesis",
        "lambda",
        "logs",
        "monitoring",
        "organizations",
        "secretsmanager",
        "servicequotas",
        "sqs",
        "ssm",
        "sts",
    }
)


class CachedDispatch:
    """WSGI app: moto's dispatcher, with the per-scope app remembered (see the module doc)."""

    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher
        self._apps: dict[tuple[str, str], Callable[..., Iterable[bytes]]] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        call = identify(environ, need_operation=False)
        key = (call.service, call.region)
        app = self._apps.get(key) if call.service in CACHED_SERVICES else None
        if app is None:
            app = self.dispatcher.get_application(environ)
            if call.service in CACHED_SERVICES and call.region:
                with self._lock:
                    self._apps.setdefault(key, app)
        return app(environ, start_response)
