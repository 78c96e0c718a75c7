"""moto_ext.data_protection over HTTP: CloudWatch Logs data protection policies (log group and
account level) and the masking they cause at every egress.

Real boto3 clients against the in-process moto server with the extension (``ext_endpoint``);
the last test runs the whole path: a sender's subscription to the landing destination, the
mapping emulator running the real shipper, and the Logz.io emulator holding the masked line.
Plain moto 5.2.5 has none of these calls (every one answers an error) and masks nothing.
"""

from __future__ import annotations

import gzip
import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import IDLE_DEADLINE_S, account_client, local_client
from xaccount_ops.local.esm import EsmEmulator
from xaccount_ops.local.moto_ext import data_protection

REGION = "us-east-1"
LANDING = "123456789012"
# The end-to-end test's landing account: its own, so its mapping emulator runs no other module's
# mappings (the moto server is shared) and no later module's emulator runs its mapping.
E2E_LANDING = "444455556666"
EMAIL_ARN = "arn:aws:dataprotection::aws:data-identifier/EmailAddress"
IP_ARN = "arn:aws:dataprotection::aws:data-identifier/IpAddress"
CARD_ARN = "arn:aws:dataprotection::aws:data-identifier/CreditCardNumber"
SECRET_ARN = "arn:aws:dataprotection::aws:data-identifier/AwsSecretKey"
# A fictional Luhn-valid Visa-prefixed number and AWS's documented example secret key.
CARD = "4929 0900 0000 4417"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
_ids = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}-{time.monotonic_ns() % 10**9}"


def client(endpoint: str, service: str, account: str | None = None) -> Any:
    if account:
        return account_client(endpoint, service, account, REGION)
    return local_client(endpoint, service, REGION)


def policy(*identifiers: str, custom: dict[str, str] | None = None) -> str:
    """A data protection policy document in the AWS CLI example's form (audit + de-identify)."""
    document: dict[str, Any] = {
        "Name": "data-protection-policy",
        "Description": "",
        "Version": "2021-06-01",
        "Statement": [
            {
                "Sid": "audit-policy",
                "DataIdentifier": list(identifiers),
                "Operation": {"Audit": {"FindingsDestination": {}}},
            },
            {
                "Sid": "redact-policy",
                "DataIdentifier": list(identifiers),
                "Operation": {"Deidentify": {"MaskConfig": {}}},
            },
        ],
    }
    if custom:
        document["Configuration"] = {
            "CustomDataIdentifier": [{"Name": n, "Regex": r} for n, r in custom.items()]
        }
    return json.dumps(document)


def new_group(logs: Any) -> str:
    group = unique("/dp/group")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    return group


def put(logs: Any, group: str, *messages: str) -> None:
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)],
    )


def read(logs: Any, group: str, **kwargs: Any) -> list[str]:
    got = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True, **kwargs)
    return [e["message"] for e in got["events"]]


def described(logs: Any, group: str) -> dict[str, Any]:
    (found,) = [
        g
        for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        if g["logGroupName"] == group
    ]
    return dict(found)


# --- the masking itself (no server) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "text", "expected"),
    [
        ("EmailAddress", "mail a.b+c@example.co.uk now", "mail " + "*" * 19 + " now"),
        ("IpAddress", "from 173.220.219.120:443", "from " + "*" * 15 + ":443"),
        ("IpAddress", "v6 2001:db8::1 ok, 999.1.1.1 is no address", "v6 " + "*" * 11 + " ok, 999.1.1.1 is no address"),
        ("CreditCardNumber", f"card {CARD} ok", "card " + "*" * 19 + " ok"),
        ("CreditCardNumber", f"order {CARD} ok", f"order {CARD} ok"),  # no keyword near it
        ("CreditCardNumber", "card 4929 0900 0000 4418", "card 4929 0900 0000 4418"),  # not Luhn
        ("AwsSecretKey", f"aws_secret_access_key={SECRET}", "aws_secret_access_key=" + "*" * 40),
        ("AwsSecretKey", f"token {SECRET}", f"token {SECRET}"),  # no keyword near it
    ],
)  # fmt: skip
def test_managed_identifiers_mask_character_by_character(
    identifier: str, text: str, expected: str
) -> None:
    masking = data_protection.Masking(managed={identifier})
    assert data_protection.mask(text, masking) == expected


# --- policies over HTTP ------------------------------------------------------------------------


