"""Shared fixtures: the local cloud (a child process, started once per session when first used),
a moto server with the project's extension in this process, and a plain moto server."""

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


@pytest.fixture(scope="session")
def ext_endpoint() -> Iterator[str]:
    """moto with ``moto_ext`` installed, served on a free loopback port (once per session).

    The server runs in this process, so the patches are the ones installed here (and, being
    process-wide, they also apply to ``moto_endpoint`` once installed). Tests share it: use names
    of your own.
    """
    from moto.server import ThreadedMotoServer

    from xaccount_ops.local import moto_ext

    moto_ext.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
