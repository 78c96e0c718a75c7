"""CloudWatch Logs: the local cloud's answers against AWS's recorded ones, key by key.

Each test names its fixture (``fixtures/logs/*.json``), whose ``source`` says where AWS's answer
was recorded (LocalStack snapshot + last-validated date, AWS doc page, or an issue quoting it).
The local cloud here is moto with ``moto_ext`` (``ext_endpoint``), as ``local up`` serves it.
"""

from __future__ import annotations

import gzip
import itertools
import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fidelity.shapes import answer, assert_same_shape, error_answer, recorded
from tests.support import account_client, local_client

LANDING = "123456789012"
SENDER = "111111111111"
REGION = "us-east-1"
_ids = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}-{time.monotonic_ns() % 10**9}"


def client(endpoint: str, service: str, account: str | None = None) -> Any:
    if account:
        return account_client(endpoint, service, account, REGION)
    return local_client(endpoint, service, REGION)


def destination(endpoint: str, policy: dict[str, Any] | None) -> tuple[str, str]:
    """A landing stream and a destination in front of it: (destination ARN, stream name)."""
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
        statement = {
            "Effect": "Allow",
            "Action": "logs:PutSubscriptionFilter",
            "Resource": arn,
            **policy,
        }
        logs.put_destination_policy(
            destinationName=name,
            accessPolicy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )
    return arn, stream


def group_with_stream(logs: Any) -> tuple[str, str]:
    group = unique("/fidelity/group")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    return group, "s"


def organization(endpoint: str) -> tuple[str, str]:
    """(organization id, a member account id)."""
    orgs = client(endpoint, "organizations")
    try:
        org_id = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    except ClientError as err:
        if err.response["Error"]["Code"] != "AlreadyInOrganizationException":
            raise
        org_id = orgs.describe_organization()["Organization"]["Id"]
    status = orgs.create_account(AccountName=unique("m"), Email=f"{unique('m')}@example.com")
    member = orgs.describe_create_account_status(
        CreateAccountRequestId=status["CreateAccountStatus"]["Id"]
    )["CreateAccountStatus"]["AccountId"]
    return org_id, member


def data_messages(endpoint: str, stream: str) -> list[dict[str, Any]]:
    kinesis = client(endpoint, "kinesis")
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    payloads = [
        json.loads(gzip.decompress(r["Data"]))
        for r in kinesis.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    ]
    return [p for p in payloads if p["messageType"] == "DATA_MESSAGE"]


# --- subscription filters ------------------------------------------------------------------------


def test_describe_subscription_filters_lists_apply_on_transformed_logs(ext_endpoint: str) -> None:
    """fixture logs/describe_subscription_filters (LocalStack, validated 2026-02-06)."""
    arn, _ = destination(ext_endpoint, {"Principal": {"AWS": [SENDER]}})
    logs = client(ext_endpoint, "logs", SENDER)
    group, _ = group_with_stream(logs)
    logs.put_subscription_filter(
        logGroupName=group, filterName="test", filterPattern="", destinationArn=arn
    )
    ours = answer(logs.describe_subscription_filters(logGroupName=group))
    assert_same_shape(
        recorded("logs/describe_subscription_filters", "describe_subscription_filter"), ours
    )


def test_subscription_filter_errors(ext_endpoint: str) -> None:
    """fixtures logs/describe_subscription_filters_log_group_not_found, logs/
    delete_subscription_filter_errors, logs/put_subscription_filter_limit_exceeded, logs/
    put_subscription_filter_errors (LocalStack, validated 2026-02-06)."""
    logs = client(ext_endpoint, "logs")
    with pytest.raises(ClientError) as err:
        logs.describe_subscription_filters(logGroupName=unique("/missing"))
    assert_same_shape(
        recorded(
            "logs/describe_subscription_filters_log_group_not_found", "error-log-group-not-found"
        ),
        error_answer(err.value),
    )
    with pytest.raises(ClientError) as err:
        logs.delete_subscription_filter(logGroupName=unique("/missing"), filterName="f")
    assert_same_shape(
        recorded("logs/delete_subscription_filter_errors", "error-log-group-not-found"),
        error_answer(err.value),
    )
    group, _ = group_with_stream(logs)
    with pytest.raises(ClientError) as err:
        logs.delete_subscription_filter(logGroupName=group, filterName="missing")
    assert_same_shape(
        recorded("logs/delete_subscription_filter_errors", "error-filter-not-found"),
        error_answer(err.value),
    )
    with pytest.raises(ClientError) as err:
        logs.put_subscription_filter(
            logGroupName=group,
            filterName="test",
            filterPattern="",
            destinationArn=f"arn:aws:kinesis:{REGION}:{LANDING}:stream/unknown-stream",
        )
    assert_same_shape(
        recorded("logs/put_subscription_filter_errors", "error-kinesis-not-found"),
        error_answer(err.value),
    )


