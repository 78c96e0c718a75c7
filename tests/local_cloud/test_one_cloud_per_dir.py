"""One local cloud per data directory (issue 16, item 5): a second start uses the running one,
notebooks with a blank `config` share it and it outlives them, `local down` stops it, and
`local up` prints its JSON line and its own messages only (access lines go to access.log)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xaccount_ops.config import CONFIG_ENV
from xaccount_ops.local import lock
from xaccount_ops.local.process import LocalCloudProcess

pytestmark = pytest.mark.slow

# What a notebook cell does with a blank `config`, in its own kernel (here: its own process).
KERNEL = """
import boto3, sys
from xaccount_ops.lab.context import open_fleet
fleet = open_fleet("")
logs = fleet.landing_client("logs")
if sys.argv[1] == "create":
    logs.create_log_group(logGroupName="/kept/between/kernels")
print(fleet.config.path)
print(sorted(g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/kept")["logGroups"]))
"""


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xaccount_ops", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_second_start_uses_the_running_cloud_and_up_prints_only_its_line(tmp_path) -> None:
    data = tmp_path / "cloud"
    first = LocalCloudProcess(data, accounts=1, regions=("us-east-1",), extra_args=["--no-seed"])
    with first:
        assert not first.reused and first.info["pid"]
        with LocalCloudProcess(data, accounts=5) as second:
            assert second.reused
            assert second.info["aws_endpoint"] == first.info["aws_endpoint"]
        # The reused one's stop left it running.
        assert lock.running(data) is not None

        again = cli("local", "up", "--data", str(data))
        assert again.returncode == 0, again.stderr
        lines = again.stdout.splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["config"] == first.info["config"]
        assert "already runs in" in again.stderr and "local down --data" in again.stderr

        status = cli("local", "status", "--data", str(data))
        assert status.returncode == 0 and json.loads(status.stdout)["pid"] == first.info["pid"]
    # `local up`'s own stderr (the log file) has its own message and no werkzeug access lines.
    stderr = (data / "local-cloud.log").read_text()
    assert "local cloud up in" in stderr
    assert "HTTP/1.1" not in stderr, stderr[:500]
    assert "HTTP/1.1" in (data / lock.ACCESS_LOG_NAME).read_text()
    assert lock.running(data) is None
    status = cli("local", "status", "--data", str(data))
    assert status.returncode == 1 and "no local cloud runs" in status.stderr


def test_blank_config_kernels_share_one_cloud_that_outlives_them(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != CONFIG_ENV}
    data = tmp_path / ".local-cloud"
    try:
        runs = []
        for action in ("create", "read"):
            run = subprocess.run(
                [sys.executable, "-c", KERNEL, action],
                capture_output=True,
                text=True,
                timeout=180,
                cwd=tmp_path,
                env=env,
            )
            assert run.returncode == 0, run.stderr
            runs.append(run)
        # Both "kernels" used the cloud in ./.local-cloud; the second found it running, with
        # the log group the first one created.
        assert "started now" in runs[0].stderr and "already running" in runs[1].stderr
        assert runs[0].stdout == runs[1].stdout
        assert runs[1].stdout.splitlines() == [
            str(data / "xaccount-ops.toml"),
            "['/kept/between/kernels']",
        ]
        pid = lock.running(data)["pid"]
    finally:
        down = cli("local", "down", "--data", str(data))
    assert down.returncode == 0 and f"pid {pid}" in down.stdout, down.stderr
    assert lock.running(data) is None
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    again = cli("local", "down", "--data", str(data))
    assert again.returncode == 0 and "nothing to stop" in again.stderr
