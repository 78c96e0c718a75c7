"""Executed notebooks as static, offline HTML reports (``make demo`` writes them to ``out/``).

nbconvert's lab template loads require.js, MathJax, Mermaid and the widget manager from a CDN,
and renders widgets (forms, progress bars) only through that manager: offline, a report is blank
where the forms were. Here every widget output is replaced by its final state as plain HTML
(a form's fields as "label: value", its output area's tables and messages, a progress bar as
"stocks: 2/2"; buttons are left out: they do nothing on a static page), the CDN scripts are left
out, and tables wrap long text instead of cutting it or running off the page, keeping region and
account cells whole. Plots are PNG outputs, which nbconvert embeds.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

# Cells that must never break: region names (eu-west-1) and 12-digit account ids.
KEEP_WHOLE = re.compile(r"<td([^<>]*)>\s*((?:[a-z]{2}(?:-gov)?-[a-z]+-\d)|\d{12})\s*</td>")
# A plain-text cell, and in it a long token (an ARN, a path, a marker) that needs break points.
TEXT_CELL = re.compile(r"<(td|th)([^<>]*)>([^<>]*)</\1>")
LONG_TOKEN = re.compile(r"[^\s<>]{13,}")
BREAK_AFTER = re.compile(r"([/:,_.=|\-]+)")
LONG_RUN = re.compile(r"[A-Za-z0-9]{20}(?=[A-Za-z0-9])")

REPORT_CSS = """
<style>
/* Fit the page: tables wrap instead of scrolling or running off the right edge. */
body { max-width: 100%; }
.jp-OutputArea-output, .jp-RenderedHTMLCommon { overflow-x: visible !important; }
.jp-RenderedHTMLCommon table, table.dataframe { table-layout: auto; max-width: 100%; }
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th, table.dataframe td, table.dataframe th {
  white-space: normal !important; overflow-wrap: normal; word-break: normal;
  text-overflow: clip; max-width: none; vertical-align: top; text-align: left;
}
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { padding: 0.2em 0.4em !important; }
/* Many columns: smaller text. Long values wrap at the <wbr> break points only, never inside a
   word ("skippe" / "d"): overflow-wrap stays normal. */
.jp-RenderedHTMLCommon table:has(tr > :nth-child(10)) { font-size: 11px; }
.jp-RenderedHTMLCommon td[data-xacct-whole] { white-space: nowrap !important; overflow-wrap: normal; }
.xacct-widget { margin: 2px 0; }
.xacct-hbox { display: flex; flex-wrap: wrap; gap: 0 1em; align-items: baseline; }
.xacct-field b { font-weight: 600; }
.xacct-widget pre { white-space: pre-wrap; overflow-wrap: anywhere; }
</style>
"""

# The lab template without anything fetched from the network; our CSS after the notebook's.
TEMPLATE = (
    "{%- extends 'lab/index.html.j2' -%}\n"
    "{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}\n"
    "{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}\n"
    "{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}\n"
    "{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}\n"
    "{%- block html_head_css -%}{{ super() }}{% raw %}" + REPORT_CSS + "{% endraw %}"
    "{%- endblock html_head_css -%}\n"
)


def export_html(notebook: str | Path, html_path: str | Path | None = None) -> Path:
    """Write the static report of an executed notebook (default: beside it, ``.html``)."""
    notebook = Path(notebook)
    target = Path(html_path) if html_path else notebook.with_suffix(".html")
    target.write_text(to_html(nbformat.read(notebook, as_version=4)))
    return target


def to_html(nb: nbformat.NotebookNode) -> str:
    """The static report of an executed notebook, as one self-contained HTML page."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = static_widgets(nb)
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"xacct-report.html.j2": TEMPLATE})],
        template_file="xacct-report.html.j2",
    )
    body, _ = exporter.from_notebook_node(nb)
    body = KEEP_WHOLE.sub(r"<td\1 data-xacct-whole>\2</td>", body)
    return TEXT_CELL.sub(
        lambda m: f"<{m.group(1)}{m.group(2)}>{_break_points(m.group(3))}</{m.group(1)}>", body
    )


def _break_points(text: str) -> str:
    """Let long tokens wrap at their separators (``<wbr>``: no visible character, copies whole)
    so wide tables fit the page, while short words never break mid-word."""

    def token(match: re.Match[str]) -> str:
        value = BREAK_AFTER.sub(r"\1<wbr>", match.group(0))
        return LONG_RUN.sub(lambda run: run.group(0) + "<wbr>", value)

    return LONG_TOKEN.sub(token, text)


