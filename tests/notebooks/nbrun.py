"""Run a notebook headless with papermill-style parameters, and scan what it produced.

Executing is not enough to call a notebook good: a form's handler error is an error *output*
(or, with our forms, an ``xacct-error`` block in the form's output widget) while the cell still
passes. :func:`problems` finds those, and :func:`leaked` finds tokens anywhere in the notebook.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from xaccount_ops.lab.widgets import ERROR_CLASS

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
CELL_TIMEOUT_S = 180


def execute(
    name: str,
    parameters: Mapping[str, Any],
    cwd: Path,
    *,
    out: Path | None = None,
) -> nbformat.NotebookNode:
    """Execute ``notebooks/<name>.ipynb`` with ``parameters`` in ``cwd``; raise on a cell error.

    The executed notebook is written to ``out`` (default ``cwd/<name>.ipynb``), also on failure.
    """
    nb = load_notebook_node(str(NOTEBOOKS / f"{name}.ipynb"))  # (gives every cell its tags)
    nb = parameterize_notebook(nb, dict(parameters))
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(cwd)}},
    )
    try:
        client.execute()
    except Exception:
        # nbclient saves the widgets' state only after a clean run; keep it for the scan.
        client.set_widgets_metadata()
        raise
    finally:
        nbformat.write(nb, out or cwd / f"{name}.ipynb")
    return nb


def _texts(output: Mapping[str, Any]) -> Iterable[str]:
    if output.get("output_type") == "stream":
        yield str(output.get("text", ""))
    for value in (output.get("data") or {}).values():
        yield value if isinstance(value, str) else json.dumps(value)


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """Error outputs, and form errors shown in cell outputs or in the widgets' saved state."""
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
            elif any(ERROR_CLASS in text for text in _texts(output)):
                found.append(f"cell {index}: form error shown: {list(_texts(output))[:1]}")
    state = json.dumps(nb.metadata.get("widgets", {}))
    if ERROR_CLASS in state:
        start = state.index(ERROR_CLASS)
        found.append(f"widget state: form error shown: {state[start : start + 300]}")
    return found


def leaked(nb: nbformat.NotebookNode, secrets: Iterable[str]) -> list[str]:
    """Which of ``secrets`` appear anywhere in the notebook (outputs, widget state, sources)."""
    text = json.dumps(nb)
    return [s for s in secrets if s and s in text]


def outputs_text(nb: nbformat.NotebookNode) -> str:
    """Every output's text, and the widget state, as one string (for assertions)."""
    parts = [t for cell in nb.cells for o in cell.get("outputs", []) for t in _texts(o)]
    return "\n".join([*parts, json.dumps(nb.metadata.get("widgets", {}))])
