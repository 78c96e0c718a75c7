"""Lambda event source mapping API: the local cloud's answers against AWS's recorded ones.

Fixtures ``fixtures/lambda/*.json`` (LocalStack ``test_lambda_integration_kinesis`` and
``test_lambda_api`` snapshots, validated 2025-11-25/27; terraform-provider-aws#16113 quoting the
record-age error). Transitional states last ``moto_ext.awslambda.TRANSITION_S``; the tests poll
for the settled state with a deadline.
"""

from __future__ import annotations

import io
import itertools
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fidelity.shapes import answer, assert_same_shape, error_answer, recorded
from tests.support import local_client

REGION = "us-east-1"
ACCOUNT = "123456789012"
_ids = itertools.count(1)
# LastModified is a timestamp in both; its type differs only by how boto3 parses it.
_VOLATILE = ("$.LastModified",)


def client(endpoint: str, service: str) -> Any:
    return local_client(endpoint, service, REGION)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


@pytest.fixture
def source(ext_endpoint: str) -> Iterator[tuple[str, str]]:
    """(stream ARN, function name) of this test's own."""
    suffix = f"{next(_ids)}-{time.monotonic_ns() % 10**9}"
    iam = client(ext_endpoint, "iam")
    role = iam.create_role(
        RoleName=f"fidelity-esm-{suffix}",
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}',
    )["Role"]["Arn"]
    function = f"fidelity-fn-{suffix}"
    client(ext_endpoint, "lambda").create_function(
        FunctionName=function,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": _zip()},
    )
    kinesis = client(ext_endpoint, "kinesis")
    stream = f"fidelity-stream-{suffix}"
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    yield arn, function
    # The moto server is shared: leave no mapping for another module's emulator to run.
    lam = client(ext_endpoint, "lambda")
    for mapping in lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]:
        lam.delete_event_source_mapping(UUID=mapping["UUID"])


