"""The fleet against a moto server over HTTP: lists, profiles, Organizations, assume-role, errors."""

from __future__ import annotations

import contextlib
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from tests import configs
from xaccount_ops.config import load_config
from xaccount_ops.fleet.accounts import Fleet, Target, fan_out

ACCOUNTS = ("222222222222", "333333333333", "444444444444")


def config(tmp_path: Path, endpoint: str, senders: str, extra: str = "") -> Path:
    tables = configs.base_tables(
        endpoint=endpoint, regions=("us-east-1", "eu-west-1"), max_attempts=None
    )
    tables["senders"] = configs.merge({"senders": {}}, "[senders]\n" + senders)["senders"]
    tables["senders"]["regions"] = ["us-east-1", "eu-west-1"]
    return configs.write_config(tmp_path, tables, extra)


def test_list_fleet_assumes_role_into_each_account(tmp_path: Path, moto_endpoint: str) -> None:
    accounts = ", ".join(f'"{a}"' for a in ACCOUNTS)
    fleet = Fleet.from_config(
        load_config(config(tmp_path, moto_endpoint, f"accounts = [{accounts}]"))
    )
    assert [(t.account_id, t.region) for t in fleet.targets] == [
        (a, r) for a in ACCOUNTS for r in ("us-east-1", "eu-west-1")
    ]
    result = fan_out(
        lambda t: fleet.client("sts", t.account_id, t.region).get_caller_identity()["Account"],
        fleet.targets,
        max_workers=4,
    )
    assert result.ok
    assert {t.account_id: v for t, v in result.values.items()} == {a: a for a in ACCOUNTS}
    assert fleet.landing_client("sts").get_caller_identity()["Account"] == "111111111111"


def test_excluded_accounts_are_dropped(tmp_path: Path, moto_endpoint: str) -> None:
    accounts = ", ".join(f'"{a}"' for a in ACCOUNTS)
    path = config(tmp_path, moto_endpoint, f'accounts = [{accounts}]\nexclude = ["333333333333"]')
    assert Fleet.from_config(load_config(path)).accounts == ("222222222222", "444444444444")


def test_organization_fleet_discovers_active_accounts(tmp_path: Path, moto_endpoint: str) -> None:
    hub = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    org = hub.client("organizations", region_name="us-east-1", endpoint_url=moto_endpoint)
    with contextlib.suppress(org.exceptions.AlreadyInOrganizationException):
        org.create_organization(FeatureSet="ALL")
    created = [
        org.create_account(Email=f"fleet{i}@example.com", AccountName=f"fleet-{i}")[
            "CreateAccountStatus"
        ]["AccountId"]
        for i in range(2)
    ]
    path = config(tmp_path, moto_endpoint, f'organization = true\nexclude = ["{created[1]}"]')
    fleet = Fleet.from_config(load_config(path))
    assert created[0] in fleet.accounts
    assert created[1] not in fleet.accounts
    assert "123456789012" in fleet.accounts  # the management account is a member too
    target = next(t for t in fleet.targets if t.account_id == created[0])
    assert target.account_name == "fleet-0"
    identity = fleet.client("sts", created[0], "eu-west-1").get_caller_identity()
    assert identity["Account"] == created[0]


