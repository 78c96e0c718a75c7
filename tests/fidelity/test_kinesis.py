"""Kinesis: the local cloud's answers against AWS's recorded ones (``fixtures/kinesis/``)."""

from __future__ import annotations

import time

import boto3

from tests.fidelity.shapes import assert_same_shape, recorded


def test_create_stream_without_shard_count_is_on_demand(ext_endpoint: str) -> None:
    """fixture kinesis/create_stream_without_shard_count (LocalStack, validated 2022-08-26):
    4 shards, ON_DEMAND. moto answered HTTP 500."""
    kinesis = boto3.client(
        "kinesis",
        region_name="us-east-1",
        endpoint_url=ext_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"fidelity-on-demand-{time.monotonic_ns()}"
    kinesis.create_stream(StreamName=name)
    described = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    shards = sorted(described["Shards"], key=lambda s: s["ShardId"])
    assert_same_shape(recorded("kinesis/create_stream_without_shard_count", "Shards"), shards)
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
