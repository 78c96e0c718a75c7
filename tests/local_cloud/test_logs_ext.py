"""moto_ext.logs over HTTP: cross-account destinations, delivery, filter patterns, limits,
account-level subscription filter policies.

Real boto3 clients against an in-process moto server with the extension installed. Each test
would fail on plain moto 5.2.5: it reads a destination ARN as a log group (so every put to a
destination fails), delivers nothing to a destination's stream, ignores filter patterns, refuses
to update a filter when two exist, and has no account policies. Delivery is synchronous inside
PutLogEvents, so each test reads the landing stream right after the put.
"""

from __future__ import annotations

import gzip
import itertools
import json
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

LANDING = "123456789012"  # moto's default account: the "testing" credentials
SENDER = "111111111111"
REGION = "us-east-1"
_ids = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}-{time.monotonic_ns() % 10**9}"


def client(endpoint: str, service: str, creds: dict[str, str] | None = None, **kw: Any) -> Any:
    keys = creds or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(
        service,
        region_name=kw.get("region", REGION),
        endpoint_url=endpoint,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        **keys,
    )


def assume(endpoint: str, account: str) -> dict[str, str]:
    """Credentials moto maps to ``account``."""
    sts = client(endpoint, "sts")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/x", RoleSessionName="tests")[
        "Credentials"
    ]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def landing_destination(endpoint: str, policy: dict[str, Any] | None) -> tuple[str, str]:
    """A Kinesis stream and a destination in front of it in the landing account: (dest ARN, stream)."""
    kinesis = client(endpoint, "kinesis")
    stream = unique("landing")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    logs = client(endpoint, "logs")
    name = unique("dest")
    arn = logs.put_destination(
        destinationName=name, targetArn=stream_arn, roleArn=f"arn:aws:iam::{LANDING}:role/cwl"
    )["destination"]["arn"]
    if policy is not None:
        logs.put_destination_policy(destinationName=name, accessPolicy=json.dumps(policy))
    return arn, stream


def allow(principal: Any, arn: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "logs:PutSubscriptionFilter",
        "Resource": arn,
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def dest_with_policy(endpoint: str, principal: Any, condition: Any = None) -> tuple[str, str]:
    arn, stream = landing_destination(endpoint, None)
    name = arn.rsplit(":", 1)[1]
    policy = allow(principal, arn, condition)
    client(endpoint, "logs").put_destination_policy(
        destinationName=name, accessPolicy=json.dumps(policy)
    )
    return arn, stream


def sender_group(logs: Any) -> tuple[str, str]:
    group, stream = unique("/app/group"), "stream-1"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    return group, stream


def records(endpoint: str, stream: str) -> list[dict[str, Any]]:
    """Every record in the landing stream, gunzipped, with its partition key."""
    kinesis = client(endpoint, "kinesis")
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    out = []
    for record in kinesis.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
        payload = json.loads(gzip.decompress(record["Data"]))
        payload["_key"] = record["PartitionKey"]
        out.append(payload)
    return out


def put(logs: Any, group: str, stream: str, *messages: str) -> None:
    now = int(time.time() * 1000)
    events = [{"timestamp": now + i, "message": m} for i, m in enumerate(messages)]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def error_code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


# --- put_subscription_filter checks --------------------------------------------------------------


def test_subscribe_allowed_by_account_list(ext_endpoint: str) -> None:
    arn, _ = dest_with_policy(ext_endpoint, {"AWS": [SENDER]})
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, SENDER))
    group, _ = sender_group(logs)
    logs.put_subscription_filter(
        logGroupName=group,
        filterName="logzio-xacct-us-east-1",
        filterPattern="",
        destinationArn=arn,
    )
    (described,) = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert described["destinationArn"] == arn


def test_subscribe_allowed_by_root_arn(ext_endpoint: str) -> None:
    arn, _ = dest_with_policy(ext_endpoint, {"AWS": f"arn:aws:iam::{SENDER}:root"})
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, SENDER))
    group, _ = sender_group(logs)
    logs.put_subscription_filter(
        logGroupName=group, filterName="f", filterPattern="", destinationArn=arn
    )
    assert logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]


