"""The small things of issue 16, each as the message or output a user sees."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import boto3
import pandas as pd
import pytest

from tests import configs
from xaccount_ops import aws
from xaccount_ops.cli import build_parser, main
from xaccount_ops.config import load_config
from xaccount_ops.lab.demo import unshipped_lines
from xaccount_ops.local import seed
from xaccount_ops.verify.health import rounded

from .conftest import closed_port

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, *, region: str = "us-east-1", logzio: str = "", text: str = "") -> Path:
    if text:
        path = tmp_path / "xaccount-ops.toml"
        path.write_text(text)
        return path
    tables = configs.base_tables(
        endpoint=f"http://127.0.0.1:{closed_port()}", regions=(region,), max_attempts=None
    )
    return configs.write_config(
        tmp_path, tables, {"landing": {"region": "us-east-1"}}, f"[logzio]\n{logzio}"
    )


def cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as done:  # argparse: usage errors and --help
        code = int(done.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_api_token_literal_suggests_the_api_token_variable(tmp_path: Path, capsys) -> None:
    config = write(tmp_path, logzio='api_token = { value = "abc" }')
    code, _, err = cli(capsys, "--config", str(config), "accounts", "list")
    assert code == 2
    assert "logzio.api_token: unknown reference 'value'" in err
    assert '{ env = "LOGZIO_API_TOKEN" }' in err and "SHIPPING" not in err
    assert "abc" not in err


def test_a_wrong_region_gets_one_suggestion_list(tmp_path: Path, capsys) -> None:
    code, _, err = cli(capsys, "--config", str(write(tmp_path, region="us-east-9")), "outputs")
    assert code == 2
    assert err == (
        "xaccount-ops: config error: senders.regions[0]: 'us-east-9' is not an AWS region; "
        "did you mean us-east-1 or us-east-2?\n"
    )


def test_missing_config_says_who_named_it(tmp_path: Path, capsys, monkeypatch) -> None:
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv("XACCOUNT_OPS_CONFIG", str(missing))
    code, _, err = cli(capsys, "accounts", "list")
    assert code == 2
    assert f"no config file at {missing} (named by $XACCOUNT_OPS_CONFIG)" in err
    assert "from the" not in err
    code, _, err = cli(capsys, "--config", str(missing), "accounts", "list")
    assert f"no config file at {missing} (named by --config)" in err


def test_a_bad_account_argument_is_a_usage_error(tmp_path: Path, capsys) -> None:
    config = write(tmp_path)
    code, _, err = cli(capsys, "--config", str(config), "accounts", "add", "12345678901")
    assert code == 2
    assert "usage: xaccount-ops accounts add" in err
    assert "argument ID: '12345678901' is not a 12-digit AWS account id (it has 11 digits)" in err
    assert "config error" not in err


def test_yes_is_offered_only_where_it_does_something(capsys) -> None:
    helps = {action: cli(capsys, "subscribe", action, "--help") for action in ("plan", "apply")}
    for action, (code, out, _) in helps.items():
        assert code == 0 and "--yes" not in out, action
    code, out, _ = cli(capsys, "subscribe", "remove", "--help")
    assert code == 0 and "--yes" in out


def test_accounts_remove_has_its_own_help(capsys) -> None:
    _, add, _ = cli(capsys, "accounts", "add", "--help")
    _, remove, _ = cli(capsys, "accounts", "remove", "--help")
    assert "Adds the accounts" in add and "Removes the accounts" in remove
    assert "Refuses to remove the last account" in remove
    assert add.split("options:")[0] != remove.split("options:")[0].replace("remove", "add")


def test_accounts_list_shows_account_names(ext_endpoint: str, tmp_path: Path, capsys) -> None:
    hub = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    organizations = aws.client(hub, "organizations", "us-east-1", endpoint_url=ext_endpoint)
    _, landing, senders, names = seed.create_organization(organizations, 2)
    tables = configs.base_tables(
        endpoint=ext_endpoint, landing=landing, accounts=senders, max_attempts=None
    )
    config = configs.write_config(tmp_path, tables)
    code, out, _ = cli(capsys, "--config", str(config), "accounts", "list", "--format", "json")
    assert code == 0
    assert [(r["account_id"], r["account_name"]) for r in json.loads(out)] == [
        (account, names[account]) for account in sorted(senders)
    ]


def test_health_values_are_rounded_to_their_unit() -> None:
    assert rounded(1489.9728298187256, "ms") == 1490.0
    assert rounded(3.0000000004, "count") == 3.0
    assert rounded(2 / 3, "fraction") == 0.667
    assert rounded(None, "ms") is None


def test_every_command_the_toolkit_names_exists() -> None:
    """Fixes and hints say `xaccount-ops ...`: each such command must parse (issue 16: audit
    said `xaccount-ops subscribe`, which exits 2)."""
    parser = build_parser()
    commands: set[tuple[str, ...]] = set()
    for path in [*(REPO / "xaccount_ops").rglob("*.py"), *(REPO / "notebooks").glob("*.py")]:
        for text in re.findall(r"`xaccount-ops ([^`]*)`", path.read_text()):
            words = []
            for word in text.split():
                if not re.fullmatch(r"[a-z][a-z-]*", word):
                    break
                words.append(word)
            commands.add(tuple(words))
    assert ("subscribe", "apply") in commands
    for words in sorted(commands):
        with pytest.raises(SystemExit) as done:
            parser.parse_args([*words, "--help"])
        assert done.value.code == 0, f"`xaccount-ops {' '.join(words)}` is not a command"


def test_packaging_metadata_uses_spdx_and_bounds_setuptools() -> None:
    """setuptools 77+ deprecates ``license = { text = ... }`` (an error from 2027-02-18)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    (requirement,) = project["build-system"]["requires"]
    assert re.fullmatch(r"setuptools>=77(\.\d+)*,<\d+", requirement)


def test_demo_summary_names_the_unsubscribed_groups(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "account_id": ["222222222222"] * 3,
            "region": ["us-east-1"] * 3,
            "log_group": ["/app/ok", "/app/full", "/aws/lambda/logzio-xacct-shipper"],
            "ships": [True, False, False],
        }
    ).to_csv(tmp_path / "log-groups.csv", index=False)
    pd.DataFrame(
        {
            "severity": ["warning"],
            "check": ["slots-full"],
            "account_id": ["222222222222"],
            "region": ["us-east-1"],
            "resource": ["/app/full"],
            "finding": ["not shipping: all 2 subscription filter slots are taken"],
            "fix": ["ask the owners to free a slot"],
        }
    ).to_csv(tmp_path / "findings.csv", index=False)
    config = load_config(write(tmp_path))
    assert unshipped_lines(tmp_path, config) == [
        "  not subscribed: 222222222222/us-east-1 /app/full: not shipping: all 2 subscription "
        "filter slots are taken (slots-full)",
        "  not subscribed: 222222222222/us-east-1 /aws/lambda/logzio-xacct-shipper: the "
        "pipeline's own log group, never subscribed (every line shipped would log more)",
    ]
