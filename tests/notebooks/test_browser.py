"""One real browser: JupyterLab on loopback, 01-deploy-landing in headless Chromium, Run All,
fill the form, press Deploy, and see the result a person would see. The screenshot is kept
(pytest's tmp dir, and out/browser/ for people to look at)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from tests.notebooks import nbrun
from tests.notebooks.jupyterlab import (
    CHROMIUM,
    CHROMIUM_ARGS,
    KERNEL_IDLE_JS,
    jupyterlab,
    wait_until,
)
from xaccount_ops import stacks
from xaccount_ops.target import open_fleet

STACK = "nb-browser"  # this module's pipeline on the shared local cloud
NOTEBOOK = "01-deploy-landing"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]


def notebook_copy(root: Path, config: str) -> Path:
    """The committed notebook with this test's parameters written into its parameters cell."""
    nb = nbformat.read(nbrun.NOTEBOOKS / f"{NOTEBOOK}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += (
        f"\nconfig = {json.dumps(config)}\nstack_name = {STACK!r}\n"
        "include_speedups = False\ndry_run = False\n"
    )
    path = root / f"{NOTEBOOK}.ipynb"
    nbformat.write(nb, path)
    return path


def test_deploy_form_in_jupyterlab(local_cloud, tmp_path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    root = tmp_path / "root"
    root.mkdir()
    notebook_copy(root, local_cloud["config"])
    shot = tmp_path / "01-deploy-landing.png"

    with jupyterlab(root, tmp_path / "home") as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1400},
        )
        try:
            page = browser.new_page()
            page.goto(url.replace("/lab?", f"/lab/tree/{NOTEBOOK}.ipynb?"))
            # Never Run All before the kernel is connected and idle (the known flake).
            wait_until(lambda: page.evaluate(KERNEL_IDLE_JS), 60, "the kernel to be idle")
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            form = page.locator(".widget-vbox", has_text="Deploy the landing stacks").first
            form.wait_for(timeout=30_000)

            batch = form.locator(".widget-inline-hbox", has_text="Batch size").locator("input")
            batch.fill("250")
            batch.press("Enter")
            form.get_by_role("button", name="Deploy", exact=True).click()
            page.get_by_text("Stacks: deployed").wait_for(timeout=60_000)
            # JupyterLab's "news?" toast is not part of what we test: keep it off the picture.
            page.add_style_tag(content=".Toastify { display: none !important; }")
            form.screenshot(path=str(shot))
            content = page.content()
        finally:
            browser.close()

    keep = nbrun.REPO / "out" / "browser"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep / shot.name)
    assert shot.stat().st_size > 10_000
    assert "created" in content and "Failed" not in content
    assert local_cloud["shipping_token"] not in content
    assert local_cloud["api_token"] not in content
    # The form's value reached the stack: what the person typed is what was deployed.
    fleet = open_fleet(local_cloud["config"], stack_name=STACK)
    main = stacks.describe_stack(fleet.landing_client("cloudformation"), STACK)
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in main["Parameters"]}
    assert parameters["KinesisStreamBatchSize"] == "250"
