"""One botocore client per (service, region), shared by every account of the fleet.

Making a botocore client costs about 3 ms of CPU and 290 KB (the session's ~140 event handlers
are copied into it and its class is built anew). With a client per (service, account, region),
half of a fleet command's CPU went into making clients, and 17,000 targets would hold 17 GB of
them (``bench/fleet_scale_bench.py``). A client holds nothing of an account but its credentials
and its retry state, so the fleet makes one per (service, region) and gives each account an
:class:`AccountClient`, a view of it:

- the view's calls are signed with the account's credentials (botocore's per-request
  ``request_credentials`` signing context, the one S3 Express uses);
- the account's retries are botocore's own standard (and adaptive) handlers on an event emitter of
  its own: a throttled account backs off and spends its retry quota alone, as with its own client;
- ``view.meta.events`` is that emitter, so a ``Stubber`` on one account's view stubs that account
  only.

A call on a shared client outside a view has no credentials and fails at once
(:class:`UnboundClientCall`), never signed as someone else.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any

from botocore.credentials import Credentials
from botocore.hooks import EventAliaser, HierarchicalEmitter, first_non_none_response

# The view whose call runs in this thread now (set around each API call of a view).
_CALLER: ContextVar[AccountClient | None] = ContextVar("xaccount_ops_caller", default=None)
# Where a call's request context names its view (the context travels with the request).
_CONTEXT_KEY = "xaccount_ops.account_client"
# The events of a call that reach its account's own emitter (retries, stubs).
FORWARDED_EVENTS = (
    "before-parameter-build",
    "before-call",
    "request-created",
    "before-send",
    "needs-retry",
    "after-call",
    "after-call-error",
)


class UnboundClientCall(RuntimeError):
    """A shared client was called directly, not through an account's view: a bug."""


class _NoCredentials(Credentials):
    """The shared client's own credentials: signing with them is a bug, so it fails."""

    def __init__(self) -> None:
        super().__init__("unbound", "unbound")

    def get_frozen_credentials(self) -> Any:
        raise UnboundClientCall("a shared client signed a request outside an account's view")


def unbound_credentials() -> Credentials:
    """Credentials for the botocore session the shared clients are made from."""
    return _NoCredentials()


def _request_context(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The request context of an event, wherever that event carries it."""
    if (context := kwargs.get("context")) is not None:
        return context
    if (request_dict := kwargs.get("request_dict")) is not None:
        return request_dict.get("context", {})
    return getattr(kwargs.get("request"), "context", None) or {}


def _bind(context: dict[str, Any]) -> AccountClient:
    """The view a call belongs to, recorded in its request context with the view's credentials."""
    view = context.get(_CONTEXT_KEY)
    if view is None:
        view = _CALLER.get()
        if view is None:
            raise UnboundClientCall(
                "a shared client was called outside an account's view; use Fleet.client"
            )
        context[_CONTEXT_KEY] = view
    # After endpoint resolution too (before-call): it may set the signing context anew.
    context.setdefault("signing", {})["request_credentials"] = view.credentials
    return view


def _bind_and_forward(event_name: str, **kwargs: Any) -> Any:
    view = _bind(kwargs["context"])
    return first_non_none_response(view._emit(event_name, **kwargs))


def _forward(event_name: str, **kwargs: Any) -> Any:
    view = _request_context(kwargs).get(_CONTEXT_KEY)
    if view is None:
        return None
    return first_non_none_response(view._emit(event_name, **kwargs))


def share(client: Any) -> Any:
    """Make ``client`` shareable: its own retry handlers go (each view has its own) and every call
    is bound to the view that made it.

    ``client`` must have been made with :func:`unbound_credentials` and retries
    :data:`SHARED_RETRIES`: should a botocore release name its retry handlers differently, the
    client still never retries on its own.
    """
    events = client.meta.events
    service = client.meta.service_model.service_id.hyphenize()
    events.unregister(f"needs-retry.{service}", unique_id=f"retry-config-{service}")
    events.unregister(f"request-created.{service}", unique_id=f"seed-max-attempts-{service}")
    for name in FORWARDED_EVENTS:
        handler = (
            _bind_and_forward if name in ("before-parameter-build", "before-call") else _forward
        )
        events.register_first(f"{name}.{service}", handler, unique_id=f"xaccount-ops-view-{name}")
    return client


def register_retries(events: EventAliaser, client: Any, retries: Mapping[str, Any]) -> None:
    """botocore's retry handlers for one account's use of ``client``, on ``events``.

    ``retries``: botocore's retry settings (``mode`` standard or adaptive, ``total_max_attempts``).
    """
    from botocore.retries import adaptive, standard

    # What botocore's registration reads of a client: its service model and its events.
    holder = SimpleNamespace(
        meta=SimpleNamespace(service_model=client.meta.service_model, events=events)
    )
    standard.register_retry_handler(holder, max_attempts=retries.get("total_max_attempts"))
    if retries.get("mode") == "adaptive":
        adaptive.register_retry_handler(holder)


def retry_settings(config: Any) -> dict[str, Any]:
    """botocore's retry settings of ``config`` (a ``botocore.config.Config``), normalised as
    botocore does: a client config's ``max_attempts`` counts retries, ``total_max_attempts``
    counts every attempt."""
    retries = dict(config.retries or {})
    if "total_max_attempts" not in retries and "max_attempts" in retries:
        retries["total_max_attempts"] = retries.pop("max_attempts") + 1
    return retries


SHARED_RETRIES = {"mode": "standard", "total_max_attempts": 1}


class _AccountMeta:
    """The shared client's ``meta``, but with the view's own ``events``."""

    def __init__(self, shared_meta: Any, events: EventAliaser) -> None:
        self._shared_meta = shared_meta
        self.events = events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._shared_meta, name)


