"""Shared fixtures: the local cloud (a child process, started once per session when first used),
a moto server with the project's extension in this process, and a plain moto server."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from xaccount_ops.local import proctree

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


# -- no process outlives the suite (issue 25) -------------------------------------------------

LEFTOVER_GRACE_S = 10.0  # a process being stopped when the last test ended gets this long
_SECRET_ARG = re.compile(r"(token|password|secret)([=:])\S+", re.IGNORECASE)


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """After the last test (and every other session fixture, set up after this one), no process
    this pytest process started is still running: not a local cloud, JupyterLab, a kernel or a
    function runtime. One test's leftover cannot then slow down or break the next run.

    Only this process's descendants are looked at (other sessions on the machine are not ours);
    as the child subreaper it also keeps the orphans of its children (a cloud a notebook kernel
    started outlives the kernel). Leftovers are killed, then reported as an error.
    """
    adopted = proctree.become_subreaper()
    me = os.getpid()
    before = {p.pid for p in proctree.descendants(me)}
    yield
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while True:
        left = [p for p in proctree.descendants(me) if p.state != "Z" and p.pid not in before]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    proctree.kill([p.pid for p in left])
    for proc in proctree.descendants(me):  # reap the zombies we adopted
        if proc.ppid == me and proc.state == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)
    lines = [f"  {p.pid} (parent {p.ppid}): {_masked(p.cmdline)[:300]}" for p in left]
    assert not left, (
        f"{len(left)} processes started by the tests were still running after the session "
        f"(killed now; subreaper: {adopted}):\n" + "\n".join(lines)
    )


def _masked(cmdline: str) -> str:
    return _SECRET_ARG.sub(lambda m: f"{m.group(1)}{m.group(2)}***", cmdline)