def _organization(endpoint: str) -> tuple[str, str]:
    """(org id, a member account id) from the management account; tolerates an existing org."""
    orgs = client(endpoint, "organizations")
    try:
        org_id = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    except ClientError as err:
        if err.response["Error"]["Code"] != "AlreadyInOrganizationException":
            raise
        org_id = orgs.describe_organization()["Organization"]["Id"]
    status = orgs.create_account(AccountName=unique("member"), Email=f"{unique('m')}@example.com")
    account = orgs.describe_create_account_status(
        CreateAccountRequestId=status["CreateAccountStatus"]["Id"]
    )["CreateAccountStatus"]["AccountId"]
    return org_id, account


def test_subscribe_allowed_by_principal_org_id(ext_endpoint: str) -> None:
    org_id, member = _organization(ext_endpoint)
    arn, _ = dest_with_policy(ext_endpoint, "*", {"StringEquals": {"aws:PrincipalOrgID": org_id}})
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, member))
    group, _ = sender_group(logs)
    # An organization-wide destination takes a filter only with a role in the sender (AWS's
    # error: tests/fidelity fixture logs/org_destination_requires_role.json).
    role = f"arn:aws:iam::{member}:role/logzio-xacct-subscription-role"
    logs.put_subscription_filter(
        logGroupName=group, filterName="f", filterPattern="", destinationArn=arn, roleArn=role
    )
    assert logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]

    outsider = client(ext_endpoint, "logs", assume(ext_endpoint, "222233334444"))
    other_group, _ = sender_group(outsider)
    with pytest.raises(ClientError) as err:
        outsider.put_subscription_filter(
            logGroupName=other_group,
            filterName="f",
            filterPattern="",
            destinationArn=arn,
            roleArn="arn:aws:iam::222233334444:role/logzio-xacct-subscription-role",
        )
    assert error_code(err)[0] == "AccessDeniedException"


def test_subscribe_denied_names_the_account(ext_endpoint: str) -> None:
    arn, _ = dest_with_policy(ext_endpoint, {"AWS": ["999999999999"]})
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, SENDER))
    group, _ = sender_group(logs)
    with pytest.raises(ClientError) as err:
        logs.put_subscription_filter(
            logGroupName=group, filterName="f", filterPattern="", destinationArn=arn
        )
    code, message = error_code(err)
    assert code == "AccessDeniedException"
    assert message == (
        f"User with accountId: {SENDER} is not authorized to perform: "
        f"logs:PutSubscriptionFilter on resource: {arn}"
    )
    assert logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"] == []


def test_subscribe_denied_without_policy(ext_endpoint: str) -> None:
    arn, _ = landing_destination(ext_endpoint, None)
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, SENDER))
    group, _ = sender_group(logs)
    with pytest.raises(ClientError) as err:
        logs.put_subscription_filter(
            logGroupName=group, filterName="f", filterPattern="", destinationArn=arn
        )
    assert error_code(err)[0] == "AccessDeniedException"


def test_destination_missing_or_in_another_region(ext_endpoint: str) -> None:
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, SENDER))
    group, _ = sender_group(logs)
    missing = f"arn:aws:logs:{REGION}:{LANDING}:destination:{unique('nope')}"
    with pytest.raises(ClientError) as err:
        logs.put_subscription_filter(
            logGroupName=group, filterName="f", filterPattern="", destinationArn=missing
        )
    assert error_code(err)[0] == "ResourceNotFoundException"

    arn, _ = dest_with_policy(ext_endpoint, {"AWS": [SENDER]})
    elsewhere = arn.replace(f":{REGION}:", ":eu-west-1:")
    with pytest.raises(ClientError) as err:
        logs.put_subscription_filter(
            logGroupName=group, filterName="f", filterPattern="", destinationArn=elsewhere
        )
    assert error_code(err)[0] == "InvalidParameterException"


def test_malformed_json_pattern_is_refused(ext_endpoint: str) -> None:
    arn, _ = landing_destination(ext_endpoint, None)
    logs = client(ext_endpoint, "logs")
    group, _ = sender_group(logs)
    with pytest.raises(ClientError) as err:
        logs.put_subscription_filter(
            logGroupName=group, filterName="f", filterPattern="{ $.level = }", destinationArn=arn
        )
    assert error_code(err)[0] == "InvalidParameterException"


# --- delivery ------------------------------------------------------------------------------------


