"""Start-up stays light (issue 26, item 10): `--help` of any command and a command's own start
(arguments, config, output checks) import no pandas, numpy, boto3, moto or requests; those load
where they are used. Checked on the import graph in a fresh interpreter, not timed (the
numbers are in bench/startup_bench.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "numpy", "boto3", "moto", "requests", "matplotlib", "ipywidgets")

HELP_EVERY_COMMAND = """
import argparse, json, sys
from xaccount_ops.cli import build_parser

def helps(parser):
    parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                helps(sub)

helps(build_parser())
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)))
"""

COMMAND_START = """
import json, sys
from xaccount_ops.cli import build_parser
from xaccount_ops.cli.context import Context, check_output_arguments

args = build_parser().parse_args(["--config", CONFIG, *ARGV])
check_output_arguments(args)
Context(args).config  # the config read and validated: all a command does before AWS
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)))
"""

CONFIG_TEXT = """
[landing]
account_id = "111111111111"
region = "us-east-1"

[senders]
accounts = ["222222222222"]
regions = ["us-east-1", "eu-west-1"]

[logzio]
shipping_token = { env = "UNUSED_HERE" }
"""


def loaded(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{code}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_of_every_command_imports_nothing_heavy() -> None:
    assert loaded(HELP_EVERY_COMMAND) == []


def test_a_command_reads_its_config_before_anything_heavy_loads(tmp_path: Path) -> None:
    config = tmp_path / "xaccount-ops.toml"
    config.write_text(CONFIG_TEXT)
    for argv in (
        ["verify", "--reconcile", "-o", str(tmp_path / "r.json")],
        ["audit", "--format", "csv"],
        ["subscribe", "plan"],
        ["deploy", "--dry-run"],
    ):
        code = COMMAND_START.replace("CONFIG", repr(str(config))).replace("ARGV", repr(argv))
        assert loaded(code) == [], argv


def test_the_cli_copy_of_the_audit_severities_matches() -> None:
    from xaccount_ops.cli.inventory_cmd import SEVERITIES
    from xaccount_ops.fleet.audit import SEVERITIES as AUDIT_SEVERITIES

    assert SEVERITIES == AUDIT_SEVERITIES
