"""Fleet limits and hand-made filters, planned against moto with the local cloud's extension
(in-process ``ext_endpoint``: it serves the logs quota, log classes and emitSystemFields).

- Filter slots per log group come from Service Quotas where readable, else
  ``subscriptions.filter_slots``, else 2; 5 vs 2 changes what the plan does for the seeded RDS
  group that holds two foreign filters.
- Groups of a class that cannot be subscribed (Infrequent Access, Delivery) are skipped with the
  reason, in the plan and in the audit.
- A filter we did not create that points at our destination means the group ships: the plan adds
  no second filter; ``adopt=True`` takes it over in place (same name and pattern, emitSystemFields
  added) and a second adopt changes nothing.

Delivery through the whole pipeline (events exactly once in the Logz.io emulator) is in
test_adopt_local_cloud.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.stub import Stubber

from xaccount_ops import subscriptions
from xaccount_ops.config import filter_name
from xaccount_ops.fleet import audit, inventory
from xaccount_ops.fleet.accounts import Target

RDS = "/aws/rds/instance/orders-db/postgresql"


@pytest.fixture(scope="module")
def ext_world(
    ext_endpoint: str, tmp_path_factory: pytest.TempPathFactory, subs_helpers: Any
) -> Any:
    """One sending account, one region, seeded like the local cloud (foreign filters included).

    Shared by the module: each test uses log groups of its own, and the test that raises the
    account's quota runs last."""
    return subs_helpers.make_world(
        ext_endpoint, tmp_path_factory.mktemp("world"), accounts=1, regions=("us-east-1",)
    )


def row_for(plan: subscriptions.Plan, group: str) -> pd.Series:
    found = plan.frame[plan.frame["log_group"] == group]
    assert len(found) == 1, found
    return found.iloc[0]


