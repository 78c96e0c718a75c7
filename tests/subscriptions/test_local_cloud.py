"""On the local cloud (3 sending accounts x 2 regions, seeded with foreign filters in the first
account): the issue's done-when through the CLI, delivery into the landing stream, account-policy
mode, remove.

The landing side (Kinesis stream, a destination per region whose policy lists the senders) is
built with tests/verify's ``build_landing`` under a stack name of this module's own, without the
event source mapping: these tests read the stream themselves. The seeded groups are shared with
the rest of the session, so the module ends by removing what it added (our filters, our account
policies); tests run in file order.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from xaccount_ops import subscriptions
from xaccount_ops.cli import main
from xaccount_ops.config import filter_name, load_config
from xaccount_ops.fleet.accounts import Fleet

RDS = "/aws/rds/instance/orders-db/postgresql"
ORDERS = "/aws/lambda/orders-api"


@pytest.fixture(scope="module")
def lc(
    local_cloud: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
    verify_helpers: Any,
    subs_helpers: Any,
) -> Iterator[Any]:
    from xaccount_ops.local import seed

    local = load_config(local_cloud["config"])
    stack = subs_helpers.unique("slc")
    regions = tuple(local_cloud["regions"])
    senders = list(local_cloud["sending_accounts"])

    def config_for(directory: str, subscriptions_table: str = "") -> Any:
        path = subs_helpers.write_config(
            tmp_path_factory.mktemp(directory),
            local_cloud["aws_endpoint"],
            landing=local_cloud["landing_account"],
            accounts=senders,
            regions=regions,
            stack=stack,
            subscriptions=subscriptions_table,
            role_name=seed.ROLE_NAME,
            token_file=local.logzio.shipping_token.name,
            max_attempts=10,
        )
        return path, Fleet.from_config(load_config(path))

    path, fleet = config_for("subs-main")
    landing = verify_helpers.build_landing(
        lambda service, region: fleet.landing_client(service, region),
        stack=stack,
        landing_region=regions[0],
        regions=regions,
        sending_accounts=senders,
        mapping=False,
    )
    world = types.SimpleNamespace(
        path=path,
        fleet=fleet,
        landing=landing,
        senders=senders,
        regions=regions,
        stack=stack,
        config_for=config_for,
    )
    yield world
    # Leave the shared seed groups as we found them.
    subscriptions.apply(fleet, subscriptions.remove_plan(fleet, progress=False), progress=False)


def filters(fleet: Fleet, account: str, region: str, group: str) -> dict[str, dict[str, Any]]:
    logs = fleet.client("logs", account, region)
    return {
        f["filterName"]: f
        for f in logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    }


def cli(lc: Any, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(lc.path), "subscribe", *args, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def test_apply_attaches_everywhere_and_second_apply_changes_nothing(
    lc: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(lc, capsys, "apply", "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    first, region = lc.senders[0], lc.regions[0]
    # every selected group in every sending account/region has our filter to this destination
    for row in result:
        if row["action"] != "create":
            continue
        assert row["status"] == "ok", row
        found = filters(lc.fleet, row["account"], row["region"], row["log_group"])
        assert (
            found[filter_name(row["region"])]["destinationArn"]
            == (lc.landing.destinations[row["region"]])
        )
    assert {(r["account"], r["region"]) for r in result if r["action"] == "create"} == {
        (a, r) for a in lc.senders for r in lc.regions
    }, [r for r in result if r["action"] != "create"]
    # foreign filters intact, slot-full group reported
    on_orders = filters(lc.fleet, first, region, ORDERS)
    assert set(on_orders) == {"team-siem", filter_name(region)}
    slot_full = [r for r in result if r["account"] == first and r["log_group"] == RDS]
    by_region = {r["region"]: r for r in slot_full}
    assert by_region[region]["action"] == "skip"
    assert "slots full" in by_region[region]["reason"]
    assert set(filters(lc.fleet, first, region, RDS)) == {"splunk-forwarder", "datadog-forwarder"}

    code, out, err = cli(lc, capsys, "apply")
    assert code == 0, err
    assert "0 changes: everything already as planned" in err


def _records(fleet: Fleet, stream_arn: str, deadline: float, wanted: str) -> dict[str, Any]:
    """Poll the landing stream until a CloudWatch payload containing ``wanted`` shows up."""
    kinesis = fleet.landing_client("kinesis")
    name = stream_arn.rsplit("/", 1)[-1]
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    iterators = {
        s["ShardId"]: kinesis.get_shard_iterator(
            StreamName=name, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for s in shards
    }
    while time.monotonic() < deadline:
        for shard, iterator in list(iterators.items()):
            page = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            iterators[shard] = page["NextShardIterator"]
            for record in page["Records"]:
                data = record["Data"]
                if isinstance(data, str):
                    data = base64.b64decode(data)
                payload = json.loads(gzip.decompress(data))
                if any(wanted in e.get("message", "") for e in payload.get("logEvents", [])):
                    return payload
        time.sleep(0.2)  # poll interval, not synchronisation: the deadline bounds the wait
    raise AssertionError(f"no record with {wanted!r} in {stream_arn} before the deadline")


def test_delivery_flows_after_apply(lc: Any) -> None:
    account, region = lc.senders[1], lc.regions[1]
    group = "/aws/vpc/flow-logs"
    logs = lc.fleet.client("logs", account, region)
    stream = f"subs-{uuid.uuid4().hex[:8]}"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    marker = f"subscriptions-delivery-{uuid.uuid4().hex}"
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": marker}],
    )
    payload = _records(lc.fleet, lc.landing.stream_arn, time.monotonic() + 30, marker)
    assert payload["owner"] == account
    assert payload["logGroup"] == group
    assert payload["subscriptionFilters"] == [filter_name(region)]


def test_remove_deletes_only_ours(lc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(lc, capsys, "remove", "--format", "json")
    assert code == 0, err
    assert "nothing deleted" in err
    first, region = lc.senders[0], lc.regions[0]
    assert filter_name(region) in filters(lc.fleet, first, region, ORDERS)

    code, out, err = cli(lc, capsys, "remove", "--yes", "--format", "json")
    assert code == 0, err
    deleted = [r for r in json.loads(out) if r["action"] == "delete"]
    assert deleted and {r["status"] for r in deleted} == {"ok"}
    assert set(filters(lc.fleet, first, region, ORDERS)) == {"team-siem"}
    assert set(filters(lc.fleet, first, region, RDS)) == {"splunk-forwarder", "datadog-forwarder"}
    after = subscriptions.remove_plan(lc.fleet, progress=False)
    assert after.changes == 0


def test_account_policy_mode(lc: Any) -> None:
    _path, fleet = lc.config_for("subs-policy", 'mode = "account-policy"\nexclude = ["/ecs/*"]')
    plan = subscriptions.plan(fleet, progress=False)
    assert plan.errors.empty, plan.errors
    policy_rows = plan.frame[plan.frame["log_group"] == "*"]
    assert len(policy_rows) == len(lc.senders) * len(lc.regions)
    assert set(policy_rows["action"]) == {"create"}
    assert set(plan.frame["mode"]) == {"account-policy"}
    assert "(account-policy mode)" in plan.summary()
    excluded = plan.frame[plan.frame["log_group"] == "/ecs/web-frontend"]
    assert set(excluded["action"]) == {"skip"}
    try:
        result = subscriptions.apply(fleet, plan, progress=False)
        assert result.ok, result.errors
        account, region = lc.senders[2], lc.regions[0]
        logs = fleet.client("logs", account, region)
        policies = logs.describe_account_policies(policyType="SUBSCRIPTION_FILTER_POLICY")[
            "accountPolicies"
        ]
        ours = {p["policyName"]: p for p in policies}[filter_name(region)]
        document = json.loads(ours["policyDocument"])
        assert document["DestinationArn"] == lc.landing.destinations[region]
        assert "RoleArn" not in document
        assert '"/ecs/web-frontend"' in ours["selectionCriteria"]
        assert ours["selectionCriteria"].startswith("LogGroupName NOT IN [")
        assert subscriptions.plan(fleet, progress=False).changes == 0
    finally:
        removal = subscriptions.remove_plan(fleet, progress=False)
        subscriptions.apply(fleet, removal, progress=False)
    assert (removal.frame["action"] == "delete").sum() >= len(policy_rows)
    again = subscriptions.remove_plan(fleet, progress=False)
    assert again.changes == 0