def test_delivery_in_aws_shape(ext_endpoint: str) -> None:
    arn, landing = dest_with_policy(ext_endpoint, {"AWS": [SENDER]})
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, SENDER))
    group, stream = sender_group(logs)
    logs.put_subscription_filter(
        logGroupName=group,
        filterName="logzio-xacct-us-east-1",
        filterPattern="",
        destinationArn=arn,
    )
    put(logs, group, stream, "first", "second")
    put(logs, group, stream, "third")

    control, data, more = records(ext_endpoint, landing)
    assert control["messageType"] == "CONTROL_MESSAGE"
    assert control["owner"] == "CloudwatchLogs"
    assert control["logEvents"][0]["message"].startswith("CWL CONTROL MESSAGE")
    assert data["messageType"] == "DATA_MESSAGE"
    assert data["owner"] == SENDER
    assert (data["logGroup"], data["logStream"], data["_key"]) == (group, stream, stream)
    assert data["subscriptionFilters"] == ["logzio-xacct-us-east-1"]
    assert [e["message"] for e in data["logEvents"]] == ["first", "second"]
    assert [e["message"] for e in more["logEvents"]] == ["third"]
    ids = [e["id"] for e in data["logEvents"] + more["logEvents"]]
    assert all(isinstance(i, str) and len(i) == 56 and i.isdigit() for i in ids)
    assert len(set(ids)) == 3
    assert all(isinstance(e["timestamp"], int) for e in data["logEvents"])


def test_missing_stream_is_not_the_senders_problem(
    ext_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    arn, landing = dest_with_policy(ext_endpoint, {"AWS": [SENDER]})
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, SENDER))
    group, stream = sender_group(logs)
    logs.put_subscription_filter(
        logGroupName=group, filterName="f", filterPattern="", destinationArn=arn
    )
    client(ext_endpoint, "kinesis").delete_stream(StreamName=landing)
    with caplog.at_level("WARNING", logger="xaccount_ops.local.moto_ext.logs"):
        put(logs, group, stream, "into the void")
    events = logs.get_log_events(logGroupName=group, logStreamName=stream)["events"]
    assert [e["message"] for e in events] == ["into the void"]
    # the put succeeds, as on AWS, but the lost delivery is said out loud
    assert any(arn in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_filter_pattern_end_to_end(ext_endpoint: str) -> None:
    arn, landing = dest_with_policy(ext_endpoint, {"AWS": [SENDER]})
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, SENDER))
    group, stream = sender_group(logs)
    logs.put_subscription_filter(
        logGroupName=group,
        filterName="f",
        filterPattern='{ $.level = "ERROR" || $.latency > 500 }',
        destinationArn=arn,
    )
    put(
        logs,
        group,
        stream,
        '{"level": "ERROR", "msg": "boom"}',
        '{"level": "INFO", "latency": 12}',
        "ERROR but not JSON",
        '{"level": "INFO", "latency": 900}',
    )
    put(logs, group, stream, '{"level": "INFO"}')  # nothing matches: no record at all

    control, data = records(ext_endpoint, landing)
    assert control["messageType"] == "CONTROL_MESSAGE"
    assert [json.loads(e["message"]) for e in data["logEvents"]] == [
        {"level": "ERROR", "msg": "boom"},
        {"level": "INFO", "latency": 900},
    ]


def test_update_while_two_filters_exist(ext_endpoint: str) -> None:
    own_a, landing_a = landing_destination(ext_endpoint, None)  # own destinations: no policy
    own_b, _ = landing_destination(ext_endpoint, None)
    logs = client(ext_endpoint, "logs")
    group, stream = sender_group(logs)
    for name, arn in (("one", own_a), ("two", own_b)):
        logs.put_subscription_filter(
            logGroupName=group, filterName=name, filterPattern="", destinationArn=arn
        )
    logs.put_subscription_filter(
        logGroupName=group, filterName="one", filterPattern="ERROR", destinationArn=own_a
    )
    described = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert {f["filterName"]: f["filterPattern"] for f in described} == {"one": "ERROR", "two": ""}
    with pytest.raises(ClientError) as err:
        logs.put_subscription_filter(
            logGroupName=group, filterName="three", filterPattern="", destinationArn=own_a
        )
    assert error_code(err)[0] == "LimitExceededException"

    put(logs, group, stream, "INFO fine", "ERROR bad")
    control, data = records(ext_endpoint, landing_a)  # the update sent no second control message
    assert control["messageType"] == "CONTROL_MESSAGE"
    assert (data["owner"], data["subscriptionFilters"]) == (LANDING, ["one"])
    assert [e["message"] for e in data["logEvents"]] == ["ERROR bad"]


