"""`make lab` as the README runs it (issue 16, item 8): it starts as root or as a user
(``--allow-root`` only for root), serves the notebooks against the local cloud it started, a
notebook runs in headless Chromium, and Ctrl-C leaves no local cloud and no JupyterLab running."""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.notebooks.jupyterlab import chromium, free_port, open_and_run_all, wait_until
from xaccount_ops.config import CONFIG_ENV
from xaccount_ops.lab import demo
from xaccount_ops.local import lock

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def test_allow_root_only_when_root(monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert "--allow-root" in demo.lab_command(["--no-browser"])
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    command = demo.lab_command(["--no-browser"])
    assert "--allow-root" not in command and command[-1] == "--no-browser"


def test_make_lab_serves_the_notebooks_and_ctrl_c_stops_everything(tmp_path) -> None:
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    port, token, data = free_port(), secrets.token_hex(16), tmp_path / "cloud"
    home = {name: tmp_path / "jupyter" / name for name in ("config", "data", "runtime")}
    for path in home.values():
        path.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != CONFIG_ENV}
    env.update(
        JUPYTER_PORT=str(port),
        JUPYTER_TOKEN=token,
        JUPYTER_CONFIG_DIR=str(home["config"]),
        JUPYTER_DATA_DIR=str(home["data"]),
        JUPYTER_RUNTIME_DIR=str(home["runtime"]),
        JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"),
    )
    lab_args = [
        "--data",
        str(data),
        "--no-browser",
        "--ip=127.0.0.1",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    # The Makefile's own `lab` recipe, with this test's venv (already installed: -o skips the
    # install stamp) and arguments.
    stamp = Path(sys.prefix) / ".stamp-lab"
    command = [
        "make",
        "--no-print-directory",
        "-o",
        str(stamp),
        "lab",
        f"VENV={sys.prefix}",
        f"LAB_ARGS={shlex.join(lab_args)}",
    ]
    log = (tmp_path / "make-lab.log").open("w")
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: requests.get(f"{base}/api/status", params={"token": token}, timeout=2).ok,
            120,
            "make lab's JupyterLab to answer",
        )
        cloud = lock.running(data)
        assert cloud is not None, (tmp_path / "make-lab.log").read_text()
        with chromium(tmp_path / "chromium") as browser:
            page = browser.new_page()
            open_and_run_all(page, f"{base}/lab?token={token}", "00-start-here")
            # The config make lab handed the kernel is the cloud's it started.
            page.get_by_text(f"config: {data / 'xaccount-ops.toml'}").wait_for(timeout=60_000)
            page.get_by_text("local cloud: True").wait_for(timeout=10_000)
            page.screenshot(path=str(tmp_path / "make-lab.png"))
    finally:
        # Ctrl-C in the terminal: SIGINT to make's whole process group.
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            log.close()
    output = (tmp_path / "make-lab.log").read_text()
    assert "Running as root is not recommended" not in output
    assert lock.running(data) is None, "make lab left its local cloud running"
    assert not lock._alive(int(cloud["pid"])), output[-2000:]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/api/status", timeout=2)
