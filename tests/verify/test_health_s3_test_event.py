"""``health`` right after a fresh deploy: S3's ``s3:TestEvent`` in the failure queue is not a
failure (issue 26, item 3). Plain moto's SQS holds the messages; the body is the one S3 sends
when a bucket notification is set up (AWS S3 docs, "Event message structure": test message)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from xaccount_ops.config import load_config
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.fleet.pipeline import Pipeline
from xaccount_ops.verify.health import health

S3_TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2026-12-07T00:00:00.000Z",
    "Bucket": "logzio-xacct-failures",
    "RequestId": "5582815E1AEA5ADF",
    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
}


def _queue(moto_endpoint: str, tmp_path: Path, helpers: Any) -> tuple[Fleet, str, Any]:
    path = helpers.write_config(
        tmp_path,
        endpoint=moto_endpoint,
        landing="111111111111",
        accounts=["222222222222"],
        regions=("us-east-1",),
        stack=helpers.unique("hq"),
        canary_group="/xaccount-ops/canary",
        api_url="http://127.0.0.1:9",
    )
    fleet = Fleet.from_config(load_config(path))
    sqs = fleet.landing_client("sqs")
    url = sqs.create_queue(QueueName=f"{fleet.config.landing.stack_name}-shipper-failures")[
        "QueueUrl"
    ]
    return fleet, url, sqs


def _queue_row(fleet: Fleet, url: str) -> Any:
    frame = health(fleet, pipeline=Pipeline(destinations={}, queue_url=url))
    return frame[frame["metric"] == "failure_queue_depth"].iloc[0]


def test_s3_test_event_alone_is_ok_and_said(moto_endpoint: str, tmp_path: Path, helpers: Any):
    fleet, url, sqs = _queue(moto_endpoint, tmp_path, helpers)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(S3_TEST_EVENT))

    row = _queue_row(fleet, url)

    assert (row["value"], row["status"]) == (0, "ok")
    assert "1 s3:TestEvent not counted" in row["detail"]
    # Looked at, not taken: the message is still there for deploy or replay to delete.
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"


def test_a_stored_batch_beside_the_test_event_still_fails(
    moto_endpoint: str, tmp_path: Path, helpers: Any
):
    fleet, url, sqs = _queue(moto_endpoint, tmp_path, helpers)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(S3_TEST_EVENT))
    stored = {"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "aws/lambda/x"}}}]}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(stored))

    row = _queue_row(fleet, url)

    assert (row["value"], row["status"]) == (1, "fail")
