"""cfn/sender.yaml with an organization-wide destination: the sender role and the filters' RoleArn.

AWS refuses a subscription filter to a destination whose policy grants the organization unless it
names a role in the sending account (tests/fidelity fixture logs/org_destination_requires_role).
The template is deployed into a member account of the local cloud's organization, against a
landing destination with the organization policy main.yaml writes; the local cloud refuses such a
filter without the role as AWS does, so the stack only completes with it.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from cfnlint.decode import decode_str

CFN = Path(__file__).resolve().parents[2] / "cfn"
LANDING = "123456789012"
REGION = "us-east-1"
_ids = itertools.count(1)


def _client(endpoint: str, service: str, account: str | None = None) -> Any:
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    if account:
        creds = _client(endpoint, "sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/x", RoleSessionName="sender-role"
        )["Credentials"]
        keys = {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, **keys)


def _org_member(endpoint: str) -> tuple[str, str]:
    orgs = _client(endpoint, "organizations")
    try:
        org_id = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    except ClientError as err:
        if err.response["Error"]["Code"] != "AlreadyInOrganizationException":
            raise
        org_id = orgs.describe_organization()["Organization"]["Id"]
    tag = f"{next(_ids)}-{time.monotonic_ns() % 10**9}"
    status = orgs.create_account(AccountName=f"sender-{tag}", Email=f"s{tag}@example.com")
    member = orgs.describe_create_account_status(
        CreateAccountRequestId=status["CreateAccountStatus"]["Id"]
    )["CreateAccountStatus"]["AccountId"]
    return org_id, member


def test_template_passes_the_role_only_for_an_organization_destination() -> None:
    template, errors = decode_str((CFN / "sender.yaml").read_text())
    assert not errors
    role = template["Resources"]["SubscriptionRole"]
    assert role["Condition"] == "CreateRole"
    assert role["Properties"]["RoleName"] == {"Fn::Sub": "${NamePrefix}-subscription-role"}
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "logs.amazonaws.com"}
    (allowed,) = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert allowed["Action"] == "logs:PutLogEvents"
    assert ":destination:${DestinationName}" in allowed["Resource"]["Fn::Sub"]
    filters = {
        name: r
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Logs::SubscriptionFilter"
    }
    # ten for LogGroupNames, one for the heartbeat group: every filter must name the role
    assert sorted(filters) == sorted(
        [f"SubscriptionFilter{i}" for i in range(1, 11)] + ["HeartbeatSubscriptionFilter"]
    )
    for resource in filters.values():
        condition, with_role, without = resource["Properties"]["RoleArn"]["Fn::If"]
        assert condition == "UseRole" and without == {"Ref": "AWS::NoValue"}
        assert with_role == {
            "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/"
            "${NamePrefix}-subscription-role"
        }
    policy = template["Resources"]["AccountSubscriptionPolicy"]["Properties"]["PolicyDocument"]
    assert policy["Fn::If"][0] == "UseRole"
    assert '"RoleArn":' in policy["Fn::If"][1]["Fn::Sub"]
    assert '"RoleArn":' not in policy["Fn::If"][2]["Fn::Sub"]


def test_org_destination_stack_makes_the_role_and_filters_name_it(ext_endpoint: str) -> None:
    org_id, member = _org_member(ext_endpoint)
    prefix = f"orgsend{next(_ids)}"
    destination = f"{prefix}-destination"
    kinesis = _client(ext_endpoint, "kinesis")
    kinesis.create_stream(StreamName=f"{prefix}-stream", ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=f"{prefix}-stream")[
        "StreamDescriptionSummary"
    ]["StreamARN"]
    logs = _client(ext_endpoint, "logs")
    arn = logs.put_destination(
        destinationName=destination,
        targetArn=stream_arn,
        roleArn=f"arn:aws:iam::{LANDING}:role/cwl",
    )["destination"]["arn"]
    statement = {  # as main.yaml writes it with OrganizationId
        "Sid": "AllowOrganization",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "logs:PutSubscriptionFilter",
        "Resource": arn,
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}},
    }
    logs.put_destination_policy(
        destinationName=destination,
        accessPolicy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    sender_logs = _client(ext_endpoint, "logs", member)
    group = f"/{prefix}/app"
    sender_logs.create_log_group(logGroupName=group)

    cfn = _client(ext_endpoint, "cloudformation", member)
    parameters = {
        "LandingAccountId": LANDING,
        "DestinationName": destination,
        "NamePrefix": prefix,
        "OrganizationDestination": "true",
        "SubscriptionRoleRegion": REGION,
        "LogGroupNames": group,
    }
    cfn.create_stack(
        StackName=f"{prefix}-sender",
        TemplateBody=(CFN / "sender.yaml").read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = cfn.describe_stacks(StackName=f"{prefix}-sender")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    role_arn = f"arn:aws:iam::{member}:role/{prefix}-subscription-role"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["SubscriptionRoleArn"] == role_arn
    role = _client(ext_endpoint, "iam", member).get_role(RoleName=f"{prefix}-subscription-role")
    trust = role["Role"]["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = json.loads(trust)
    assert trust["Statement"][0]["Principal"] == {"Service": "logs.amazonaws.com"}
    (described,) = sender_logs.describe_subscription_filters(logGroupName=group)[
        "subscriptionFilters"
    ]
    assert (described["filterName"], described["roleArn"]) == (f"logzio-xacct-{REGION}", role_arn)
    (heartbeat,) = sender_logs.describe_subscription_filters(
        logGroupName="/xaccount-ops/heartbeat"
    )["subscriptionFilters"]
    assert (heartbeat["filterName"], heartbeat["roleArn"]) == (f"logzio-xacct-{REGION}", role_arn)