def test_log_group_policy_round_trip_and_status(ext_endpoint: str) -> None:
    logs = client(ext_endpoint, "logs")
    group = new_group(logs)
    assert "dataProtectionStatus" not in described(logs, group)
    document = policy(EMAIL_ARN)
    put_answer = logs.put_data_protection_policy(logGroupIdentifier=group, policyDocument=document)
    assert put_answer["logGroupIdentifier"] == group
    assert put_answer["policyDocument"] == document  # kept verbatim, as AWS does
    arn = f"arn:aws:logs:{REGION}:{LANDING}:log-group:{group}"
    got = logs.get_data_protection_policy(logGroupIdentifier=arn)
    assert (got["logGroupIdentifier"], got["policyDocument"]) == (group, document)
    assert isinstance(got["lastUpdatedTime"], int)
    assert described(logs, group)["dataProtectionStatus"] == "ACTIVATED"
    logs.delete_data_protection_policy(logGroupIdentifier=group)
    assert described(logs, group)["dataProtectionStatus"] == "DELETED"
    with pytest.raises(ClientError) as err:
        logs.get_data_protection_policy(logGroupIdentifier=group)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_bad_policies_are_refused_naming_the_problem(ext_endpoint: str) -> None:
    logs = client(ext_endpoint, "logs")
    group = new_group(logs)
    bad = {
        "not json": "{",
        "an identifier that is no ARN": policy("EmailAddress"),
        "no de-identify statement": json.dumps(
            {
                "Name": "p",
                "Version": "2021-06-01",
                "Statement": [
                    {"DataIdentifier": [EMAIL_ARN], "Operation": {"Audit": {}}},
                ],
            }
        ),
    }
    for why, document in bad.items():
        with pytest.raises(ClientError) as err:
            logs.put_data_protection_policy(logGroupIdentifier=group, policyDocument=document)
        assert err.value.response["Error"]["Code"] == "InvalidParameterException", why
    assert "'EmailAddress'" in str(err.value) or "Deidentify" in str(err.value)
    with pytest.raises(ClientError) as err:
        logs.put_data_protection_policy(logGroupIdentifier="/dp/none", policyDocument=policy())
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_masking_starts_at_ingestion_and_unmask_reads_the_clear_text(ext_endpoint: str) -> None:
    logs = client(ext_endpoint, "logs")
    group = new_group(logs)
    put(logs, group, "before: ann@example.com")
    logs.put_data_protection_policy(
        logGroupIdentifier=group,
        policyDocument=policy(EMAIL_ARN, "EmployeeId", custom={"EmployeeId": r"EmployeeId-\d{9}"}),
    )
    put(logs, group, "after: ann@example.com has EmployeeId-537771096")
    masked = "after: *************** has ********************"
    assert read(logs, group) == ["before: ann@example.com", masked]
    assert read(logs, group, unmask=True)[1] == "after: ann@example.com has EmployeeId-537771096"
    filtered = logs.filter_log_events(logGroupName=group)["events"]
    assert [e["message"] for e in filtered] == ["before: ann@example.com", masked]
    assert logs.filter_log_events(logGroupName=group, unmask=True)["events"][1]["message"] == (
        "after: ann@example.com has EmployeeId-537771096"
    )
    # Deleting the policy leaves what was ingested under it masked.
    logs.delete_data_protection_policy(logGroupIdentifier=group)
    put(logs, group, "later: ann@example.com")
    assert read(logs, group)[1:] == [masked, "later: ann@example.com"]


def test_account_policy_round_trip_masks_every_group(ext_endpoint: str) -> None:
    account = "210987654321"  # an account of this test's own: the policy covers all its groups
    logs = client(ext_endpoint, "logs", account)
    group = new_group(logs)
    document = policy(IP_ARN)
    answer = logs.put_account_policy(
        policyName="dp", policyDocument=document, policyType="DATA_PROTECTION_POLICY", scope="ALL"
    )["accountPolicy"]
    assert sorted(answer) == [
        "lastUpdatedTime",
        "policyDocument",
        "policyName",
        "policyType",
        "scope",
    ]
    (listed,) = logs.describe_account_policies(policyType="DATA_PROTECTION_POLICY")[
        "accountPolicies"
    ]
    assert (listed["policyName"], listed["accountId"], listed["scope"]) == ("dp", account, "ALL")
    assert (
        logs.describe_account_policies(policyType="SUBSCRIPTION_FILTER_POLICY")["accountPolicies"]
        == []
    )
    with pytest.raises(ClientError) as err:  # one per account
        logs.put_account_policy(
            policyName="dp2", policyDocument=document, policyType="DATA_PROTECTION_POLICY"
        )
    assert err.value.response["Error"]["Code"] == "LimitExceededException"
    assert described(logs, group)["inheritedProperties"] == ["ACCOUNT_DATA_PROTECTION"]
    assert "dataProtectionStatus" not in described(logs, group)  # it has no policy of its own
    put(logs, group, "from 10.1.2.3")
    assert read(logs, group) == ["from ********"]
    logs.delete_account_policy(policyName="dp", policyType="DATA_PROTECTION_POLICY")
    assert "inheritedProperties" not in described(logs, group)
    assert (
        logs.describe_account_policies(policyType="DATA_PROTECTION_POLICY")["accountPolicies"] == []
    )


# --- through a subscription to Logz.io ---------------------------------------------------------


