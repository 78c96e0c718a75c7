"""One real browser, as a person works (issue 16, item 5): JupyterLab started by hand on a folder
holding the notebooks, no config anywhere, notebooks 00 → 05 opened one after the other (each in
its own kernel, shut down before the next opens), Run All in each, the form values typed and the
buttons pressed that a person presses (Deploy in 01, Apply in 02), and what the page shows
asserted: 05 says every canary was delivered. With a blank `config` the first kernel starts the
local cloud in ./.local-cloud and every later kernel uses that one; it outlives them all until
`xaccount-ops local down`. Screenshots go to out/browser/."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.notebooks import nbrun
from tests.notebooks.jupyterlab import (
    chromium,
    close_current,
    jupyterlab,
    open_and_run_all,
    wait_until,
)
from xaccount_ops import landing
from xaccount_ops.config import CONFIG_ENV
from xaccount_ops.lab.context import open_fleet
from xaccount_ops.local import lock

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

NOTEBOOKS = [
    "00-start-here",
    "01-deploy-landing",
    "02-attach-senders",
    "03-update-accounts",
    "04-audit-log-groups",
    "05-verify-delivery",
]

# Every code cell has run and the kernel is idle again.
RUN_DONE_JS = """() => {
  const widget = window.jupyterapp.shell.currentWidget;
  const kernel = widget.sessionContext.session && widget.sessionContext.session.kernel;
  const cells = widget.content.widgets.filter(c => c.model.type === 'code');
  return !!kernel && kernel.status === 'idle'
    && cells.every(c => c.model.executionCount !== null);
}"""
ERRORS_JS = """() => [...document.querySelectorAll(
  '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], .xacct-error')]
  .map(e => e.innerText).filter(t => /Error|Traceback/.test(t))"""


def test_notebooks_00_to_05_in_jupyterlab(tmp_path) -> None:
    root = tmp_path / "work"
    root.mkdir()
    for name in NOTEBOOKS:
        shutil.copy(nbrun.NOTEBOOKS / f"{name}.ipynb", root)
    data = root / ".local-cloud"
    keep = nbrun.REPO / "out" / "browser"
    keep.mkdir(parents=True, exist_ok=True)
    texts: dict[str, str] = {}
    try:
        with (
            jupyterlab(root, tmp_path / "home", clear_env=[CONFIG_ENV]) as url,
            chromium(tmp_path / "chromium") as browser,
        ):
            page = browser.new_page()
            for name in NOTEBOOKS:
                open_and_run_all(page, url, name)
                if name == "01-deploy-landing":
                    form = page.locator(".widget-vbox", has_text="Deploy the landing stacks").first
                    form.wait_for(timeout=120_000)
                    wait_until(lambda: page.evaluate(RUN_DONE_JS), 180, "01's cells")
                    batch = form.locator(".widget-inline-hbox", has_text="Batch size")
                    batch.locator("input").fill("250")
                    batch.locator("input").press("Enter")
                    form.get_by_role("button", name="Deploy", exact=True).click()
                    form.get_by_text("Stacks: deployed").wait_for(timeout=180_000)
                elif name == "02-attach-senders":
                    form = page.locator(".widget-vbox", has_text="Attach subscription filters")
                    wait_until(lambda: page.evaluate(RUN_DONE_JS), 180, "02's cells")
                    form.first.get_by_role("button", name="Apply", exact=True).click()
                    form.first.get_by_text(re.compile(r"\b0 failed\b")).last.wait_for(
                        timeout=180_000
                    )
                wait_until(lambda: page.evaluate(RUN_DONE_JS), 240, f"{name}'s cells", 0.5)
                texts[name] = page.inner_text(".jp-NotebookPanel:not(.lm-mod-hidden)")
                assert page.evaluate(ERRORS_JS) == [], (name, page.evaluate(ERRORS_JS))
                page.add_style_tag(content=".Toastify { display: none !important; }")
                page.screenshot(path=str(keep / f"lab-{name}.png"))
                # Its own kernel only: shut this one down before the next notebook opens.
                close_current(page)
        # What the person typed in 01's form is what was deployed.
        fleet = open_fleet(data / "xaccount-ops.toml")
        main = landing.describe_stack(
            fleet.landing_client("cloudformation"), fleet.config.landing.stack_name
        )
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in main["Parameters"]}
        assert parameters["KinesisStreamBatchSize"] == "250"
    finally:
        running = lock.running(data)
        down = subprocess.run(
            [sys.executable, "-m", "xaccount_ops", "local", "down", "--data", str(data)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    # One cloud for all six kernels: 00's kernel started it, and it was still there for 05.
    assert running is not None, "no local cloud ran in the notebooks' folder"
    assert f"using the local cloud started now in {data}" in texts["00-start-here"]
    for name in NOTEBOOKS[1:]:
        assert f"already running in {data} (pid {running['pid']})" in texts[name], name
    assert "CREATE_COMPLETE" in texts["01-deploy-landing"]
    targets = len(running["sending_accounts"]) * len(running["regions"])
    assert f"delivered {targets}/{targets} canaries" in texts["05-verify-delivery"]
    assert running["shipping_token"] not in "".join(texts.values())
    assert running["api_token"] not in "".join(texts.values())
    assert down.returncode == 0 and f"pid {running['pid']}" in down.stdout, down.stderr
    assert lock.running(data) is None
