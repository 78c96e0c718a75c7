"""``--format`` / ``-o FILE`` for every table command: format from the extension, plain JSON,
one way to show a missing value, errors that name the path (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests import configs
from xaccount_ops.cli import main
from xaccount_ops.cli.context import render

from .conftest import closed_port


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A list-mode config: ``accounts list`` only asks Organizations for names (refused here)."""
    tables = configs.base_tables(
        endpoint=f"http://127.0.0.1:{closed_port()}",  # account names: Organizations, refused
        accounts=("333333333333", "222222222222"),
        max_attempts=None,
    )
    return configs.write_config(tmp_path, tables)


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), "accounts", "list", *args])


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("out.csv", lambda p: pd.read_csv(p, dtype=str).account_id.tolist()),
        ("out.json", lambda p: [r["account_id"] for r in json.loads(p.read_text())]),
        ("out.parquet", lambda p: pd.read_parquet(p).account_id.tolist()),
        ("OUT.TXT", lambda p: [line.split()[0] for line in p.read_text().splitlines()[2:]]),
    ],
)
def test_the_extension_picks_the_format(config: Path, tmp_path: Path, name, check, capsys) -> None:
    path = tmp_path / name
    assert run(config, "-o", str(path)) == 0
    assert check(path) == ["222222222222", "333333333333"]
    assert capsys.readouterr().out == ""


def test_format_wins_over_the_extension(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    assert run(config, "-o", str(path), "--format", "json") == 0
    assert json.loads(path.read_text())[0]["account_id"] == "222222222222"


def test_unknown_extension_is_a_usage_error(config: Path, tmp_path: Path, capsys) -> None:
    assert run(config, "-o", str(tmp_path / "out.xlsx")) == 2
    err = capsys.readouterr().err
    assert "cannot tell the format from .xlsx" in err and "--format" in err


def test_unwritable_path_is_exit_2_naming_it(config: Path, capsys) -> None:
    assert run(config, "-o", "/nope/x.csv") == 2
    assert capsys.readouterr().err == (
        "xaccount-ops: -o /nope/x.csv: cannot write there: no folder /nope\n"
    )


def test_a_folder_is_not_a_file(config: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "x.json"
    target.mkdir()
    assert run(config, "-o", str(target)) == 2
    assert f"-o {target}: is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["/proc/no-such.csv", "/proc/no-such.parquet"])
def test_write_error_is_exit_2_naming_the_path(config: Path, name: str, capsys) -> None:
    """/proc takes no new files, not even from root (these tests may run as root)."""
    assert run(config, "-o", name) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"xaccount-ops: -o {name}: cannot write ") and "Traceback" not in err


def test_parquet_to_stdout_is_a_usage_error(config: Path, capsys) -> None:
    assert run(config, "--format", "parquet") == 2
    err = capsys.readouterr().err
    assert "--format parquet is binary: it needs -o FILE" in err
    assert "Traceback" not in err


def test_json_is_plain_rounded_and_missing_is_null() -> None:
    frame = pd.DataFrame(
        {
            "log_group": pd.Series(["/aws/lambda/é-fn", None], dtype="string"),
            "value": pd.Series([1489.9728298187256, None], dtype="Float64"),
            "plain": [0.1 + 0.2, float("nan")],
        }
    )
    text = render(frame, "json")
    assert '"/aws/lambda/é-fn"' in text and "\\/" not in text
    assert json.loads(text) == [
        {"log_group": "/aws/lambda/é-fn", "value": 1489.973, "plain": 0.3},
        {"log_group": None, "value": None, "plain": None},
    ]


def test_missing_values_look_the_same_in_every_column() -> None:
    frame = pd.DataFrame(
        {
            "text": pd.Series(["a", None], dtype="string"),
            "number": pd.Series([1.5, None], dtype="Float64"),
            "plain": [2.0, float("nan")],
            "obj": ["x", None],
        }
    )
    table = render(frame, "table").splitlines()
    assert table[-1].split() == ["-", "-", "-", "-"]
    assert "nan" not in "\n".join(table).lower() and "<NA>" not in "\n".join(table)
    assert render(frame, "csv").splitlines()[-1] == ",,,"


def test_two_frames_to_one_file_stay_one_document(tmp_path: Path) -> None:
    """deploy --stackset --dry-run emits the main stack's plan and the stack sets' plan."""
    import argparse

    from xaccount_ops.cli.context import Context

    path = tmp_path / "plan.json"
    args = argparse.Namespace(format=None, output=str(path), config=None)
    ctx = Context(args)
    ctx.emit(pd.DataFrame({"stack": ["main"], "action": ["Modify"]}))
    ctx.emit(pd.DataFrame({"stack_set": ["senders"], "action": ["Add"]}))
    assert json.loads(path.read_text()) == [
        {"stack": "main", "action": "Modify", "stack_set": None},
        {"stack": None, "action": "Add", "stack_set": "senders"},
    ]
