"""The static report (issue 16, item 2) without a kernel: widget outputs become their final
text, nothing is loaded from a CDN, long cells get break points, region/account cells stay whole.
The rendered check in Chromium is in test_notebooks.py (check_reports)."""

from __future__ import annotations

import re

import nbformat
import pandas as pd

from xaccount_ops.lab import report

FIX = (
    "ask the owners to free a slot (or raise the filters-per-group quota), then "
    "`xaccount-ops subscribe apply`"
)


def widget_notebook() -> nbformat.NotebookNode:
    """A form as nbclient saves it: a VBox with a title, a field, a button, a progress bar and
    an Output widget holding a table."""
    table = pd.DataFrame(
        {"account_id": ["022725558934"], "region": ["eu-west-1"], "fix": [FIX]}
    ).to_html(index=False)

    def model(name: str, **state: object) -> dict:
        return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}

    state = {
        "box": model(
            "VBoxModel", children=[f"IPY_MODEL_{m}" for m in ("title", "field", "go", "bar", "out")]
        ),
        "title": model("HTMLModel", value="<h3>Audit</h3>", description=""),
        "field": model(
            "DropdownModel", description="Region", _options_labels=["all", "eu"], index=1
        ),
        "go": model("ButtonModel", description="Export CSV"),
        "bar": model("IntProgressModel", description="targets", value=6, max=6),
        "out": {
            "model_name": "OutputModel",
            "model_module": "@jupyter-widgets/output",
            "state": {
                "outputs": [
                    {"output_type": "display_data", "data": {"text/html": table}, "metadata": {}}
                ]
            },
        },
    }
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("form")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                report.WIDGET_VIEW: {"model_id": "box", "version_major": 2, "version_minor": 0},
                "text/plain": "VBox(children=...)",
            },
        )
    ]
    nb.cells.append(cell)
    nb.metadata["widgets"] = {report.WIDGET_STATE: {"state": state, "version_major": 2}}
    return nb


def test_widgets_become_their_final_text_and_nothing_comes_from_a_cdn() -> None:
    page = report.to_html(widget_notebook())
    assert re.search(r"""(src|href)=["']?https?:|@import""", page) is None
    assert report.WIDGET_VIEW not in page and report.WIDGET_STATE not in page
    assert "<h3>Audit</h3>" in page
    assert "<b>Region</b>: eu" in page and "<b>targets</b>: 6/6" in page
    assert "Export CSV" not in page  # a button does nothing on a static page
    # The fix is whole (break points are invisible <wbr>), region and account cells kept whole.
    assert FIX in page.replace("<wbr>", "")
    assert "<td data-xacct-whole>eu-west-1</td>" in page
    assert "<td data-xacct-whole>022725558934</td>" in page


def test_long_tokens_get_break_points_short_words_none() -> None:
    arn = "arn:aws:logs:eu-west-1:123456789012:destination:logzio-xacct-eu-west-1"
    broken = report._break_points(f"{arn} and short words")
    assert broken.replace("<wbr>", "") == f"{arn} and short words"
    assert "arn:<wbr>aws:<wbr>logs:" in broken
    assert report._break_points("warning severity") == "warning severity"