def test_filter_slots_exhausted(ext_endpoint: str) -> None:
    """fixture logs/put_subscription_filter_limit_exceeded (LocalStack, validated 2026-02-06)."""
    arn, _ = destination(ext_endpoint, None)
    logs = client(ext_endpoint, "logs")
    group, _ = group_with_stream(logs)
    for name in ("a", "b"):
        logs.put_subscription_filter(
            logGroupName=group, filterName=name, filterPattern="", destinationArn=arn
        )
    with pytest.raises(ClientError) as err:
        logs.put_subscription_filter(
            logGroupName=group, filterName="c", filterPattern="", destinationArn=arn
        )
    assert_same_shape(
        recorded("logs/put_subscription_filter_limit_exceeded", "error-limit-exceeded"),
        error_answer(err.value),
    )


def test_org_destination_requires_a_role_in_the_sender(ext_endpoint: str) -> None:
    """fixture logs/org_destination_requires_role (cloud-custodian#8246 quoting AWS; AWS guide
    CreateSubscriptionFilter-IAMrole). With the role the same put succeeds."""
    org_id, member = organization(ext_endpoint)
    arn, _ = destination(
        ext_endpoint,
        {"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}}},
    )
    logs = client(ext_endpoint, "logs", member)
    group, _ = group_with_stream(logs)
    kwargs = {"logGroupName": group, "filterName": "f", "filterPattern": "", "destinationArn": arn}
    with pytest.raises(ClientError) as err:
        logs.put_subscription_filter(**kwargs)
    assert_same_shape(recorded("logs/org_destination_requires_role"), error_answer(err.value))

    role = f"arn:aws:iam::{member}:role/logzio-xacct-subscription-role"
    logs.put_subscription_filter(**kwargs, roleArn=role)
    (described,) = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert described["roleArn"] == role


def test_org_destination_requires_a_role_in_account_policies(ext_endpoint: str) -> None:
    """The same rule for an account-level subscription policy's RoleArn (assumed: AWS's guide
    asks for the role there too; the error text is the filter's, see local/README.md)."""
    org_id, member = organization(ext_endpoint)
    arn, _ = destination(
        ext_endpoint,
        {"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}}},
    )
    logs = client(ext_endpoint, "logs", member)
    document = {"DestinationArn": arn, "FilterPattern": "", "Distribution": "Random"}
    kwargs = {"policyName": "p", "policyType": "SUBSCRIPTION_FILTER_POLICY", "scope": "ALL"}
    with pytest.raises(ClientError) as err:
        logs.put_account_policy(**kwargs, policyDocument=json.dumps(document))
    assert_same_shape(recorded("logs/org_destination_requires_role"), error_answer(err.value))
    role = f"arn:aws:iam::{member}:role/logzio-xacct-subscription-role"
    logs.put_account_policy(**kwargs, policyDocument=json.dumps({**document, "RoleArn": role}))
    (policy,) = logs.describe_account_policies(policyType="SUBSCRIPTION_FILTER_POLICY")[
        "accountPolicies"
    ]
    assert json.loads(policy["policyDocument"])["RoleArn"] == role


def test_account_list_destination_needs_no_role(ext_endpoint: str) -> None:
    """An account-list policy is not an "Organization access policy": no role needed."""
    arn, _ = destination(ext_endpoint, {"Principal": {"AWS": [SENDER]}})
    logs = client(ext_endpoint, "logs", SENDER)
    group, _ = group_with_stream(logs)
    logs.put_subscription_filter(
        logGroupName=group, filterName="f", filterPattern="", destinationArn=arn
    )
    (described,) = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert "roleArn" not in described


# --- delivery ------------------------------------------------------------------------------------


def test_system_fields_arrive_inside_extracted_fields(ext_endpoint: str) -> None:
    """fixture logs/delivered_event_system_fields (Netflix-Skunkworks/iep-apps' production
    decoder reads them only from extractedFields)."""
    arn, stream = destination(ext_endpoint, {"Principal": {"AWS": [SENDER]}})
    logs = client(ext_endpoint, "logs", SENDER)
    group, log_stream = group_with_stream(logs)
    logs.put_subscription_filter(
        logGroupName=group,
        filterName="my-sub",
        filterPattern="",
        destinationArn=arn,
        emitSystemFields=["@aws.account", "@aws.region"],
    )
    logs.put_log_events(
        logGroupName=group,
        logStreamName=log_stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "m1"}],
    )
    (payload,) = data_messages(ext_endpoint, stream)
    expected = recorded("logs/delivered_event_system_fields")
    # The recorded values are the source's examples: compare keys, and our values to our facts.
    assert sorted(payload) == sorted(expected)
    (event,) = payload["logEvents"]
    assert sorted(event) == sorted(expected["logEvents"][0])
    assert event["extractedFields"] == {"@aws.account": SENDER, "@aws.region": REGION}
    assert isinstance(event["id"], str) and len(event["id"]) == 56