@pytest.fixture(scope="module")
def esm(ext_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EsmEmulator]:
    emulator = EsmEmulator(
        aws_endpoint=ext_endpoint,
        work_dir=tmp_path_factory.mktemp("dp-lambda"),
        locations=lambda: {(E2E_LANDING, REGION)},
    ).start()
    yield emulator
    emulator.stop()
    lam = client(ext_endpoint, "lambda", E2E_LANDING)
    for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
        lam.delete_event_source_mapping(UUID=mapping["UUID"])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def landing(endpoint: str, sender: str, account: str | None = None) -> tuple[str, str]:
    """A landing stream and a destination allowing ``sender`` in ``account`` (default: moto's
    default account): (destination ARN, stream ARN)."""
    kinesis = client(endpoint, "kinesis", account)
    stream = unique("dp-landing")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    logs = client(endpoint, "logs", account)
    name = unique("dp-dest")
    arn = logs.put_destination(
        destinationName=name,
        targetArn=stream_arn,
        roleArn=f"arn:aws:iam::{account or LANDING}:role/cwl",
    )["destination"]["arn"]
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": [sender]},
        "Action": "logs:PutSubscriptionFilter",
        "Resource": arn,
    }
    logs.put_destination_policy(
        destinationName=name,
        accessPolicy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    return arn, stream_arn


def test_masked_event_reaches_logzio_through_the_subscription(
    ext_endpoint: str, esm: EsmEmulator
) -> None:
    """AWS masks subscription deliveries (logs:Unmask does not apply to them): the sender's
    line reaches the shipper, and Logz.io, with the card number and address masked, the rest
    of the line and its metadata as they were."""
    from tests.local_cloud.test_esm import shipper_zip
    from xaccount_ops.local.logzio import LogzioEmulator
    from xaccount_ops.logzio import SearchClient, marker_query

    sender = "333344445555"
    destination, stream_arn = landing(ext_endpoint, sender, E2E_LANDING)
    logs = client(ext_endpoint, "logs", sender)
    group = new_group(logs)
    logs.put_subscription_filter(
        logGroupName=group,
        filterName="logzio-xacct-us-east-1",
        filterPattern="",
        destinationArn=destination,
    )
    logs.put_data_protection_policy(
        logGroupIdentifier=group, policyDocument=policy(CARD_ARN, EMAIL_ARN)
    )
    line = f"paid with card {CARD} by bob@example.com (order 42)"
    put(logs, group, line)
    expected = "paid with card ******************* by *************** (order 42)"
    assert read(logs, group, unmask=True) == [line]  # stored in clear

    aws = client(ext_endpoint, "lambda", E2E_LANDING)
    with LogzioEmulator(shipping_token="ship-dp", api_token="api-dp") as logzio:
        name = unique("dp-shipper")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = client(ext_endpoint, "iam", E2E_LANDING).create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]
        aws.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="shipper_lambda.handler.lambda_handler",
            Code={"ZipFile": shipper_zip()},
            Timeout=10,
            Environment={
                "Variables": {"LOGZIO_LISTENER_URL": logzio.listener_url, "LOGZIO_TOKEN": "ship-dp"}
            },
        )
        aws.create_event_source_mapping(
            EventSourceArn=stream_arn,
            FunctionName=name,
            StartingPosition="TRIM_HORIZON",
            BatchSize=100,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            MaximumRetryAttempts=2,
        )
        search = SearchClient(logzio.api_url, "api-dp")
        body = marker_query([group], field="logGroup", size=10)
        (shipped,) = wait_for(lambda: search.hits(body), timeout=30, what="the line in Logz.io")
        assert esm.wait_idle(IDLE_DEADLINE_S)
    assert shipped["message"] == expected
    assert CARD not in json.dumps(shipped) and "bob@example.com" not in json.dumps(shipped)
    assert (shipped["logGroup"], shipped["owner"], shipped["region"]) == (group, sender, REGION)


def test_delivery_before_the_policy_is_clear(ext_endpoint: str) -> None:
    """Masking is decided at ingestion: a record delivered before the policy stays clear, the
    next one is masked (read straight from the landing stream)."""
    sender = "333344445556"
    destination, stream_arn = landing(ext_endpoint, sender)
    logs = client(ext_endpoint, "logs", sender)
    group = new_group(logs)
    logs.put_subscription_filter(
        logGroupName=group, filterName="f", filterPattern="", destinationArn=destination
    )
    put(logs, group, "ip 192.168.0.1")
    logs.put_data_protection_policy(logGroupIdentifier=group, policyDocument=policy(IP_ARN))
    put(logs, group, "ip 192.168.0.1")
    kinesis = client(ext_endpoint, "kinesis")
    stream = Path(stream_arn).name
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    payloads = [
        json.loads(gzip.decompress(r["Data"]))
        for r in kinesis.get_records(ShardIterator=iterator)["Records"]
    ]
    messages = [
        e["message"] for p in payloads if p["messageType"] == "DATA_MESSAGE" for e in p["logEvents"]
    ]
    assert messages == ["ip 192.168.0.1", "ip ***********"]