def test_profile_is_used_for_listed_account(
    tmp_path: Path, moto_endpoint: str, monkeypatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[ops]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = x\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing-config"))
    path = config(
        tmp_path,
        moto_endpoint,
        'accounts = ["222222222222"]\nprofiles = { "222222222222" = "ops" }',
    )
    fleet = Fleet.from_config(load_config(path))
    session = fleet.session("222222222222")
    assert session.profile_name == "ops"
    assert session.get_credentials().access_key == "AKIAPROFILE"


def test_per_target_errors_are_collected_not_fatal(tmp_path: Path, moto_endpoint: str) -> None:
    accounts = ", ".join(f'"{a}"' for a in ACCOUNTS)
    fleet = Fleet.from_config(
        load_config(config(tmp_path, moto_endpoint, f"accounts = [{accounts}]"))
    )

    def describe(target: Target) -> int:
        logs = fleet.client("logs", target.account_id, target.region)
        if target.account_id == "333333333333":
            # A real error from the server: the group does not exist in this account.
            logs.describe_subscription_filters(logGroupName="/no/such/group")
        return len(logs.describe_log_groups()["logGroups"])

    result = fan_out(describe, fleet.targets, max_workers=3)
    assert len(result.values) == 4
    assert list(result.errors["account_id"]) == ["333333333333", "333333333333"]
    assert set(result.errors["error_code"]) == {"ResourceNotFoundException"}
    assert not result.ok


def test_access_denied_on_assume_role_is_reported_with_a_hint(
    tmp_path: Path, moto_endpoint: str
) -> None:
    # moto lets every assume_role succeed; AccessDenied is AWS behaviour we stub.
    fleet = Fleet.from_config(
        load_config(config(tmp_path, moto_endpoint, 'accounts = ["222222222222"]'))
    )
    fleet._hub_account = "123456789012"
    sts = fleet._hub_client("sts", "us-east-1")
    fleet._hub_client = lambda service, region: sts  # type: ignore[method-assign]
    with Stubber(sts) as stub:
        stub.add_client_error(
            "assume_role", "AccessDenied", "not authorized to perform sts:AssumeRole"
        )
        result = fan_out(
            lambda t: fleet.client("logs", t.account_id, t.region).describe_log_groups(),
            [Target("222222222222", "us-east-1")],
        )
    row = result.errors.iloc[0]
    assert row["error_code"] == "TargetError"
    assert (
        "cannot assume arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
        in row["message"]
    )
    assert "AccessDenied" in row["message"]


def test_fan_out_bounds_concurrency() -> None:
    import threading

    active, peak, lock = 0, 0, threading.Lock()
    barrier_free = threading.Event()

    def work(target: Target) -> str:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        barrier_free.wait(0.05)  # hold the slot briefly so overlaps are observable
        with lock:
            active -= 1
        return target.region

    targets = [Target(f"{i:012d}", "us-east-1") for i in range(12)]
    result = fan_out(work, targets, max_workers=3)
    assert len(result.values) == 12 and result.ok
    assert 1 <= peak <= 3


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_cli_accounts_list(tmp_path: Path, moto_endpoint: str, fmt: str, capsys) -> None:
    from xaccount_ops.cli import main

    accounts = ", ".join(f'"{a}"' for a in ACCOUNTS)
    path = config(tmp_path, moto_endpoint, f"accounts = [{accounts}]")
    assert main(["--config", str(path), "accounts", "list", "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        import json

        rows = json.loads(out)
        assert len(rows) == 6 and rows[0] == {
            "account_id": "222222222222",
            "account_name": "",
            "region": "us-east-1",
        }
    else:
        assert out.count("222222222222") == 2


def test_cli_config_errors_exit_2_and_name_the_problem(
    tmp_path: Path, moto_endpoint: str, capsys
) -> None:
    from xaccount_ops.cli import main

    for senders, message in (
        ('accounts = ["22222222222"]', "'22222222222' is not a 12-digit AWS account id"),
        ('accounts = ["222222222222"]\nregions_typo = 1', "senders.regions_typo: unknown key"),
    ):
        path = config(tmp_path, moto_endpoint, senders)
        assert main(["--config", str(path), "accounts", "list"]) == 2
        assert message in capsys.readouterr().err


def test_who_am_i_lists_every_target(tmp_path: Path, moto_endpoint: str) -> None:
    from xaccount_ops.fleet.accounts import who_am_i

    accounts = ", ".join(f'"{a}"' for a in ACCOUNTS)
    fleet = Fleet.from_config(
        load_config(config(tmp_path, moto_endpoint, f"accounts = [{accounts}]"))
    )
    frame = who_am_i(fleet)
    assert len(frame) == 6 and set(frame["status"]) == {"ok"}
    first = frame.iloc[0]
    assert first["account_id"] == "222222222222"
    assert (
        "222222222222" in first["identity"] and "OrganizationAccountAccessRole" in first["identity"]
    )
