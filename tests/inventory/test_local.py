"""The happy path on the seeded local cloud, through the library and the CLI (the issue's
"done when"): every seeded group in every sending account/region, with its filters; the audit
reports the seeded problems and exits 1 with --fail-on warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xaccount_ops import inventory
from xaccount_ops.accounts import Fleet
from xaccount_ops.cli import main
from xaccount_ops.config import load_config
from xaccount_ops.local import seed


def _seeded(local_cloud: dict) -> set[tuple[str, str, str]]:
    return {
        (account, region, group.name)
        for index, account in enumerate(local_cloud["sending_accounts"])
        for region in local_cloud["regions"]
        for group in seed.seed_groups(index)
    }


def test_library_lists_every_seeded_group_with_its_filters(local_cloud: dict) -> None:
    fleet = Fleet.from_config(load_config(local_cloud["config"]))

    result = inventory.log_groups(fleet, progress=False)

    assert result.ok, result.errors
    frame = result.frame
    listed = set(zip(frame.account_id, frame.region.astype(str), frame.log_group, strict=True))
    assert _seeded(local_cloud) <= listed
    first, region = local_cloud["sending_accounts"][0], local_cloud["regions"][0]
    rows = frame[(frame.account_id == first) & (frame.region == region)].set_index("log_group")
    assert "team-siem" in rows.loc["/aws/lambda/orders-api", "foreign_filters"].split(",")
    rds = rows.loc["/aws/rds/instance/orders-db/postgresql"]
    assert set(rds.foreign_filters.split(",")) == {"splunk-forwarder", "datadog-forwarder"}
    assert {f["name"] for f in rds.filters} == {"splunk-forwarder", "datadog-forwarder"}
    assert rds.filter_count == 2
    names = set(frame.account_name.dropna())
    assert any(name.startswith("workload-") for name in names)  # from Organizations


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().out


def test_cli_inventory_json_then_cached(
    local_cloud: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = local_cloud["config"]
    code, out = _run(["--config", config, "inventory", "--format", "json"], capsys)

    assert code == 0
    records = json.loads(out)
    listed = {(r["account_id"], r["region"], r["log_group"]) for r in records}
    assert _seeded(local_cloud) <= listed
    rds = next(
        r
        for r in records
        if r["account_id"] == local_cloud["sending_accounts"][0]
        and r["region"] == local_cloud["regions"][0]
        and r["log_group"] == "/aws/rds/instance/orders-db/postgresql"
    )
    assert {f["name"] for f in rds["filters"]} >= {"splunk-forwarder", "datadog-forwarder"}

    out_file = tmp_path / "inv.parquet"
    code, _ = _run(
        ["--config", config, "inventory", "--cached", "--format", "parquet", "-o", str(out_file)],
        capsys,
    )
    assert code == 0
    cached, _taken = inventory.load_cache(load_config(config))
    assert len(cached) == len(records)
    assert out_file.stat().st_size > 0


def test_cli_audit_reports_seeded_problems(
    local_cloud: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    config = local_cloud["config"]
    code, out = _run(
        ["--config", config, "audit", "--fail-on", "warning", "--format", "json"], capsys
    )

    assert code == 1
    findings = json.loads(out)
    first, region = local_cloud["sending_accounts"][0], local_cloud["regions"][0]
    by_check: dict[str, set[tuple[str, str, str]]] = {}
    for f in findings:
        by_check.setdefault(f["check"], set()).add((f["account_id"], f["region"], f["resource"]))
    assert (first, region, "/aws/rds/instance/orders-db/postgresql") in by_check["slots-full"]
    # Other tests share this cloud and may subscribe some seeded groups: ask for at least one.
    assert any(account == first for account, _, _ in by_check["not-shipping"])
    assert (first, region, "/ecs/web-frontend") in by_check["never-expires"]

    code, _ = _run(["--config", config, "audit", "--fail-on", "error", "--format", "csv"], capsys)
    errors = [f for f in findings if f["severity"] == "error"]
    assert code == (1 if errors else 0)
