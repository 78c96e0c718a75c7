"""Helpers for the inventory and audit tests: a Config/Fleet pointing at an endpoint, with
account ids of the test's own so tests sharing a server never see each other's state."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests import configs
from xaccount_ops.config import load_config
from xaccount_ops.fleet.accounts import Fleet

# Distinct per test process and per call: moto keeps state per account id.
_ids = itertools.count(int(f"7{os.getpid() % 100000:05d}000000"))


def new_account_id() -> str:
    return f"{next(_ids):012d}"


def write_config(
    directory: Path,
    endpoint: str,
    *,
    landing: str,
    accounts: Sequence[str],
    regions: Sequence[str] = ("us-east-1", "eu-west-1"),
    stack_name: str = "logzio-xacct",
    extra: str = "",
) -> Path:
    tables = configs.base_tables(
        endpoint=endpoint,
        landing=landing,
        accounts=accounts,
        regions=regions,
        stack_name=stack_name,
    )
    return configs.write_config(directory, tables, extra)


@pytest.fixture
def new_account() -> Callable[[], str]:
    """A fresh account id for this test (moto keeps state per account id)."""
    return new_account_id


@pytest.fixture
def make_fleet(tmp_path: Path) -> Callable[..., Fleet]:
    """``make_fleet(endpoint, accounts=..., landing=...)`` → a Fleet from a config file in tmp_path."""

    def make(endpoint: str, **kwargs: object) -> Fleet:
        kwargs.setdefault("landing", new_account_id())
        return Fleet.from_config(load_config(write_config(tmp_path, endpoint, **kwargs)))

    return make
