"""The templates: cfn-lint clean, and the settings that fix the seed's problems are there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode_str

from xaccount_ops.landing.package import supported_runtimes

CFN = Path(__file__).resolve().parents[2] / "cfn"
TEMPLATES = ("main.yaml", "destination.yaml", "sender.yaml")
CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def load(name: str) -> dict:
    template, errors = decode_str((CFN / name).read_text())
    assert not errors, errors
    return template


def resources_of(template: dict, kind: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


@pytest.mark.parametrize("name", TEMPLATES)
def test_cfn_lint_is_clean(name: str) -> None:
    done = subprocess.run(
        [str(CFN_LINT), str(CFN / name)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", TEMPLATES)
def test_no_sam_transform(name: str) -> None:
    assert "Transform" not in load(name)


def test_event_source_mapping_cannot_block_a_shard() -> None:
    main = load("main.yaml")
    (esm,) = resources_of(main, "AWS::Lambda::EventSourceMapping").values()
    props = esm["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert props["MaximumRetryAttempts"] == {"Ref": "MaximumRetryAttempts"}
    assert props["MaximumRecordAgeInSeconds"] == {"Ref": "MaximumRecordAgeInSeconds"}
    assert props["BatchSize"] == {"Ref": "KinesisStreamBatchSize"}
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["FailureStore", "Arn"]
    }
    params = main["Parameters"]
    # Finite defaults (AWS's own default, -1, retries forever: the seed's problem).
    assert 0 <= int(params["MaximumRetryAttempts"]["Default"]) <= 10000
    assert 60 <= int(params["MaximumRecordAgeInSeconds"]["Default"]) <= 604800
    assert params["StartingPosition"]["Default"] == "TRIM_HORIZON"
    assert params["KinesisStreamBatchSize"]["Default"] == 100


def test_failure_store_is_private_encrypted_tls_only_and_expires() -> None:
    """The S3 on-failure destination keeps the batches' records (AWS: an S3 destination gets the
    whole invocation record; SQS/SNS get metadata only)."""
    main = load("main.yaml")
    bucket = main["Resources"]["FailureStore"]["Properties"]
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "FailureRetentionDays"}
    assert main["Parameters"]["FailureRetentionDays"]["Default"] == 14
    (deny,) = main["Resources"]["FailureStorePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # The function's role: exactly what Lambda needs to write there.
    statements = main["Resources"]["ShipperRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    (store,) = [s for s in statements if s["Sid"] == "FailureStore"]
    assert sorted(store["Action"]) == ["s3:ListBucket", "s3:PutObject"]
    assert store["Resource"][0] == {"Fn::GetAtt": ["FailureStore", "Arn"]}
    assert not [s for s in statements if str(s.get("Action", "")).startswith("sqs:")]
    # Each checkov skip says why.
    for resource in main["Resources"].values():
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV_") and len(skip["comment"]) > 20


def test_logs_role_trust_is_limited_to_sources() -> None:
    main = load("main.yaml")
    role = main["Resources"]["LogzioCrossAccountRole"]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "logs.amazonaws.com"}
    condition = statement["Condition"]["Fn::If"]
    assert condition[0] == "IsOrganization"
    assert "aws:SourceOrgID" in condition[1]["StringEquals"]
    assert "aws:SourceArn" in condition[2]["StringLike"]
    (policy,) = role["Policies"]
    (allow,) = policy["PolicyDocument"]["Statement"]
    assert sorted(allow["Action"]) == ["kinesis:PutRecord", "kinesis:PutRecords"]
    assert allow["Resource"] == {"Fn::GetAtt": ["KinesisStream", "Arn"]}


def test_secret_access_is_scoped_to_the_one_secret() -> None:
    main = load("main.yaml")
    policy = main["Resources"]["ShipperSecretPolicy"]
    assert policy["Condition"] == "UseTokenSecret"
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert statement["Resource"] == {"Ref": "LogzioTokenSecretArn"}
    assert main["Parameters"]["LogzioTOKEN"]["NoEcho"] is True


def test_route_tokens_are_scoped_to_the_routes_secrets() -> None:
    main = load("main.yaml")
    for name, action, arns in (
        ("RouteSecretsPolicy", "secretsmanager:GetSecretValue", "RouteSecretArns"),
        ("RouteSsmPolicy", "ssm:GetParameter", "RouteSsmParameterArns"),
    ):
        (statement,) = main["Resources"][name]["Properties"]["PolicyDocument"]["Statement"]
        assert (statement["Action"], statement["Resource"]) == (action, {"Ref": arns})
    assert main["Parameters"]["LogzioRouteTokens"]["NoEcho"] is True
    env = main["Resources"]["ShipperFunction"]["Properties"]["Environment"]["Variables"]
    assert env["LOGZIO_ROUTES"]["Fn::If"][1] == {"Ref": "LogzioRoutes"}


def test_function_settings() -> None:
    main = load("main.yaml")
    fn = main["Resources"]["ShipperFunction"]["Properties"]
    assert fn["Handler"] == "shipper_lambda.handler.lambda_handler"
    # Every runtime the template offers can be built for and is one the pinned botocore knows.
    assert set(main["Parameters"]["FunctionRuntime"]["AllowedValues"]) <= set(supported_runtimes())
    env = fn["Environment"]["Variables"]
    for name in (
        "LOGZIO_TOKEN",
        "LOGZIO_TOKEN_SECRET",
        "LOGZIO_REGION",
        "LOGZIO_LISTENER_URL",
        "LOGZIO_COMPRESS",
        "LOGZIO_TYPE",
        "LOGZIO_TYPE_MAP",
        "ADDITIONAL_FIELDS",
        "INCLUDE_LOG_GROUPS",
        "EXCLUDE_LOG_GROUPS",
    ):
        assert name in env
    assert env["LOGZIO_TYPE_MAP"] == {"Ref": "LogzioTypeMap"}
    group = main["Resources"]["ShipperLogGroup"]["Properties"]
    assert group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${NamePrefix}-shipper"}
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    alarms = resources_of(main, "AWS::CloudWatch::Alarm")
    metrics = {a["Properties"]["MetricName"] for a in alarms.values()}
    assert metrics == {"Errors", "IteratorAge", "ApproximateNumberOfMessagesVisible"}


def test_seed_names_are_kept() -> None:
    main, destination = load("main.yaml"), load("destination.yaml")
    for name in (
        "LogzioTOKEN",
        "LogzioREGION",
        "LogzioCOMPRESS",
        "KinesisStreamBatchSize",
        "SendingAccounts",
        "AccountsArns",
    ):
        assert name in main["Parameters"]
    for name in ("RoleArn", "KinesisStreamArn", "SendingAccounts"):
        assert name in destination["Parameters"]
    for name in (
        "LogzioCrossAccountKinesisStreamArn",
        "LogzioCrossAccountDestinationARN",
        "LogzioCrossAccountDestinationName",
        "LogzioCrossAccountRole",
        "ShipperFunctionName",
        "FailureQueueUrl",
        "FailureQueueArn",
        "FailureStoreBucket",
    ):
        assert name in main["Outputs"]
    assert {"LogzioCrossAccountDestinationARN", "LogzioCrossAccountDestinationName"} <= set(
        destination["Outputs"]
    )


def test_sender_filter_name_is_the_contract() -> None:
    sender = load("sender.yaml")
    filters = resources_of(sender, "AWS::Logs::SubscriptionFilter")
    assert len(filters) == 10
    for resource in filters.values():
        assert resource["Properties"]["FilterName"] == {"Fn::Sub": "logzio-xacct-${AWS::Region}"}
