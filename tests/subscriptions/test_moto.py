"""Plan, apply, re-apply and remove over 3 sending accounts x 2 regions on a plain moto server,
through the real HTTP API (see conftest for the one moto workaround: destination ARNs).

Delivery, account policies and cross-account policy enforcement need the local cloud's
extension: test_local_cloud.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from xaccount_ops import subscriptions
from xaccount_ops.config import filter_name
from xaccount_ops.fleet.inventory import log_groups

RDS = "/aws/rds/instance/orders-db/postgresql"
ORDERS = "/aws/lambda/orders-api"


def rows(plan: subscriptions.Plan, **where: str) -> pd.DataFrame:
    frame = plan.frame
    for column, value in where.items():
        frame = frame[frame[column] == value]
    return frame


def test_plan_apply_reapply_remove(world: Any) -> None:
    # GIVEN the seeded world plus a pipeline group in the second account
    second, region = world.senders[1], world.regions[0]
    pipeline_group = f"/aws/lambda/{world.stack}-shipper"
    world.logs(second, region).create_log_group(logGroupName=pipeline_group)

    # WHEN we plan
    plan = subscriptions.plan(world.fleet, progress=False)

    # THEN one row per (account, region, group); everything selected gets created, except the
    # slot-full RDS group in the first account and the pipeline's own group
    inventory = log_groups(world.fleet, progress=False)
    assert len(plan.frame) == len(inventory.frame)
    assert plan.errors.empty, plan.errors
    first = world.senders[0]
    slot_full = rows(plan, account=first, region=region, log_group=RDS).iloc[0]
    assert slot_full["action"] == "skip"
    assert "splunk-forwarder" in slot_full["reason"] and "datadog-forwarder" in slot_full["reason"]
    pipeline = rows(plan, account=second, log_group=pipeline_group).iloc[0]
    assert pipeline["action"] == "skip" and "pipeline" in pipeline["reason"]
    orders = rows(plan, account=first, region=region, log_group=ORDERS).iloc[0]
    assert orders["action"] == "create" and "team-siem" in orders["current_filters"]
    assert set(plan.frame["action"]) == {"create", "skip"}
    assert plan.changes == len(plan.frame) - 2
    assert plan.summary() == f"{plan.changes} to create, 0 to update, 0 unchanged, 2 skipped"
    creates = rows(plan, action="create")
    assert set(creates["mode"]) == {"filters"}
    for r in creates.itertuples():
        assert r.filter_name == filter_name(r.region)
        assert r.destination_arn == world.destinations[r.region]

    # WHEN we apply
    result = subscriptions.apply(world.fleet, plan, progress=False)

    # THEN every create happened, the foreign filters are intact
    assert result.ok, result.errors
    assert result.changed == plan.changes
    assert set(result.frame["status"]) == {"ok", "skipped"}
    for account in world.senders:
        for r in world.regions:
            found = world.filters(account, r, "/ecs/web-frontend")
            assert found[filter_name(r)]["destinationArn"] == world.destinations[r]
    on_orders = world.filters(first, region, ORDERS)
    assert set(on_orders) == {"team-siem", filter_name(region)}
    assert on_orders["team-siem"]["destinationArn"].endswith(":stream/team-siem-feed")
    assert set(world.filters(first, region, RDS)) == {"splunk-forwarder", "datadog-forwarder"}
    assert world.filters(second, region, pipeline_group) == {}

    # WHEN we plan and apply again: nothing to do, and it says so
    again = subscriptions.plan(world.fleet, progress=False)
    assert again.changes == 0
    assert set(again.frame["action"]) == {"unchanged", "skip"}
    second_result = subscriptions.apply(world.fleet, again, progress=False)
    assert second_result.changed == 0 and second_result.ok
    assert second_result.summary().startswith("0 changes: everything already as planned")

    # WHEN we remove: only our filters go
    removal = subscriptions.remove_plan(world.fleet, progress=False)
    deletes = rows(removal, action="delete")
    assert len(deletes) == plan.changes
    assert set(deletes["filter_name"]) == {filter_name(r) for r in world.regions}
    removed = subscriptions.apply(world.fleet, removal, progress=False)
    assert removed.changed == plan.changes, removed.errors
    assert set(world.filters(first, region, ORDERS)) == {"team-siem"}
    assert set(world.filters(first, region, RDS)) == {"splunk-forwarder", "datadog-forwarder"}
    after = subscriptions.remove_plan(world.fleet, progress=False)
    assert rows(after, action="delete").empty


def test_update_when_pattern_or_destination_differs(
    world: Any, tmp_path: Path, subs_helpers: Any
) -> None:
    account, region = world.senders[1], world.regions[1]
    logs = world.logs(account, region)
    # our filter, pointing at another destination of the landing account in the same region
    # (AWS, and moto with the extension installed, refuse a destination in another region)
    landing_logs = world.fleet.landing_client("logs", region)
    old = landing_logs.put_destination(
        destinationName=f"{world.stack}-old",
        targetArn=f"arn:aws:kinesis:{world.regions[0]}:{world.landing}:stream/{world.stack}-stream",
        roleArn=f"arn:aws:iam::{world.landing}:role/{world.stack}-logs",
    )["destination"]["arn"]
    subs_helpers.put_policy(landing_logs, old, world.senders)
    landing_logs.create_log_group(logGroupName=f"{world.stack}-old")  # plain moto: see conftest
    logs.put_subscription_filter(
        logGroupName=ORDERS,
        filterName=filter_name(region),
        filterPattern="",
        destinationArn=old,
    )
    plan = subscriptions.plan(world.fleet, progress=False)
    row = rows(plan, account=account, region=region, log_group=ORDERS).iloc[0]
    assert row["action"] == "update" and "points at" in row["reason"]

    patterned = world.reconfigure(tmp_path / "patterned", 'filter_pattern = "ERROR"')
    plan = subscriptions.plan(patterned.fleet, progress=False)
    assert set(rows(plan, account=account, region=region)["action"]) == {"update", "create"}
    result = subscriptions.apply(patterned.fleet, plan, progress=False)
    assert result.ok, result.errors
    assert world.filters(account, region, ORDERS)[filter_name(region)]["filterPattern"] == "ERROR"
    assert subscriptions.plan(patterned.fleet, progress=False).changes == 0


def test_selection_include_exclude_tags_and_canary(world: Any, tmp_path: Path) -> None:
    account, region = world.senders[2], world.regions[0]
    world.logs(account, region).create_log_group(logGroupName="/xaccount-ops/canary")
    selective = world.reconfigure(
        tmp_path / "selective",
        'include = ["/aws/lambda/*", "re:^/ecs/"]\n'
        'exclude = ["/aws/lambda/payments-*"]\n'
        'tags = { team = "orders" }',
    )
    plan = subscriptions.plan(selective.fleet, progress=False)
    assert plan.errors.empty, plan.errors
    creates = rows(plan, action="create")
    # only orders-api carries team=orders among the included, non-excluded groups
    assert set(creates["log_group"]) == {ORDERS}
    reasons = rows(plan, account=account, region=region).set_index("log_group")["reason"]
    assert "subscriptions.exclude" in reasons["/aws/lambda/payments-worker"]
    assert "team=orders" in reasons["/ecs/web-frontend"]
    assert "subscriptions.include" in reasons["/aws/vpc/flow-logs"]
    assert "verify" in reasons["/xaccount-ops/canary"]

    sized = world.reconfigure(tmp_path / "sized", "min_stored_bytes = 1000000000")
    plan = subscriptions.plan(sized.fleet, progress=False)
    assert plan.changes == 0
    assert rows(plan, action="skip")["reason"].str.contains("min_stored_bytes").any()


def test_account_not_in_policy_and_missing_destination(
    moto_endpoint: str, tmp_path: Path, subs_helpers: Any
) -> None:
    world = subs_helpers.make_world(
        moto_endpoint, tmp_path / "w", accounts=2, allowed=lambda senders: senders[:1]
    )
    refused = world.senders[1]
    # no destination in the second region any more
    world.fleet.landing_client("logs", world.regions[1]).delete_destination(
        destinationName=f"{world.stack}-destination"
    )
    plan = subscriptions.plan(world.fleet, progress=False)
    refused_rows = rows(plan, account=refused, region=world.regions[0])
    assert set(refused_rows["action"]) == {"skip"}
    assert refused_rows["reason"].str.contains(f"does not allow account {refused}").all()
    missing = rows(plan, region=world.regions[1])
    assert set(missing["action"]) == {"skip"}
    assert missing["reason"].str.contains("no Logs destination").all()
    allowed = rows(plan, account=world.senders[0], region=world.regions[0])
    assert set(allowed[allowed["log_group"] != RDS]["action"]) == {"create"}


def test_target_error_is_a_row_and_the_rest_continues(
    moto_endpoint: str, tmp_path: Path, subs_helpers: Any
) -> None:
    """A target in a region the config lists but whose inventory fails (a bad account id that
    cannot be assumed is indistinguishable on moto, so an inventory error is injected)."""
    world = subs_helpers.make_world(moto_endpoint, tmp_path / "w", accounts=2)
    inventory = log_groups(world.fleet, progress=False)
    broken = world.senders[1]
    frame = inventory.frame[inventory.frame["account_id"] != broken]
    errors = pd.DataFrame(
        [
            {
                "account_id": broken,
                "region": r,
                "error_code": "AccessDenied",
                "message": "not authorized",
                "hint": "fix the role",
            }
            for r in world.regions
        ]
    ).astype("string")
    plan = subscriptions.plan(
        world.fleet, inventory=type(inventory)(frame=frame, errors=errors), progress=False
    )
    assert list(plan.errors["account"]) == [broken, broken]
    assert plan.errors["error"].str.startswith("AccessDenied").all()
    failed_rows = rows(plan, account=broken)
    assert list(failed_rows["log_group"]) == ["*", "*"]
    assert set(failed_rows["action"]) == {"skip"}
    assert set(rows(plan, account=world.senders[0])["action"]) == {"create", "skip"}
    assert "could not be planned" in plan.summary()
