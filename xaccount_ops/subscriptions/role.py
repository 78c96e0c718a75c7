"""The sender role: what CloudWatch Logs needs in a sending account for an organization-wide
destination.

AWS refuses a subscription filter (or an account-level subscription policy) to a destination
whose access policy grants an organization (``aws:PrincipalOrgID``) unless it names a role in the
sending account: ``InvalidParameterException: Role ARN is required when creating subscription
filter against destination with Organization access policy`` (AWS guide "Step 2: (Only if using
an organization) Create an IAM role"; recorded in ``tests/fidelity/fixtures/logs/
org_destination_requires_role.json``). The role is trusted by ``logs.amazonaws.com`` for the
account's own log groups and may only ``logs:PutLogEvents`` on this install's destinations.

One role per account (IAM names are account-wide), named ``<stack_name>-subscription-role`` as
``cfn/sender.yaml`` names it, so a StackSet and ``subscribe apply`` make the same one.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from xaccount_ops import aws
from xaccount_ops.fleet.pipeline import SENDER_ROLE_SUFFIX, sender_role_arn

log = logging.getLogger(__name__)

ROLE_SUFFIX = SENDER_ROLE_SUFFIX
POLICY_NAME = "put-to-destination"


def role_name(stack_name: str) -> str:
    """``<stack_name>-subscription-role`` (cfn/sender.yaml's name)."""
    return f"{stack_name}{ROLE_SUFFIX}"


def role_arn(account_id: str, stack_name: str, partition: str = "aws") -> str:
    return sender_role_arn(account_id, stack_name, partition)


def trust_policy(account_id: str, partition: str = "aws") -> dict[str, Any]:
    """CloudWatch Logs may assume it, for this account's log groups only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "logs.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringLike": {"aws:SourceArn": f"arn:{partition}:logs:*:{account_id}:*"}
                },
            }
        ],
    }


def permissions_policy(
    landing_account: str, stack_name: str, partition: str = "aws"
) -> dict[str, Any]:
    """``logs:PutLogEvents`` on this install's destinations (every region), nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "logs:PutLogEvents",
                "Resource": (
                    f"arn:{partition}:logs:*:{landing_account}:destination:{stack_name}-destination"
                ),
            }
        ],
    }


def role_exists(iam: Any, name: str) -> bool:
    """Whether the role is there (``NoSuchEntity`` means no; other errors are raised)."""
    try:
        iam.get_role(RoleName=name)
        return True
    except Exception as err:
        if aws.error_code(err) == "NoSuchEntity":
            return False
        raise


def ensure_role(
    iam: Any, account_id: str, landing_account: str, stack_name: str, partition: str = "aws"
) -> bool:
    """Create the sender role with its policy unless it exists; True when it was created.

    An existing role is left as it is (it may be cfn/sender.yaml's): never changed or removed.
    """
    name = role_name(stack_name)
    if role_exists(iam, name):
        return False
    try:
        iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust_policy(account_id, partition)),
            Description=(
                f"CloudWatch Logs puts subscribed events to {landing_account}'s "
                f"{stack_name}-destination (xaccount-ops)"
            ),
        )
    except Exception as err:
        if aws.error_code(err) != "EntityAlreadyExists":  # made meanwhile: fine
            raise
        return False
    iam.put_role_policy(
        RoleName=name,
        PolicyName=POLICY_NAME,
        PolicyDocument=json.dumps(permissions_policy(landing_account, stack_name, partition)),
    )
    log.info("created %s in %s", name, account_id)
    return True