def _state(lam: Any, uuid: str, wanted: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        mapping = lam.get_event_source_mapping(UUID=uuid)
        if mapping["State"] == wanted or time.monotonic() > deadline:
            return mapping
        time.sleep(0.05)


def test_create_answers_202_creating_with_aws_defaults(
    ext_endpoint: str, source: tuple[str, str]
) -> None:
    """fixture lambda/create_event_source_mapping: 202, Creating, -1 retries and record age."""
    stream, function = source
    lam = client(ext_endpoint, "lambda")
    ours = lam.create_event_source_mapping(
        EventSourceArn=stream, FunctionName=function, StartingPosition="LATEST"
    )
    assert_same_shape(
        recorded("lambda/create_event_source_mapping", "create_event_source_mapping_response"),
        answer(ours),
        ignore=_VOLATILE,
        why="a datetime on both sides",
    )
    settled = _state(lam, ours["UUID"], "Enabled")
    assert settled["State"] == "Enabled"
    assert settled["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_lifecycle_get_and_delete(ext_endpoint: str, source: tuple[str, str]) -> None:
    """fixture lambda/esm_lifecycle: Get once ready is 200 Enabled, Delete is 202 Deleting."""
    stream, function = source
    lam = client(ext_endpoint, "lambda")
    created = lam.create_event_source_mapping(
        EventSourceArn=stream,
        FunctionName=function,
        StartingPosition="TRIM_HORIZON",
        BatchSize=1,
        MaximumBatchingWindowInSeconds=1,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"}},
    )
    fixture = recorded("lambda/esm_lifecycle")
    # The recorded mapping reads a DynamoDB stream: its source ARN is compared by type only.
    assert_same_shape(fixture["create_response"], answer(created), ignore=_VOLATILE, why="time")
    got = answer(_state(lam, created["UUID"], "Enabled"))
    assert_same_shape(fixture["get_response"], got, ignore=_VOLATILE, why="time")
    deleted = answer(lam.delete_event_source_mapping(UUID=created["UUID"]))
    assert_same_shape(fixture["delete_response"], deleted, ignore=_VOLATILE, why="time")


def test_duplicate_mapping_is_refused(ext_endpoint: str, source: tuple[str, str]) -> None:
    """fixture lambda/duplicate_event_source_mapping: 409 ResourceConflictException."""
    stream, function = source
    lam = client(ext_endpoint, "lambda")
    first = lam.create_event_source_mapping(
        EventSourceArn=stream, FunctionName=function, StartingPosition="LATEST"
    )
    with pytest.raises(ClientError) as err:
        lam.create_event_source_mapping(
            EventSourceArn=stream, FunctionName=function, StartingPosition="LATEST"
        )
    expected = recorded("lambda/duplicate_event_source_mapping", "error")
    ours = error_answer(err.value)
    assert_same_shape(expected, ours)
    assert first["UUID"] in ours["Error"]["Message"] and stream in ours["Error"]["Message"]
    assert len(lam.list_event_source_mappings(EventSourceArn=stream)["EventSourceMappings"]) == 1


@pytest.mark.parametrize("age", [0, 1, 59, 604801])
def test_record_age_outside_aws_range_is_refused(
    ext_endpoint: str, source: tuple[str, str], age: int
) -> None:
    """fixture lambda/maximum_record_age_validation (terraform-provider-aws#16113 quoting AWS;
    API reference: -1 or 60..604800). The same rule on update."""
    stream, function = source
    lam = client(ext_endpoint, "lambda")
    with pytest.raises(ClientError) as err:
        lam.create_event_source_mapping(
            EventSourceArn=stream,
            FunctionName=function,
            StartingPosition="LATEST",
            MaximumRecordAgeInSeconds=age,
        )
    expected = recorded("lambda/maximum_record_age_validation")
    ours = error_answer(err.value)
    assert ours["Error"] == expected["Error"]
    assert ours["ResponseMetadata"] == expected["ResponseMetadata"]
    created = lam.create_event_source_mapping(
        EventSourceArn=stream,
        FunctionName=function,
        StartingPosition="LATEST",
        MaximumRecordAgeInSeconds=60,
    )
    assert created["MaximumRecordAgeInSeconds"] == 60
    with pytest.raises(ClientError) as err:
        lam.update_event_source_mapping(UUID=created["UUID"], MaximumRecordAgeInSeconds=age)
    assert error_answer(err.value)["Error"] == expected["Error"]


def test_starting_position_and_missing_stream(ext_endpoint: str, source: tuple[str, str]) -> None:
    """fixtures lambda/esm_starting_position, lambda/esm_not_existing_stream."""
    stream, function = source
    lam = client(ext_endpoint, "lambda")
    positions = recorded("lambda/esm_starting_position")
    with pytest.raises(ClientError) as err:
        lam.create_event_source_mapping(EventSourceArn=stream, FunctionName=function)
    assert_same_shape(positions["no_starting_position"], error_answer(err.value))
    with pytest.raises(ClientError) as err:
        lam.create_event_source_mapping(
            EventSourceArn=stream, FunctionName=function, StartingPosition="invalid"
        )
    assert_same_shape(positions["invalid_starting_position"], error_answer(err.value))
    missing = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/test-foobar-81ded7e8"
    with pytest.raises(ClientError) as err:
        lam.create_event_source_mapping(
            EventSourceArn=missing, FunctionName=function, StartingPosition="LATEST"
        )
    expected = recorded("lambda/esm_not_existing_stream", "error")
    ours = error_answer(err.value)
    assert_same_shape(expected, ours)
    assert ours["Error"]["Message"] == f"Stream not found: {missing}"


def test_unknown_uuid_is_404(ext_endpoint: str) -> None:
    """fixture lambda/esm_exceptions: Get/Delete/Update of an unknown UUID."""
    lam = client(ext_endpoint, "lambda")
    unknown = "00000000-0000-0000-0000-000000000000"
    calls = {
        "get_unknown_uuid": lambda: lam.get_event_source_mapping(UUID=unknown),
        "delete_unknown_uuid": lambda: lam.delete_event_source_mapping(UUID=unknown),
        "update_unknown_uuid": lambda: lam.update_event_source_mapping(UUID=unknown, Enabled=False),
    }
    for key, call in calls.items():
        with pytest.raises(ClientError) as err:
            call()
        assert_same_shape(recorded("lambda/esm_exceptions", key), error_answer(err.value))


def test_disable_answers_disabling_then_disabled(
    ext_endpoint: str, source: tuple[str, str]
) -> None:
    """UpdateEventSourceMapping(Enabled=False) answers 202 Disabling (LocalStack
    test_lambda_integration_dynamodbstreams, update_event_source_mapping_result), then settles."""
    stream, function = source
    lam = client(ext_endpoint, "lambda")
    created = lam.create_event_source_mapping(
        EventSourceArn=stream, FunctionName=function, StartingPosition="LATEST"
    )
    _state(lam, created["UUID"], "Enabled")
    updated = lam.update_event_source_mapping(UUID=created["UUID"], Enabled=False)
    assert (updated["State"], updated["ResponseMetadata"]["HTTPStatusCode"]) == ("Disabling", 202)
    assert _state(lam, created["UUID"], "Disabled")["State"] == "Disabled"


def test_configuration_update_moves_last_modified(
    ext_endpoint: str, source: tuple[str, str]
) -> None:
    """AWS: UpdateFunctionConfiguration sets LastModified (API reference, FunctionConfiguration:
    "The date and time that the function was last updated"). The mapping emulator starts a fresh
    environment when it changes; moto kept the creation time, so an updated environment (a
    rotated token) was never used."""
    _, function = source
    lam = client(ext_endpoint, "lambda")
    before = lam.get_function_configuration(FunctionName=function)["LastModified"]
    lam.update_function_configuration(
        FunctionName=function, Environment={"Variables": {"ROTATED": "yes"}}
    )
    after = lam.get_function_configuration(FunctionName=function)
    assert after["LastModified"] != before
    assert after["Environment"]["Variables"] == {"ROTATED": "yes"}
