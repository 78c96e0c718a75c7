"""On-failure records of a Kinesis event source mapping, against AWS's recorded ones.

Fixtures ``fixtures/lambda/on_failure_*.json`` (LocalStack ``test_lambda_integration_kinesis``,
validated 2025-11-25): the SQS message body and the S3 object Lambda writes when it gives up on a
batch. The event source mapping emulator runs a real handler in a child process against moto with
``moto_ext``; record ages run on the emulator's test-sized clock (``record_age_speedup``), so AWS's
minimum age of 60 s passes in a fraction of a second.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fidelity.shapes import assert_same_shape, recorded
from tests.local_cloud.test_esm import Setup, handler_zip, wait_for
from xaccount_ops.local.esm import EsmEmulator

REGION = "us-east-1"
# An account of this module's own: its emulator runs only this account's mappings, not those
# other modules leave behind in the shared moto server.
ACCOUNT = "210987654321"
# Fails every record through ReportBatchItemFailures: the function itself never errs.
REPORTS_EVERY_RECORD = r"""
def lambda_handler(event, context):
    return {"batchItemFailures": [{"itemIdentifier": r["kinesis"]["sequenceNumber"]}
                                  for r in event["Records"]]}
"""
FAILS = r"""
def lambda_handler(event, context):
    raise ValueError("scripted failure")
"""


@pytest.fixture(scope="module")
def esm(ext_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EsmEmulator]:
    emulator = EsmEmulator(
        aws_endpoint=ext_endpoint,
        work_dir=tmp_path_factory.mktemp("fidelity-lambda"),
        locations=lambda: {(ACCOUNT, REGION)},
    ).start()
    yield emulator
    emulator.stop()
    # The moto server is shared: leave no mapping for a later module's emulator to run.
    lam = _session(ext_endpoint).client("lambda", region_name=REGION, endpoint_url=ext_endpoint)
    for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
        lam.delete_event_source_mapping(UUID=mapping["UUID"])


def _session(ext_endpoint: str) -> boto3.Session:
    sts = boto3.client(
        "sts",
        region_name=REGION,
        endpoint_url=ext_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/x", RoleSessionName="fidelity")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


@pytest.fixture
def aws(ext_endpoint: str) -> Callable[[str], Any]:
    session = _session(ext_endpoint)
    return lambda service: session.client(service, region_name=REGION, endpoint_url=ext_endpoint)


def _body(name: str, key: str) -> dict[str, Any]:
    return recorded(name, key, "Messages", 0, "Body")


def _mapped(s: Setup, **kwargs: Any) -> dict[str, Any]:
    s.map(BatchSize=1, DestinationConfig={"OnFailure": {"Destination": s.queue_arn}}, **kwargs)
    (failure,) = wait_for(s.failures, what="an on-failure record")
    return failure


def test_report_batch_item_failures_used_up(esm: EsmEmulator, aws: Any, tmp_path: Path) -> None:
    """fixture lambda/on_failure_rbif_exhausted: functionError null, 4 invocations for 3 retries."""
    s = Setup(aws, tmp_path, code=handler_zip(REPORTS_EVERY_RECORD))
    s.put("r0")
    failure = _mapped(s, FunctionResponseTypes=["ReportBatchItemFailures"], MaximumRetryAttempts=3)
    assert_same_shape(_body("lambda/on_failure_rbif_exhausted", "sqs_payload"), failure)


def test_unhandled_function_error(esm: EsmEmulator, aws: Any, tmp_path: Path) -> None:
    """fixture lambda/on_failure_unhandled: functionError Unhandled, 3 invocations for 2 retries."""
    s = Setup(aws, tmp_path, code=handler_zip(FAILS))
    s.put("u0")
    failure = _mapped(s, FunctionResponseTypes=["ReportBatchItemFailures"], MaximumRetryAttempts=2)
    assert_same_shape(_body("lambda/on_failure_unhandled", "sqs_payload"), failure)


def test_record_age_exceeded_before_ingestion(
    esm: EsmEmulator, aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fixture lambda/on_failure_record_age_before_ingestion: no responseContext, count 1.
    60 s of record age pass in 0.06 s: the record is older than that when first polled."""
    monkeypatch.setattr(esm, "record_age_speedup", 1000.0)
    s = Setup(aws, tmp_path, code=handler_zip(FAILS))
    s.put("a0")
    failure = _mapped(s, MaximumRecordAgeInSeconds=60, MaximumRetryAttempts=0)
    expected = _body("lambda/on_failure_record_age_before_ingestion", "record_age_exceeded_payload")
    assert_same_shape(expected, failure)


def test_record_age_exceeded_while_retrying(
    esm: EsmEmulator, aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fixture lambda/on_failure_record_age_while_retrying: no responseContext; the invocation
    count is how often it ran (8 on AWS's clock, more or fewer here)."""
    monkeypatch.setattr(esm, "record_age_speedup", 12.0)  # 60 s of age in 5 s
    s = Setup(aws, tmp_path, code=handler_zip(FAILS))
    s.put("w0")
    failure = _mapped(s, MaximumRecordAgeInSeconds=60, MaximumRetryAttempts=-1)
    expected = _body("lambda/on_failure_record_age_while_retrying", "record_age_exceeded_payload")
    count = "$.requestContext.approximateInvokeCount"
    assert_same_shape(expected, failure, ignore=(count,), why="depends on the retry clock")
    assert failure["requestContext"]["approximateInvokeCount"] >= 2


def test_s3_destination_record(esm: EsmEmulator, aws: Any, tmp_path: Path) -> None:
    """fixture lambda/on_failure_s3_record: the SQS fields plus payload.Records, at AWS's key.
    ``payload`` is kept as the escaped JSON string AWS's guide describes (LocalStack's snapshot
    parses JSON strings, so the recording cannot tell string from object): compared parsed."""
    s = Setup(aws, tmp_path, code=handler_zip(FAILS))
    bucket = f"{s.name}-failures"
    aws("s3").create_bucket(Bucket=bucket)
    s.put("s0")
    uuid = s.map(
        BatchSize=1,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": f"arn:aws:s3:::{bucket}"}},
    )
    (key,) = wait_for(
        lambda: [o["Key"] for o in aws("s3").list_objects_v2(Bucket=bucket).get("Contents", [])],
        what="the failure object",
    )
    body = json.loads(aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert isinstance(body["payload"], str)
    body["payload"] = json.loads(body["payload"])
    # The fixture's partitionKey/data are the recording's own record; ours are this test's.
    record = "$.payload.Records[0].kinesis"
    assert_same_shape(
        recorded("lambda/on_failure_s3_record", "record_body"),
        body,
        ignore=(f"{record}.partitionKey", f"{record}.data"),
        why="the recorded record's own data",
    )
    day = body["timestamp"][:10].replace("-", "/")
    assert key.startswith(f"aws/lambda/{uuid}/shardId-000000000000/{day}/")
