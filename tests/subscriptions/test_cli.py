"""``xaccount-ops subscribe plan|apply|remove`` on a plain moto server: formats, exit codes, the
second apply's "0 changes", remove's --yes guard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from xaccount_ops.cli import main
from xaccount_ops.config import filter_name


def run(world: Any, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(world.path), "subscribe", *args, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_apply_again_remove(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(world, capsys, "plan", "--format", "json")
    assert code == 0, err
    planned = json.loads(out)
    creates = [r for r in planned if r["action"] == "create"]
    assert creates and "to create" in err
    assert {r["mode"] for r in planned} == {"filters"}

    code, out, err = run(world, capsys, "apply", "--format", "csv")
    assert code == 0, err
    assert f"{len(creates)} to create" in err  # the plan's summary first
    assert f"{len(creates)} changed" in err
    assert out.splitlines()[0].startswith("account,region,log_group,mode,action")

    code, out, err = run(world, capsys, "apply")
    assert code == 0, err
    assert "0 changes: everything already as planned" in err

    code, out, err = run(world, capsys, "remove", "--format", "json")
    assert code == 0, err
    assert "nothing deleted: re-run with --yes" in err
    account, region = world.senders[1], world.regions[0]
    assert filter_name(region) in world.filters(account, region, "/ecs/web-frontend")

    code, out, err = run(world, capsys, "remove", "--yes", "--format", "json")
    assert code == 0, err
    deleted = [r for r in json.loads(out) if r["action"] == "delete"]
    assert len(deleted) == len(creates) and {r["status"] for r in deleted} == {"ok"}
    assert world.filters(account, region, "/ecs/web-frontend") == {}


def test_table_and_parquet(world: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(world, capsys, "plan")
    assert code == 0, err
    # A terminal gets the summary (counts by action, skips folded by reason); --all every row.
    assert out.splitlines()[0].split() == ["action", "rows"] and "--all prints every one" in out
    code, out, err = run(world, capsys, "plan", "--all")
    assert code == 0, err
    assert "log_group" in out.splitlines()[0] and "destination_arn" not in out
    target = tmp_path / "plan.parquet"
    code, out, err = run(world, capsys, "plan", "--format", "parquet", "-o", str(target))
    assert code == 0, err
    import pandas as pd

    assert len(pd.read_parquet(target)) > 0


def test_config_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[landing]\naccount_id = "1"\nregion = "us-east-1"\n')
    code = main(["--config", str(path), "subscribe", "plan"])
    assert code == 2
    assert "config error" in capsys.readouterr().err


def test_failed_change_is_a_failed_row(
    world: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A change that fails (the log group vanishes between plan and apply) is a failed row with
    a hint; every other row still applies."""
    from xaccount_ops import subscriptions

    plan = subscriptions.plan(world.fleet, progress=False)
    account, region = world.senders[2], world.regions[1]
    world.logs(account, region).delete_log_group(logGroupName="/ecs/web-frontend")
    result = subscriptions.apply(world.fleet, plan, progress=False)
    assert not result.ok
    failed = result.frame[result.frame["status"] == "failed"]
    assert list(failed["log_group"]) == ["/ecs/web-frontend"]
    assert failed.iloc[0]["error"].startswith("ResourceNotFoundException")
    assert "re-run `xaccount-ops subscribe plan`" in result.errors.iloc[-1]["hint"]
    assert result.changed == plan.changes - 1
