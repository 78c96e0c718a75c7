"""One local cloud per data directory: a lock file held while it runs, and a state file.

The running cloud holds an exclusive ``flock`` on ``DIR/local-cloud.lock`` for its whole life
(the kernel drops it when the process dies, even on SIGKILL, so a crash never leaves a stale
lock) and, once it answers, writes ``DIR/local-cloud.json``: its JSON line plus its pid. A second
start in the same directory finds that file and uses the running cloud instead of starting
another one on the same SQLite file and config.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

LOCK_NAME = "local-cloud.lock"
STATE_NAME = "local-cloud.json"
ACCESS_LOG_NAME = "access.log"
WAIT_S = 60  # a cloud being started by someone else answers within this


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


def stop(data_dir: Path, timeout_s: float = 30) -> dict[str, Any] | None:
    """Stop the cloud running in ``data_dir`` (SIGTERM, then wait for its lock and process to go).

    Returns the stopped cloud's state, or None when none was running. Raises TimeoutError
    naming the pid when it does not stop in time.
    """
    info = running(Path(data_dir), wait_s=5)
    if info is None:
        return None
    pid = int(info["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while is_locked(Path(data_dir)) or _alive(pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the local cloud (pid {pid}) did not stop within {timeout_s:.0f} s")
        time.sleep(0.1)
    return info


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A child of ours that exited but is not reaped yet counts as gone."""
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
