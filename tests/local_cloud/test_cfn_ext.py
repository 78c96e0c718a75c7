"""moto_ext.cfn over HTTP: stacks with Logs destinations and subscription filters, change sets,
and the project's own templates, on an in-process moto server with the extension installed.

Each test would fail on plain moto 5.2.5: it skips both Logs types (no destination, no filter,
``GetAtt ... Arn`` outputs missing), and a stack created by a change set has no outputs.
"""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from tests.support import local_client

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's default account
_ids = itertools.count(1)


@pytest.fixture
def endpoint(ext_endpoint: str) -> str:
    """The in-process moto server with the project's extension (tests/conftest.py)."""
    return ext_endpoint


def client(endpoint: str, service: str, region: str = "us-east-1") -> Any:
    return local_client(endpoint, service, region)


def params(**values: str) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def outputs(cfn: Any, stack: str) -> dict[str, str]:
    (described,) = cfn.describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def policy_principals(logs: Any, name: str) -> list[str]:
    (destination,) = logs.describe_destinations(DestinationNamePrefix=name)["destinations"]
    return json.loads(destination["accessPolicy"])["Statement"][0]["Principal"]["AWS"]


# A small template: a stream, a role, a destination whose policy lists the accounts parameter,
# and a log group with a subscription filter that has no FilterName (CloudFormation names it).
SMALL = """
Parameters:
  Prefix: {Type: String}
  Accounts: {Type: String}
  Pattern: {Type: String, Default: ""}
  Count: {Type: Number, Default: 1}
Resources:
  Stream:
    Type: AWS::Kinesis::Stream
    Properties: {Name: !Sub "${Prefix}-stream", ShardCount: !Ref Count}
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Principal: {Service: logs.amazonaws.com}, Action: sts:AssumeRole}
  Destination:
    Type: AWS::Logs::Destination
    Properties:
      DestinationName: !Sub "${Prefix}-destination"
      RoleArn: !GetAtt Role.Arn
      TargetArn: !GetAtt Stream.Arn
      DestinationPolicy: !Sub
        - '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["${A}"]},"Action":"logs:PutSubscriptionFilter","Resource":"*"}]}'
        - A: !Join ['","', !Split [",", !Ref Accounts]]
  Group:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: !Sub "/${Prefix}/app"}
  Filter:
    Type: AWS::Logs::SubscriptionFilter
    Properties:
      LogGroupName: !Ref Group
      FilterPattern: !Ref Pattern
      DestinationArn: !GetAtt Stream.Arn
      RoleArn: !GetAtt Role.Arn
      Distribution: Random
Outputs:
  DestinationArn: {Value: !GetAtt Destination.Arn}
  DestinationName: {Value: !Ref Destination}
  FilterName: {Value: !Ref Filter}
"""


def test_stack_creates_updates_and_deletes_destination_and_filter(endpoint: str) -> None:
    cfn, logs = client(endpoint, "cloudformation"), client(endpoint, "logs")
    prefix = f"small{next(_ids)}"
    stack = f"{prefix}-stack"
    cfn.create_stack(
        StackName=stack,
        TemplateBody=SMALL,
        Parameters=params(Prefix=prefix, Accounts="111111111111"),
    )

    out = outputs(cfn, stack)
    assert (
        out["DestinationArn"]
        == f"arn:aws:logs:us-east-1:{ACCOUNT}:destination:{prefix}-destination"
    )
    assert out["DestinationName"] == f"{prefix}-destination"
    assert policy_principals(logs, f"{prefix}-destination") == ["111111111111"]
    (sub,) = logs.describe_subscription_filters(logGroupName=f"/{prefix}/app")[
        "subscriptionFilters"
    ]
    assert sub["filterName"] == out["FilterName"]
    assert sub["filterName"].startswith(f"{stack}-Filter-")  # generated like CloudFormation does
    assert sub["destinationArn"].endswith(f":stream/{prefix}-stream")

    cfn.update_stack(
        StackName=stack,
        TemplateBody=SMALL,
        Parameters=params(Prefix=prefix, Accounts="111111111111,222222222222", Pattern="ERROR"),
    )
    assert policy_principals(logs, f"{prefix}-destination") == ["111111111111", "222222222222"]
    (sub,) = logs.describe_subscription_filters(logGroupName=f"/{prefix}/app")[
        "subscriptionFilters"
    ]
    assert (sub["filterName"], sub["filterPattern"]) == (out["FilterName"], "ERROR")

    cfn.delete_stack(StackName=stack)
    assert logs.describe_destinations(DestinationNamePrefix=prefix)["destinations"] == []
    assert logs.describe_log_groups(logGroupNamePrefix=f"/{prefix}/")["logGroups"] == []


