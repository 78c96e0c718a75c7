"""Config parsing: the happy path, normalisation, and every rejection path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from shipper_lambda import config
from xaccount_ops.config import TokenRef, filter_name, load_config, parse_config
from xaccount_ops.errors import ConfigError, TokenError
from xaccount_ops.landing.templates import main_parameters

VALID = """
[landing]
account_id = "111111111111"
region = "us-east-1"

[senders]
accounts = ["222222222222", "333333333333"]
regions = ["us-east-1", "eu-west-1"]

[logzio]
region = "eu"
shipping_token = { env = "TEST_SHIPPING_TOKEN" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "xaccount-ops.toml"
    path.write_text(text)
    return path


def test_valid_config_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, VALID))
    assert cfg.landing.account_id == "111111111111"
    assert cfg.landing.stack_name == "logzio-xacct"
    assert cfg.senders.accounts == ("222222222222", "333333333333")
    assert cfg.senders.regions == ("us-east-1", "eu-west-1")
    assert cfg.senders.role_name == "OrganizationAccountAccessRole"
    assert cfg.logzio.region == "eu"
    assert cfg.logzio.shipping_token == TokenRef("env", "TEST_SHIPPING_TOKEN")
    assert cfg.subscriptions.include == ("*",)
    assert not cfg.is_local


def test_config_found_through_environment_variable(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, VALID)
    monkeypatch.setenv("XACCOUNT_OPS_CONFIG", str(path))
    assert load_config().path == path.resolve()


def test_missing_config_says_where_it_looked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XACCOUNT_OPS_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="no config file at xaccount-ops.toml.*local up"):
        load_config()


@pytest.mark.parametrize(
    ("accounts", "expected"),
    [
        (
            '"\\"222222222222\\",\\"333333333333\\""',
            ("222222222222", "333333333333"),
        ),  # seed's quoted form
        ('"222222222222,333333333333"', ("222222222222", "333333333333")),
        (
            '["arn:aws:logs:*:222222222222:*", "222222222222"]',
            ("222222222222",),
        ),  # seed ARNs, de-duplicated
    ],
)
def test_account_list_forms_are_normalised(tmp_path: Path, accounts: str, expected: tuple) -> None:
    text = VALID.replace('accounts = ["222222222222", "333333333333"]', f"accounts = {accounts}")
    assert load_config(write(tmp_path, text)).senders.accounts == expected


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            '"333333333333"]',
            '"33333333333"]',
            r"senders.accounts\[1\]: '33333333333' is not a 12-digit AWS account id \(it has 11 digits\)",
        ),
        (
            '"333333333333"]',
            '"33333333333x"]',
            r"senders.accounts\[1\]: '33333333333x' is not a 12-digit .*digits only",
        ),
        (
            '"333333333333"]',
            "33333333333]",
            r"senders.accounts\[1\]: 33333333333 is not a 12-digit .*quoted strings",
        ),
        (
            '"eu-west-1"]',
            '"us-east-9"]',
            r"senders.regions\[1\]: 'us-east-9' is not an AWS region; did you mean us-east-1 or us-east-2\?$",
        ),
        (
            'region = "eu"',
            'region = "de"',
            r"logzio.region: 'de' is not a Logz.io region code; use one of us, au, ca, eu, uk, nl, wa",
        ),
        (
            'region = "us-east-1"',
            'region = "mars-1"',
            r"landing.region: 'mars-1' is not an AWS region",
        ),
        (
            "[logzio]",
            '[logzio]\nlistener_url = "listener.logz.io"',
            r"logzio.listener_url: 'listener.logz.io' is not a URL",
        ),
        ("[logzio]", "[logzio]\ncolour = 1", r"logzio.colour: unknown key; expected one of"),
        (
            "[senders]",
            '[senders]\norganization = "yes"',
            r"senders.organization: expected true or false, got 'yes'",
        ),
        ('regions = ["us-east-1", "eu-west-1"]', "", r"senders.regions: required"),
    ],
)
def test_bad_values_are_named_with_what_is_accepted(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, VALID.replace(old, new, 1)))


