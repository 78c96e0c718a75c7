"""Fixtures for the stacks tests: an in-process moto server that understands our templates
(moto plus ``xaccount_ops.local.moto_ext``: ``AWS::Logs::Destination``, change-set fixes), a
Config/Fleet pointing at it, and a small shipper artifact already uploaded.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from xaccount_ops.config import parse_config
from xaccount_ops.fleet.accounts import Fleet

LANDING = "123456789012"  # moto's default account: the hub credentials belong to it
SENDERS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
_names = itertools.count(1)


@pytest.fixture(scope="session")
def stacks_endpoint(ext_endpoint: str) -> str:
    """The in-process moto server with the project's extension (tests/conftest.py)."""
    return ext_endpoint


def make_config(endpoint: str, tmp_path: Path, *, stack_name: str | None = None, **senders: Any):
    token = tmp_path / "token"
    token.write_text("local-ship-token-for-tests\n")
    token.chmod(0o600)
    raw = {
        "landing": {
            "account_id": LANDING,
            "region": REGIONS[0],
            "stack_name": stack_name or f"xacct-t{next(_names)}",
        },
        "senders": {"accounts": list(SENDERS), "regions": list(REGIONS), **senders},
        "logzio": {
            "region": "eu",
            "listener_url": "http://127.0.0.1:9/listener",
            "shipping_token": {"file": str(token)},
        },
        "aws": {"endpoint_url": endpoint, "max_attempts": 2},
    }
    return parse_config(raw, base_dir=tmp_path)


@pytest.fixture
def fleet(stacks_endpoint: str, tmp_path: Path) -> Fleet:
    """A fleet whose landing account is moto's default account; a stack name of its own."""
    return Fleet.from_config(make_config(stacks_endpoint, tmp_path))


@pytest.fixture
def artifact(tmp_path: Path) -> Any:
    """A stdlib-only shipper zip from a tiny stand-in source tree (no network needed)."""
    from xaccount_ops.landing.package import build_artifact

    source = tmp_path / "shipper_src"
    source.mkdir()
    (source / "__init__.py").write_text("")
    (source / "handler.py").write_text("def lambda_handler(event, context):\n    return {}\n")
    return build_artifact(tmp_path / "dist", include_speedups=False, source_dir=source)
