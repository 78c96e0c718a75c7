"""Fixtures for tests of the moto extension over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ext_endpoint() -> Iterator[str]:
    """moto with ``moto_ext`` installed, served on a free loopback port (once per session).

    The server runs in this process, so the patches are the ones installed here. Tests share it:
    use names of your own.
    """
    from moto.server import ThreadedMotoServer

    from xaccount_ops.local import moto_ext

    moto_ext.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
