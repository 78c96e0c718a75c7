"""The failure store's reading and the replay's rebuilding, without a cloud where none is needed
(the outage scenarios end to end are in tests/verify/test_outage_replay.py)."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from typing import Any

import boto3
import pytest

from shipper_lambda.decode import decode_record
from xaccount_ops.delivery import replay


def kinesis_record(seq: str, events: list[dict[str, Any]], owner: str = "111111111111") -> dict:
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": owner,
        "logGroup": "/app",
        "logStream": "s",
        "subscriptionFilters": ["logzio-xacct-eu-west-1"],
        "logEvents": events,
    }
    data = base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()
    return {
        "kinesis": {"sequenceNumber": seq, "data": data, "partitionKey": "p"},
        "eventSource": "aws:kinesis",
        "eventID": f"shardId-000000000000:{seq}",
    }


def event(n: int, ts: int = 1_700_000_000_000) -> dict[str, Any]:
    return {"id": f"{n:056d}", "timestamp": ts + n * 60_000, "message": f"m{n}"}


def test_rebuild_keeps_only_the_missing_events_and_the_record_identity() -> None:
    stored = replay._decode(kinesis_record("7", [event(1), event(2), event(3)]))
    assert (stored.kind, stored.owner, stored.region) == ("data", "111111111111", "eu-west-1")
    rebuilt = replay._rebuild(stored, {f"{2:056d}"})
    assert rebuilt is not None
    assert rebuilt["kinesis"]["sequenceNumber"] == "7"
    payload, _ = decode_record(rebuilt)  # the shipper's own decoder reads it
    assert [e["id"] for e in payload["logEvents"]] == [f"{2:056d}"]
    assert payload["owner"] == "111111111111" and payload["logGroup"] == "/app"
    assert replay._rebuild(stored, set()) is None
    # All missing: the stored bytes are shipped unchanged.
    assert replay._rebuild(stored, {e["id"] for e in stored.events}) is stored.kinesis


def test_region_comes_from_extracted_fields_then_the_event_then_the_filter_name() -> None:
    """AWS puts the system fields in each event's extractedFields (tests/fidelity fixture
    logs/delivered_event_system_fields); the filter name is the fallback."""
    aws_shape = {**event(1), "extractedFields": {"@aws.region": "ap-south-1"}}
    assert replay._decode(kinesis_record("1", [aws_shape])).region == "ap-south-1"
    top_level = {**event(2), "@aws.region": "sa-east-1"}
    assert replay._decode(kinesis_record("2", [top_level])).region == "sa-east-1"
    assert replay._decode(kinesis_record("3", [event(3)])).region == "eu-west-1"


def test_undecodable_and_control_records_are_kept_apart() -> None:
    broken = {"kinesis": {"sequenceNumber": "9", "data": "not base64 gzip"}}
    assert replay._decode(broken).kind == "undecodable"
    control = kinesis_record("10", [])
    doc = json.loads(gzip.decompress(base64.b64decode(control["kinesis"]["data"])))
    doc["messageType"] = "CONTROL_MESSAGE"
    control["kinesis"]["data"] = base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()
    assert replay._decode(control).kind == "control"
    assert replay._decode(control).events == []


def test_summary_and_per_hour_count_per_account_region_and_hour() -> None:
    when = dt.datetime(2026, 12, 2, 5, tzinfo=dt.UTC)
    batches = [
        replay.StoredBatch(
            "b",
            "k1",
            when,
            "RetryAttemptsExhausted",
            "shardId-0",
            [replay._decode(kinesis_record("1", [event(1), event(2)]))],
        ),
        replay.StoredBatch(
            "b",
            "k2",
            when,
            "RetryAttemptsExhausted",
            "shardId-0",
            [
                replay._decode(kinesis_record("2", [event(90)], owner="222222222222")),
                replay._decode(kinesis_record("3", [event(91)])),
            ],
        ),
    ]
    table = replay.summary(batches).set_index("account_id")
    assert table.loc["111111111111", "batches"] == 2
    assert table.loc["111111111111", "records"] == 2
    assert table.loc["111111111111", "events"] == 3
    assert table.loc["222222222222", "events"] == 1
    assert set(table["region"]) == {"eu-west-1"}
    hours = replay.per_hour(batches)
    assert hours["events"].sum() == 4 and len(hours) == 2  # minutes 1-2 and 90-91


def test_queue_messages_are_removed_only_for_delivered_objects() -> None:
    def body(*keys: str, bucket: str = "store") -> str:
        records = [{"s3": {"bucket": {"name": bucket}, "object": {"key": k}}} for k in keys]
        return json.dumps({"Records": records})

    done = {"aws/lambda/u/s/2026/12/02/a b"}
    assert replay._notifies_only(body("aws%2Flambda%2Fu%2Fs%2F2026%2F12%2F02%2Fa+b"), "store", done)
    assert replay._notifies_only(json.dumps({"Event": "s3:TestEvent"}), "store", done)
    assert not replay._notifies_only(body("aws/lambda/u/s/other"), "store", done)
    assert not replay._notifies_only(
        body("aws/lambda/u/s/2026/12/02/a b", bucket="x"), "store", done
    )
    assert not replay._notifies_only("not json", "store", done)


def test_an_object_without_a_payload_is_named_in_the_error(moto_endpoint: str) -> None:
    """An SQS-style record (metadata only) in the bucket cannot be replayed: say which and why."""
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="store-units")
    key = "aws/lambda/u/shardId-0/2026/12/02/2026-12-02T05.00.00-x"
    s3.put_object(Bucket="store-units", Key=key, Body=json.dumps({"KinesisBatchInfo": {}}))
    with pytest.raises(replay.StoreError, match=r"s3://store-units/aws/lambda/u/.*payload"):
        replay.read_batch(s3, "store-units", key, dt.datetime.now(dt.UTC))
