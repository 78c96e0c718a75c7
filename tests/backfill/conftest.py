"""Fixtures for the backfill tests: a world on the shared local cloud with log groups of its own.

The landing pipeline is tests/verify's ``build_landing`` (with the event source mapping, so live
events travel the real pipeline to the Logz.io emulator) under a stack name of the test's own;
the config is tests/verify's ``write_config`` plus a ``[subscriptions]`` table that selects only
the world's groups, so the seeded groups other tests use are never touched.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from xaccount_ops import subscriptions
from xaccount_ops.config import load_config
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.logzio import SearchClient

REPO = Path(__file__).resolve().parents[2]


def _load_verify_conftest() -> types.ModuleType:
    """tests/verify/conftest.py, by path: under importlib mode a conftest has no module name."""
    spec = importlib.util.spec_from_file_location(
        "_verify_conftest_bf", REPO / "tests" / "verify" / "conftest.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


verify = _load_verify_conftest()


@dataclass
class World:
    """A stack of our own, its config (selecting ``/backfill/<stack>/*``) and fleet."""

    path: Path
    fleet: Fleet
    stack: str
    senders: list[str]
    regions: tuple[str, ...]
    prefix: str
    info: dict[str, Any]
    written: dict[str, list[str]] = field(default_factory=dict)

    def logs(self, account: str, region: str) -> Any:
        return self.fleet.client("logs", account, region)

    def put(
        self, account: str, region: str, group: str, stream: str, events: Sequence[tuple[int, str]]
    ) -> None:
        """One new stream ``stream`` holding ``events`` (timestamp ms, message)."""
        logs = self.logs(account, region)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        batch = [{"timestamp": t, "message": m} for t, m in sorted(events)]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)

    def ids(self, account: str, region: str, group: str) -> dict[str, dict[str, Any]]:
        """Every event of the group by id (FilterLogEvents, as AWS would answer)."""
        logs = self.logs(account, region)
        return {
            e["eventId"]: e
            for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group)
            for e in page["events"]
        }

    def search(self) -> SearchClient:
        return SearchClient.from_config(self.fleet.config)

    def counts(self, ids: Sequence[str], since_ms: int, until_ms: int) -> dict[str, int]:
        """Lines per event id in the Logz.io emulator (parts summed)."""
        with self.search() as search:
            keys = search.delivered_keys(ids, since_ms=since_ms, until_ms=until_ms)
        counts: dict[str, int] = {}
        for (event_id, _part), n in keys.items():
            counts[event_id] = counts.get(event_id, 0) + n
        return counts

    def wait_for(
        self, ids: Sequence[str], since_ms: int, until_ms: int, timeout: float = 90
    ) -> None:
        """Poll (with a deadline) until every id is in Logz.io."""
        deadline = time.monotonic() + timeout
        missing = set(ids)
        while missing and time.monotonic() < deadline:
            missing -= set(self.counts(sorted(missing), since_ms, until_ms))
            if missing:
                time.sleep(0.5)
        assert not missing, f"{len(missing)} live event(s) never arrived"

    def subscribe(self) -> None:
        result = subscriptions.apply(
            self.fleet, subscriptions.plan(self.fleet, progress=False), progress=False
        )
        assert result.ok, result.errors


def make_world(local_cloud: dict[str, Any], directory: Path, unique: Callable[[str], str]) -> World:
    stack = unique("bf")
    regions = tuple(local_cloud["regions"])
    senders = list(local_cloud["sending_accounts"])
    path = verify.local_config(
        directory,
        local_cloud,
        stack,
    )
    prefix = f"/backfill/{stack}"
    with path.open("a") as config:
        config.write(f'\n[subscriptions]\ninclude = ["{prefix}/*"]\n')
    # verify's config retries twice only; FilterLogEvents and friends are paced: give botocore room.
    path.write_text(path.read_text().replace("max_attempts = 2", "max_attempts = 10"))
    fleet = Fleet.from_config(load_config(path))
    verify.local_landing(
        fleet,
        local_cloud,
    )
    return World(
        path=path,
        fleet=fleet,
        stack=stack,
        senders=senders,
        regions=regions,
        prefix=prefix,
        info=local_cloud,
    )


@pytest.fixture(scope="session")
def bf_helpers() -> Any:
    return types.SimpleNamespace(make_world=make_world, unique=verify.unique, verify=verify)


@pytest.fixture
def fast_shipper(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One listener attempt, no backoff: a rejected body fails the run at once."""
    from xaccount_ops.delivery import reship

    monkeypatch.setattr(
        reship,
        "TUNING",
        {"LOGZIO_RETRY_ATTEMPTS": "1", "LOGZIO_RETRY_BASE_MS": "0", "LOGZIO_RETRY_MAX_MS": "0"},
    )
    yield
