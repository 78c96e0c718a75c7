"""Fixtures for the subscriptions tests: a seeded "world" (landing destinations, sending accounts
with the local cloud's seed groups) on a given endpoint, under account ids and a stack name of
the test's own, so tests sharing a server never see each other's state.

On a plain moto server (``moto_endpoint``) two things differ from AWS and are worked around
here, not in the library: moto resolves a ``...:destination:NAME`` ARN as a log group ``NAME`` in
the landing account (so :func:`make_world` creates one beside each destination), and it has no
account policies and no delivery; those are tested on the local cloud.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import configs
from xaccount_ops.config import load_config
from xaccount_ops.fleet.accounts import Fleet

REPO = Path(__file__).resolve().parents[2]
_ids = itertools.count(int(f"6{os.getpid() % 100000:05d}000000"))
_names = itertools.count(1)


def new_account_id() -> str:
    return f"{next(_ids):012d}"


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 10000:04d}{next(_names):03d}"


def write_config(
    directory: Path,
    endpoint: str,
    *,
    landing: str,
    accounts: Sequence[str],
    regions: Sequence[str],
    stack: str,
    subscriptions: str = "",
    role_name: str = "OrganizationAccountAccessRole",
    token_file: str | None = None,
    max_attempts: int = 2,
) -> Path:
    token = {"file": token_file} if token_file else {"env": "UNUSED_IN_TESTS"}
    tables = configs.base_tables(
        endpoint=endpoint,
        landing=landing,
        accounts=accounts,
        regions=regions,
        stack_name=stack,
        role_name=role_name,
        shipping_token=token,
        max_attempts=max_attempts,
    )
    return configs.write_config(directory, tables, f"[subscriptions]\n{subscriptions}")


@dataclass
class World:
    endpoint: str
    path: Path
    fleet: Fleet
    landing: str
    senders: list[str]
    regions: tuple[str, ...]
    stack: str
    destinations: dict[str, str]  # region -> arn

    def logs(self, account: str, region: str) -> Any:
        return self.fleet.client("logs", account, region)

    def filters(self, account: str, region: str, group: str) -> dict[str, dict[str, Any]]:
        response = self.logs(account, region).describe_subscription_filters(logGroupName=group)
        return {f["filterName"]: f for f in response["subscriptionFilters"]}

    def reconfigure(self, directory: Path, subscriptions: str = "", **kwargs: Any) -> World:
        """The same world under another [subscriptions] table (a new config file and fleet)."""
        path = write_config(
            directory,
            self.endpoint,
            landing=self.landing,
            accounts=self.senders,
            regions=self.regions,
            stack=self.stack,
            subscriptions=subscriptions,
            **kwargs,
        )
        fleet = Fleet.from_config(load_config(path))
        return World(**{**self.__dict__, "path": path, "fleet": fleet})


def _load_verify_conftest() -> types.ModuleType:
    """tests/verify/conftest.py (``build_landing``, ``put_policy``), loaded by path: under
    importlib mode a conftest cannot be imported by name."""
    spec = importlib.util.spec_from_file_location(
        "_verify_conftest", REPO / "tests" / "verify" / "conftest.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_verify = _load_verify_conftest()
put_policy = _verify.put_policy  # the account-list destination policy the templates write


def make_world(
    endpoint: str,
    directory: Path,
    *,
    accounts: int = 3,
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1"),
    subscriptions: str = "",
    allowed: Callable[[list[str]], list[str]] = lambda senders: senders,
    seed_groups: bool = True,
) -> World:
    """Seed ``accounts`` sending accounts like the local cloud does (foreign filters in the first
    account's first region), and a destination per region in a landing account of our own."""
    from xaccount_ops.local import seed

    landing = new_account_id()
    senders = [new_account_id() for _ in range(accounts)]
    stack = unique("sub")
    path = write_config(
        directory,
        endpoint,
        landing=landing,
        accounts=senders,
        regions=regions,
        stack=stack,
        subscriptions=subscriptions,
    )
    fleet = Fleet.from_config(load_config(path))
    kinesis = fleet.landing_client("kinesis", regions[0])
    kinesis.create_stream(StreamName=f"{stack}-stream", ShardCount=1)
    stream_arn = f"arn:aws:kinesis:{regions[0]}:{landing}:stream/{stack}-stream"
    destinations = {}
    for region in regions:
        logs = fleet.landing_client("logs", region)
        name = f"{stack}-destination"
        arn = logs.put_destination(
            destinationName=name,
            targetArn=stream_arn,
            roleArn=f"arn:aws:iam::{landing}:role/{stack}-logs",
        )["destination"]["arn"]
        put_policy(logs, arn, allowed(senders))
        # Plain moto only: it looks a logs ARN up as a log group of that name (see module doc).
        logs.create_log_group(logGroupName=name)
        destinations[region] = arn
    if seed_groups:
        for index, account in enumerate(senders):

            def client(service: str, region: str, _account: str = account) -> Any:
                return fleet.client(service, _account, region)

            for region in regions:
                seed.seed_account(client, region, index)
            if index == 0:
                seed.add_foreign_filters(client, regions[0], account)
    return World(
        endpoint=endpoint,
        path=path,
        fleet=fleet,
        landing=landing,
        senders=senders,
        regions=regions,
        stack=stack,
        destinations=destinations,
    )


@pytest.fixture
def world(moto_endpoint: str, tmp_path: Path) -> World:
    """3 sending accounts x 2 regions seeded on the plain moto server."""
    return make_world(moto_endpoint, tmp_path / "world")


@pytest.fixture(scope="session")
def verify_helpers() -> Any:
    """tests/verify/conftest.py's helpers (``build_landing`` for the local cloud)."""
    return types.SimpleNamespace(
        build_landing=_verify.build_landing,
        local_landing=_verify.local_landing,
        put_policy=put_policy,
        unique=unique,
        write_config=_verify.write_config,
    )


@pytest.fixture(scope="session")
def subs_helpers() -> Any:
    """This module's helpers for the test modules (conftest cannot be imported by name)."""
    return types.SimpleNamespace(
        make_world=make_world,
        write_config=write_config,
        new_account_id=new_account_id,
        unique=unique,
        put_policy=put_policy,
    )


@pytest.fixture(autouse=True)
def no_pacing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply paces changes to AWS's 5 TPS quota; the tests' few dozen changes need not wait
    (test_units.py tests the pacer itself, the benchmark runs with it)."""
    from xaccount_ops import subscriptions

    monkeypatch.setattr(subscriptions.execute, "CHANGES_PER_SECOND", 0.0)
