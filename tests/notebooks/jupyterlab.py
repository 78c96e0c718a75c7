"""Start JupyterLab on loopback and drive it with Playwright in Debian's headless Chromium.

Facts this relies on are in shared/reference/jupyter-testing.md: no `playwright install` (we use
/usr/bin/chromium), and never "Run All" before the notebook's kernel is connected and idle.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

from xaccount_ops.local import proctree

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.25):
    """Poll ``check`` until it returns a truthy value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as err:  # keep polling; report the last error on timeout
            last_error = err
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}: {last_error}")


@contextmanager
def jupyterlab(
    root: Path, home: Path, env: dict[str, str] | None = None, clear_env: Sequence[str] = ()
) -> Iterator[str]:
    """Run `jupyter lab` serving ``root`` (without the ``clear_env`` variables); yields the base
    URL with its token."""
    port, token = free_port(), secrets.token_hex(16)
    dirs = {name: home / name for name in ("config", "data", "runtime")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    # Notebook windowing off: JupyterLab 4 leaves cells scrolled out of view out of the page, and
    # the tests read the page's text as a person reads it by scrolling.
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}\n')
    child_env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
        **(env or {}),
    }
    for name in clear_env:
        child_env.pop(name, None)
    log = (home / "jupyterlab.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.user_settings_dir={home / 'settings'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=child_env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: requests.get(f"{base}/api/status", params={"token": token}, timeout=2).ok,
            90,
            "JupyterLab to answer",
        )
        yield f"{base}/lab?token={token}"
    finally:
        # JupyterLab ends its kernels on SIGTERM; whatever is left after 15 s (the kernels run in
        # sessions of their own) is killed, so a failed test leaves nothing for the next one.
        proctree.terminate(proc.pid, grace_s=15)
        proc.wait(timeout=10)
        log.close()


KERNEL_IDLE_JS = """() => {
  const app = window.jupyterapp;
  const widget = app && app.shell.currentWidget;
  const ctx = widget && widget.sessionContext;
  const kernel = ctx && ctx.session && ctx.session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""


@contextmanager
def chromium(user_data_dir: Path, width: int = 1280, height: int = 1400):
    """Debian's headless Chromium through Playwright (skips the test when either is missing);
    yields the browser context."""
    import pytest

    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
        )
        try:
            yield browser
        finally:
            browser.close()


def open_and_run_all(page, url: str, notebook: str) -> None:
    """Open ``notebook`` in JupyterLab (``url`` is the /lab?token= URL) and Run All, once its
    kernel is connected and idle (never before: the known flake). A page already showing
    JupyterLab opens it in a new tab (no reload, so no "leave the page?" prompt)."""
    if page.evaluate("() => !!window.jupyterapp"):
        page.evaluate(
            "name => { window.jupyterapp.commands.execute('docmanager:open', "
            "{path: name, factory: 'Notebook'}); return true; }",
            f"{notebook}.ipynb",
        )
    else:
        page.goto(url.replace("/lab?", f"/lab/tree/{notebook}.ipynb?"))
    wait_until(
        lambda: (
            page.evaluate(CURRENT_PATH_JS) == f"{notebook}.ipynb" and page.evaluate(KERNEL_IDLE_JS)
        ),
        90,
        f"the kernel of {notebook} to be idle",
    )
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def close_current(page) -> None:
    """Shut the current notebook's kernel down, save it and close its tab (no prompt)."""
    page.evaluate(
        """async () => {
          const widget = window.jupyterapp.shell.currentWidget;
          await widget.sessionContext.shutdown();
          await widget.context.save();
          widget.close();
        }"""
    )


CURRENT_PATH_JS = """() => {
  const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  return widget && widget.context ? widget.context.path : null;
}"""


def wait_kernel_idle(page, timeout: float, what: str) -> None:
    """Wait until the current notebook's kernel is idle again (its cells have run)."""
    wait_until(lambda: page.evaluate(KERNEL_IDLE_JS), timeout, what, interval=0.5)
