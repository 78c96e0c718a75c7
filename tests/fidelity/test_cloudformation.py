"""CloudFormation: NoEcho masking and a parameter-only change set, against AWS's recorded answers.

Fixture ``fixtures/cloudformation/no_echo.json`` (LocalStack ``test_stacks.py::
test_no_echo_parameter``, validated 2025-08-15). The template is the one that recording used
(LocalStack ``tests/aws/templates/cfn_no_echo.yml``): a bucket whose tag and metadata reference a
NoEcho parameter. Only the parts the toolkit reads are compared (parameters, outputs, change rows,
statuses); moto's other stack keys are out of this suite's scope.
"""

from __future__ import annotations

import time
from typing import Any

import boto3

from tests.fidelity.shapes import assert_same_shape, recorded

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  NormalParameter:
    Type: String
    Default: "Some default value here"
  SecretParameter:
    Type: String
    NoEcho: true
  SecretParameterWithDefault:
    Type: String
    NoEcho: true
    Default: "Default secret value here"
Resources:
  LocalBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: cfn-noecho-bucket
      Tags:
        - Key: SecretTag
          Value: !Ref SecretParameter
    Metadata:
      SensitiveData: !Ref SecretParameter
Outputs:
  SecretValue:
    Description: "Secret value from parameter"
    Value: !Ref SecretParameter
"""


def _by_key(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(parameters, key=lambda p: p["ParameterKey"])


def _wait(cfn: Any, name: str, change_set: str | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        if change_set:
            found = cfn.describe_change_set(StackName=name, ChangeSetName=change_set)
            done = found["Status"] in ("CREATE_COMPLETE", "FAILED")
        else:
            found = cfn.describe_stacks(StackName=name)["Stacks"][0]
            done = not found["StackStatus"].endswith("IN_PROGRESS")
        if done or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_no_echo_masked_and_parameter_change_set_rows(ext_endpoint: str) -> None:
    recording = recorded("cloudformation/no_echo")
    cfn = boto3.client(
        "cloudformation",
        region_name="us-east-1",
        endpoint_url=ext_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"fidelity-noecho-{time.monotonic_ns() % 10**9}"
    cfn.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE,
        Parameters=[{"ParameterKey": "SecretParameter", "ParameterValue": "SecretValue"}],
    )
    stack = _wait(cfn, name)
    aws_stack = recording["describe_stacks"]["Stacks"][0]
    # Both NoEcho parameters are ****, the one left at its Default too; outputs stay in clear.
    assert_same_shape(_by_key(aws_stack["Parameters"]), _by_key(stack["Parameters"]))
    assert_same_shape(aws_stack["Outputs"], stack["Outputs"])

    cfn.create_change_set(
        StackName=name,
        ChangeSetName="UpdateSecret",
        TemplateBody=TEMPLATE,
        Parameters=[{"ParameterKey": "SecretParameter", "ParameterValue": "NewSecretValue1"}],
    )
    change_set = _wait(cfn, name, "UpdateSecret")
    aws_change_set = recording["describe_change_set_on_create_complete"]
    assert_same_shape(aws_change_set["Changes"], change_set["Changes"])
    assert_same_shape(_by_key(aws_change_set["Parameters"]), _by_key(change_set["Parameters"]))
    assert (change_set["Status"], change_set["ExecutionStatus"]) == (
        aws_change_set["Status"],
        aws_change_set["ExecutionStatus"],
    )
    # DescribeStacks after the change set is created: still masked, nothing applied.
    again = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert_same_shape(
        _by_key(recording["describe_stack_on_create_complete"]["Stacks"][0]["Parameters"]),
        _by_key(again["Parameters"]),
    )


def _cfn(endpoint: str) -> Any:
    return boto3.client(
        "cloudformation",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


SIMPLE = "Resources:\n  MyTopic:\n    Type: AWS::SNS::Topic\n"


def test_no_change_answers(ext_endpoint: str) -> None:
    """fixtures cloudformation/create_change_set_no_changes (validated 2025-09-09) and
    cloudformation/update_stack_no_change (2024-05-07): the toolkit's "unchanged" reads both."""
    from botocore.exceptions import ClientError

    cfn = _cfn(ext_endpoint)
    name = f"fidelity-same-{time.monotonic_ns() % 10**9}"
    cfn.create_stack(StackName=name, TemplateBody=SIMPLE)
    _wait(cfn, name)
    cfn.create_change_set(
        StackName=name, ChangeSetName="same", ChangeSetType="UPDATE", TemplateBody=SIMPLE
    )
    described = _wait(cfn, name, "same")
    expected = recorded("cloudformation/create_change_set_no_changes", "change-set-description")
    for key in ("Status", "StatusReason", "ExecutionStatus", "Changes"):
        assert described[key] == expected[key], key
    try:
        cfn.update_stack(StackName=name, TemplateBody=SIMPLE)
    except ClientError as err:
        error = err.response["Error"]
    else:
        error = {}
    assert (
        error == recorded("cloudformation/update_stack_no_change", "no_change_exception")["Error"]
    )


def test_missing_stack_answer(ext_endpoint: str) -> None:
    """fixture cloudformation/describe_stacks_missing (validated 2025-07-21)."""
    from botocore.exceptions import ClientError

    from tests.fidelity.shapes import error_answer

    name = f"non-existing-{time.monotonic_ns() % 10**9}"
    try:
        _cfn(ext_endpoint).describe_stacks(StackName=name)
    except ClientError as err:
        ours = error_answer(err)
    else:
        ours = {}
    expected = recorded("cloudformation/describe_stacks_missing", "Error")
    assert_same_shape(expected, ours, ignore=("$.Error.Message",), why="names the stack")
    assert ours["Error"]["Message"] == f"Stack with id {name} does not exist"