class AccountClient:
    """One account's view of a shared client: use it as that account's botocore client."""

    def __init__(self, shared: Any, credentials: Any, retries: Mapping[str, Any]) -> None:
        self._shared = shared
        self.credentials = credentials
        inner = HierarchicalEmitter()
        # An aliaser, as a client's own: a handler registered as "before-send.logs" is on
        # "before-send.cloudwatch-logs". The shared client emits those names already, so its
        # events skip the aliasing (``emit``): it was a tenth of a call's CPU.
        self.meta = _AccountMeta(shared.meta, EventAliaser(inner))
        self._emit = inner.emit
        register_retries(self.meta.events, shared, retries)

    @property
    def shared(self) -> Any:
        """The botocore client this view's calls go through (one per service and region)."""
        return self._shared

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._shared, name)
        if name not in self._shared.meta.method_to_api_mapping:
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            token = _CALLER.set(self)
            try:
                return attr(*args, **kwargs)
            finally:
                _CALLER.reset(token)

        setattr(self, name, call)  # made once per view and operation
        return call

    def get_paginator(self, operation_name: str) -> Any:
        paginator = self._shared.get_paginator(operation_name)
        paginator._method = getattr(self, operation_name)  # every page is this account's call
        return paginator

    def get_waiter(self, waiter_name: str) -> Any:
        from botocore import waiter, xform_name

        model = waiter.WaiterModel(self._shared._get_waiter_config())
        names = {xform_name(name): name for name in model.waiter_names}
        if waiter_name not in names:
            raise ValueError(f"Waiter does not exist: {waiter_name}")
        return waiter.create_waiter_with_client(names[waiter_name], model, self)

    def __repr__(self) -> str:
        meta = self._shared.meta
        return f"AccountClient({meta.service_model.service_name}, {meta.region_name})"


class SharedClients:
    """The shared clients of one fleet, made on first use: ``make(service, region)`` builds one
    (see :func:`share` for what it must be made with)."""

    def __init__(self, make: Callable[[str, str], Any]) -> None:
        self._make = make
        self._clients: dict[tuple[str, str], Any] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, service: str, region: str) -> Any:
        key = (service, region)
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one maker per key; other keys are made meanwhile
            if key not in self._clients:
                self._clients[key] = share(self._make(service, region))
            return self._clients[key]

    def __len__(self) -> int:
        return len(self._clients)