def test_token_literal_is_rejected_without_echoing_it(tmp_path: Path) -> None:
    secret = "pQzXkWbYvTrLmNoPqRsTuVwXyZaBcDeF"
    text = VALID.replace('{ env = "TEST_SHIPPING_TOKEN" }', f'"{secret}"')
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert "logzio.shipping_token: a token literal is not allowed" in str(caught.value)
    assert "{ env = " in str(caught.value)
    assert secret not in str(caught.value)


def test_token_in_listener_url_is_rejected(tmp_path: Path) -> None:
    text = VALID.replace(
        "[logzio]", '[logzio]\nlistener_url = "https://listener.logz.io:8071/?token=abc"'
    )
    with pytest.raises(ConfigError, match="a token in the URL is not allowed") as caught:
        load_config(write(tmp_path, text))
    assert "token=abc" not in str(caught.value)


def test_token_parameter_literal_is_rejected(tmp_path: Path) -> None:
    text = VALID + '\n[stack.parameters]\nLogzioTOKEN = "sometoken"\n'
    with pytest.raises(
        ConfigError, match="stack.parameters.LogzioTOKEN: a token literal"
    ) as caught:
        load_config(write(tmp_path, text))
    assert "sometoken" not in str(caught.value)


def test_sending_accounts_parameter_in_seed_quoted_form_is_normalised(tmp_path: Path) -> None:
    text = VALID + '\n[stack.parameters]\nSendingAccounts = \'"222222222222","333333333333"\'\n'
    cfg = load_config(write(tmp_path, text))
    assert cfg.stack.parameters["SendingAccounts"] == "222222222222,333333333333"


def test_organization_mode_needs_no_account_list(tmp_path: Path) -> None:
    text = VALID.replace(
        'accounts = ["222222222222", "333333333333"]',
        'organization = true\nexclude = ["444444444444"]',
    )
    cfg = load_config(write(tmp_path, text))
    assert cfg.senders.organization and cfg.senders.exclude == ("444444444444",)


def test_no_senders_at_all_is_rejected(tmp_path: Path) -> None:
    text = VALID.replace('accounts = ["222222222222", "333333333333"]', "")
    with pytest.raises(
        ConfigError, match="list the sending accounts .* or set organization = true"
    ):
        load_config(write(tmp_path, text))


def test_bad_regex_pattern_is_rejected(tmp_path: Path) -> None:
    text = VALID + '\n[subscriptions]\ninclude = ["re:^/aws/(lambda"]\n'
    with pytest.raises(
        ConfigError, match=r"subscriptions.include\[0\]: 're:\^/aws/\(lambda' is not a valid regex"
    ):
        load_config(write(tmp_path, text))


def test_env_token_resolves_and_missing_env_names_the_variable(monkeypatch) -> None:
    ref = TokenRef("env", "TEST_SHIPPING_TOKEN")
    monkeypatch.setenv("TEST_SHIPPING_TOKEN", "tok-123")
    assert ref.resolve() == "tok-123"
    monkeypatch.delenv("TEST_SHIPPING_TOKEN")
    with pytest.raises(TokenError, match="environment variable TEST_SHIPPING_TOKEN is not set"):
        ref.resolve()


