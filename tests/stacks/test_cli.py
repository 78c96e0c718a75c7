"""The CLI commands, run in-process against the moto server with a config file on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import configs
from xaccount_ops.cli import main

from .conftest import LANDING, SENDERS


@pytest.fixture
def config_file(stacks_endpoint: str, tmp_path: Path) -> Path:
    token = tmp_path / "token"
    token.write_text("cli-ship-token\n")
    token.chmod(0o600)
    tables = configs.base_tables(
        endpoint=stacks_endpoint,
        landing=LANDING,
        accounts=SENDERS,
        regions=("us-east-1", "eu-west-1"),
        stack_name="xacct-cli",
        shipping_token={"file": str(token)},
    )
    more = {"logzio": {"region": "us", "listener_url": "http://127.0.0.1:9"}}
    return configs.write_config(tmp_path, tables, more)


def test_package_no_upload_prints_path_and_hash(tmp_path: Path, capsys) -> None:
    code = main(["package", "--no-upload", "--no-speedups", "--out", str(tmp_path / "dist")])
    out = capsys.readouterr()
    assert code == 0
    path, sha256 = out.out.strip().split("\t")
    assert Path(path).is_file() and len(sha256) == 64
    assert "stdlib-only" in out.err


def test_deploy_outputs_and_accounts(config_file: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("XACCOUNT_OPS_CACHE", str(config_file.parent / "cache"))
    base = ["--config", str(config_file)]
    assert main([*base, "deploy", "--dry-run", "--no-speedups", "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert {row["action"] for row in plan} == {"Add"}

    assert main([*base, "deploy", "--no-speedups", "--format", "json"]) == 0
    out = capsys.readouterr()
    assert [row["status"] for row in json.loads(out.out)] == ["created", "created"]
    assert "CREATE_COMPLETE" in out.err  # progress from stack events
    assert "cli-ship-token" not in out.out + out.err

    assert main([*base, "deploy", "--no-speedups", "--format", "json"]) == 0
    out = capsys.readouterr()
    assert {row["status"] for row in json.loads(out.out)} == {"unchanged"}
    assert "nothing to change" in out.err

    assert main([*base, "outputs", "--format", "json"]) == 0
    outputs = json.loads(capsys.readouterr().out)
    assert [o["region"] for o in outputs] == ["us-east-1", "eu-west-1"]
    assert outputs[1]["destination_arn"].endswith(":destination:xacct-cli-destination")

    # 333333333333 is made up: not in an organization another test may have made here.
    add = [*base, "accounts", "add", "333333333333", "--allow-outside-org", "--format", "json"]
    assert main(add) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["added"] for r in rows] == ["333333333333", "333333333333"]


def test_stackset_dry_run_plans_instances_and_changes_nothing(config_file: Path, capsys) -> None:
    assert main(["--config", str(config_file), "deploy", "--stackset", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "xacct-cli-destinations" in out and "planned" in out
    import boto3

    cfn = boto3.client(
        "cloudformation",
        region_name="us-east-1",
        endpoint_url=_endpoint(config_file),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    names = [s["StackSetName"] for s in cfn.list_stack_sets()["Summaries"]]
    assert "xacct-cli-destinations" not in names


def _endpoint(config_file: Path) -> str:
    import tomllib

    return tomllib.loads(config_file.read_text())["aws"]["endpoint_url"]