# --- account policies ----------------------------------------------------------------------------


def test_account_policy_delivers_for_groups_not_excluded(ext_endpoint: str) -> None:
    arn, landing = dest_with_policy(ext_endpoint, {"AWS": [SENDER]})
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, SENDER))
    kept, kept_stream = sender_group(logs)
    skipped, skipped_stream = sender_group(logs)
    name = unique("logzio-xacct-us-east-1")
    document = {"DestinationArn": arn, "FilterPattern": "-DEBUG", "Distribution": "Random"}
    logs.put_account_policy(
        policyName=name,
        policyDocument=json.dumps(document),
        policyType="SUBSCRIPTION_FILTER_POLICY",
        scope="ALL",
        selectionCriteria=f'LogGroupName NOT IN ["{skipped}"]',
    )
    (policy,) = [
        p
        for p in logs.describe_account_policies(policyType="SUBSCRIPTION_FILTER_POLICY")[
            "accountPolicies"
        ]
        if p["policyName"] == name
    ]
    assert json.loads(policy["policyDocument"]) == document
    assert policy["selectionCriteria"] == f'LogGroupName NOT IN ["{skipped}"]'

    put(logs, kept, kept_stream, "INFO shipped", "DEBUG not shipped")
    put(logs, skipped, skipped_stream, "INFO excluded group")
    later, later_stream = sender_group(logs)  # created after the policy: covered too
    put(logs, later, later_stream, "INFO new group")
    logs.delete_account_policy(policyName=name, policyType="SUBSCRIPTION_FILTER_POLICY")
    put(logs, kept, kept_stream, "INFO after delete")

    control, data, new_group = records(ext_endpoint, landing)
    assert control["messageType"] == "CONTROL_MESSAGE"
    assert (data["owner"], data["logGroup"], data["subscriptionFilters"]) == (SENDER, kept, [name])
    assert [e["message"] for e in data["logEvents"]] == ["INFO shipped"]
    assert (new_group["logGroup"], new_group["subscriptionFilters"]) == (later, [name])
    assert [e["message"] for e in new_group["logEvents"]] == ["INFO new group"]
    remaining = logs.describe_account_policies(policyType="SUBSCRIPTION_FILTER_POLICY")
    assert name not in [p["policyName"] for p in remaining["accountPolicies"]]


def test_one_subscription_filter_account_policy_per_region(ext_endpoint: str) -> None:
    arn, landing = dest_with_policy(ext_endpoint, {"AWS": ["444455556666"]})
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, "444455556666"))

    def put_policy(name: str, pattern: str) -> None:
        logs.put_account_policy(
            policyName=name,
            policyDocument=json.dumps({"DestinationArn": arn, "FilterPattern": pattern}),
            policyType="SUBSCRIPTION_FILTER_POLICY",
            scope="ALL",
        )

    put_policy("first", "")
    put_policy("first", "ERROR")  # same name: an update
    with pytest.raises(ClientError) as err:
        put_policy("second", "")
    assert error_code(err)[0] == "LimitExceededException"
    (policy,) = logs.describe_account_policies(policyType="SUBSCRIPTION_FILTER_POLICY")[
        "accountPolicies"
    ]
    assert json.loads(policy["policyDocument"])["FilterPattern"] == "ERROR"
    logs.delete_account_policy(policyName="first", policyType="SUBSCRIPTION_FILTER_POLICY")
    assert [r["messageType"] for r in records(ext_endpoint, landing)] == ["CONTROL_MESSAGE"]


def test_account_policy_checks_the_destination_policy(ext_endpoint: str) -> None:
    arn, _ = dest_with_policy(ext_endpoint, {"AWS": ["999999999999"]})
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, SENDER))
    with pytest.raises(ClientError) as err:
        logs.put_account_policy(
            policyName=unique("p"),
            policyDocument=json.dumps({"DestinationArn": arn, "FilterPattern": ""}),
            policyType="SUBSCRIPTION_FILTER_POLICY",
            scope="ALL",
        )
    code, message = error_code(err)
    assert code == "AccessDeniedException"
    assert SENDER in message


