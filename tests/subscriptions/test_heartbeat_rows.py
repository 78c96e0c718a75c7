"""Heartbeats planned, applied and removed with the filters (moto over HTTP): one ``heartbeat`` row
per pair; apply creates the group, the EventBridge resource policy, the rate rule and its target,
and our filter on the group; a second plan has nothing to do; a disabled rule or a changed rate is
an update; ``heartbeat_minutes = 0`` plans none; ``remove`` deletes them and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from xaccount_ops import subscriptions
from xaccount_ops.config import filter_name, heartbeat_name, load_config
from xaccount_ops.fleet.accounts import Fleet

FOREIGN_POLICY = "team-eventbridge-to-logs"


def beat_rows(plan: Any) -> Any:
    return plan.frame[plan.frame["mode"] == "heartbeat"]


def test_plan_apply_again_drift_remove(
    subs_helpers: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    world = subs_helpers.make_world(
        moto_endpoint, tmp_path / "w", accounts=2, heartbeat_minutes=5, seed_groups=False
    )
    fleet, cfg = world.fleet, world.fleet.config
    group, name = cfg.verify.heartbeat_log_group, heartbeat_name(cfg.verify.heartbeat_log_group)
    first, region = world.senders[0], world.regions[0]
    logs = world.logs(first, region)
    logs.put_resource_policy(policyName=FOREIGN_POLICY, policyDocument='{"Statement": []}')

    plan = subscriptions.plan(fleet, progress=False)
    rows = beat_rows(plan)
    assert len(rows) == len(fleet.targets) == 4
    assert set(rows["action"]) == {"create"} and set(rows["log_group"]) == {group}
    assert "heartbeat every 5 min" in rows.iloc[0]["reason"]

    result = subscriptions.apply(fleet, plan, progress=False)
    assert result.ok, result.errors
    events = fleet.client("events", first, region)
    rule = events.describe_rule(Name=name)
    assert (rule["ScheduleExpression"], rule["State"]) == ("rate(5 minutes)", "ENABLED")
    (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
    assert target["Arn"] == f"arn:aws:logs:{region}:{first}:log-group:{group}"
    (found,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert found["retentionInDays"] == 1
    policies = {p["policyName"]: p for p in logs.describe_resource_policies()["resourcePolicies"]}
    statement = json.loads(policies[name]["policyDocument"])["Statement"][0]
    assert "events.amazonaws.com" in statement["Principal"]["Service"]
    (flt,) = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert (flt["filterName"], flt["destinationArn"]) == (
        filter_name(region),
        world.destinations[region],
    )

    again = subscriptions.plan(fleet, progress=False)
    assert set(beat_rows(again)["action"]) == {"unchanged"}
    assert again.changes == 0

    events.disable_rule(Name=name)
    drifted = beat_rows(subscriptions.plan(fleet, progress=False))
    changed = drifted[drifted["action"] == "update"]
    assert list(zip(changed["account"], changed["region"], strict=True)) == [(first, region)]
    assert "rule is DISABLED" in changed.iloc[0]["reason"]
    assert subscriptions.apply(fleet, subscriptions.plan(fleet, progress=False), progress=False).ok
    assert events.describe_rule(Name=name)["State"] == "ENABLED"

    faster = Path(world.path)
    faster.write_text(faster.read_text().replace("heartbeat_minutes = 5", "heartbeat_minutes = 1"))
    quick = Fleet.from_config(load_config(faster))
    reasons = set(beat_rows(subscriptions.plan(quick, progress=False))["reason"])
    assert reasons == {"rule runs rate(5 minutes), want rate(1 minute)"}

    off = Path(world.path)
    off.write_text(off.read_text().replace("heartbeat_minutes = 1", "heartbeat_minutes = 0"))
    assert beat_rows(subscriptions.plan(Fleet.from_config(load_config(off)), progress=False)).empty

    removal = subscriptions.remove_plan(fleet, progress=False)
    assert set(beat_rows(removal)["action"]) == {"delete"}
    assert subscriptions.apply(fleet, removal, progress=False).ok
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    remaining = {p["policyName"] for p in logs.describe_resource_policies()["resourcePolicies"]}
    assert FOREIGN_POLICY in remaining and name not in remaining
    assert not [r for r in events.list_rules()["Rules"] if r["Name"] == name]
    assert beat_rows(subscriptions.remove_plan(fleet, progress=False)).empty
