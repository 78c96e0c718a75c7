"""Fixtures for the Logz.io emulator tests: a fresh emulator per test, over real HTTP."""

from __future__ import annotations

import gzip
import json
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from xaccount_ops.local.logzio import LogzioEmulator


@dataclass
class Client:
    """Talks to one emulator over HTTP; knows its tokens."""

    emulator: LogzioEmulator
    shipping_token: str
    api_token: str
    http: requests.Session

    @property
    def url(self) -> str:
        return self.emulator.url

    def ship(
        self,
        lines: Iterable[Any] | bytes,
        *,
        compress: bool = False,
        token: str | None = "",
        log_type: str | None = None,
        timeout: float = 10,
    ) -> requests.Response:
        """POST a bulk: ``lines`` are dicts (dumped) or already-encoded ``bytes`` lines."""
        if isinstance(lines, bytes):
            body = lines
        else:
            body = b"".join(
                (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n"
                for line in lines
            )
        params: dict[str, str] = {}
        if token is not None:
            params["token"] = token or self.shipping_token
        if log_type is not None:
            params["type"] = log_type
        headers = {}
        if compress:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        return self.http.post(
            f"{self.url}/", params=params, data=body, headers=headers, timeout=timeout
        )

    def search(
        self, body: dict[str, Any], *, token: str | None = "", day_offset: int | None = None
    ) -> requests.Response:
        headers = {}
        if token is not None:
            headers["X-API-TOKEN"] = token or self.api_token
        params = {"dayOffset": str(day_offset)} if day_offset is not None else None
        return self.http.post(
            f"{self.url}/v1/search", json=body, headers=headers, params=params, timeout=10
        )

    def sources(self, query: dict[str, Any], **body: Any) -> list[dict[str, Any]]:
        response = self.search({"query": query, "size": 1000, **body})
        assert response.status_code == 200, response.text
        return [hit["_source"] for hit in response.json()["hits"]["hits"]]

    def stats(self) -> dict[str, Any]:
        response = self.http.get(f"{self.url}/__admin/stats", timeout=10)
        assert response.status_code == 200
        return response.json()

    def fault(self, **spec: Any) -> requests.Response:
        return self.http.post(f"{self.url}/__admin/faults", json=spec, timeout=10)


@pytest.fixture
def tokens() -> tuple[str, str]:
    return f"ship-{secrets.token_hex(12)}", f"api-{secrets.token_hex(12)}"


@pytest.fixture
def logzio(tokens: tuple[str, str]) -> Iterator[Client]:
    shipping, api = tokens
    with (
        LogzioEmulator(shipping_token=shipping, api_token=api) as emulator,
        requests.Session() as http,
    ):
        yield Client(emulator, shipping, api, http)
