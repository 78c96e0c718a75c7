"""One local cloud per data directory: a lock file held while it runs, and a state file.

The running cloud holds an exclusive ``flock`` on ``DIR/local-cloud.lock`` for its whole life
(the kernel drops it when the process dies, even on SIGKILL, so a crash never leaves a stale
lock) and, once it answers, writes ``DIR/local-cloud.json``: its JSON line plus its pid. A second
start in the same directory finds that file and uses the running cloud instead of starting
another one on the same SQLite file and config. The lock file holds the holder's pid from the
start, so :func:`stop` can end a cloud that is still starting too.

:func:`stop` always returns within :data:`STOP_GRACE_S` + :data:`KILL_WAIT_S` (plus a ``/proc``
walk): SIGTERM, then SIGKILL of the cloud, its process group and every process it started.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from xaccount_ops.local import proctree

LOCK_NAME = "local-cloud.lock"
STATE_NAME = "local-cloud.json"
ACCESS_LOG_NAME = "access.log"
WAIT_S = 60  # a cloud being started by someone else answers within this
# A cloud ends its own children and exits within CLOUD_STOP_S of a SIGTERM (cli/local_cmd.py);
# SIGKILL comes after STOP_GRACE_S. Both well under the 10 s `local down` promises.
CLOUD_STOP_S = 3.5
STOP_GRACE_S = 5.0
KILL_WAIT_S = 1.5


class AlreadyRunning(Exception):
    """A local cloud already runs in this data directory; ``info`` is its JSON line."""

    def __init__(self, data_dir: Path, info: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.info = info
        super().__init__(
            f"a local cloud already runs in {data_dir} (pid {info.get('pid')}); "
            f"`xaccount-ops local down --data {data_dir}` stops it"
        )


class DirLock:
    """The exclusive lock a running cloud holds on its data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._fd: int | None = None

    def acquire(self, wait_s: float = WAIT_S) -> None:
        """Take the lock, or raise :class:`AlreadyRunning` with the running cloud's state.

        While another start holds the lock but has not written its state yet, wait for it (two
        notebooks pressing Run All at once share one cloud).
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # who to stop while it starts
                return
            except BlockingIOError:
                info = read_state(self.data_dir)
                if info is not None or time.monotonic() > deadline:
                    os.close(fd)
                    raise AlreadyRunning(self.data_dir, info or {}) from None
                time.sleep(0.1)

    def publish(self, info: dict[str, Any]) -> None:
        """Write the state file (user-only: it holds the emulator tokens) atomically."""
        state = {**info, "pid": os.getpid()}
        tmp = self.data_dir / f".{STATE_NAME}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle)
        tmp.replace(self.data_dir / STATE_NAME)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / STATE_NAME).unlink()
        os.close(self._fd)  # closing drops the flock; the lock file itself stays (no unlink race)
        self._fd = None


def is_locked(data_dir: Path) -> bool:
    """Whether a process holds the data directory's lock (a cloud runs or is starting)."""
    path = Path(data_dir) / LOCK_NAME
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock, if we got it
    return False


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """The running cloud's JSON line (with ``pid``), or None when none runs here."""
    path = Path(data_dir) / STATE_NAME
    try:
        info = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return info if is_locked(data_dir) else None


def running(data_dir: Path, wait_s: float = 0) -> dict[str, Any] | None:
    """:func:`read_state`, waiting up to ``wait_s`` for a cloud that is still starting."""
    deadline = time.monotonic() + wait_s
    while True:
        info = read_state(data_dir)
        if info is not None or not is_locked(data_dir) or time.monotonic() > deadline:
            return info
        time.sleep(0.1)


def holder_pid(data_dir: Path) -> int | None:
    """The pid of the process holding the data directory's lock (None when nobody holds it)."""
    if not is_locked(data_dir):
        return None
    try:
        return int((Path(data_dir) / LOCK_NAME).read_text().strip())
    except (OSError, ValueError):  # a lock taken by an older version: no pid in it
        return None


def stop(data_dir: Path, grace_s: float = STOP_GRACE_S) -> dict[str, Any] | None:
    """Stop the cloud running (or starting) in ``data_dir``: SIGTERM, and after ``grace_s``
    SIGKILL of it, its process group and everything it started (:func:`proctree.terminate`).

    Returns the stopped cloud's state (just its pid when it was still starting), or None when
    none was running. Raises TimeoutError naming the pid if even SIGKILL did not end it.
    """
    data_dir = Path(data_dir)
    info = read_state(data_dir)
    if info is None:
        # Still starting (no state yet): its pid is in the lock file, written just after the
        # flock was taken; wait a moment if we came between the two.
        deadline = time.monotonic() + 1.0
        while (pid := holder_pid(data_dir)) is None and is_locked(data_dir):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if pid is None:
            return None
        info = {"pid": pid}
    pid = int(info["pid"])
    proctree.terminate(pid, grace_s, KILL_WAIT_S)
    deadline = time.monotonic() + KILL_WAIT_S
    while proctree.alive(pid):  # its lock goes with it (the kernel drops a dead holder's flock)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the local cloud (pid {pid}) did not stop, even after SIGKILL")
        time.sleep(0.05)
    return info
