"""StackSets rollout (``deploy --stackset``) against moto over HTTP: moto's SELF_MANAGED stack
sets really create the instance stacks, so destinations and account policies can be checked in
the accounts and regions they land in."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path

import pytest

from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.landing import stacksets

from .conftest import LANDING, SENDERS, make_config

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudformation.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture
def admin_role(fleet: Fleet) -> None:
    iam = fleet.landing_client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=stacksets.ADMIN_ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))


def test_missing_admin_role_is_named_before_anything_changes(
    stacks_endpoint: str, tmp_path: Path, artifact
) -> None:
    # A landing account of its own: the shared one may already hold the role.
    fleet = Fleet.from_config(make_config(stacks_endpoint, tmp_path))
    other = fleet.landing_client("iam")
    if any(r["RoleName"] == stacksets.ADMIN_ROLE for r in other.list_roles()["Roles"]):
        other.delete_role(RoleName=stacksets.ADMIN_ROLE)
    with pytest.raises(stacksets.StackSetError, match=stacksets.ADMIN_ROLE) as err:
        stacksets.deploy(fleet=fleet, artifact=artifact)
    assert "cfn/README.md" in str(err.value)
    cfn = fleet.landing_client("cloudformation")
    assert (
        stacksets._describe_stack_set(cfn, f"{fleet.config.landing.stack_name}-destinations")
        is None
    )


def test_destinations_roll_out_as_a_stack_set_and_rerun_changes_nothing(
    fleet: Fleet, artifact, admin_role: None
) -> None:
    prefix = fleet.config.landing.stack_name
    planned = stacksets.plan(fleet)
    assert list(planned.status) == ["planned"]
    assert list(planned.region) == ["eu-west-1"]

    result = stacksets.deploy(fleet=fleet, artifact=artifact)
    assert result.ok, result.frame().to_string()
    assert result.main is not None and result.main.status == "created"
    frame = result.frame()
    assert list(zip(frame.stack_set, frame.account, frame.region, frame.status, strict=True)) == [
        (f"{prefix}-destinations", LANDING, "eu-west-1", "created")
    ]
    # The destination exists in eu-west-1 and points at the main stack's stream.
    (destination,) = fleet.landing_client("logs", "eu-west-1").describe_destinations(
        DestinationNamePrefix=f"{prefix}-destination"
    )["destinations"]
    assert destination["targetArn"].endswith(f":stream/{prefix}-stream")
    policy = json.loads(destination["accessPolicy"])
    assert set(policy["Statement"][0]["Principal"]["AWS"]) == set(SENDERS)
    # No per-region destination stack was made.
    cfn_eu = fleet.landing_client("cloudformation", "eu-west-1")
    names = [s["StackName"] for s in cfn_eu.list_stacks()["StackSummaries"]]
    assert f"{prefix}-destination-eu-west-1" not in names

    again = stacksets.deploy(fleet=fleet, artifact=artifact)
    assert again.ok and not again.changed, again.frame().to_string()
    assert set(again.frame().status) == {"unchanged"}
    assert set(stacksets.plan(fleet).status) == {"unchanged"}


def test_account_policy_mode_rolls_sender_policy_into_every_account_and_region(
    stacks_endpoint: str, tmp_path: Path, artifact
) -> None:
    cfg = make_config(stacks_endpoint, tmp_path)
    cfg = dataclasses.replace(
        cfg, subscriptions=dataclasses.replace(cfg.subscriptions, mode="account-policy")
    )
    fleet = Fleet.from_config(cfg)
    prefix = cfg.landing.stack_name
    (senders,) = [s for s in stacksets.specs(fleet, {}) if s.kind == stacksets.SENDER]
    assert senders.name == f"{prefix}-senders"
    assert senders.parameters["Mode"] == "account-policy"
    assert senders.parameters["ExcludedLogGroups"] == f"/aws/lambda/{prefix}-shipper"
    assert set(senders.instances) == {(a, r) for a in SENDERS for r in ("us-east-1", "eu-west-1")}
    assert senders.parameters["LandingAccountId"] == LANDING
    # An account list needs no sender role; the stack set still names the install's prefix.
    assert senders.parameters["OrganizationDestination"] == "false"
    assert senders.parameters["NamePrefix"] == prefix
    assert stacksets._capabilities(senders) == ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
    assert stacksets._preferences(senders, ["eu-west-1", "us-east-1"]) == {}


def test_organization_senders_make_the_role_in_one_region_first(
    stacks_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an organization-wide destination, sender.yaml makes the sender role: in one region
    (IAM names are account-wide), which the stack set operation deploys first."""
    cfg = make_config(stacks_endpoint, tmp_path)
    cfg = dataclasses.replace(
        cfg, subscriptions=dataclasses.replace(cfg.subscriptions, mode="account-policy")
    )
    fleet = Fleet.from_config(cfg)
    monkeypatch.setattr(
        stacksets,
        "accounts_parameters",
        lambda fleet, main: {"SendingAccounts": "", "OrganizationId": "o-abc"},
    )
    (senders,) = [s for s in stacksets.specs(fleet, {}) if s.kind == stacksets.SENDER]
    assert senders.parameters["OrganizationDestination"] == "true"
    assert senders.parameters["SubscriptionRoleRegion"] == "us-east-1"  # the landing region
    order = stacksets._preferences(senders, ["eu-west-1", "us-east-1"])
    assert order == {"OperationPreferences": {"RegionOrder": ["us-east-1", "eu-west-1"]}}
