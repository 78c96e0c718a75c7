"""Start-up stays light (issue 26, item 10): `--help` of any command and a command's own start
(arguments, config, output checks) import no pandas, numpy, boto3, moto or requests; those load
where they are used. A command then runs up to its first AWS (or Logz.io) call without pandas,
numpy or moto: pandas loads where the first frame is built (xaccount_ops/frames.py). Checked on
the import graph in a fresh interpreter, not timed (the numbers are in bench/startup_bench.py)."""

from __future__ import annotations

import json
import os
import socket
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


# What a command needs before it sends anything: these load boto3 (the first call needs it),
# never pandas (nor numpy, which comes with it) or moto.
FRAME_FREE = ("pandas", "numpy", "pyarrow", "moto")
COMMAND_MODULES = (
    "xaccount_ops.cli.verify_cmd",
    "xaccount_ops.cli.inventory_cmd",
    "xaccount_ops.cli.subscribe_cmd",
    "xaccount_ops.cli.replay_cmd",
    "xaccount_ops.cli.stacks_cmd",
    "xaccount_ops.fleet",
    "xaccount_ops.fleet.audit",
    "xaccount_ops.fleet.estimate",
    "xaccount_ops.verify",
    "xaccount_ops.verify.health",
    "xaccount_ops.verify.verdicts",
    "xaccount_ops.verify.reconcile",
    "xaccount_ops.verify.duplicates",
    "xaccount_ops.verify.heartbeats",
    "xaccount_ops.subscriptions",
    "xaccount_ops.delivery.replay",
    "xaccount_ops.landing",
    "xaccount_ops.lab.views",  # the CLI's table layouts
)

IMPORT_ONLY = """
import importlib, json, sys
for name in MODULES:
    importlib.import_module(name)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))))
"""

# Runs the command (against endpoints that refuse connections) up to its first request, botocore's
# or requests', and prints the modules loaded by then: the command's own start. It stops there.
UP_TO_FIRST_CALL = """
import json, os, sys
import botocore.httpsession
import requests.adapters

def first_call(self, request, *args, **kwargs):
    print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))), flush=True)
    os._exit(0)

botocore.httpsession.URLLib3Session.send = first_call
requests.adapters.HTTPAdapter.send = first_call
from xaccount_ops.cli import main

main(["--config", CONFIG, *ARGV])
print(json.dumps("ended without a call"))
"""

REFUSED_CONFIG = """
[landing]
account_id = "111111111111"
region = "us-east-1"

[senders]
accounts = ["222222222222"]
regions = ["us-east-1"]

[logzio]
shipping_token = {{ env = "UNUSED_HERE" }}
api_token = {{ env = "UNUSED_HERE" }}
api_url = "http://127.0.0.1:{port}"
listener_url = "http://127.0.0.1:{port}"

[aws]
endpoint_url = "http://127.0.0.1:{port}"
"""


def refused_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_modules_a_command_needs_import_no_pandas() -> None:
    code = f"MODULES = {COMMAND_MODULES!r}\n{IMPORT_ONLY}"
    found = loaded(code.replace("set(HEAVY)", f"set({FRAME_FREE!r})"))
    assert found == [], f"imported at module level (import them where frames are built): {found}"


COMMANDS = (
    ["verify"],
    ["verify", "--reconcile"],
    ["verify", "--duplicates"],
    ["verify", "--heartbeats"],
    ["health"],
    ["health", "--metrics"],
    ["audit"],
    ["inventory"],
    ["subscribe", "plan"],
    ["replay", "--dry-run"],
)


def test_every_command_reaches_its_first_call_without_pandas(tmp_path: Path) -> None:
    config = tmp_path / "xaccount-ops.toml"
    config.write_text(REFUSED_CONFIG.format(port=refused_port()))
    env = {**os.environ, "UNUSED_HERE": "x", "XACCOUNT_OPS_CACHE": str(tmp_path)}
    runs = {}
    for argv in COMMANDS:  # started together, then read: the machine's cores work in parallel
        code = UP_TO_FIRST_CALL.replace("CONFIG", repr(str(config))).replace("ARGV", repr(argv))
        code = f"HEAVY = {FRAME_FREE!r}\n{code}"
        runs[" ".join(argv)] = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
    found = {}
    for name, run in runs.items():
        out, err = run.communicate(timeout=180)
        lines = out.strip().splitlines()
        assert lines, f"{name}: no output (exit {run.returncode}): {err[-2000:]}"
        found[name] = json.loads(lines[-1])
    assert found == {name: [] for name in runs}, f"loaded before the first call: {found}"


# The config checks (regions, partitions), the hub session and its first clients each used to
# parse botocore's endpoint data (a megabyte of JSON) in their own botocore session.
PARSED_ONCE = """
import json
from collections import Counter
import botocore.loaders

parsed = Counter()
load_file = botocore.loaders.JSONFileLoader.load_file

def counting(self, path, *args, **kwargs):
    found = load_file(self, path, *args, **kwargs)
    if found is not None:
        parsed[path.rsplit("/data/", 1)[-1]] += 1
    return found

botocore.loaders.JSONFileLoader.load_file = counting
from xaccount_ops import aws
from xaccount_ops.config import load_config
from xaccount_ops.fleet.accounts import Fleet

fleet = Fleet.from_config(load_config(CONFIG))
for session in (fleet.hub_session, aws.session(), aws.session()):  # as for profiles, roles
    for service in ("sts", "logs", "cloudwatch"):
        aws.client(session, service, "us-east-1", endpoint_url=fleet.config.aws.endpoint_url)
print(json.dumps(parsed))
"""


def test_botocore_data_is_parsed_once_per_run(tmp_path: Path) -> None:
    config = tmp_path / "xaccount-ops.toml"
    config.write_text(REFUSED_CONFIG.format(port=refused_port()))
    code = PARSED_ONCE.replace("CONFIG", repr(str(config)))
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "UNUSED_HERE": "x"},
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    assert parsed["endpoints"] == 1, parsed
    assert {name: n for name, n in parsed.items() if n > 1} == {}


def test_the_cli_copy_of_the_audit_severities_matches() -> None:
    from xaccount_ops.cli.inventory_cmd import SEVERITIES
    from xaccount_ops.fleet.audit import SEVERITIES as AUDIT_SEVERITIES

    assert SEVERITIES == AUDIT_SEVERITIES
