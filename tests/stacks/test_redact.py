"""Token hygiene in the toolkit's logs: at ``-vv`` botocore logs request parameters and response
bodies, NoEcho parameters included (NoEcho only masks them in CloudFormation's own answers)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml

from tests import configs
from xaccount_ops import redact

from .conftest import LANDING, SENDERS

REPO = Path(__file__).resolve().parents[2]
TOKEN = "vv-ship-token-5be1c0ffee42"


def test_deploy_at_vv_shows_no_token_or_noecho_value(stacks_endpoint: str, tmp_path: Path):
    """A real CLI process (so its logging is its own, not pytest's) deploys against the moto
    server with our extensions; botocore's debug output must carry the parameter, masked.
    AWS fact: NoEcho masks the value with asterisks in calls that describe the stack, not in the
    request that sets it, which botocore logs."""
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    tables = configs.base_tables(
        endpoint=stacks_endpoint,
        landing=LANDING,
        accounts=SENDERS[:1],
        stack_name=f"xacct-vv{os.getpid() % 10000}",
        shipping_token={"file": str(token)},
    )
    more = {"logzio": {"region": "us", "listener_url": "http://127.0.0.1:9"}}
    config = configs.write_config(tmp_path, tables, more)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "XACCOUNT_OPS_CACHE": str(tmp_path / "cache"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    argv = ["--config", str(config), "-vv", "deploy", "--no-speedups", "--format", "json"]
    run = subprocess.run(
        [sys.executable, "-m", "xaccount_ops", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "DEBUG botocore" in run.stderr  # the debug logs really ran
    assert "ParameterValue': '***'" in run.stderr  # and carried the parameter, masked
    assert TOKEN not in run.stderr
    assert TOKEN not in run.stdout
    # and, as in AWS, describing the stack shows the NoEcho value as asterisks
    cfn = boto3.client(
        "cloudformation",
        endpoint_url=stacks_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    (stack,) = cfn.describe_stacks(StackName=f"xacct-vv{os.getpid() % 10000}")["Stacks"]
    values = {p["ParameterKey"]: p.get("ParameterValue") for p in stack["Parameters"]}
    assert values["LogzioTOKEN"] == "****"
    assert values["LogzioREGION"] == "us"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (
            "{'Parameters.member.7.ParameterKey': 'LogzioTOKEN', "
            "'Parameters.member.7.ParameterValue': 'S3CR'}",
            "S3CR",
        ),
        ('[{"ParameterKey": "LogzioTOKEN", "ParameterValue": "S3CR"}]', "S3CR"),
        ("<ParameterKey>LogzioTOKEN</ParameterKey><ParameterValue>S3CR</ParameterValue>", "S3CR"),
        (
            "Parameters.member.1.ParameterKey=LogzioTOKEN&Parameters.member.1.ParameterValue=S3CR",
            "S3CR",
        ),
        ('{"Variables": {"LOGZIO_TOKEN": "S3CR", "LOGZIO_TYPE": "x"}}', "S3CR"),
        ('{"SecretString": "S3CR"}', "S3CR"),
        ('{"Parameter": {"Type": "SecureString", "Value": "S3CR"}}', "S3CR"),
        ("{'X-API-TOKEN': 'S3CR'}", "S3CR"),
        ("POST /?token=S3CR&type=x", "S3CR"),
    ],
)
def test_scrub_masks_every_shape_botocore_logs(text: str, secret: str) -> None:
    masked = redact.scrub(text)
    assert secret not in masked
    assert redact.MASK in masked


def test_scrub_keeps_other_parameters_and_registered_tokens_go_everywhere() -> None:
    text = (
        "{'Parameters.member.1.ParameterKey': 'LogzioTOKEN', "
        "'Parameters.member.1.UsePreviousValue': 'true', "
        "'Parameters.member.2.ParameterKey': 'LogzioTYPE', "
        "'Parameters.member.2.ParameterValue': 'kept'}"
    )
    assert redact.scrub(text) == text  # no value to hide; LogzioTYPE's is not secret
    redact.register("free-text-secret-77")
    assert redact.scrub("said free-text-secret-77 twice: free-text-secret-77") == (
        "said *** twice: ***"
    )


def test_filter_masks_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    redact.register("arg-secret-1234")
    caplog.handler.addFilter(redact.RedactFilter())
    log = logging.getLogger("botocore.endpoint")
    with caplog.at_level(logging.DEBUG, logger="botocore.endpoint"):
        log.debug("params %s", {"SecretString": "arg-secret-1234"})
        try:
            raise RuntimeError("arg-secret-1234")
        except RuntimeError:
            log.exception("failed")
    text = caplog.text
    assert "arg-secret-1234" not in text
    assert "RuntimeError: ***" in text


def test_every_noecho_parameter_of_the_templates_is_masked() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    noecho = {
        name
        for path in sorted((REPO / "cfn").glob("*.yaml"))
        for name, spec in (
            yaml.load(path.read_text(), Loader=Loader).get("Parameters") or {}
        ).items()
        if str(spec.get("NoEcho", "")).lower() == "true"
    }
    assert noecho  # the templates do have NoEcho parameters
    assert noecho <= set(redact.NOECHO_PARAMETERS)