def test_change_set_create_and_execute_yields_outputs_and_parameters(endpoint: str) -> None:
    cfn, logs = client(endpoint, "cloudformation"), client(endpoint, "logs")
    prefix = f"cs{next(_ids)}"
    stack = f"{prefix}-stack"
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName="create",
        ChangeSetType="CREATE",
        TemplateBody=SMALL,
        Parameters=params(Prefix=prefix, Accounts="111111111111"),
    )
    cfn.execute_change_set(StackName=stack, ChangeSetName="create")
    assert outputs(cfn, stack)["DestinationName"] == f"{prefix}-destination"

    # Same effective values (a default spelled out, a number as text): no changes, as in AWS.
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName="same",
        ChangeSetType="UPDATE",
        TemplateBody=SMALL,
        Parameters=params(Prefix=prefix, Accounts="111111111111", Count="1"),
    )
    same = cfn.describe_change_set(StackName=stack, ChangeSetName="same")
    assert same["Status"] == "FAILED"
    assert "didn't contain changes" in same["StatusReason"]

    cfn.create_change_set(
        StackName=stack,
        ChangeSetName="more",
        ChangeSetType="UPDATE",
        TemplateBody=SMALL,
        Parameters=[
            {"ParameterKey": "Prefix", "UsePreviousValue": True},
            {"ParameterKey": "Accounts", "ParameterValue": "111111111111,333333333333"},
        ],
    )
    cfn.execute_change_set(StackName=stack, ChangeSetName="more")
    assert policy_principals(logs, f"{prefix}-destination") == ["111111111111", "333333333333"]
    (described,) = cfn.describe_stacks(StackName=stack)["Stacks"]
    values = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
    assert values["Accounts"] == "111111111111,333333333333"
    assert outputs(cfn, stack)["DestinationArn"].endswith(f":destination:{prefix}-destination")
    cfn.delete_stack(StackName=stack)


def _artifact(endpoint: str, region: str) -> tuple[str, str]:
    bucket = f"artifacts-{region}"
    s3 = client(endpoint, "s3", region)
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("shipper_lambda/__init__.py", "")
        archive.writestr("shipper_lambda/handler.py", "def lambda_handler(e, c):\n    return {}\n")
    s3.put_object(Bucket=bucket, Key="shipper.zip", Body=buf.getvalue())
    return bucket, "shipper.zip"


