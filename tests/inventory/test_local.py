"""The happy path on the seeded local cloud, through the library and the CLI (the issue's
"done when"): every seeded group in every sending account/region, with its filters; the audit
reports the seeded problems and exits 1 with --fail-on warning.

Each test runs twice: on the local cloud (``local_cloud``), and on a plain moto server seeded
with the same ``local/seed.py`` data (``plain-moto``), which needs none of the local cloud's
extensions and so also runs while those are being built.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from tests import configs
from xaccount_ops import aws
from xaccount_ops.cli import main
from xaccount_ops.config import load_config
from xaccount_ops.fleet import inventory
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.local import seed


@pytest.fixture(scope="module")
def plain_moto(tmp_path_factory: pytest.TempPathFactory):
    """A plain moto server seeded like the local cloud, with a config file; the info dict of
    ``local_cloud`` (the keys these tests use)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    hub = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    regions = ["us-east-1", "eu-west-1"]
    org_id, landing, senders, _names = seed.create_organization(
        aws.client(hub, "organizations", "us-east-1", endpoint_url=endpoint), 3
    )
    sts = aws.client(hub, "sts", "us-east-1", endpoint_url=endpoint)
    for index, account in enumerate(senders):
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{seed.ROLE_NAME}", RoleSessionName="seed"
        )["Credentials"]
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )

        def client(service: str, region: str, _s: boto3.Session = session):
            return aws.client(_s, service, region, endpoint_url=endpoint)

        for region in regions:
            seed.seed_account(client, region, index)
        if index == 0:
            seed.add_foreign_filters(client, regions[0], account)
    directory = tmp_path_factory.mktemp("plain-moto")
    tables = configs.base_tables(
        endpoint=endpoint,
        landing=landing,
        accounts=senders,
        regions=("us-east-1", "eu-west-1"),
        role_name=seed.ROLE_NAME,
        max_attempts=None,
    )
    config = configs.write_config(directory, tables)
    yield {
        "sending_accounts": senders,
        "regions": regions,
        "config": str(config),
        "organization_id": org_id,
    }
    server.stop()


@pytest.fixture(params=["local-cloud", "plain-moto"])
def cloud(request: pytest.FixtureRequest) -> dict:
    name = "local_cloud" if request.param == "local-cloud" else "plain_moto"
    return request.getfixturevalue(name)


def _seeded(local_cloud: dict) -> set[tuple[str, str, str]]:
    return {
        (account, region, group.name)
        for index, account in enumerate(local_cloud["sending_accounts"])
        for region in local_cloud["regions"]
        for group in seed.seed_groups(index)
    }


def test_library_lists_every_seeded_group_with_its_filters(cloud: dict) -> None:
    fleet = Fleet.from_config(load_config(cloud["config"]))

    result = inventory.log_groups(fleet, progress=False)

    assert result.ok, result.errors
    frame = result.frame
    listed = set(zip(frame.account_id, frame.region.astype(str), frame.log_group, strict=True))
    assert _seeded(cloud) <= listed
    first, region = cloud["sending_accounts"][0], cloud["regions"][0]
    rows = frame[(frame.account_id == first) & (frame.region == region)].set_index("log_group")
    assert "team-siem" in rows.loc["/aws/lambda/orders-api", "foreign_filters"].split(",")
    rds = rows.loc["/aws/rds/instance/orders-db/postgresql"]
    assert set(rds.foreign_filters.split(",")) == {"splunk-forwarder", "datadog-forwarder"}
    assert {f["name"] for f in rds.filters} == {"splunk-forwarder", "datadog-forwarder"}
    assert rds.filter_count == 2
    names = set(frame.account_name.dropna())
    assert any(name.startswith("workload-") for name in names)  # from Organizations


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().out


def test_cli_inventory_json_then_cached(
    cloud: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cloud["config"]
    code, out = _run(["--config", config, "inventory", "--format", "json"], capsys)

    assert code == 0
    records = json.loads(out)
    listed = {(r["account_id"], r["region"], r["log_group"]) for r in records}
    assert _seeded(cloud) <= listed
    rds = next(
        r
        for r in records
        if r["account_id"] == cloud["sending_accounts"][0]
        and r["region"] == cloud["regions"][0]
        and r["log_group"] == "/aws/rds/instance/orders-db/postgresql"
    )
    assert {f["name"] for f in rds["filters"]} >= {"splunk-forwarder", "datadog-forwarder"}

    out_file = tmp_path / "inv.parquet"
    code, _ = _run(
        ["--config", config, "inventory", "--cached", "--format", "parquet", "-o", str(out_file)],
        capsys,
    )
    assert code == 0
    cached, _taken = inventory.load_cache(load_config(config))
    assert len(cached) == len(records)
    assert out_file.stat().st_size > 0


def test_cli_audit_reports_seeded_problems(cloud: dict, capsys: pytest.CaptureFixture[str]) -> None:
    config = cloud["config"]
    code, out = _run(
        ["--config", config, "audit", "--fail-on", "warning", "--format", "json"], capsys
    )

    assert code == 1
    findings = json.loads(out)
    first, region = cloud["sending_accounts"][0], cloud["regions"][0]
    by_check: dict[str, set[tuple[str, str, str]]] = {}
    for f in findings:
        by_check.setdefault(f["check"], set()).add((f["account_id"], f["region"], f["resource"]))
    assert (first, region, "/aws/rds/instance/orders-db/postgresql") in by_check["slots-full"]
    # Other tests share this cloud and may subscribe some seeded groups: ask for at least one.
    assert any(account == first for account, _, _ in by_check["not-shipping"])
    assert (first, region, "/ecs/web-frontend") in by_check["never-expires"]

    code, _ = _run(["--config", config, "audit", "--fail-on", "error", "--format", "csv"], capsys)
    errors = [f for f in findings if f["severity"] == "error"]
    assert code == (1 if errors else 0)
