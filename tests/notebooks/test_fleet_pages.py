"""Reports for a fleet (issue 26, item 3): each notebook's report, rendered for 200 targets
(100 accounts x 2 regions) and opened in Chromium, leads with a rollup and the exceptions and
fits in under 3 screens before the collapsed details; no table cell breaks inside a word.

The results are built here with the real result types' columns (what the jobs return for such a
fleet); the HTML is what the notebooks display (``xaccount_ops.lab.views``) and the page is what
``make demo`` exports (``xaccount_ops.lab.report``). Page heights go to out/reports/pages.txt.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest

from xaccount_ops.lab import report, views

from .jupyterlab import chromium

REPO = Path(__file__).resolve().parents[2]
ACCOUNTS = [f"{200000000000 + n * 1111:012d}" for n in range(100)]
REGIONS = ("us-east-1", "eu-west-1")
GROUPS = ("/aws/lambda/orders-api", "/aws/lambda/payments", "/ecs/cart", "/app/audit-trail")
SCREEN = (1100, 900)  # width, height of the browser window

# The page as it opens (every <details> closed), and with every <details> open, in CSS pixels.
HEIGHTS_JS = """() => {
  const closed = document.documentElement.scrollHeight;
  document.querySelectorAll('details').forEach(d => d.open = true);
  const open = document.documentElement.scrollHeight;
  document.querySelectorAll('details').forEach(d => d.open = false);
  return [closed, open, document.querySelectorAll('details').length];
}"""
OVERFLOW_JS = """() => Math.max(0, ...[...document.querySelectorAll('table')].map(
  t => t.getBoundingClientRect().right - document.documentElement.clientWidth))"""
# Every word (a run of letters and digits) in a table cell on one line: "skippe" / "d" is a
# break inside a word; a break after a separator ("not-" / "shipping", "arn:" / "aws") is not.
BROKEN_WORDS_JS = """() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const broken = [];
  for (const cell of document.querySelectorAll('td, th')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/[A-Za-z0-9]+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0]);
      }
    }
  }
  return [document.querySelectorAll('td').length, broken.slice(0, 10)];
}"""


def targets() -> list[tuple[str, str]]:
    return [(a, r) for a in ACCOUNTS for r in REGIONS]


def plan_frame() -> pd.DataFrame:
    rows = []
    for account, region in targets():
        for group in GROUPS:
            skip = group == "/app/audit-trail"
            rows.append(
                {
                    "account": account,
                    "region": region,
                    "log_group": group,
                    "mode": "filters",
                    "action": "skip" if skip else "create",
                    "reason": "not selected by [subscriptions] include" if skip else "selected",
                    "filter_name": f"logzio-xacct-{region}",
                    "destination_arn": f"arn:aws:logs:{region}:111111111111:destination:"
                    "logzio-xacct-destination",
                    "filter_pattern": "",
                    "current_filters": "",
                    "selection_criteria": pd.NA,
                }
            )
    return pd.DataFrame(rows).astype("string")


def apply_frame() -> pd.DataFrame:
    frame = plan_frame()
    status = frame["action"].map({"create": "created", "skip": "skipped"})
    return frame.assign(status=status, error=pd.NA).astype("string")


def findings_frame() -> pd.DataFrame:
    rows = []
    for account, region in targets():
        for group in GROUPS:
            rows.append(
                {
                    "severity": "warning",
                    "check": "not-shipping",
                    "account_id": account,
                    "region": region,
                    "resource": group,
                    "finding": "no subscription filter to our destination",
                    "fix": "`xaccount-ops subscribe apply` (or add it to [subscriptions] include)",
                }
            )
        rows.append(
            {
                "severity": "error",
                "check": "no-destination",
                "account_id": account,
                "region": region,
                "resource": f"arn:aws:logs:{region}:111111111111:destination:logzio-xacct-dest",
                "finding": "the landing stack is not deployed: no destination in this region",
                "fix": "`xaccount-ops deploy`",
            }
        )
    return pd.DataFrame(rows).astype("string")


def inventory_frame() -> pd.DataFrame:
    rows = [
        {
            "account_id": account,
            "region": region,
            "log_group": group,
            "stored_bytes": 1_000_000,
            "retention_days": pd.NA,
            "log_class": "STANDARD",
            "ships": group != "/app/audit-trail",
            "shipping_filter": f"logzio-xacct-{region}" if group != "/app/audit-trail" else pd.NA,
            "note": "",
        }
        for account, region in targets()
        for group in GROUPS
    ]
    return pd.DataFrame(rows)


def canary_frame() -> pd.DataFrame:
    rows = [
        {
            "account_id": account,
            "region": region,
            "status": "missing" if account == ACCOUNTS[7] else "delivered",
            "latency_s": pd.NA if account == ACCOUNTS[7] else 2.5,
            "marker": f"xacct-canary-20261207t010203-abcdef12-{account}-{region}",
            "hop": "destination policy" if account == ACCOUNTS[7] else pd.NA,
        }
        for account, region in targets()
    ]
    return pd.DataFrame(rows)


def reconcile_frame() -> pd.DataFrame:
    rows = [
        {
            "account_id": account,
            "region": region,
            "log_group": group,
            "cloudwatch_events": 100,
            "logzio_events": 200 if group == "/ecs/cart" and account == ACCOUNTS[3] else 100,
            "ratio": 2.0 if group == "/ecs/cart" and account == ACCOUNTS[3] else 1.0,
        }
        for account, region in targets()
        for group in GROUPS
    ]
    return pd.DataFrame(rows)


def cost_frame() -> pd.DataFrame:
    from xaccount_ops.fleet.estimate import COLUMNS

    rows = [
        {
            "account_id": account,
            "region": region,
            "log_groups": len(GROUPS),
            "events_per_day": 123456.0,
            "incoming_gb_per_day": 0.000123,
            "gb_per_day": 0.000456,
            "incoming_mb_per_day": 0.126,
            "mb_per_day": 0.467,
            "kinesis_usd": 0.15,
            "lambda_usd": 0.01,
            "cloudwatch_usd": 0.0,
            "monthly_usd": 0.16,
        }
        for account, region in targets()
    ]
    total = {column: 0 for column in COLUMNS} | {"account_id": "total", "region": ""}
    return pd.DataFrame([*rows, total], columns=list(COLUMNS)).astype(COLUMNS)


def reconcile_findings_frame() -> pd.DataFrame:
    rows = [
        {
            "account_id": account,
            "region": region,
            "log_group": group,
            "ratio": 1.0,
            "short": False,
            "over": False,
            "hop": "filter",
            "problem": "our filter was created at 2026-12-07 00:35:12 UTC, inside the window",
            "fix": "`xaccount-ops backfill` ships the history before the subscription",
        }
        for account, region in targets()
        for group in GROUPS
    ]
    rows[3] |= {"ratio": 2.0, "over": True, "hop": "shipper", "fix": "`verify --duplicates`"}
    return pd.DataFrame(rows)


def page(title: str, blocks: list[str]) -> nbformat.NotebookNode:
    """A notebook as papermill saves it: a heading and one code cell per displayed block."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {title}"))
    for block in blocks:
        cell = nbformat.v4.new_code_cell("show(result)")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": block})]
        nb.cells.append(cell)
    return nb