def test_project_main_and_destination_templates_deploy(endpoint: str) -> None:
    cfn, logs = client(endpoint, "cloudformation"), client(endpoint, "logs")
    prefix = f"main{next(_ids)}"
    bucket, key = _artifact(endpoint, "us-east-1")
    main = (REPO / "cfn" / "main.yaml").read_text()
    values = {
        "NamePrefix": prefix,
        "LogzioTOKEN": "local-ship-token",
        "SendingAccounts": "111111111111,222222222222",
        "ArtifactBucket": bucket,
        "ArtifactKey": key,
    }
    cfn.create_stack(
        StackName=prefix,
        TemplateBody=main,
        Parameters=params(**values),
        Capabilities=["CAPABILITY_IAM"],
    )
    out = outputs(cfn, prefix)
    assert out["LogzioCrossAccountDestinationName"] == f"{prefix}-destination"
    assert out["LogzioCrossAccountDestinationARN"] == (
        f"arn:aws:logs:us-east-1:{ACCOUNT}:destination:{prefix}-destination"
    )
    assert out["LogzioCrossAccountKinesisStreamArn"].endswith(f":stream/{prefix}-stream")
    assert out["LogzioCrossAccountRole"].startswith(f"arn:aws:iam::{ACCOUNT}:role/")
    (destination,) = logs.describe_destinations(DestinationNamePrefix=prefix)["destinations"]
    assert destination["targetArn"] == out["LogzioCrossAccountKinesisStreamArn"]
    assert destination["roleArn"] == out["LogzioCrossAccountRole"]
    assert policy_principals(logs, prefix) == ["111111111111", "222222222222"]

    # What the ESM emulator reads back from the deployed mapping.
    (mapping,) = client(endpoint, "lambda").list_event_source_mappings(
        FunctionName=f"{prefix}-shipper"
    )["EventSourceMappings"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    bucket = out["FailureStoreBucket"]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == f"arn:aws:s3:::{bucket}"

    # The failure store as AWS would hold it (moto alone keeps only encryption and tags).
    s3 = client(endpoint, "s3")
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert set(block.values()) == {True}
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Expiration"]["Days"] == 14
    (deny,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (notify,) = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert notify["QueueArn"] == out["FailureQueueArn"]
    queue_policy = client(endpoint, "sqs").get_queue_attributes(
        QueueUrl=out["FailureQueueUrl"], AttributeNames=["Policy"]
    )["Attributes"]["Policy"]
    assert json.loads(queue_policy)["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    # A batch written where Lambda writes it gets through the TLS-only policy (the local cloud
    # counts as secure transport) and notifies the stack's queue.
    s3.put_object(Bucket=bucket, Key="aws/lambda/u/shardId-0/2026/01/01/x", Body=b"{}")
    sqs = client(endpoint, "sqs")
    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=out["FailureQueueUrl"], MaxNumberOfMessages=10).get(
            "Messages", []
        )
    ]
    # Keys come URL-encoded in S3 event notifications.
    keys = [unquote_plus(r["s3"]["object"]["key"]) for b in bodies for r in b.get("Records", [])]
    assert keys == ["aws/lambda/u/shardId-0/2026/01/01/x"]
    assert (mapping["BatchSize"], mapping["MaximumRetryAttempts"]) == (100, 10)

    # Alarms and the stream's mode/encryption, which plain moto drops.
    alarms = client(endpoint, "cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    by_name = {a["AlarmName"]: a for a in alarms}
    assert sorted(by_name) == sorted(
        f"{prefix}-{name}"
        for name in (
            "mapping-dropped",
            "mapping-failure-store",
            "shipper-auth-failures",
            "shipper-dropped",
            "shipper-errors",
            "shipper-failures",
            "shipper-iterator-age",
            "shipper-silent",
            "stream-write-throttled",
        )
    )
    assert by_name[f"{prefix}-shipper-iterator-age"]["Threshold"] == 600000
    assert by_name[f"{prefix}-shipper-failures"]["Dimensions"] == [
        {"Name": "QueueName", "Value": f"{prefix}-shipper-failures"}
    ]
    stream = client(endpoint, "kinesis").describe_stream_summary(StreamName=f"{prefix}-stream")
    summary = stream["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert (summary["EncryptionType"], summary["KeyId"]) == ("KMS", "alias/aws/kinesis")
    resources = cfn.describe_stack_resources(StackName=prefix)["StackResources"]
    assert all(r.get("LogicalResourceId") for r in resources)  # no skipped (empty) entries

    # One more region: destination.yaml pointing at the main stack's stream and role.
    regional = client(endpoint, "cloudformation", "eu-west-1")
    regional.create_stack(
        StackName=f"{prefix}-eu",
        TemplateBody=(REPO / "cfn" / "destination.yaml").read_text(),
        Parameters=params(
            NamePrefix=prefix,
            RoleArn=out["LogzioCrossAccountRole"],
            KinesisStreamArn=out["LogzioCrossAccountKinesisStreamArn"],
            SendingAccounts="111111111111",
        ),
    )
    assert outputs(regional, f"{prefix}-eu")["LogzioCrossAccountDestinationARN"] == (
        f"arn:aws:logs:eu-west-1:{ACCOUNT}:destination:{prefix}-destination"
    )

    cfn.update_stack(
        StackName=prefix,
        TemplateBody=main,
        Parameters=params(**{**values, "SendingAccounts": "111111111111,333333333333"}),
        Capabilities=["CAPABILITY_IAM"],
    )
    assert policy_principals(logs, prefix) == ["111111111111", "333333333333"]
    assert outputs(cfn, prefix)["LogzioCrossAccountDestinationName"] == f"{prefix}-destination"

    regional.delete_stack(StackName=f"{prefix}-eu")
    cfn.delete_stack(StackName=prefix)
    cloudwatch = client(endpoint, "cloudwatch")
    assert cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"] == []
    for region in ("us-east-1", "eu-west-1"):
        regional_logs = client(endpoint, "logs", region)
        assert (
            regional_logs.describe_destinations(DestinationNamePrefix=prefix)["destinations"] == []
        )


RENAMES = """
Parameters:
  Prefix: {Type: String}
  DestinationName: {Type: String}
  FilterName: {Type: String}
Resources:
  Stream:
    Type: AWS::Kinesis::Stream
    Properties: {Name: !Sub "${Prefix}-stream", ShardCount: 1}
  Destination:
    Type: AWS::Logs::Destination
    Properties:
      DestinationName: !Ref DestinationName
      RoleArn: !Sub "arn:aws:iam::${AWS::AccountId}:role/logs-writer"
      TargetArn: !GetAtt Stream.Arn
  Group:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: !Sub "/${Prefix}/app"}
  Filter:
    Type: AWS::Logs::SubscriptionFilter
    Properties:
      FilterName: !Ref FilterName
      LogGroupName: !Ref Group
      FilterPattern: ""
      DestinationArn: !GetAtt Stream.Arn
      # AWS: "destinationArn for vendor kinesis cannot be used without roleArn"
      RoleArn: !Sub "arn:aws:iam::${AWS::AccountId}:role/logs-writer"
Outputs:
  DestinationArn: {Value: !GetAtt Destination.Arn}
  FilterName: {Value: !Ref Filter}
"""


def test_renames_replace_destination_and_filter(endpoint: str) -> None:
    cfn, logs = client(endpoint, "cloudformation"), client(endpoint, "logs")
    prefix = f"rename{next(_ids)}"
    cfn.create_stack(
        StackName=prefix,
        TemplateBody=RENAMES,
        Parameters=params(Prefix=prefix, DestinationName=f"{prefix}-a", FilterName="first"),
    )
    (destination,) = logs.describe_destinations(DestinationNamePrefix=prefix)["destinations"]
    assert destination.get("accessPolicy") is None  # no DestinationPolicy given
    cfn.update_stack(
        StackName=prefix,
        TemplateBody=RENAMES,
        Parameters=params(Prefix=prefix, DestinationName=f"{prefix}-b", FilterName="second"),
    )
    names = [
        d["destinationName"]
        for d in logs.describe_destinations(DestinationNamePrefix=prefix)["destinations"]
    ]
    assert names == [f"{prefix}-b"]
    filters = logs.describe_subscription_filters(logGroupName=f"/{prefix}/app")
    assert [f["filterName"] for f in filters["subscriptionFilters"]] == ["second"]
    assert outputs(cfn, prefix) == {
        "DestinationArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:destination:{prefix}-b",
        "FilterName": "second",
    }
    cfn.delete_stack(StackName=prefix)
    assert logs.describe_destinations(DestinationNamePrefix=prefix)["destinations"] == []


def test_previous_list_value_and_an_uncreated_conditional_resource_update(endpoint: str) -> None:
    """Two moto 5.2.5 faults an ``accounts add`` hit (HTTP 500 on ExecuteChangeSet): a
    CommaDelimitedList kept with UsePreviousValue was split twice, and a resource whose Condition
    is false was "modified" although it was never created. AWS updates such a stack."""
    cfn = client(endpoint, "cloudformation")
    name = f"cfn-list-{next(_ids)}"
    template = json.dumps(
        {
            "Parameters": {
                "Arns": {"Type": "CommaDelimitedList", "Default": ""},
                "Other": {"Type": "String", "Default": "a"},
            },
            "Conditions": {
                "HasArns": {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "Arns"}]}, ""]}]}
            },
            "Resources": {
                "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name}},
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}
                    },
                },
                "ArnPolicy": {
                    "Type": "AWS::IAM::Policy",
                    "Condition": "HasArns",
                    "Properties": {
                        "PolicyName": "p",
                        "Roles": [{"Ref": "Role"}],
                        "PolicyDocument": {
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "s3:GetObject",
                                    "Resource": {"Ref": "Arns"},
                                }
                            ]
                        },
                    },
                },
            },
        }
    )
    cfn.create_stack(StackName=name, TemplateBody=template, Capabilities=["CAPABILITY_IAM"])
    cfn.create_change_set(
        StackName=name,
        ChangeSetName="update",
        ChangeSetType="UPDATE",
        UsePreviousTemplate=True,
        Parameters=[
            {"ParameterKey": "Arns", "UsePreviousValue": True},
            {"ParameterKey": "Other", "ParameterValue": "b"},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    cfn.execute_change_set(StackName=name, ChangeSetName="update")
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["Other"] == "b"
    types = {
        r["ResourceType"] for r in cfn.describe_stack_resources(StackName=name)["StackResources"]
    }
    assert "AWS::IAM::Policy" not in types
