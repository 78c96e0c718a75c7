"""logzio.request_timeout_s: the shipper's request deadline, from the config to the stack
parameter LogzioRequestTimeoutSeconds and the function's LOGZIO_TIMEOUT_SECONDS."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from cfnlint.decode import decode_str

from shipper_lambda import config as shipper_config
from xaccount_ops.config import (
    DEFAULT_REQUEST_TIMEOUT_S,
    REQUEST_TIMEOUT_PARAMETER,
    REQUEST_TIMEOUT_RANGE_S,
    load_config,
)
from xaccount_ops.delivery import reship
from xaccount_ops.errors import ConfigError
from xaccount_ops.landing.templates import main_parameters

CFN = Path(__file__).resolve().parents[2] / "cfn"
VALID = """
[landing]
account_id = "111111111111"
region = "us-east-1"

[senders]
accounts = ["222222222222"]
regions = ["us-east-1"]

[logzio]
region = "eu"
shipping_token = { env = "TEST_SHIPPING_TOKEN" }
"""


def load(tmp_path: Path, extra: str = "") -> SimpleNamespace:
    path = tmp_path / "xaccount-ops.toml"
    path.write_text(VALID + extra)
    return SimpleNamespace(config=load_config(path))


def test_default_and_range_are_the_templates() -> None:
    template, errors = decode_str((CFN / "main.yaml").read_text())
    assert not errors
    parameter = template["Parameters"][REQUEST_TIMEOUT_PARAMETER]
    assert parameter["Default"] == DEFAULT_REQUEST_TIMEOUT_S
    assert (parameter["MinValue"], parameter["MaxValue"]) == REQUEST_TIMEOUT_RANGE_S


def test_without_the_key_the_stack_gets_the_default(tmp_path: Path) -> None:
    """Always passed, so taking the key out of the config returns a deployed stack to 15 s."""
    fleet = load(tmp_path)
    assert fleet.config.logzio.request_timeout_s == 15
    values = main_parameters(fleet, bucket="b", key="k", token={}, accounts={})
    assert values[REQUEST_TIMEOUT_PARAMETER] == "15"


@pytest.mark.parametrize(
    ("written", "passed", "seconds"), [("30", "30", 30.0), ("2.5", "2.5", 2.5)]
)
def test_the_timeout_reaches_the_stack_and_the_shipper(
    tmp_path: Path, written: str, passed: str, seconds: float
) -> None:
    fleet = load(tmp_path, f"request_timeout_s = {written}\n")
    values = main_parameters(fleet, bucket="b", key="k", token={}, accounts={})
    assert values[REQUEST_TIMEOUT_PARAMETER] == passed
    # The function reads the parameter as LOGZIO_TIMEOUT_SECONDS; replay without a deployed
    # function ships with the config's settings (reship.config_environment).
    env = reship.config_environment(fleet)
    assert env["LOGZIO_TIMEOUT_SECONDS"] == passed
    assert shipper_config.load({"LOGZIO_TOKEN": "t", **env}).timeout_s == seconds


@pytest.mark.parametrize("value", ["0", "0.5", "301", "-15", '"15"', "true", "[15]"])
def test_a_bad_timeout_names_the_key_the_value_and_the_range(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"request_timeout_s = {value}\n")
    message = str(caught.value)
    assert message.startswith("logzio.request_timeout_s: ")
    assert "from 1 to 300" in message and REQUEST_TIMEOUT_PARAMETER in message
    shown = {"true": "True", "[15]": "[15]", '"15"': "'15'"}.get(value, value)
    assert f"{shown} is not a number of seconds" in message


def test_a_misspelt_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="request_timeout"):
        load(tmp_path, "request_timeout = 30\n")