def test_file_token_must_be_private(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token-value\n")
    os.chmod(token_file, 0o644)
    ref = TokenRef("file", "token", base_dir=tmp_path)
    with pytest.raises(TokenError, match="readable by other users; run chmod 600") as caught:
        ref.resolve()
    assert "file-token-value" not in str(caught.value)
    os.chmod(token_file, 0o600)
    assert ref.resolve() == "file-token-value"


def test_token_ref_repr_never_holds_a_token() -> None:
    assert str(TokenRef("secret", "logzio/shipping")) == "secret:logzio/shipping"


def test_filter_name_contract() -> None:
    assert filter_name("eu-west-1") == "logzio-xacct-eu-west-1"


def test_parse_config_requires_tables() -> None:
    with pytest.raises(ConfigError, match=r"landing: the \[landing\] table is required"):
        parse_config({})


ROUTES = """
[[logzio.routes]]
name = "security"
log_groups = ["/aws/lambda/sec-*", "re:^/audit/"]
token = { secret = "arn:aws:secretsmanager:us-east-1:111111111111:secret:sec-token" }

[[logzio.routes]]
accounts = ["333333333333"]
token = { ssm = "/logzio/dev" }
"""


def test_routes_load_match_in_order_and_become_shipper_routes(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, VALID + ROUTES))
    security, dev = cfg.logzio.routes
    assert (security.name, dev.name) == ("security", "route-2")
    assert cfg.logzio.route_for("333333333333", "/aws/lambda/sec-x") is security  # first wins
    assert cfg.logzio.route_for("333333333333", "/ecs/web") is dev
    assert cfg.logzio.route_for("222222222222", "/ecs/web") is None
    entry = security.shipper_entry()
    assert entry["token_secret"].endswith(":secret:sec-token")
    assert entry["log_groups"][1] == "^/audit/"
    import re

    assert re.search(entry["log_groups"][0], "/aws/lambda/sec-audit")
    assert not re.search(entry["log_groups"][0], "/x/aws/lambda/sec-audit")
    assert dev.shipper_entry() == {
        "name": "route-2",
        "accounts": ["333333333333"],
        "token_ssm": "/logzio/dev",
    }


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ('name = "x"\naccounts = ["333333333333"]', r"logzio.routes\[0\].token: required"),
        ('accounts = ["333333333333"]\ntoken = "literal"', "token literal is not allowed"),
        ('accounts = ["333333333333"]\ntoken = { file = "t" }', "a file cannot reach the shipper"),
        ('token = { env = "T" }', "needs accounts, log_groups or both"),
        ('accounts = ["33333333333"]\ntoken = { env = "T" }', "12-digit"),
        ('log_groups = ["re:("]\ntoken = { env = "T" }', "not a valid regular expression"),
        ('acounts = ["333333333333"]\ntoken = { env = "T" }', "unknown key"),
    ],
)
def test_bad_routes_name_the_key(tmp_path: Path, route: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, VALID + "\n[[logzio.routes]]\n" + route + "\n"))


def test_type_map_and_additional_fields_are_checked_by_the_shippers_rules(tmp_path: Path) -> None:
    """logzio.type_map reaches the stack as LogzioTypeMap (JSON) and the function as
    LOGZIO_TYPE_MAP; a value the shipper would refuse is refused here, naming the key."""
    text = VALID + '[logzio.type_map]\n"/ecs/orders" = "orders"\n"re:^/aws/lambda/prod-" = "prod"\n'
    cfg = load_config(write(tmp_path, text))
    assert dict(cfg.logzio.type_map) == {"/ecs/orders": "orders", "re:^/aws/lambda/prod-": "prod"}
    values = main_parameters(
        SimpleNamespace(config=cfg), bucket="b", key="k", token={}, accounts={}
    )
    assert json.loads(values["LogzioTypeMap"]) == dict(cfg.logzio.type_map)
    assert config.load({"LOGZIO_TOKEN": "t", "LOGZIO_TYPE_MAP": values["LogzioTypeMap"]}).type_map
    bad_regex = VALID + '[logzio.type_map]\n"re:(" = "x"\n'
    with pytest.raises(ConfigError, match=r"logzio.type_map: rule 're:\(' is not a valid regex"):
        load_config(write(tmp_path, bad_regex))
    for key in ("message", "region", "messageType"):
        text = VALID + f'[logzio.additional_fields]\n{key} = "x"\nenv = "prod"\n'
        with pytest.raises(ConfigError, match=f"logzio.additional_fields may not set {key}:"):
            load_config(write(tmp_path, text))