# --- FilterLogEvents, destinations, log groups ----------------------------------------------------


def test_filter_log_events_refuses_unknown_token_and_big_limit(ext_endpoint: str) -> None:
    """fixtures logs/filter_log_events_unknown_token, logs/filter_log_events_limit (LocalStack,
    validated 2026-02-05). moto answered an empty page, which a pager reads as "done"."""
    logs = client(ext_endpoint, "logs")
    group, stream = group_with_stream(logs)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "x"}],
    )
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName=group, nextToken="not-a-token")
    assert_same_shape(
        recorded("logs/filter_log_events_unknown_token", "invalid-token"), error_answer(err.value)
    )
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName=group, limit=10001)
    assert_same_shape(
        recorded("logs/filter_log_events_limit", "error-limit-exceeded"), error_answer(err.value)
    )


def test_filter_log_events_accepts_its_own_token(ext_endpoint: str) -> None:
    """A token the service issued still pages (the refusal above must not catch it)."""
    logs = client(ext_endpoint, "logs")
    group, stream = group_with_stream(logs)
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": f"m{i}"} for i in range(3)],
    )
    first = logs.filter_log_events(logGroupName=group, limit=2)
    rest = logs.filter_log_events(logGroupName=group, limit=2, nextToken=first["nextToken"])
    assert [e["message"] for e in first["events"] + rest["events"]] == ["m0", "m1", "m2"]


def test_put_destination_answer(ext_endpoint: str) -> None:
    """fixture logs/put_destination (LocalStack, validated 2026-02-05)."""
    kinesis = client(ext_endpoint, "kinesis")
    stream = unique("s")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    target = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    ours = client(ext_endpoint, "logs").put_destination(
        destinationName=unique("d"), targetArn=target, roleArn=f"arn:aws:iam::{LANDING}:role/r"
    )
    assert_same_shape(recorded("logs/put_destination", "put-destination"), answer(ours))


def test_log_group_answers(ext_endpoint: str) -> None:
    """fixtures logs/describe_log_groups, logs/create_log_group_duplicate (LocalStack,
    validated 2026-02-03)."""
    logs = client(ext_endpoint, "logs")
    group = unique("/fidelity/described")
    logs.create_log_group(logGroupName=group)
    ours = answer(logs.describe_log_groups(logGroupNamePrefix=group))
    assert_same_shape(recorded("logs/describe_log_groups", "describe-log-groups-prefix"), ours)
    with pytest.raises(ClientError) as err:
        logs.create_log_group(logGroupName=group)
    assert_same_shape(
        recorded("logs/create_log_group_duplicate", "error-duplicate-log-group"),
        error_answer(err.value),
    )


# --- data protection policies ----------------------------------------------------------------------


def _dp_policy(identifiers: list[str], custom: dict[str, str] | None = None) -> str:
    statements = [
        {"Sid": "audit-policy", "DataIdentifier": identifiers, "Operation": {"Audit": {}}},
        {
            "Sid": "redact-policy",
            "DataIdentifier": identifiers,
            "Operation": {"Deidentify": {"MaskConfig": {}}},
        },
    ]
    document: dict[str, Any] = {"Name": "p", "Version": "2021-06-01", "Statement": statements}
    if custom:
        document["Configuration"] = {
            "CustomDataIdentifier": [{"Name": n, "Regex": r} for n, r in custom.items()]
        }
    return json.dumps(document)