def deny_service_quotas(monkeypatch: pytest.MonkeyPatch, fleet: Any) -> None:
    """Service Quotas refusing the role: the emulator cannot produce AccessDenied (Stubber)."""
    real = fleet.client

    def client(service: str, account_id: str, region: str) -> Any:
        if service != "service-quotas":
            return real(service, account_id, region)
        stubbed = boto3.client(
            "service-quotas",
            region_name=region,
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        stubber = Stubber(stubbed)
        for _ in range(2):
            stubber.add_client_error(
                "list_service_quotas", "AccessDeniedException", http_status_code=400
            )
            stubber.add_client_error(
                "list_aws_default_service_quotas", "AccessDeniedException", http_status_code=400
            )
        stubber.activate()
        return stubbed

    monkeypatch.setattr(fleet, "client", client)


@pytest.mark.parametrize(("configured", "slots"), [("filter_slots = 5", 5), ("", 2)])
def test_slots_from_the_config_when_quotas_are_unreadable(
    ext_world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configured: str, slots: int
) -> None:
    world = ext_world.reconfigure(tmp_path / "cfg", configured)
    deny_service_quotas(monkeypatch, world.fleet)
    target = Target(world.senders[0], world.regions[0])
    source = "subscriptions.filter_slots" if configured else "default"
    assert inventory.filter_slots(world.fleet, target) == (slots, source)
    plan = subscriptions.plan(world.fleet, progress=False)
    assert row_for(plan, RDS)["action"] == ("create" if slots == 5 else "skip")


def test_config_filter_slots_is_validated(tmp_path: Path, subs_helpers: Any) -> None:
    from xaccount_ops.config import load_config
    from xaccount_ops.errors import ConfigError

    path = subs_helpers.write_config(
        tmp_path,
        "http://127.0.0.1:9",
        landing="111111111111",
        accounts=["222222222222"],
        regions=["us-east-1"],
        stack="s",
        subscriptions="filter_slots = 0",
    )
    with pytest.raises(ConfigError, match="subscriptions.filter_slots"):
        load_config(path)


@pytest.mark.parametrize("log_class", ["INFREQUENT_ACCESS", "DELIVERY"])
def test_unsubscribable_class_is_skipped_with_its_reason(ext_world: Any, log_class: str) -> None:
    sender, region = ext_world.senders[0], ext_world.regions[0]
    group = f"/app/{log_class.lower()}"
    ext_world.logs(sender, region).create_log_group(logGroupName=group, logGroupClass=log_class)
    inv = inventory.log_groups(ext_world.fleet, progress=False)
    listed = inv.frame[inv.frame["log_group"] == group].iloc[0]
    assert listed["log_class"] == log_class and log_class in listed["note"]

    plan = subscriptions.plan(ext_world.fleet, inventory=inv, progress=False)
    skipped = row_for(plan, group)
    assert skipped["action"] == "skip"
    assert f"log class {log_class} does not support subscription filters" in skipped["reason"]
    findings = audit.audit(ext_world.fleet, inv)
    found = findings[(findings["resource"] == group) & (findings["check"] != "never-expires")]
    assert list(found["check"]) == ["class-unsubscribable"]
    result = subscriptions.apply(ext_world.fleet, plan, progress=False)
    assert result.ok, result.errors
    assert ext_world.filters(sender, region, group) == {}


def test_hand_made_filter_ships_is_not_doubled_and_is_adopted_once(ext_world: Any) -> None:
    sender, region = ext_world.senders[0], ext_world.regions[0]
    group, arn = "/app/hand-made", ext_world.destinations[region]
    logs = ext_world.logs(sender, region)
    logs.create_log_group(logGroupName=group)
    # The seed's way: aws logs put-subscription-filter --filter-name whatever ...
    logs.put_subscription_filter(
        logGroupName=group, filterName="whatever", filterPattern="ERROR", destinationArn=arn
    )

    inv = inventory.log_groups(ext_world.fleet, progress=False)
    listed = inv.frame[inv.frame["log_group"] == group].iloc[0]
    assert bool(listed["ships"]) and listed["shipping_filter"] == "whatever"
    assert listed["note"] == "shipping through whatever; its events carry no region"
    findings = audit.audit(ext_world.fleet, inv)
    about = findings[(findings["resource"] == group) & (findings["check"] != "never-expires")]
    assert list(about["check"]) == ["shipping-unowned"]
    assert "shipping through whatever; its events carry no region" in about.iloc[0]["finding"]
    assert "--adopt" in about.iloc[0]["fix"]

    plan = subscriptions.plan(ext_world.fleet, inventory=inv, progress=False)
    kept = row_for(plan, group)
    assert kept["action"] == "unchanged"
    assert "shipping through whatever" in kept["reason"] and "--adopt" in kept["reason"]
    subscriptions.apply(ext_world.fleet, plan, progress=False)
    assert set(ext_world.filters(sender, region, group)) == {"whatever"}

    adopt = subscriptions.plan(ext_world.fleet, adopt=True, progress=False)
    take = row_for(adopt, group)
    assert (take["action"], take["filter_name"], take["filter_pattern"]) == (
        "adopt",
        "whatever",
        "ERROR",
    )
    assert adopt.summary().startswith("1 to adopt, ")
    result = subscriptions.apply(ext_world.fleet, adopt, progress=False)
    assert result.ok, result.errors
    assert "1 adopted" in result.summary()
    (adopted,) = ext_world.filters(sender, region, group).values()
    assert adopted["filterName"] == "whatever" and adopted["filterPattern"] == "ERROR"
    assert adopted["destinationArn"] == arn
    assert adopted["emitSystemFields"] == ["@aws.account", "@aws.region"]

    again = subscriptions.plan(ext_world.fleet, adopt=True, progress=False)
    assert row_for(again, group)["action"] == "unchanged"
    assert "adopted filter whatever is in place" in row_for(again, group)["reason"]
    assert again.counts()["adopt"] == 0
    second = subscriptions.apply(ext_world.fleet, again, progress=False)
    assert second.summary().startswith("0 changes")
    findings = audit.audit(ext_world.fleet, inventory.log_groups(ext_world.fleet, progress=False))
    assert set(findings[findings["resource"] == group]["check"]) == {"never-expires"}


def test_adopt_refuses_a_filter_changed_since_the_plan(ext_world: Any) -> None:
    sender, region = ext_world.senders[0], ext_world.regions[0]
    group, arn = "/app/moving", ext_world.destinations[region]
    logs = ext_world.logs(sender, region)
    logs.create_log_group(logGroupName=group)
    logs.put_subscription_filter(
        logGroupName=group, filterName="mine", filterPattern="", destinationArn=arn
    )
    plan = subscriptions.plan(ext_world.fleet, adopt=True, progress=False)
    assert row_for(plan, group)["action"] == "adopt"
    logs.delete_subscription_filter(logGroupName=group, filterName="mine")

    result = subscriptions.apply(ext_world.fleet, plan, progress=False)
    failed = result.frame[result.frame["log_group"] == group].iloc[0]
    assert failed["status"] == "failed"
    assert "mine on /app/moving is gone since the plan" in failed["error"]
    assert ext_world.filters(sender, region, group) == {}


def test_policy_mode_excludes_groups_shipping_through_a_hand_made_filter(
    ext_world: Any, tmp_path: Path
) -> None:
    world = ext_world.reconfigure(tmp_path / "policy", 'mode = "account-policy"')
    sender, region = world.senders[0], world.regions[0]
    group = "/app/hand-made-policy"
    logs = world.logs(sender, region)
    logs.create_log_group(logGroupName=group)
    logs.put_subscription_filter(
        logGroupName=group,
        filterName="whatever",
        filterPattern="",
        destinationArn=world.destinations[region],
    )
    plan = subscriptions.plan(world.fleet, progress=False)
    policy = plan.frame[plan.frame["log_group"] == subscriptions.ALL_GROUPS].iloc[0]
    assert group in policy["selection_criteria"]
    assert "shipping through whatever" in row_for(plan, group)["reason"]


def test_ours_and_a_hand_made_filter_to_our_destination_is_double_delivery(ext_world: Any) -> None:
    sender, region = ext_world.senders[0], ext_world.regions[0]
    group, arn = "/app/twice", ext_world.destinations[region]
    logs = ext_world.logs(sender, region)
    logs.create_log_group(logGroupName=group)
    for name in ("whatever", filter_name(region)):
        logs.put_subscription_filter(
            logGroupName=group, filterName=name, filterPattern="", destinationArn=arn
        )
    inv = inventory.log_groups(ext_world.fleet, progress=False)
    listed = inv.frame[inv.frame["log_group"] == group].iloc[0]
    assert listed["shipping_filter"] == filter_name(region)  # ours first
    assert "every event ships twice" in listed["note"]
    findings = audit.audit(ext_world.fleet, inv)
    twice = findings[(findings["resource"] == group) & (findings["check"] == "double-delivery")]
    assert list(twice["severity"].astype(str)) == ["error"]
    assert "--filter-name whatever" in twice.iloc[0]["fix"]
    plan = subscriptions.plan(ext_world.fleet, inventory=inv, adopt=True, progress=False)
    kept = row_for(plan, group)
    assert kept["action"] == "unchanged"
    assert "whatever (not ours) also points at our destination" in kept["reason"]


def test_slots_from_the_service_quota(ext_world: Any) -> None:
    sender, region = ext_world.senders[0], ext_world.regions[0]
    assert inventory.filter_slots(ext_world.fleet, Target(sender, region)) == (
        2,
        "Service Quotas (list_service_quotas)",
    )
    before = subscriptions.plan(ext_world.fleet, progress=False)
    full = row_for(before, RDS)
    assert full["action"] == "skip"
    assert "all 2 subscription filter slots" in full["reason"]
    findings = audit.audit(ext_world.fleet, inventory.log_groups(ext_world.fleet, progress=False))
    assert RDS in set(findings[findings["check"] == "slots-full"]["resource"])

    quotas = ext_world.fleet.client("service-quotas", sender, region)
    (quota,) = quotas.list_aws_default_service_quotas(ServiceCode="logs")["Quotas"]
    quotas.request_service_quota_increase(
        ServiceCode="logs", QuotaCode=quota["QuotaCode"], DesiredValue=5
    )
    after = subscriptions.plan(ext_world.fleet, progress=False)
    assert row_for(after, RDS)["action"] == "create"
    result = subscriptions.apply(ext_world.fleet, after, progress=False)
    assert result.ok, result.errors
    names = set(ext_world.filters(sender, region, RDS))
    assert names == {"splunk-forwarder", "datadog-forwarder", filter_name(region)}