def test_same_account_kinesis_filter_gets_pattern_and_string_ids(ext_endpoint: str) -> None:
    kinesis = client(ext_endpoint, "kinesis")
    landing = unique("direct")
    kinesis.create_stream(StreamName=landing, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=landing)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    logs = client(ext_endpoint, "logs")
    group, stream = sender_group(logs)
    logs.put_subscription_filter(
        logGroupName=group,
        filterName="direct",
        filterPattern="ERROR",
        destinationArn=stream_arn,
        roleArn=f"arn:aws:iam::{LANDING}:role/cwl",
    )
    put(logs, group, stream, "INFO skip", "ERROR keep")
    (data,) = records(ext_endpoint, landing)  # moto's own Kinesis path: no control message
    assert [e["message"] for e in data["logEvents"]] == ["ERROR keep"]
    (only,) = data["logEvents"]
    assert isinstance(only["id"], str) and len(only["id"]) == 56


def test_install_is_idempotent(ext_endpoint: str) -> None:
    from moto.logs.models import LogsBackend, LogStream

    from xaccount_ops.local.moto_ext import logs as logs_ext

    before = (LogsBackend.put_subscription_filter, LogStream.put_log_events)
    logs_ext.install()
    assert (LogsBackend.put_subscription_filter, LogStream.put_log_events) == before


def test_filter_log_events_reads_lines_moto_wrote_itself(ext_endpoint: str) -> None:
    """moto writes a function's log lines itself (its Docker-less Lambda invocation error) with
    float milliseconds; FilterLogEvents still answers, with whole-millisecond ids (it was a 500)."""
    from moto.logs.models import logs_backends

    group = f"/aws/lambda/{unique('moto-written')}"
    logs = client(ext_endpoint, "logs")
    logs.create_log_group(logGroupName=group)
    backend = logs_backends[LANDING][REGION]
    backend.create_log_stream(group, "s")
    at = time.time() * 1000.0  # as moto.core.utils.unix_time_millis gives it
    backend.put_log_events(group, "s", [{"timestamp": at, "message": "error running docker"}])

    (event,) = logs.filter_log_events(logGroupName=group)["events"]

    assert event["message"] == "error running docker"
    assert len(event["eventId"]) == 56 and event["eventId"].startswith(f"{int(at):020d}")


# --- destination policy at delivery, log classes, emitSystemFields, the filter-slots quota -------


def test_account_removed_from_policy_stops_delivery(ext_endpoint: str) -> None:
    """AWS "Modifying destination membership at runtime": an account removed from the policy
    "is stopped from sending any more log data", although its filter stays in place."""
    arn, landing = dest_with_policy(ext_endpoint, {"AWS": [SENDER]})
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, SENDER))
    group, stream = sender_group(logs)
    logs.put_subscription_filter(
        logGroupName=group,
        filterName="logzio-xacct-us-east-1",
        filterPattern="",
        destinationArn=arn,
    )
    put(logs, group, stream, "allowed")
    name = arn.rsplit(":", 1)[1]
    landing_logs = client(ext_endpoint, "logs")
    other = {"AWS": ["222222222222"]}
    landing_logs.put_destination_policy(
        destinationName=name, accessPolicy=json.dumps(allow(other, arn))
    )
    put(logs, group, stream, "after removal")
    landing_logs.put_destination_policy(
        destinationName=name, accessPolicy=json.dumps(allow({"AWS": [SENDER]}, arn))
    )
    put(logs, group, stream, "re-added")

    messages = [
        e["message"]
        for r in records(ext_endpoint, landing)
        if r["messageType"] == "DATA_MESSAGE"
        for e in r["logEvents"]
    ]
    assert messages == ["allowed", "re-added"]
    assert [
        f["filterName"]
        for f in logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    ] == ["logzio-xacct-us-east-1"]


