"""Shared fixtures: the local cloud (a child process, started once per session when first used)
and a plain moto server for tests that need nothing of our extension."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The embedded local cloud, as `xaccount-ops local up` runs it: its JSON line as a dict.

    Shared by the whole session: tests that change state use names of their own.
    """
    from xaccount_ops.local.process import LocalCloudProcess

    data = tmp_path_factory.mktemp("local-cloud")
    with LocalCloudProcess(data, accounts=3, regions=("us-east-1", "eu-west-1")) as cloud:
        yield cloud.info


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A plain moto server (no extension) on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
