"""Organization-wide destinations: the sender role, named by every filter and account policy.

AWS refuses PutSubscriptionFilter (and PutAccountPolicy) to a destination whose policy grants
the organization unless it names a role in the sending account (tests/fidelity fixture
logs/org_destination_requires_role); the local cloud (moto + moto_ext, ``ext_endpoint``) refuses
it the same way, so these tests fail if the toolkit leaves the role out. The sending account is a
real member of the local cloud's organization (``aws:PrincipalOrgID`` is checked).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from xaccount_ops import subscriptions
from xaccount_ops.config import filter_name, load_config
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.fleet.audit import audit
from xaccount_ops.fleet.inventory import log_groups
from xaccount_ops.subscriptions import role as sender_role

REGION = "us-east-1"


def _org_member(fleet: Fleet, unique: str) -> tuple[str, str]:
    orgs = fleet.hub_session.client(
        "organizations", region_name=REGION, endpoint_url=fleet.config.aws.endpoint_url
    )
    try:
        org_id = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    except ClientError as err:
        if err.response["Error"]["Code"] != "AlreadyInOrganizationException":
            raise
        org_id = orgs.describe_organization()["Organization"]["Id"]
    status = orgs.create_account(AccountName=unique, Email=f"{unique}@example.com")
    member = orgs.describe_create_account_status(
        CreateAccountRequestId=status["CreateAccountStatus"]["Id"]
    )["CreateAccountStatus"]["AccountId"]
    return org_id, member


def _world(
    ext_endpoint: str, tmp_path: Path, subs_helpers: Any, subscriptions_table: str = ""
) -> tuple[Fleet, str, str, str]:
    """(fleet, member account, destination ARN, log group) with an organization policy."""
    landing = subs_helpers.new_account_id()
    stack = subs_helpers.unique("org")
    bootstrap = subs_helpers.write_config(
        tmp_path / "bootstrap",
        ext_endpoint,
        landing=landing,
        accounts=[landing],
        regions=[REGION],
        stack=stack,
    )
    org_id, member = _org_member(Fleet.from_config(load_config(bootstrap)), stack)
    path = subs_helpers.write_config(
        tmp_path / "world",
        ext_endpoint,
        landing=landing,
        accounts=[member],
        regions=[REGION],
        stack=stack,
        subscriptions=subscriptions_table,
    )
    fleet = Fleet.from_config(load_config(path))
    kinesis = fleet.landing_client("kinesis", REGION)
    kinesis.create_stream(StreamName=f"{stack}-stream", ShardCount=1)
    logs = fleet.landing_client("logs", REGION)
    arn = logs.put_destination(
        destinationName=f"{stack}-destination",
        targetArn=f"arn:aws:kinesis:{REGION}:{landing}:stream/{stack}-stream",
        roleArn=f"arn:aws:iam::{landing}:role/{stack}-logs",
    )["destination"]["arn"]
    statement = {  # as cfn/main.yaml writes it with OrganizationId
        "Sid": "AllowOrganization",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "logs:PutSubscriptionFilter",
        "Resource": arn,
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}},
    }
    logs.put_destination_policy(
        destinationName=f"{stack}-destination",
        accessPolicy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    group = f"/{stack}/app"
    fleet.client("logs", member, REGION).create_log_group(logGroupName=group)
    return fleet, member, arn, group


def _rows(plan: Any, **match: str) -> list[dict[str, Any]]:
    frame = plan.frame
    for key, value in match.items():
        frame = frame[frame[key] == value]
    return frame.to_dict("records")


def test_filters_name_the_sender_role_which_apply_creates_once(
    ext_endpoint: str, tmp_path: Path, subs_helpers: Any
) -> None:
    fleet, member, _, group = _world(ext_endpoint, tmp_path, subs_helpers)
    stack = fleet.config.landing.stack_name
    role = sender_role.role_arn(member, stack)
    logs = fleet.client("logs", member, REGION)

    plan = subscriptions.plan(fleet, progress=False)
    (role_row,) = _rows(plan, action="create-role")
    assert (role_row["account"], role_row["filter_name"]) == (member, f"{stack}-subscription-role")
    assert (
        "logs.amazonaws.com" in role_row["reason"] and f"{stack}-destination" in role_row["reason"]
    )
    (create,) = _rows(plan, action="create", log_group=group)
    assert create["role_arn"] == role
    assert plan.summary().startswith("1 sender role(s) to create, ")

    result = subscriptions.apply(fleet, plan, progress=False)
    assert result.ok, result.errors
    assert "1 sender role(s) created" in result.summary()
    iam = fleet.client("iam", member, REGION)
    created = iam.get_role(RoleName=f"{stack}-subscription-role")["Role"]
    trust = created["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "logs.amazonaws.com"}
    permissions = json.loads(
        json.dumps(
            iam.get_role_policy(
                RoleName=f"{stack}-subscription-role", PolicyName="put-to-destination"
            )["PolicyDocument"]
        )
    )
    if isinstance(permissions, str):
        permissions = json.loads(permissions)
    assert permissions["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "logs:PutLogEvents",
            "Resource": f"arn:aws:logs:*:{fleet.landing_account}:destination:{stack}-destination",
        }
    ]
    filters = {
        f["filterName"]: f
        for f in logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    }
    assert filters[filter_name(REGION)]["roleArn"] == role

    again = subscriptions.plan(fleet, progress=False)
    assert _rows(again, action="create-role") == []
    assert {r["action"] for r in _rows(again, log_group=group)} == {"unchanged"}


def test_our_filter_without_the_role_is_updated_and_audited(
    ext_endpoint: str, tmp_path: Path, subs_helpers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet, member, arn, group = _world(ext_endpoint, tmp_path, subs_helpers)
    stack = fleet.config.landing.stack_name
    # Our filter as it was before the organization policy (account list, no role): put straight
    # into moto's store, since the local cloud (as AWS) refuses it now.
    from moto.logs.models import logs_backends

    logs_backends[member][REGION].groups[group].put_subscription_filter(
        filter_name(REGION), "", arn, ""
    )
    findings = audit(fleet, log_groups(fleet, progress=False))
    missing = findings[findings.check == "sender-role-missing"].to_dict("records")
    assert [(f["account_id"], f["resource"]) for f in missing] == [(member, group)]
    assert "subscribe apply" in missing[0]["fix"]

    plan = subscriptions.plan(fleet, progress=False)
    (update,) = _rows(plan, log_group=group)
    assert update["action"] == "update" and "names no sender role" in update["reason"]
    assert subscriptions.apply(fleet, plan, progress=False).ok
    (described,) = fleet.client("logs", member, REGION).describe_subscription_filters(
        logGroupName=group
    )["subscriptionFilters"]
    assert described["roleArn"] == sender_role.role_arn(member, stack)
    findings = audit(fleet, log_groups(fleet, progress=False))
    assert findings[findings.check == "sender-role-missing"].empty


def test_account_policy_names_the_role(
    ext_endpoint: str, tmp_path: Path, subs_helpers: Any
) -> None:
    fleet, member, arn, _ = _world(
        ext_endpoint, tmp_path, subs_helpers, subscriptions_table='mode = "account-policy"'
    )
    plan = subscriptions.plan(fleet, progress=False)
    assert len(_rows(plan, action="create-role")) == 1
    result = subscriptions.apply(fleet, plan, progress=False)
    assert result.ok, result.errors
    (policy,) = fleet.client("logs", member, REGION).describe_account_policies(
        policyType="SUBSCRIPTION_FILTER_POLICY"
    )["accountPolicies"]
    document = json.loads(policy["policyDocument"])
    assert document["RoleArn"] == sender_role.role_arn(member, fleet.config.landing.stack_name)
    assert document["DestinationArn"] == arn


def test_account_list_destination_gets_no_role(
    ext_endpoint: str, tmp_path: Path, subs_helpers: Any
) -> None:
    world = subs_helpers.make_world(
        ext_endpoint, tmp_path / "list", accounts=1, regions=(REGION,), seed_groups=False
    )
    (account,) = world.senders
    group = f"/{world.stack}/app"
    world.logs(account, REGION).create_log_group(logGroupName=group)
    plan = subscriptions.plan(world.fleet, progress=False)
    assert _rows(plan, action="create-role") == []
    (row,) = _rows(plan, log_group=group)
    assert row["action"] == "create" and not row["role_arn"]


def test_verify_canary_filter_names_the_sender_role(
    ext_endpoint: str, tmp_path: Path, subs_helpers: Any
) -> None:
    """verify subscribes its canary group as apply subscribes any group: to an organization-wide
    destination the filter names the sender role (the local cloud, as AWS, refuses it
    otherwise, and every canary would end as an error)."""
    from xaccount_ops.fleet.accounts import Target
    from xaccount_ops.fleet.pipeline import discover
    from xaccount_ops.verify import canary as canary_mod

    fleet, member, arn, _ = _world(ext_endpoint, tmp_path, subs_helpers)
    stack = fleet.config.landing.stack_name
    group = f"/{stack}/canary"
    canary = canary_mod.Canary(Target(member, REGION), "m", group, "verify-s")
    sent = canary_mod.prepare_and_send(fleet, canary, discover(fleet))
    assert sent.setup_problem is None and sent.sent_at is not None
    (described,) = fleet.client("logs", member, REGION).describe_subscription_filters(
        logGroupName=group
    )["subscriptionFilters"]
    assert (described["destinationArn"], described["roleArn"]) == (
        arn,
        sender_role.role_arn(member, stack),
    )