@pytest.mark.parametrize("log_class", ["INFREQUENT_ACCESS", "DELIVERY"])
def test_log_class_kept_and_unsubscribable_classes_refused(
    ext_endpoint: str, log_class: str
) -> None:
    arn, _ = dest_with_policy(ext_endpoint, {"AWS": [SENDER]})
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, SENDER))
    group = unique("/app/classy")
    logs.create_log_group(logGroupName=group, logGroupClass=log_class)
    described = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupClass"] for g in described] == [log_class]
    with pytest.raises(ClientError) as err:
        logs.put_subscription_filter(
            logGroupName=group, filterName="f", filterPattern="", destinationArn=arn
        )
    code, message = error_code(err)
    assert code == "InvalidParameterException"
    assert log_class in message and group in message


def test_log_class_defaults_to_standard_and_bad_class_is_refused(ext_endpoint: str) -> None:
    logs = client(ext_endpoint, "logs")
    group = unique("/app/standard")
    logs.create_log_group(logGroupName=group)
    described = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described[0]["logGroupClass"] == "STANDARD"
    with pytest.raises(ClientError) as err:
        logs.create_log_group(logGroupName=unique("/app/bad"), logGroupClass="COLD")
    assert "COLD" in error_code(err)[1]


def test_emit_system_fields_are_kept_and_put_on_events(ext_endpoint: str) -> None:
    arn, landing = dest_with_policy(ext_endpoint, {"AWS": [SENDER]})
    logs = client(ext_endpoint, "logs", assume(ext_endpoint, SENDER))
    group, stream = sender_group(logs)
    kwargs = {"logGroupName": group, "filterName": "hand-made", "filterPattern": ""}
    logs.put_subscription_filter(**kwargs, destinationArn=arn)
    put(logs, group, stream, "before")
    logs.put_subscription_filter(
        **kwargs, destinationArn=arn, emitSystemFields=["@aws.account", "@aws.region"]
    )
    put(logs, group, stream, "after")

    (described,) = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert described["emitSystemFields"] == ["@aws.account", "@aws.region"]
    events = [
        e
        for r in records(ext_endpoint, landing)
        if r["messageType"] == "DATA_MESSAGE"
        for e in r["logEvents"]
    ]
    before, after = events
    assert "extractedFields" not in before
    # AWS puts them inside extractedFields (tests/fidelity: delivered_event_system_fields).
    assert after["extractedFields"] == {"@aws.account": SENDER, "@aws.region": REGION}
    assert "@aws.region" not in after
    # A put without the parameter clears it, as a put replaces the filter's settings.
    logs.put_subscription_filter(**kwargs, destinationArn=arn)
    (described,) = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert "emitSystemFields" not in described


def test_filter_slots_follow_the_service_quota(ext_endpoint: str) -> None:
    account = "333333333333"  # an account of this test's own: the raised quota stays raised
    creds = assume(ext_endpoint, account)
    arn, _ = dest_with_policy(ext_endpoint, {"AWS": [account]})
    logs = client(ext_endpoint, "logs", creds)
    quotas = client(ext_endpoint, "service-quotas", creds)
    (quota,) = quotas.list_aws_default_service_quotas(ServiceCode="logs")["Quotas"]
    assert (quota["QuotaName"], quota["Value"]) == ("Subscription filters per log group", 2.0)
    group, _ = sender_group(logs)

    def put_filter(index: int) -> None:
        logs.put_subscription_filter(
            logGroupName=group, filterName=f"f{index}", filterPattern="", destinationArn=arn
        )

    put_filter(1)
    put_filter(2)
    with pytest.raises(ClientError) as err:
        put_filter(3)
    assert error_code(err)[0] == "LimitExceededException"

    quotas.request_service_quota_increase(
        ServiceCode="logs", QuotaCode=quota["QuotaCode"], DesiredValue=5
    )
    (applied,) = quotas.list_service_quotas(ServiceCode="logs")["Quotas"]
    assert applied["Value"] == 5.0
    for index in (3, 4, 5):
        put_filter(index)
    with pytest.raises(ClientError) as err:
        put_filter(6)
    assert error_code(err)[0] == "LimitExceededException"
    # Other accounts keep the default.
    assert (
        client(ext_endpoint, "service-quotas").get_service_quota(
            ServiceCode="logs", QuotaCode=quota["QuotaCode"]
        )["Quota"]["Value"]
        == 2.0
    )
