"""Running a notebook in `make lab` never dirties the tracked file (issue 26, item 4): JupyterLab's
own contents manager, with the pre-save hook `make lab` sets, writes it without outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
HOOK = "xaccount_ops.lab.nbsave.strip_outputs"


def test_a_notebook_saved_by_jupyterlab_has_no_outputs(tmp_path: Path) -> None:
    from jupyter_server.services.contents.filemanager import FileContentsManager

    name = "00-start-here.ipynb"
    shutil.copy(REPO / "notebooks" / name, tmp_path / name)
    manager = FileContentsManager(root_dir=str(tmp_path), pre_save_hook=HOOK)
    model = manager.get(name)
    # As after "Run all": outputs, counts and widget state in the model the browser sends back.
    for count, cell in enumerate(c for c in model["content"]["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = count + 1
        cell["outputs"] = [
            nbformat.v4.new_output("stream", name="stdout", text="landing account 1234\n")
        ]
    model["content"]["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}

    manager.save(model, name)

    saved = json.loads((tmp_path / name).read_text())
    code = [c for c in saved["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert "widgets" not in saved["metadata"]
    verify = subprocess.run(
        [sys.executable, "-m", "nbstripout", "--verify", "--keep-id", str(tmp_path / name)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
