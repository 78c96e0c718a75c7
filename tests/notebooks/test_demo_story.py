"""`make demo` tells one story (issue 26, item 4): 05's reconcile covers the demo's own traffic,
the console prints the verdict 05 wrote (the report's), and `make lab` uses the cloud the demo
left running instead of an empty one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from xaccount_ops.lab import demo


def test_05_reconciles_the_window_of_the_demo_s_own_traffic() -> None:
    now = datetime(2026, 12, 7, 1, 0, 30, tzinfo=UTC)
    params = demo.reconcile_parameters(now - timedelta(minutes=7, seconds=20), now)
    # 7 min 20 s of traffic: 8 whole minutes, one more for the minute the seed began in.
    assert params == {"reconcile_window": "9m", "reconcile_lag": "0"}


def test_the_console_prints_the_verdict_05_wrote(tmp_path: Path) -> None:
    line = "reconcile 2026-12-07 00:35..00:44 UTC: 51 shipping group(s), 51 with events: 6 agree"
    (tmp_path / "reconcile-summary.txt").write_text(f"{line}\nok\n")
    assert demo.reconcile_line(tmp_path) == (line, True)
    (tmp_path / "reconcile-summary.txt").write_text(f"{line}, 1 short\nnot ok\n")
    assert demo.reconcile_line(tmp_path)[1] is False
    assert demo.reconcile_line(tmp_path / "none") == (
        "reconcile: none (05-verify-delivery did not get to it)",
        False,
    )


def test_make_lab_uses_the_cloud_the_demo_left_running(
    local_cloud: dict, tmp_path: Path, monkeypatch, capsys
) -> None:
    running = Path(local_cloud["config"]).parent
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "local-cloud").symlink_to(running)

    chosen = demo.lab_data_dir(Path(".local-cloud"))

    assert chosen == running.resolve()
    assert "make demo" in capsys.readouterr().out
    # Named explicitly, the user's directory wins.
    assert demo.lab_data_dir(Path("mine"), explicit=True) == (tmp_path / "mine").resolve()


def test_lab_saves_notebooks_without_outputs() -> None:
    assert f"--ContentsManager.pre_save_hook={demo.SAVE_HOOK}" in demo.lab_command([])
