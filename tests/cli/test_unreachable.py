"""An endpoint that is not there (local cloud stopped, VPN down, wrong ``aws.endpoint_url``):
one line naming it and the likely cause, exit 2, no traceback, no retries, fan-outs stop."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from tests import configs
from xaccount_ops import aws
from xaccount_ops.errors import EndpointUnreachable
from xaccount_ops.fleet.accounts import Target, fan_out

from .conftest import closed_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def unreachable_config(tmp_path: Path) -> Path:
    tables = configs.base_tables(
        endpoint=f"http://127.0.0.1:{closed_port()}",
        accounts=[f"{n:012d}" for n in range(222222222222, 222222222222 + 20)],
        regions=("us-east-1", "eu-west-1"),
        max_attempts=None,
    )
    return configs.write_config(tmp_path, tables)


def run_cli(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "XACCOUNT_OPS_CACHE": str(config.parent)}
    env.pop("AWS_MAX_ATTEMPTS", None)  # the default budget (10): the one that used to hang
    return subprocess.run(
        [sys.executable, "-m", "xaccount_ops", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,  # generous on a loaded machine; before the fix audit ran past 180 s
        check=False,
    )


@pytest.mark.parametrize("command", [["outputs"], ["audit"]])
def test_cli_says_one_line_and_exits_2(unreachable_config: Path, command: list[str]) -> None:
    done = run_cli(*command, config=unreachable_config)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    (line,) = lines
    assert line.startswith("xaccount-ops: cannot reach http://127.0.0.1:")
    assert "(connection refused)" in line
    assert "is `xaccount-ops local up` running?" in line
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_vv_adds_the_traceback(unreachable_config: Path) -> None:
    done = run_cli("-vv", "outputs", config=unreachable_config)
    assert done.returncode == 2
    assert "Traceback" in done.stderr and "EndpointConnectionError" in done.stderr
    assert done.stderr.rstrip().endswith(
        "is `xaccount-ops local up` running? (or fix aws.endpoint_url in the config)"
    )


def test_a_refused_connection_is_tried_once() -> None:
    """botocore's standard/adaptive retries would try a failed connect max_attempts times."""
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x")
    client = aws.client(
        session,
        "logs",
        "us-east-1",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        config=aws.botocore_config(10),
    )
    sent: list[str] = []
    client.meta.events.register("before-send", lambda request, **_: sent.append(request.url))
    with pytest.raises(EndpointConnectionError):
        client.describe_log_groups()
    assert len(sent) == 1


def test_fan_out_stops_at_an_unreachable_endpoint() -> None:
    targets = [Target(f"{n:012d}", "us-east-1") for n in range(100)]
    called: list[Target] = []
    release = threading.Event()

    def work(target: Target) -> None:
        called.append(target)
        if target == targets[0]:
            raise EndpointConnectionError(endpoint_url="https://logs.us-east-1.amazonaws.com/")
        release.wait(30)  # the others are "slow": fan_out must not wait them out

    try:
        with pytest.raises(EndpointUnreachable) as caught:
            fan_out(work, targets, max_workers=2, progress=False)
        # Each worker holds one slow target at most: the rest were cancelled, never started.
        assert len(called) <= 3
    finally:
        release.set()
    assert str(caught.value) == (
        "cannot reach https://logs.us-east-1.amazonaws.com/ (cannot connect): check the network "
        "(VPN, proxy, DNS) and any endpoint_url/listener_url in the config"
    )


def test_other_target_errors_still_become_rows() -> None:
    targets = [Target("000000000001", "us-east-1"), Target("000000000002", "us-east-1")]

    def maybe(target: Target) -> str:
        if target.account_id.endswith("1"):
            raise RuntimeError("boom")
        return "ok"

    result = fan_out(maybe, targets, progress=False)
    assert list(result.values.values()) == ["ok"]
    assert list(result.errors.error_code) == ["RuntimeError"]


def test_host_name_not_found_is_said() -> None:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x")
    client = aws.client(
        session, "sts", "us-east-1", endpoint_url="http://no-such-host.invalid:4566"
    )
    with pytest.raises(EndpointConnectionError) as caught:
        client.get_caller_identity()
    down = aws.unreachable(caught.value)
    assert down is not None
    assert str(down).startswith(
        "cannot reach http://no-such-host.invalid:4566/ (host name not found)"
    )