def static_widgets(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose widget outputs are their final state as HTML, without widget state."""
    nb = nbformat.from_dict(nbformat.from_dict(nb))  # a deep copy
    state = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        outputs = []
        for output in cell.get("outputs", []):
            view = (output.get("data") or {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(output)
                continue
            text = _widget(state, view.get("model_id", ""))
            if text:
                outputs.append(
                    nbformat.v4.new_output("display_data", data={"text/html": text}, metadata={})
                )
        if "outputs" in cell:
            cell.outputs = outputs
    return nb


def _widget(state: Mapping[str, Any], model_id: str, depth: int = 0) -> str:
    """One widget's final state as HTML (empty for what a static page cannot use)."""
    entry = state.get(model_id)
    if entry is None or depth > 30:
        return ""
    name = str(entry.get("model_name", ""))
    s = entry.get("state", {})
    label = html.escape(str(s.get("description", "") or ""))
    if name == "HBoxModel" and _is_progress_bar(state, s.get("children", [])):
        return ""  # tqdm's bar ("6.0/6.0 [00:01<00:00, 5.60target/s]"): done, nothing to read
    if name.endswith("BoxModel") or name in {"AccordionModel", "TabModel", "StackModel"}:
        children = [
            _widget(state, str(ref).removeprefix("IPY_MODEL_"), depth + 1)
            for ref in s.get("children", [])
        ]
        inner = "".join(c for c in children if c)
        kind = "xacct-hbox" if name == "HBoxModel" else ""
        return f'<div class="xacct-widget {kind}">{inner}</div>' if inner else ""
    if name in {"HTMLModel", "HTMLMathModel"}:
        value = str(s.get("value", ""))
        return _field(label, value) if value or label else ""
    if name == "LabelModel":
        return _field(label, html.escape(str(s.get("value", ""))))
    if name == "OutputModel":
        return "".join(_output(state, o, depth) for o in s.get("outputs", []))
    if name in {"ButtonModel", "FileUploadModel"}:
        return ""
    if "Progress" in name:
        return _field(label, f"{s.get('value', '')}/{s.get('max', '')}")
    if "_options_labels" in s:
        labels = list(s.get("_options_labels", []))
        index = s.get("index")
        picked = index if isinstance(index, list | tuple) else [index]
        value = ", ".join(str(labels[i]) for i in picked if isinstance(i, int) and i < len(labels))
        return _field(label, html.escape(value))
    if "value" in s:
        return _field(label, html.escape(str(s["value"])))
    return ""


def _is_progress_bar(state: Mapping[str, Any], children: Any) -> bool:
    """Whether a box holds a progress bar (tqdm's notebook bar is an HBox: label, bar, text)."""
    for ref in children or []:
        entry = state.get(str(ref).removeprefix("IPY_MODEL_")) or {}
        if "Progress" in str(entry.get("model_name", "")):
            return True
    return False


def _field(label: str, value_html: str) -> str:
    head = f"<b>{label}</b>: " if label else ""
    return f'<div class="xacct-widget xacct-field">{head}{value_html}</div>'


def _output(state: Mapping[str, Any], output: Mapping[str, Any], depth: int) -> str:
    """One output captured by an Output widget, as HTML."""
    kind = output.get("output_type")
    if kind == "stream":
        return f"<pre>{html.escape(str(output.get('text', '')))}</pre>"
    if kind == "error":
        error = f"{output.get('ename')}: {output.get('evalue')}"
        return f"<pre>{html.escape(error)}</pre>"
    data = output.get("data") or {}
    if WIDGET_VIEW in data:
        return _widget(state, data[WIDGET_VIEW].get("model_id", ""), depth + 1)
    if "text/html" in data:
        value = data["text/html"]
        return "".join(value) if isinstance(value, list) else str(value)
    if "image/png" in data:
        png = data["image/png"]
        png = png if isinstance(png, str) else base64.b64encode(png).decode()
        return f'<img src="data:image/png;base64,{png.strip()}"/>'
    if "text/plain" in data:
        value = data["text/plain"]
        return (
            f"<pre>{html.escape(''.join(value) if isinstance(value, list) else str(value))}</pre>"
        )
    return ""
