"""Every notebook runs headless against the local cloud, in the order a person would run them,
with no error output, no form error and no token anywhere; and the committed notebooks carry no
outputs. The notebooks run once (the module's ``run`` fixture); each test reads what it needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient.exceptions import CellExecutionError

from tests.notebooks import nbrun
from tests.notebooks.jupyterlab import chromium
from xaccount_ops import landing
from xaccount_ops.lab import report
from xaccount_ops.lab.context import open_fleet

STACK = "nb-tests"  # this module's pipeline on the shared local cloud

pytestmark = pytest.mark.notebooks


def committed_notebooks() -> list[Path]:
    return sorted(nbrun.NOTEBOOKS.glob("*.ipynb"))


def test_committed_notebooks_have_no_outputs() -> None:
    paths = committed_notebooks()
    assert {p.stem for p in paths} >= {
        "00-start-here",
        "01-deploy-landing",
        "02-attach-senders",
        "03-update-accounts",
        "04-audit-log-groups",
        "05-verify-delivery",
        "06-recover",
    }
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path.name
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, path.name
        assert path.with_suffix(".py").is_file(), f"{path.name} has no paired percent script"
    verify = subprocess.run(
        [sys.executable, "-m", "nbstripout", "--verify", "--keep-id", *map(str, paths)],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_form_error_fails_the_run_and_is_found_by_the_scan(local_cloud, tmp_path) -> None:
    with pytest.raises(CellExecutionError, match="12-digit"):
        nbrun.execute(
            "01-deploy-landing",
            {
                "config": local_cloud["config"],
                "stack_name": STACK,
                "accounts": "111111111111, 12345",
            },
            tmp_path,
        )
    executed = nbformat.read(tmp_path / "01-deploy-landing.ipynb", as_version=4)
    found = nbrun.problems(executed)
    assert any("FormError" in p for p in found), found
    assert any("form error shown" in p and "12-digit" in p for p in found), found


ORDER = [
    "00-start-here",
    "01-deploy-landing",
    "02-attach-senders",
    "03-update-accounts",
    "04-audit-log-groups",
    "05-verify-delivery",
    "06-recover",
    "07-backfill",
]


@dataclass
class Run:
    """Notebooks 00 -> 07 executed once each, in order, on the shared local cloud (what a person
    runs for a first deploy), as the tests ask for them: ``text(name)`` executes every notebook up
    to ``name`` not executed yet, so each test's time (and pytest-timeout budget) is that of the
    notebooks it is the first to read. A notebook that failed fails every later read."""

    dir: Path
    cloud: dict
    notebooks: dict[str, nbformat.NotebookNode] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    failed: BaseException | None = None

    @property
    def common(self) -> dict[str, str]:
        return {"config": self.cloud["config"], "stack_name": STACK}

    def parameters(self, name: str) -> dict:
        export = str(self.dir / "export")
        return {
            "00-start-here": {"config": self.cloud["config"]},
            "01-deploy-landing": {**self.common, "deploy": True, "include_speedups": False},
            "02-attach-senders": {**self.common, "apply": True},
            "03-update-accounts": {**self.common, "accounts": "999999999999"},
            "04-audit-log-groups": {**self.common, "export_dir": export},
            "05-verify-delivery": {
                **self.common,
                "timeout_s": 60,
                "export_dir": export,
                "reconcile_window": "15m",
                "reconcile_lag": "0",
            },
            "06-recover": {**self.common, "replay": True, "dry_run": False},
            "07-backfill": {**self.common, "since": "1d", "ship": True},
        }[name]

    def notebook(self, name: str) -> nbformat.NotebookNode:
        for earlier in ORDER[: ORDER.index(name) + 1]:
            if earlier in self.notebooks:
                continue
            if self.failed is not None:
                raise RuntimeError(
                    f"{earlier} not run: an earlier notebook failed"
                ) from self.failed
            self.started.append(earlier)
            try:
                nb = nbrun.execute(earlier, self.parameters(earlier), self.dir)
            except BaseException as err:
                self.failed = err
                raise
            self.notebooks[earlier] = nb
            self.texts[earlier] = nbrun.outputs_text(nb)
        return self.notebooks[name]

    def text(self, name: str) -> str:
        self.notebook(name)
        return self.texts[name]


@pytest.fixture(scope="module")
def run(local_cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The notebooks, executed once for every test below that reads them.

    Module-scoped, not session-scoped: the finalizer takes our filters off the shared cloud's log
    groups again (02's remove mode) before any other module's tests use that cloud.
    """
    done = Run(tmp_path_factory.mktemp("notebooks"), local_cloud)
    yield done
    if "02-attach-senders" not in done.started:
        return  # nothing attached
    # Leave the shared cloud's log groups as found: our filters off again (02's remove mode).
    removed = nbrun.execute(
        "02-attach-senders", {**done.common, "remove": True, "apply": True}, done.dir
    )
    text = nbrun.outputs_text(removed)
    assert nbrun.problems(removed) == [], nbrun.problems(removed)
    assert "deleted" in text and "0 failed" in text


@pytest.mark.parametrize("name", ORDER)
def test_notebook_shows_no_error_and_no_token(run: Run, name: str) -> None:
    nb = run.notebook(name)
    assert nbrun.problems(nb) == [], (name, nbrun.problems(nb))
    tokens = [run.cloud["shipping_token"], run.cloud["api_token"]]
    assert nbrun.leaked(nb, tokens) == [], f"{name} shows a token"


