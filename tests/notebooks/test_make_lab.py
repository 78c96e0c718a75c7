"""`make lab` as the README runs it (issue 16, item 8): it starts as root or as a user
(``--allow-root`` only for root), serves the notebooks against the local cloud it started, a
notebook runs in headless Chromium, and Ctrl-C leaves no local cloud and no JupyterLab running."""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.notebooks.jupyterlab import chromium, free_port, open_and_run_all, wait_until
from xaccount_ops.config import CONFIG_ENV
from xaccount_ops.lab import demo
from xaccount_ops.local import lock, proctree

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def test_allow_root_only_when_root(monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert "--allow-root" in demo.lab_command(["--no-browser"])
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    command = demo.lab_command(["--no-browser"])
    assert "--allow-root" not in command and command[-1] == "--no-browser"


@dataclass
class MakeLab:
    """`make lab` running in a session of its own (as in a terminal)."""

    proc: subprocess.Popen[bytes]
    base: str
    token: str
    data: Path
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text()


def start_make_lab(tmp_path: Path) -> MakeLab:
    """The Makefile's own `lab` recipe, with this test's venv (already installed: -o skips the
    install stamp) and arguments; returns once JupyterLab answers."""
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
    log_path = tmp_path / "make-lab.log"
    # As from a terminal: Ctrl-C reaches make. A test runner started in the background by a
    # non-interactive shell has SIGINT ignored, and a child would inherit that (an ignored
    # signal stays ignored across exec; a handler does not).
    runner_sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    finally:
        signal.signal(signal.SIGINT, runner_sigint)
    lab = MakeLab(proc, f"http://127.0.0.1:{port}", token, data, log_path)
    try:
        wait_until(
            lambda: requests.get(f"{lab.base}/api/status", params={"token": token}, timeout=2).ok,
            120,
            "make lab's JupyterLab to answer",
        )
    except BaseException:
        kill_everything(lab)
        raise
    return lab


def kill_everything(lab: MakeLab) -> None:
    """Whatever the test did: nothing of this `make lab` outlives it (its cloud and the kernels
    run in sessions of their own, so the process group is not enough)."""
    tree = [p.pid for p in proctree.descendants(lab.proc.pid)]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(lab.proc.pid, signal.SIGKILL)
    proctree.kill(tree)
    lab.proc.wait(timeout=10)
    if (cloud := lock.running(lab.data)) is not None:
        proctree.kill([int(cloud["pid"])])


def test_make_lab_serves_the_notebooks_and_ctrl_c_stops_everything(tmp_path) -> None:
    lab = start_make_lab(tmp_path)
    try:
        cloud = lock.running(lab.data)
        assert cloud is not None, lab.output()
        with chromium(tmp_path / "chromium") as browser:
            page = browser.new_page()
            open_and_run_all(page, f"{lab.base}/lab?token={lab.token}", "00-start-here")
            # The config make lab handed the kernel is the cloud's it started.
            page.get_by_text(f"config: {lab.data / 'xaccount-ops.toml'}").wait_for(timeout=60_000)
            page.get_by_text("local cloud: True").wait_for(timeout=10_000)
            page.screenshot(path=str(tmp_path / "make-lab.png"))
        # Ctrl-C in the terminal: SIGINT to make's whole process group.
        os.killpg(lab.proc.pid, signal.SIGINT)
        lab.proc.wait(timeout=60)
    finally:
        kill_everything(lab)
    output = lab.output()
    assert "Running as root is not recommended" not in output
    assert lock.running(lab.data) is None, "make lab left its local cloud running"
    assert not proctree.alive(int(cloud["pid"])), output[-2000:]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{lab.base}/api/status", timeout=2)


@pytest.mark.parametrize(
    ("signum", "to"),
    [
        (signal.SIGTERM, "make"),  # a process manager or `kill` stopping make alone
        (signal.SIGHUP, "group"),  # the terminal closed
    ],
    ids=["SIGTERM-to-make", "SIGHUP-to-the-terminal-group"],
)
def test_make_lab_stops_jupyterlab_its_kernels_and_the_cloud_on_a_signal(
    tmp_path, signum: signal.Signals, to: str
) -> None:
    lab = start_make_lab(tmp_path)
    try:
        cloud = lock.running(lab.data)
        assert cloud is not None, lab.output()
        # A kernel, as opening a notebook starts one.
        started = requests.post(
            f"{lab.base}/api/kernels", params={"token": lab.token}, json={"name": "python3"}
        )
        assert started.status_code == 201, started.text
        kernel = wait_until(
            lambda: [p for p in proctree.descendants(lab.proc.pid) if "ipykernel" in p.cmdline],
            60,
            "the kernel process",
        )
        before = {p.pid: p.cmdline for p in proctree.descendants(lab.proc.pid)}
        before.update({lab.proc.pid: "make lab", int(cloud["pid"]): "the local cloud"})
        assert kernel[0].pid in before

        if to == "make":
            os.kill(lab.proc.pid, signum)
        else:
            os.killpg(lab.proc.pid, signum)

        # Everything it started ends: JupyterLab (with its kernels) and then the cloud.
        with contextlib.suppress(TimeoutError):
            wait_until(
                lambda: not any(proctree.alive(p) for p in before), 60, "make lab's processes"
            )
        left = {pid: cmdline[:120] for pid, cmdline in before.items() if proctree.alive(pid)}
        assert left == {}, lab.output()[-2000:]
        assert lock.running(lab.data) is None
    finally:
        kill_everything(lab)
