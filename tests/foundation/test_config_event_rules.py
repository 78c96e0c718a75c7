"""[[logzio.redact]], [[logzio.drop]], [[logzio.keep]], [[logzio.multiline]]: checked by the
shipper's own parser (a rule that does not compile is a config error naming it), and what the
stack and the function get from them."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from cfnlint.decode import decode_str

from shipper_lambda import config as shipper_config
from xaccount_ops.config import load_config
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
RULES = """
[[logzio.redact]]
builtin = "email"

[[logzio.redact]]
name = "password"
pattern = 'password=\\S+'
replacement = "password=***"
log_groups = ["^/aws/lambda/"]
fields = ["msg"]

[[logzio.drop]]
pattern = "^(START|END|REPORT) RequestId"

[[logzio.keep]]
pattern = 'ERROR|WARN'
log_groups = "^/ecs/noisy"

[[logzio.multiline]]
log_groups = "^/ecs/java"
start = '^\\d{4}-\\d{2}-\\d{2} '
max_lines = 200
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "xaccount-ops.toml"
    path.write_text(text)
    return path


def test_rules_reach_the_shipper_as_it_parses_them(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, VALID + RULES))
    lz = cfg.logzio
    assert [r.get("name", r.get("builtin")) for r in lz.redact] == ["email", "password"]
    env = lz.rules_environment()
    assert set(env) == {
        "LOGZIO_REDACT",
        "LOGZIO_DROP_EVENTS",
        "LOGZIO_KEEP_EVENTS",
        "LOGZIO_MULTILINE",
    }
    rules = shipper_config.load({"LOGZIO_TOKEN": "t", **env}).rules
    assert rules is not None
    assert [r.name for r in rules.redact] == ["email", "password"]
    assert rules.redact[1].fields == (("msg",),) and rules.redact[1].replacement == "password=***"
    assert rules.multiline[0].max_lines == 200 and len(rules.drop) == len(rules.keep) == 1
    params = lz.rules_parameters()
    assert json.loads(params["LogzioRedact"]) == json.loads(env["LOGZIO_REDACT"])
    assert json.loads(params["LogzioMultiline"])[0]["max_lines"] == 200


def test_deploy_and_replay_pass_the_rules(tmp_path: Path) -> None:
    """The main stack's parameters carry the rules (deploy), and replay/backfill without the
    function's environment use the config's (reship.config_environment)."""
    cfg = load_config(write(tmp_path, VALID + RULES))
    fleet = SimpleNamespace(config=cfg)
    values = main_parameters(fleet, bucket="b", key="k", token={}, accounts={})
    for name, variable in (
        ("LogzioRedact", "LOGZIO_REDACT"),
        ("LogzioDropEvents", "LOGZIO_DROP_EVENTS"),
        ("LogzioKeepEvents", "LOGZIO_KEEP_EVENTS"),
        ("LogzioMultiline", "LOGZIO_MULTILINE"),
    ):
        assert values[name] == cfg.logzio.rules_environment()[variable]
    env = reship.config_environment(fleet)
    assert env["LOGZIO_MULTILINE"] == values["LogzioMultiline"]
    plain = SimpleNamespace(config=load_config(write(tmp_path, VALID)))
    assert main_parameters(plain, bucket="b", key="k", token={}, accounts={})["LogzioRedact"] == ""


def test_no_rules_clear_the_parameters(tmp_path: Path) -> None:
    lz = load_config(write(tmp_path, VALID)).logzio
    assert lz.rules_environment() == {}
    assert lz.rules_parameters() == {
        "LogzioRedact": "",
        "LogzioDropEvents": "",
        "LogzioKeepEvents": "",
        "LogzioMultiline": "",
    }


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            '[[logzio.redact]]\nname = "pw"\npattern = "("\n',
            r"logzio.redact\[0\] \(pw\).pattern: '\(' is not a valid regex",
        ),
        ('[[logzio.redact]]\nbuiltin = "ssn"\n', r"logzio.redact\[0\]: builtin 'ssn' is not one"),
        (
            '[[logzio.drop]]\npattern = "ok"\n[[logzio.drop]]\npattern = "[a-"\n',
            r"logzio.drop\[1\] \(pattern2\).pattern: '\[a-' is not a valid regex",
        ),
        ('[[logzio.keep]]\npattern = "x"\nlog_groups = ["("]\n', r"logzio.keep\[0\] \(pattern1\)"),
        (
            '[[logzio.multiline]]\nstart = "^x"\nmax_bytes = 1\n',
            r"logzio.multiline\[0\] \(multiline1\).max_bytes must be an integer from 1000",
        ),
        ('redact = "email"\n', r"logzio.redact: expected \[\[logzio.redact\]\] tables"),
    ],
)
def test_a_bad_rule_is_a_config_error_naming_it(tmp_path: Path, rule: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, VALID + rule))


def test_the_stack_passes_each_rule_parameter_to_the_function() -> None:
    template, errors = decode_str((CFN / "main.yaml").read_text())
    assert not errors
    env = template["Resources"]["ShipperFunction"]["Properties"]["Environment"]["Variables"]
    for parameter, variable in (
        ("LogzioRedact", "LOGZIO_REDACT"),
        ("LogzioDropEvents", "LOGZIO_DROP_EVENTS"),
        ("LogzioKeepEvents", "LOGZIO_KEEP_EVENTS"),
        ("LogzioMultiline", "LOGZIO_MULTILINE"),
    ):
        assert template["Parameters"][parameter]["Default"] == ""
        condition, value, absent = env[variable]["Fn::If"]
        assert value == {"Ref": parameter} and absent == {"Ref": "AWS::NoValue"}
        assert template["Conditions"][condition] == {
            "Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]
        }
