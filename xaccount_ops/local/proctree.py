"""Process trees through ``/proc``: what a local cloud started, and a stop that always ends.

A local cloud's function runtimes run in process groups of their own (so a terminal's Ctrl-C
reaches only the cloud, which then ends them), so killing the cloud's group is not enough to end
everything it started: :func:`terminate` lists the whole tree *before* it kills anything (a
killed parent's children are re-parented and no longer found under it).

Linux only, like the rest of the local cloud (``flock``, ``/proc``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

POLL_S = 0.05


@dataclass(frozen=True)
class Proc:
    """One process as ``/proc`` shows it."""

    pid: int
    ppid: int
    state: str  # R, S, D, Z, T...
    cmdline: str


def _read(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone, or not ours to read
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    cmdline = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return Proc(pid=pid, ppid=int(fields[1]), state=fields[0], cmdline=cmdline)


def processes() -> dict[int, Proc]:
    """Every process this user can see, by pid."""
    found: dict[int, Proc] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (proc := _read(int(entry))) is not None:
            found[proc.pid] = proc
    return found


def descendants(pid: int, table: dict[int, Proc] | None = None) -> list[Proc]:
    """The children of ``pid``, their children and so on (not ``pid`` itself), parents first."""
    table = processes() if table is None else table
    children: dict[int, list[Proc]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc)
    found: list[Proc] = []
    seen = {pid}
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            if child.pid not in seen:
                seen.add(child.pid)
                found.append(child)
                queue.append(child.pid)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not reaped yet, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = _read(pid)
    return proc is not None and proc.state != "Z"


def kill(pids: list[int], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to each of ``pids`` that still exists."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """Wait up to ``timeout_s`` for ``pids`` to end; the ones still alive."""
    deadline = time.monotonic() + timeout_s
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(POLL_S)
        left = [p for p in left if alive(p)]
    return left


def terminate(pid: int, grace_s: float, kill_wait_s: float = 2.0) -> bool:
    """SIGTERM ``pid``; when it is still alive after ``grace_s``, SIGKILL it, its process group
    (when it leads one that is not ours) and every process it started.

    Returns True when it ended by itself, False when it had to be killed. Returns within
    ``grace_s + kill_wait_s`` (plus a ``/proc`` walk) whatever the process does.
    """
    tree = [p.pid for p in descendants(pid)]
    kill([pid], signal.SIGTERM)
    if not wait_gone([pid], grace_s):
        # It ends its own children on SIGTERM; only what it left behind is killed here.
        kill([p for p in tree if alive(p)])
        return True
    tree = sorted({*tree, *(p.pid for p in descendants(pid))})  # started during the grace
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid != os.getpgrp():
            os.killpg(pid, signal.SIGKILL)
    kill([pid, *tree])
    wait_gone([pid, *tree], kill_wait_s)
    return False


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def become_subreaper() -> bool:
    """Adopt this process's orphaned descendants (``PR_SET_CHILD_SUBREAPER``): a process whose
    parent exits is re-parented here instead of to init, so :func:`descendants` still finds
    it. False where the kernel or libc does not offer it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def signal_when_parent_exits(signum: int = signal.SIGTERM) -> bool:
    """Have the kernel send ``signum`` to this process when its parent exits
    (``PR_SET_PDEATHSIG``): ``make lab`` killed on its own must not leave the demo running.
    False where the kernel or libc does not offer it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False
