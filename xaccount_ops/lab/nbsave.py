"""Notebooks are saved without outputs: running one in ``make lab`` never dirties the tracked file.

``make lab`` starts JupyterLab with ``--ContentsManager.pre_save_hook`` set to
:func:`strip_outputs`: when JupyterLab saves a notebook, code cells lose their outputs and
execution counts, and the notebook its saved widget state, before the file is written. What the
person sees in the open tab is unchanged; the file on disk matches what is committed (the same
rule ``nbstripout --verify`` checks in the tests). Outputs worth keeping are the reports
``make demo`` writes to ``out/``.
"""

from __future__ import annotations

from typing import Any


def strip_outputs(model: dict[str, Any], path: str = "", **_: Any) -> None:
    """JupyterLab's pre-save hook: drop outputs, execution counts and widget state in place."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    content = model["content"]
    for cell in content.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    metadata = content.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("widgets", None)
