"""``accounts add/remove`` as a user runs them (issue 26, item 1): ids checked against the
organization, the config kept in step with the stacks, and what a removed account left behind.

On the in-process moto server with the project's extension; the organization is moto's.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import boto3
import pytest

from xaccount_ops import aws
from xaccount_ops.cli import main
from xaccount_ops.config import filter_name, load_config
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.local import seed

_names = itertools.count(1)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as done:
        code = int(done.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def org_config(stacks_endpoint: str, tmp_path: Path, monkeypatch) -> tuple[Path, list[str]]:
    """A deployed pipeline for two of three organization accounts; the config lists those two."""
    monkeypatch.setenv("XACCOUNT_OPS_CACHE", str(tmp_path / "cache"))
    hub = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    organizations = aws.client(hub, "organizations", "us-east-1", endpoint_url=stacks_endpoint)
    _, _, senders, _ = seed.create_organization(organizations, 3)
    token = tmp_path / "token"
    token.write_text("accounts-ship-token\n")
    token.chmod(0o600)
    path = tmp_path / "xaccount-ops.toml"
    accounts = ", ".join(f'"{a}"' for a in senders[:2])
    path.write_text(
        f"""
[landing]
account_id = "123456789012"
region = "us-east-1"
stack_name = "xacct-acc{next(_names)}"

[senders]
accounts = [{accounts}]  # the two that ship today
regions = ["us-east-1"]

[logzio]
listener_url = "http://127.0.0.1:9"
shipping_token = {{ file = "{token}" }}

[aws]
endpoint_url = "{stacks_endpoint}"
max_attempts = 2
"""
    )
    code, _, err = cli_quiet(path, "deploy", "--no-speedups")
    assert code == 0, err
    return path, senders


def cli_quiet(path: Path, *args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(path), *args])
    return code, out.getvalue(), err.getvalue()


def test_add_refuses_an_id_outside_the_organization(org_config, capsys) -> None:
    path, _ = org_config
    code, out, err = cli(capsys, "--config", str(path), "accounts", "add", "999999999999")
    assert (code, out) == (2, "")
    assert "account 999999999999 is not an ACTIVE account of the organization" in err
    assert "--allow-outside-org" in err and "nothing was changed" in err


def test_add_and_remove_keep_the_config_in_step(org_config, capsys) -> None:
    path, senders = org_config
    new = senders[2]
    base = ["--config", str(path), "accounts"]

    code, out, err = cli(capsys, *base, "add", new, "--format", "json")
    assert code == 0, err
    assert {row["added"] for row in json.loads(out)} == {new}
    assert "the config still says senders.accounts = " in err
    assert f"`xaccount-ops accounts add {new} --write-config`" in err
    assert new not in load_config(path).senders.accounts  # said, not done

    code, _, err = cli(capsys, *base, "add", new, "--write-config", "--format", "json")
    assert code == 0, err
    assert "wrote senders.accounts = " in err
    assert load_config(path).senders.accounts == (*senders[:2], new)

    # A filter of ours in the new account, so the removal has something to leave behind.
    fleet = Fleet.from_config(load_config(path))
    destination = next(
        o["destination_arn"] for o in json.loads(cli_quiet(path, "outputs", "--format", "json")[1])
    )
    logs = fleet.client("logs", new, "us-east-1")
    logs.create_log_group(logGroupName="/day2/left-behind")
    logs.put_subscription_filter(
        logGroupName="/day2/left-behind",
        filterName=filter_name("us-east-1"),
        filterPattern="",
        destinationArn=destination,
    )

    code, out, err = cli(capsys, *base, "remove", new, "--write-config", "--format", "json")
    assert code == 0, err  # no TypeError
    # In-process moto's Lambda prints a Docker warning to stdout when a delivery reaches it.
    assert {row["removed"] for row in json.loads(out[out.index("[\n") :])} == {new}
    assert load_config(path).senders.accounts == tuple(senders[:2])
    assert "so `subscribe` covers them" not in err  # the advice for an add is gone
    assert f"account {new} still has 1 active subscription filter(s)" in err
    assert f"`xaccount-ops subscribe remove --account {new} --yes`" in err


def test_a_fresh_deploy_leaves_no_s3_test_event(org_config, capsys) -> None:
    """Issue 26, item 3: S3 puts an s3:TestEvent in the failure queue when the stack sets up
    the bucket notification; deploy deletes it, so health (and the alarm) see an empty queue."""
    path, _ = org_config
    fleet = Fleet.from_config(load_config(path))
    sqs = fleet.landing_client("sqs")
    url = sqs.get_queue_url(QueueName=f"{fleet.config.landing.stack_name}-shipper-failures")[
        "QueueUrl"
    ]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
    _, out, _ = cli(capsys, "--config", str(path), "health", "--metrics", "--format", "json")
    queue = next(
        r for r in json.loads(out[out.index("[\n") :]) if r["metric"] == "failure_queue_depth"
    )
    assert (queue["value"], queue["status"]) == (0, "ok")


def test_health_says_how_to_mend_a_config_the_stacks_disagree_with(org_config, capsys) -> None:
    from xaccount_ops.config import write_sender_list

    path, senders = org_config
    write_sender_list(path, "accounts", senders)  # the config lists a third, the stacks do not
    code, out, _ = cli(capsys, "--config", str(path), "health", "--metrics", "--format", "json")
    assert code == 1
    rows = json.loads(out[out.index("[\n") :])
    coverage = next(r for r in rows if r["metric"] == "policy_coverage")
    assert coverage["status"] == "fail"
    assert f"`xaccount-ops accounts add {senders[2]}`" in coverage["detail"]
