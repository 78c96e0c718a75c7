"""The suite's final check (tests/conftest.py ``no_process_left_behind``) finds what a test left
running, orphans included, kills it and fails the run; a clean run passes (issue 25, item 3).

Runs an inner pytest session on a scratch test file, with the real fixture."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from xaccount_ops.local import proctree

REPO = Path(__file__).resolve().parents[1]

CONFTEST = """
import tests.conftest as suite
from tests.conftest import no_process_left_behind  # noqa: F401

suite.LEFTOVER_GRACE_S = 0.5
"""

LEAKY = """
import subprocess

def test_leaves_a_child(tmp_path):
    child = subprocess.Popen(["sleep", "301"])
    (tmp_path.parent.parent / "child.pid").write_text(str(child.pid))

def test_leaves_an_orphan(tmp_path):
    # sh exits at once: its background sleep's parent is gone (re-parented to the subreaper)
    subprocess.run(["sh", "-c", "sleep 302 >/dev/null 2>&1 & echo $! > " + str(tmp_path.parent.parent / "orphan.pid")])
"""

CLEAN = """
import subprocess

def test_waits_for_its_child():
    subprocess.run(["sleep", "0"], check=True)
"""


def inner_run(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_inner.py").write_text(source)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            f"--basetemp={tmp_path / 'base'}",
            str(tmp_path / "test_inner.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )


def test_a_leftover_process_fails_the_session_and_is_killed(tmp_path: Path) -> None:
    run = inner_run(tmp_path, LEAKY)

    child = int((tmp_path / "child.pid").read_text())
    orphan = int((tmp_path / "orphan.pid").read_text())
    assert run.returncode != 0
    assert "2 processes started by the tests were still running" in run.stdout, run.stdout
    assert "sleep 301" in run.stdout and "sleep 302" in run.stdout
    assert not proctree.alive(child) and not proctree.alive(orphan)


def test_a_clean_session_passes(tmp_path: Path) -> None:
    run = inner_run(tmp_path, CLEAN)
    assert run.returncode == 0, run.stdout + run.stderr