def test_data_protection_policy_answers(ext_endpoint: str) -> None:
    """fixture logs/data_protection_policy (AWS CLI examples of AWS's answers): the same keys,
    the document verbatim (the recorded one, newlines and all), the name when asked by ARN."""
    logs = client(ext_endpoint, "logs")
    group, _ = group_with_stream(logs)
    put_recorded = recorded("logs/data_protection_policy", "put-data-protection-policy")
    ours = logs.put_data_protection_policy(
        logGroupIdentifier=group, policyDocument=put_recorded["policyDocument"]
    )
    assert_same_shape(
        {**put_recorded, "logGroupIdentifier": group, "lastUpdatedTime": "timestamp"},
        {k: v for k, v in ours.items() if k != "ResponseMetadata"},
    )
    get_recorded = recorded("logs/data_protection_policy", "get-data-protection-policy")
    by_arn = get_recorded["request"]["logGroupIdentifier"].replace("demo-log-group", group)
    got = logs.get_data_protection_policy(logGroupIdentifier=by_arn)
    assert_same_shape(
        {**get_recorded["response"], "logGroupIdentifier": group, "policyDocument": "<document>",
         "lastUpdatedTime": "timestamp"},
        {k: v for k, v in got.items() if k != "ResponseMetadata"},
    )  # fmt: skip
    assert got["policyDocument"] == put_recorded["policyDocument"]


def test_data_protection_account_policy_answers(ext_endpoint: str) -> None:
    """fixture logs/data_protection_account_policy (AWS CLI examples): the put answers no
    accountId, the describe does."""
    account = "210987654322"
    logs = client(ext_endpoint, "logs", account)
    put_recorded = recorded("logs/data_protection_account_policy", "put-account-policy")
    sent = put_recorded["accountPolicy"]
    ours = logs.put_account_policy(
        policyName=sent["policyName"],
        policyDocument=sent["policyDocument"],
        policyType=sent["policyType"],
        scope=sent["scope"],
    )
    assert_same_shape(
        {"accountPolicy": {**sent, "lastUpdatedTime": "timestamp"}},
        {k: v for k, v in ours.items() if k != "ResponseMetadata"},
    )
    described = recorded("logs/data_protection_account_policy", "describe-account-policies")
    (expected,) = described["accountPolicies"]
    listed = logs.describe_account_policies(policyType="DATA_PROTECTION_POLICY")
    assert_same_shape(
        {"accountPolicies": [{**expected, "lastUpdatedTime": "timestamp", "accountId": account}]},
        {k: v for k, v in listed.items() if k != "ResponseMetadata"},
    )
    logs.delete_account_policy(policyName=sent["policyName"], policyType=sent["policyType"])


def test_masked_lines_match_the_recorded_console(ext_endpoint: str) -> None:
    """fixture logs/data_protection_masking (an AWS sample's console, masked): the same lines
    logged under the same policy read back with the same asterisks, one per character."""
    fx = recorded("logs/data_protection_masking")
    logs = client(ext_endpoint, "logs")
    group, stream = group_with_stream(logs)
    logs.put_data_protection_policy(
        logGroupIdentifier=group,
        policyDocument=_dp_policy(fx["policy_identifiers"], fx["custom_identifiers"]),
    )
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(fx["logged"])],
    )
    got = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert [e["message"] for e in got["events"]] == fx["masked"]


def test_described_log_group_lists_its_data_protection(ext_endpoint: str) -> None:
    """fixture logs/describe_log_groups_data_protection (API reference; grucloud's reader):
    dataProtectionStatus on a group with (or that had) a policy, inheritedProperties while the
    account has one; neither otherwise (fixture logs/describe_log_groups)."""
    fx = recorded("logs/describe_log_groups_data_protection")
    account = "210987654323"
    logs = client(ext_endpoint, "logs", account)
    group, _ = group_with_stream(logs)

    def keys() -> dict[str, Any]:
        (found,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        return {k: found[k] for k in ("dataProtectionStatus", "inheritedProperties") if k in found}

    email = ["arn:aws:dataprotection::aws:data-identifier/EmailAddress"]
    assert keys() == {}
    logs.put_data_protection_policy(logGroupIdentifier=group, policyDocument=_dp_policy(email))
    assert keys() == fx["with-own-policy"]
    logs.delete_data_protection_policy(logGroupIdentifier=group)
    assert keys() == fx["after-delete"]
    logs.put_account_policy(
        policyName="dp", policyDocument=_dp_policy(email), policyType="DATA_PROTECTION_POLICY"
    )
    assert keys() == {**fx["after-delete"], **fx["with-account-policy"]}
    logs.delete_account_policy(policyName="dp", policyType="DATA_PROTECTION_POLICY")