REPORTS = {
    "02-attach-senders": lambda: [
        views.plan_html(plan_frame()),
        views.apply_html(apply_frame()),
    ],
    "04-audit-log-groups": lambda: [
        views.inventory_html(inventory_frame()),
        views.findings_html(findings_frame()),
        views.cost_html(cost_frame()),
    ],
    "05-verify-delivery": lambda: [
        views.canary_html(canary_frame()),
        views.reconcile_html(reconcile_frame(), threshold=0.999),
        views.reconcile_findings_html(reconcile_findings_frame()),
    ],
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, int, int, list]]:
    """Each report in Chromium: (height as it opens, height with every detail open, cells,
    words broken)."""
    folder = tmp_path_factory.mktemp("fleet-pages")
    found = {}
    with chromium(folder / "chromium", width=SCREEN[0], height=SCREEN[1]) as browser:
        tab = browser.new_page()
        for name, blocks in REPORTS.items():
            path = folder / f"{name}.html"
            path.write_text(report.to_html(page(name, blocks())))
            tab.goto(path.as_uri())
            top, height, details = tab.evaluate(HEIGHTS_JS)
            assert details >= len(blocks()), name  # each block collapses its rows
            tab.screenshot(path=str(folder / f"{name}.png"))
            cells, broken = tab.evaluate(BROKEN_WORDS_JS)
            found[name] = (int(top), int(height), int(cells), broken)
            overflow = tab.evaluate(OVERFLOW_JS)  # details open: their tables fit too
            assert overflow <= 0, f"{name}: a table runs {overflow}px past the right edge"
    keep = REPO / "out" / "reports"
    keep.mkdir(parents=True, exist_ok=True)
    (keep / "pages.txt").write_text(
        "".join(
            f"{name}: {top} px as it opens, details closed ({height} px with them open; "
            f"{cells} cells)\n"
            for name, (top, height, cells, _) in found.items()
        )
    )
    return found


@pytest.mark.parametrize("name", list(REPORTS))
def test_a_fleet_report_fits_three_screens_before_its_details(rendered, name: str) -> None:
    top, _, cells, _ = rendered[name]
    assert cells > 1000  # the details hold every row (200 targets)
    assert top < 3 * SCREEN[1], f"{name}: {top} px with every details closed"


@pytest.mark.parametrize("name", list(REPORTS))
def test_no_cell_breaks_inside_a_word(rendered, name: str) -> None:
    assert rendered[name][3] == []


def test_the_views_lead_with_the_rollup_and_fold_the_exceptions() -> None:
    html = views.findings_html(findings_frame())
    rollup, exceptions, details = (
        html.index("rows</th>"),
        html.index("Exceptions ("),
        html.index("<details>"),
    )
    assert rollup < exceptions < details
    # 800 identical not-shipping findings are one line with how many and where.
    head = html[:details]
    assert head.count("no subscription filter to our destination") == 1
    assert ">800<" in head and "eu-west-1, us-east-1" in head
    assert "&lt;NA&gt;" not in html and "<NA>" not in html
    # An ARN shows its name; the whole ARN is the title.
    assert 'title="arn:aws:logs:us-east-1:111111111111:destination:logzio-xacct-dest"' in html


def test_stored_and_shipping_bytes_are_told_apart_by_shade_not_hatching() -> None:
    from xaccount_ops.lab import plots

    summary = pd.DataFrame(
        {
            "account_id": ["111111111111"] * 2,
            "region": list(REGIONS),
            "stored_bytes": [300.0, 200.0],
            "shipping_bytes": [100.0, 200.0],
        }
    )
    ax = plots.stored_bytes(summary).figure.axes[0]
    bars = {label: patch for patch, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    stored, shipping = bars["us-east-1 stored"], bars["us-east-1 shipping"]
    assert not any(p.get_hatch() for p in ax.patches)
    assert stored.patches[0].get_facecolor()[:3] == shipping.patches[0].get_facecolor()[:3]
    assert stored.patches[0].get_alpha() < 0.5 and shipping.patches[0].get_alpha() in (None, 1)