def test_deploy_attach_and_preview(run: Run) -> None:
    assert "Stacks: deployed" in run.text("01-deploy-landing")
    fleet = open_fleet(run.cloud["config"], stack_name=STACK)
    assert set(landing.stack_outputs(fleet)) == set(run.cloud["regions"])
    assert "0 failed" in run.text("02-attach-senders")
    assert "would update" in run.text("03-update-accounts")  # preview only: nothing applied
    main = landing.describe_stack(fleet.landing_client("cloudformation"), STACK)
    sending = {p["ParameterKey"]: p["ParameterValue"] for p in main["Parameters"]}
    assert "999999999999" not in sending["SendingAccounts"]


def test_audit_exports_and_recommends(run: Run) -> None:
    assert "recommended KinesisStreamMode=" in run.text("04-audit-log-groups")
    assert (run.dir / "export" / "findings.csv").is_file()


def test_verify_delivers_and_reconciles_every_canary(run: Run) -> None:
    targets = len(run.cloud["sending_accounts"]) * len(run.cloud["regions"])
    assert f"delivered {targets}/{targets} canaries" in run.text("05-verify-delivery")
    fleet = open_fleet(run.cloud["config"], stack_name=STACK)
    # Reconcile (lag 0: the canaries just found count): every canary group agrees.
    counted = pd.read_csv(run.dir / "export" / "reconcile.csv", dtype={"account_id": str})
    canaries = counted[counted["log_group"] == fleet.config.verify.canary_log_group]
    assert len(canaries) == targets, counted.to_dict("records")
    assert (canaries["ratio"] == 1.0).all(), canaries.to_dict("records")


def test_recover_and_backfill(run: Run) -> None:
    # The seed's events predate 02's filters: the dry run finds them, the run ships them all.
    backfilled = run.text("07-backfill")
    assert "dry run, nothing shipped" in backfilled and "; 0 failed" in backfilled
    assert ": 0 event(s) shipped" not in backfilled and "event(s) shipped" in backfilled
    # Nothing failed on this pipeline: the stack's S3 store is found, empty, and delivered.
    assert "0 batches in the failure store" in run.text("06-recover")
    assert "the store is delivered" in run.text("06-recover")


def test_reports_render_offline_in_chromium(run: Run) -> None:
    run.notebook("05-verify-delivery")  # 04's and 05's reports
    check_reports(run.dir, run.cloud["regions"])


OVERFLOW_JS = """() => Math.max(0, ...[...document.querySelectorAll('table')].map(
  t => t.getBoundingClientRect().right - document.documentElement.clientWidth))"""
WHOLE_CELLS_JS = """() => {
  const cells = [...document.querySelectorAll('td[data-xacct-whole]')];
  const broken = cells.filter(td => {
    const range = document.createRange();
    range.selectNodeContents(td);
    return range.getClientRects().length > 1;
  }).map(td => td.textContent);
  return [cells.length, broken];
}"""


def check_reports(run_dir: Path, regions: list[str]) -> None:
    """The static HTML reports of 04 and 05 (issue 16, item 2), as a person opens them offline
    in Chromium: nothing is fetched from the network, and the rendered text holds every finding's
    full ``fix`` and every canary's full ``marker``. Screenshots go to out/reports/."""
    export = run_dir / "export"
    fixes = pd.read_csv(export / "findings.csv")["fix"].dropna().tolist()
    markers = pd.read_csv(export / "canaries.csv")["marker"].dropna().tolist()
    assert fixes and any(len(f) > 50 for f in fixes)  # longer than pandas' default cut
    assert markers
    pages = {
        name: report.export_html(run_dir / f"{name}.ipynb")
        for name in ("04-audit-log-groups", "05-verify-delivery")
    }
    for path in pages.values():
        text = path.read_text()
        assert "https://cdn" not in text and "require.min.js" not in text
        assert "widget-state+json" not in text and "widget-view+json" not in text
    keep = nbrun.REPO / "out" / "reports"
    keep.mkdir(parents=True, exist_ok=True)
    fetched: list[str] = []
    with chromium(run_dir / "chromium", width=1100, height=900) as browser:
        # Offline: anything but the file itself fails, and is recorded.
        browser.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(("file:", "data:"))
                else (fetched.append(route.request.url), route.abort())
            ),
        )
        page = browser.new_page()
        shown, whole = {}, {}
        for name, path in pages.items():
            page.goto(path.as_uri())
            # Every row is in the page, most in collapsed <details> (issue 26): the text of
            # the whole page, open or not.
            shown[name] = page.text_content("body") or ""
            # Fits the page width: nothing runs off the right edge.
            overflow = page.evaluate(OVERFLOW_JS)
            assert overflow <= 0, f"{name}: a table runs {overflow}px past the page's right edge"
            # Region and account cells are whole: one line each (never "eu-" / "west-1").
            whole[name], broken = page.evaluate(WHOLE_CELLS_JS)
            assert broken == [], f"{name}: cells broken over lines: {broken[:5]}"
            shot = run_dir / f"{name}.png"
            page.screenshot(path=str(shot), full_page=True)
            shutil.copy(shot, keep / shot.name)
    assert fetched == []
    audit_text = " ".join(shown["04-audit-log-groups"].split())
    for fix in fixes:
        assert " ".join(fix.split()) in audit_text, fix
    for marker in markers:
        assert marker in shown["05-verify-delivery"], marker
    assert all(count > 0 for count in whole.values()), whole
