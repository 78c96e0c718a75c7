"""Run ``xaccount-ops local up`` as a child process: what tests, ``make demo`` and notebooks use
when the local cloud must live apart from the caller (its own GIL, a clean stop).

One cloud per data directory: when one already runs there (see ``lock``), ``start`` uses it
instead of starting another (``reused`` is then true and ``stop`` leaves it running).
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xaccount_ops.local import lock, proctree

# A deadline, not a measure: importing and patching moto's backends (moto_ext.install) alone
# took 45-70 s on the 2-core CI machine under a load average of 17; an idle laptop needs ~15 s.
STARTUP_TIMEOUT_S = 180


class LocalCloudProcess:
    """Context manager: start the local cloud in a child process; ``info`` is its JSON line."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        accounts: int = 3,
        regions: Sequence[str] = ("us-east-1", "eu-west-1"),
        extra_args: Sequence[str] = (),
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.args = [
            sys.executable,
            "-m",
            "xaccount_ops",
            "local",
            "up",
            "--data",
            str(self.data_dir),
            "--accounts",
            str(accounts),
            "--regions",
            ",".join(regions),
            *extra_args,
        ]
        self.log_path = Path(log_path or self.data_dir / "local-cloud.log")
        self.info: dict[str, Any] = {}
        self.reused = False
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> LocalCloudProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalCloudProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = lock.running(self.data_dir, wait_s=STARTUP_TIMEOUT_S)
        if running is not None:
            self.info, self.reused = running, True
            return self
        log = self.log_path.open("a")
        # Its own session: a Ctrl-C meant for the caller (or the caller's death) does not stop it.
        self._proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True
        )
        log.close()
        try:
            return self._await_line()
        except BaseException:  # Ctrl-C or a stop signal while it starts: it must not outlive us
            self.stop()
            raise

    def _await_line(self) -> LocalCloudProcess:
        assert self._proc is not None and self._proc.stdout is not None
        ready = selectors.DefaultSelector()
        ready.register(self._proc.stdout, selectors.EVENT_READ)
        line = self._proc.stdout.readline() if ready.select(STARTUP_TIMEOUT_S) else ""
        if not line:
            code = self.stop()
            raise RuntimeError(
                f"local cloud did not start (exit {code}); see {self.log_path}:\n"
                + self.log_path.read_text()[-3000:]
            )
        self._proc.stdout.close()  # nothing more comes: the cloud may outlive us
        self.info = json.loads(line)
        state = lock.read_state(self.data_dir) or {}
        if state.get("pid") != self._proc.pid:
            # Another start won the race for this directory: the child printed its line and exits.
            self._proc.wait(timeout=STARTUP_TIMEOUT_S)
            self._proc, self.reused = None, True
        self.info = {**self.info, "pid": state.get("pid")}
        return self

    @property
    def config_path(self) -> Path:
        return Path(self.info["config"])

    def stop(self, grace_s: float = lock.STOP_GRACE_S) -> int | None:
        """SIGTERM the cloud we started; after ``grace_s``, SIGKILL it and all it started.
        Its exit code (None when we started none: a reused cloud keeps running)."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            proctree.terminate(self._proc.pid, grace_s, lock.KILL_WAIT_S)
        code = self._proc.wait(timeout=lock.KILL_WAIT_S)
        self._proc = None
        return code
