"""Shared fixtures: the local cloud (a child process, started once per session when first used)
and moto servers in this process, patched as the local cloud patches its moto.

moto's backends and our patches to them are process-wide, so every test process puts its moto in
one state before its first test (:func:`_moto_as_the_local_cloud_runs_it`): whichever tests a
pytest-xdist worker gets, in whatever order, they see the same moto. Before, a test saw whatever
earlier tests in its process had installed: an xdist worker that had ``moto_ext`` but not yet the
ESM emulator's switch-off of moto's own Kinesis -> Lambda delivery got 500s from FilterLogEvents
(moto's Docker-less invocation wrote a float-millisecond error line the extension could not read)."""

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


# Modules that take minutes (their own local clouds, kernels, JupyterLab, a minute boundary).
SLOW_MARKS = ("slow", "browser", "notebooks")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow modules first, otherwise collection order (a stable sort): under ``pytest-xdist
    --dist loadscope --no-loadscope-reorder`` a worker takes whole modules in this order, so
    the long ones start early instead of leaving one worker busy at the end."""
    items.sort(key=lambda item: not any(item.get_closest_marker(m) for m in SLOW_MARKS))


@pytest.fixture(scope="session", autouse=True)
def _moto_as_the_local_cloud_runs_it() -> None:
    """``moto_ext`` installed and moto's own Kinesis -> Lambda delivery off (the ESM emulator
    delivers), as :class:`xaccount_ops.local.cloud.LocalCloud` does, before any moto state."""
    from xaccount_ops.local import moto_ext
    from xaccount_ops.local.esm import disable_moto_kinesis_delivery

    moto_ext.install()
    disable_moto_kinesis_delivery()


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
    """A moto server on a free loopback port, for tests that build their situations directly
    (the extension is installed, but nothing delivers: no ESM emulator, no Logz.io emulator)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def ext_endpoint() -> Iterator[str]:
    """moto with ``moto_ext`` installed, served on a free loopback port (once per session).

    The server runs in this process, so the patches are the ones installed here (process-wide,
    before the first test). Tests share it: use names of your own.
    """
    from moto.server import ThreadedMotoServer

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
