"""The templates: cfn-lint clean, and the settings that fix the seed's problems are there."""

from __future__ import annotations

import re
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


# One region of each partition the templates must deploy in (the Makefile's CFN_LINT_REGIONS).
PARTITION_REGIONS = "us-east-1,cn-north-1,us-gov-west-1"


def test_cfn_lint_is_clean_in_every_partition() -> None:
    """All templates in one cfn-lint run (its start-up is most of its time)."""
    done = subprocess.run(
        [str(CFN_LINT), "--regions", PARTITION_REGIONS, "--", *(str(CFN / n) for n in TEMPLATES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_arn_takes_the_partition(name: str) -> None:
    """No ``arn:aws:`` literal (wrong in aws-cn and aws-us-gov); service principals are the
    global ``<service>.amazonaws.com`` in every partition (aws-cdk region-info: "Service
    principals are now globally <SERVICE>.amazonaws.com"), never built from AWS::URLSuffix."""
    text = (CFN / name).read_text()
    assert "arn:aws:" not in text
    principals = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "Service" in node and isinstance(node.get("Service"), str | dict | list):
                principals.append(node["Service"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(load(name).get("Resources", {}))
    for principal in principals:
        assert isinstance(principal, str) and principal.endswith(".amazonaws.com"), principal


def test_vpc_and_proxy_are_optional_and_complete() -> None:
    main = load("main.yaml")
    params = main["Parameters"]
    assert params["SubnetIds"]["Type"] == params["SecurityGroupIds"]["Type"] == "CommaDelimitedList"
    assert params["SubnetIds"]["Default"] == params["SecurityGroupIds"]["Default"] == ""
    assert params["HttpsProxy"]["NoEcho"] is True  # it may carry proxy credentials
    fn = main["Resources"]["ShipperFunction"]
    assert fn["Properties"]["VpcConfig"] == {
        "Fn::If": [
            "InVpc",
            {"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": {"Ref": "SecurityGroupIds"}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    # The managed ENI permissions only in a VPC, from the partition.
    managed = main["Resources"]["ShipperRole"]["Properties"]["ManagedPolicyArns"]["Fn::If"]
    assert managed[0] == "InVpc" and managed[2] == {"Ref": "AWS::NoValue"}
    assert managed[1] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
            "AWSLambdaVPCAccessExecutionRole"
        }
    ]
    env = fn["Properties"]["Environment"]["Variables"]
    assert env["HTTPS_PROXY"] == {
        "Fn::If": ["HasProxy", {"Ref": "HttpsProxy"}, {"Ref": "AWS::NoValue"}]
    }
    assert env["NO_PROXY"]["Fn::If"][1] == {"Ref": "NoProxy"}
    assert "SubnetsWithSecurityGroups" in main["Rules"]
    # No waiver for checkov's VPC check any more: VpcConfig is declared (conditionally).
    assert "CKV_AWS_117" not in {s["id"] for s in fn["Metadata"]["checkov"]["skip"]}


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("", True),
        ("http://proxy.internal:3128", True),
        ("proxy.internal:3128", True),
        ("http://user:pass@proxy.internal:3128", True),
        ("https://proxy.internal:3128", False),
        ("http://proxy.internal", False),
    ],
)
def test_https_proxy_parameter_pattern(value: str, ok: bool) -> None:
    pattern = load("main.yaml")["Parameters"]["HttpsProxy"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is ok


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
    metrics = {a["Properties"].get("MetricName") for a in alarms.values()}
    assert {"Errors", "IteratorAge", "ApproximateNumberOfMessagesVisible"} <= metrics


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
    assert len(filters) == 11  # ten listed groups and the heartbeat group
    for resource in filters.values():
        assert resource["Properties"]["FilterName"] == {"Fn::Sub": "logzio-xacct-${AWS::Region}"}


def test_sender_heartbeat_is_a_rule_writing_into_a_subscribed_group() -> None:
    sender = load("sender.yaml")
    res = sender["Resources"]
    group = res["HeartbeatLogGroup"]["Properties"]
    assert group == {"LogGroupName": "/xaccount-ops/heartbeat", "RetentionInDays": 1}
    rule = res["HeartbeatRule"]["Properties"]
    assert rule["ScheduleExpression"] == {
        "Fn::If": [
            "HeartbeatEveryMinute",
            "rate(1 minute)",
            {"Fn::Sub": "rate(${HeartbeatMinutes} minutes)"},
        ]
    }
    (target,) = rule["Targets"]
    assert target["Arn"]["Fn::Sub"].endswith(":log-group:${HeartbeatLogGroup}")
    policy = res["HeartbeatLogPolicy"]["Properties"]["PolicyDocument"]["Fn::Sub"]
    assert '"events.amazonaws.com"' in policy and "logs:PutLogEvents" in policy
    assert res["HeartbeatSubscriptionFilter"]["Properties"]["LogGroupName"] == {
        "Ref": "HeartbeatLogGroup"
    }
    assert sender["Parameters"]["HeartbeatMinutes"]["Default"] == 5
    assert sender["Conditions"]["HasHeartbeat"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "HeartbeatMinutes"}, 0]}]
    }


def test_sender_delivery_alarms_sum_our_filters_only() -> None:
    sender = load("sender.yaml")
    for name, metric in (
        ("DeliveryErrorsAlarm", "DeliveryErrors"),
        ("DeliveryThrottlingAlarm", "DeliveryThrottling"),
    ):
        alarm = sender["Resources"][name]
        assert alarm["Condition"] == "HasDeliveryAlarms"
        (query,) = alarm["Properties"]["Metrics"]
        text = query["Expression"]["Fn::Sub"]
        assert text.startswith(f"SELECT SUM({metric}) FROM SCHEMA(")
        assert text.endswith("WHERE FilterName = 'logzio-xacct-${AWS::Region}'")


def test_request_timeout_parameter_reaches_the_function() -> None:
    main = load("main.yaml")
    param = main["Parameters"]["LogzioRequestTimeoutSeconds"]
    assert (param["Type"], param["Default"]) == ("Number", 15)
    assert "LOGZIO_TIMEOUT_SECONDS" in param["Description"]
    env = main["Resources"]["ShipperFunction"]["Properties"]["Environment"]["Variables"]
    assert env["LOGZIO_TIMEOUT_SECONDS"] == {"Ref": "LogzioRequestTimeoutSeconds"}
