"""The emulator's endpoints as plain functions of a request: no sockets here (``server.py`` has
the HTTP side), so each rule is easy to read next to the Logz.io behaviour it copies.

Routes:

- ``POST /?token=&type=``: the bulk listener (``bulk.py`` has the line rules).
- ``POST /v1/search`` with ``X-API-TOKEN``: the search subset (``query.py``); ``?dayOffset=N``.
- ``/v2/alerts`` and ``/v2/alerts/{id}`` with ``X-API-TOKEN``: log alerts (``alerts.py``).
- ``POST|GET|DELETE /__admin/faults``, ``GET /__admin/stats``, ``POST /__admin/reset``,
  ``GET /__admin/health``: test controls, no token (the emulator listens on loopback only).
- ``POST /__admin/accounts``: add a sub-account with its own tokens and documents, as Logz.io
  customers split prod/dev/security data (each sub-account has its own shipping and API tokens).

Tokens are compared in constant time and never written to a response or a log line.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from xaccount_ops.local.logzio import alerts, bulk, query
from xaccount_ops.local.logzio.faults import Fault, Faults, FaultSpecError, Stats
from xaccount_ops.local.logzio.store import Store

log = logging.getLogger("xaccount_ops.local.logzio")

JSON = {"Content-Type": "application/json"}


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(payload).encode(), {**JSON, **(headers or {})})


def _error(status: int, message: str) -> Reply:
    return _json(status, {"code": status, "message": message})


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class SubAccount:
    """A Logz.io sub-account: its own shipping and API tokens, and its own documents."""

    name: str
    shipping_token: bytes
    api_token: bytes
    store: Store

    def __repr__(self) -> str:  # tokens stay out of reprs
        return f"SubAccount(name={self.name!r})"


class LogzioApp:
    """Listener, search API and admin endpoints over the main account's store and any
    sub-accounts' (``POST /__admin/accounts``): a token finds its account's documents only."""

    def __init__(
        self,
        *,
        shipping_token: str,
        api_token: str,
        store: Store,
        stopping: threading.Event,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not shipping_token or not api_token:
            raise ValueError("the Logz.io emulator needs a non-empty shipping token and API token")
        self._shipping_token = shipping_token.encode()
        self._api_token = api_token.encode()
        self.store = store
        self.sub_accounts: dict[str, SubAccount] = {}
        self.faults = Faults()
        self.stats = Stats()
        self._stopping = stopping
        self._clock = clock
        self._alert_books: dict[Path, alerts.AlertBook] = {}
        self._books_lock = threading.Lock()

    def __repr__(self) -> str:  # tokens stay out of reprs
        return f"LogzioApp(store={self.store.path!s})"

    # -- routing -------------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        if path in ("", "/"):
            if method != "POST":
                return _error(
                    405, "the bulk listener takes POST /?token=<shipping token>&type=<type>"
                )
            return self.bulk(params, headers, body)
        if path == "/v1/search":
            if method != "POST":
                return _error(405, "search is POST /v1/search")
            return self.search(params, headers, body)
        if path == "/v2/alerts" or path.startswith("/v2/alerts/"):
            return self.alerts(method, path, headers, body)
        if path.startswith("/__admin/"):
            return self.admin(method, path, body)
        return _error(404, f"no such endpoint: {method} {path}")

    # -- bulk listener -------------------------------------------------------------------------

    def bulk(self, params: Mapping[str, str], headers: Mapping[str, str], raw: bytes) -> Reply:
        received_ms = _now_ms()
        store = self._store_for(params.get("token"), "shipping_token")
        if store is None:
            self.stats.bulk(401, bytes_received=len(raw))
            return _error(401, "shipping token missing or invalid (token query parameter)")
        try:
            body = bulk.decode_body(raw, headers.get("content-encoding"))
        except bulk.BodyTooLarge as err:
            self.stats.bulk(413, bytes_received=len(raw))
            return _error(413, str(err))
        except bulk.BadEncoding as err:
            self.stats.bulk(400, bytes_received=len(raw))
            return _error(400, str(err))
        firing = self.faults.take(body)
        if firing is not None and firing.status is not None:
            self._wait(firing.delay_s)
            self.stats.bulk(
                firing.status, bytes_received=len(raw), bytes_uncompressed=len(body), fault=True
            )
            extra = (
                {"Retry-After": str(firing.retry_after)} if firing.retry_after is not None else {}
            )
            return _json(firing.status, {"code": firing.status, "message": "injected fault"}, extra)
        result = bulk.parse_lines(
            body,
            default_type=params.get("type") or bulk.DEFAULT_TYPE,
            received_ms=received_ms,
            reject=firing.reject_lines.encode() if firing and firing.reject_lines else None,
        )
        store.add(((ln.source, ln.ts_ms, ln.raw) for ln in result.lines), received_ms)
        status = 400 if result.rejected else 200
        if firing is not None:
            self._wait(firing.delay_s)  # the lines are kept: a slow answer, not a lost request
        self.stats.bulk(
            status,
            bytes_received=len(raw),
            bytes_uncompressed=len(body),
            accepted=len(result.lines),
            malformed=result.malformed,
            oversized=result.oversized,
            empty=result.empty,
            fault=firing is not None,
        )
        if result.rejected:
            log.info("bulk: %s", result.counts())
            return _json(400, result.counts())
        return Reply(200)

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)  # returns early when the emulator stops

    # -- search API ----------------------------------------------------------------------------

    def search(self, params: Mapping[str, str], headers: Mapping[str, str], raw: bytes) -> Reply:
        self.stats.search()
        store = self._store_for(headers.get("x-api-token"), "api_token")
        if store is None:
            return _error(401, "API token missing or invalid (X-API-TOKEN header)")
        try:
            body = json.loads(raw or b"{}")
        except ValueError as err:
            return _error(400, f"the search body is not JSON: {err}")
        offset_text = params.get("dayOffset", "0") or "0"
        try:
            day_offset = int(offset_text)
        except ValueError:
            return _error(400, f"dayOffset must be an integer, got {offset_text!r}")
        started = time.perf_counter()
        try:
            parsed = query.parse_search(body, now=self._clock(), day_offset=day_offset)
        except query.QueryError as err:
            return _error(400, str(err))
        response = query.run(parsed, store.scan(parsed.lo_ms, parsed.hi_ms, parsed.hint))
        response = {"took": int((time.perf_counter() - started) * 1000), **response}
        return _json(200, response)

    # -- alerts API (v2) -----------------------------------------------------------------------

    def _book(self, store: Store) -> alerts.AlertBook:
        with self._books_lock:
            book = self._alert_books.get(store.path)
            if book is None:
                book = alerts.AlertBook(store.path.with_name(store.path.stem + ".alerts.json"))
                self._alert_books[store.path] = book
            return book

    def alerts(self, method: str, path: str, headers: Mapping[str, str], raw: bytes) -> Reply:
        store = self._store_for(headers.get("x-api-token"), "api_token")
        if store is None:
            return _error(401, "API token missing or invalid (X-API-TOKEN header)")
        book = self._book(store)
        rest = path[len("/v2/alerts") :].strip("/")
        try:
            if not rest:
                if method == "GET":
                    return _json(200, book.list())
                if method == "POST":
                    return _json(200, book.create(json.loads(raw or b"null"), self._clock()))
                return _error(405, "alerts are GET or POST /v2/alerts")
            if not rest.isdigit():
                return _error(404, f"no such endpoint: {method} {path} (alert ids are integers)")
            alert_id = int(rest)
            if method == "GET":
                found = book.get(alert_id)
            elif method == "PUT":
                found = book.update(alert_id, json.loads(raw or b"null"), self._clock())
            elif method == "DELETE":
                found = {} if book.delete(alert_id) else None
            else:
                return _error(405, "an alert is GET, PUT or DELETE /v2/alerts/{id}")
        except ValueError as err:  # AlertError and JSON errors
            kind = "" if isinstance(err, alerts.AlertError) else "body is not JSON: "
            return _error(400, f"{kind}{err}")
        if found is None:
            return _json(404, alerts.not_found(alert_id))
        return _json(200, found) if method != "DELETE" else Reply(200)

    # -- admin ---------------------------------------------------------------------------------

    def admin(self, method: str, path: str, raw: bytes) -> Reply:
        if path == "/__admin/faults":
            if method == "POST":
                try:
                    fault = Fault.from_json(json.loads(raw or b"null"))
                except ValueError as err:  # FaultSpecError and JSON errors
                    kind = "" if isinstance(err, FaultSpecError) else "body is not JSON: "
                    return _error(400, f"{kind}{err}")
                self.faults.add(fault)
                return _json(200, {"faults": self.faults.describe()})
            if method == "DELETE":
                self.faults.clear()
                return _json(200, {"faults": []})
            if method == "GET":
                return _json(200, {"faults": self.faults.describe()})
        elif path == "/__admin/stats" and method == "GET":
            subs = {name: sub.store.count() for name, sub in self.sub_accounts.items()}
            snapshot = {**self.stats.snapshot(), "documents": self.store.count()}
            return _json(200, {**snapshot, "sub_account_documents": subs})
        elif path == "/__admin/accounts" and method == "POST":
            return self._add_sub_account(raw)
        elif path == "/__admin/reset" and method == "POST":
            self.store.clear()
            for sub in self.sub_accounts.values():
                sub.store.clear()
            self.stats.reset()
            self.faults.clear()
            with self._books_lock:
                books = list(self._alert_books.values())
            for book in books:
                book.clear()
            return _json(200, {"reset": True})
        elif path == "/__admin/health" and method == "GET":
            return _json(200, {"status": "ok"})
        return _error(404, f"no such admin endpoint: {method} {path}")

    def _store_for(self, given: str | None, kind: str) -> Store | None:
        """The store of the account whose ``kind`` token is ``given``; None for no such token."""
        main = self._shipping_token if kind == "shipping_token" else self._api_token
        if _token_ok(given, main):
            return self.store
        for sub in self.sub_accounts.values():
            if _token_ok(given, getattr(sub, kind)):
                return sub.store
        return None

    def _add_sub_account(self, raw: bytes) -> Reply:
        """``{"name", "shipping_token", "api_token"}``: a sub-account (the same name replaces
        its tokens and keeps its documents)."""
        try:
            spec = json.loads(raw or b"null")
        except ValueError as err:
            return _error(400, f"body is not JSON: {err}")
        fields = ("name", "shipping_token", "api_token")
        if not isinstance(spec, dict) or not all(
            isinstance(spec.get(k), str) and spec[k] for k in fields
        ):
            return _error(400, 'expected {"name", "shipping_token", "api_token"} strings')
        name = spec["name"]
        if not name.replace("-", "").replace("_", "").isalnum():
            return _error(400, f"sub-account name {name!r}: letters, digits, - and _ only")
        current = self.sub_accounts.get(name)
        store = (
            current.store if current else Store(self.store.path.with_name(f"sub-{name}.sqlite3"))
        )
        self.sub_accounts[name] = SubAccount(
            name, spec["shipping_token"].encode(), spec["api_token"].encode(), store
        )
        return _json(200, {"sub_accounts": sorted(self.sub_accounts)})

    def close(self) -> None:
        """Close every store (the emulator is stopping)."""
        for sub in self.sub_accounts.values():
            sub.store.close()
        self.store.close()


def _token_ok(given: str | None, expected: bytes) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected)
