"""Partitions: from botocore's endpoint data, one per config, features checked with sources."""

from __future__ import annotations

import logging

import botocore.session
import pytest

from xaccount_ops import partitions, validate
from xaccount_ops.config import parse_config
from xaccount_ops.errors import ConfigError


def raw(landing: str, regions: list[str]) -> dict:
    return {
        "landing": {"account_id": "111111111111", "region": landing},
        "senders": {"accounts": ["222222222222"], "regions": regions},
        "logzio": {"region": "eu", "shipping_token": {"env": "TEST_SHIPPING_TOKEN"}},
    }


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-west-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-east-1", "aws-us-gov"),
    ],
)
def test_partition_of_a_region(region: str, partition: str) -> None:
    assert partitions.partition_of(region) == partition


def test_every_known_region_agrees_with_botocore() -> None:
    session = botocore.session.get_session()
    for region in validate.aws_regions():
        assert partitions.partition_of(region) == session.get_partition_for_region(region)


def test_the_logs_regions_are_botocores_read_from_the_endpoint_data_alone() -> None:
    session = botocore.session.get_session()
    expected = {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("logs", partition)
    }
    assert validate.aws_regions() == expected
    assert {"us-east-1", "cn-north-1", "us-gov-west-1"} <= expected
    assert partitions.service_regions("monitoring", "aws-cn") == frozenset(
        session.get_available_regions("cloudwatch", "aws-cn")
    )
    assert partitions.service_regions("no-such-service", "aws") == frozenset()


def test_arns_take_the_partition() -> None:
    assert (
        partitions.role_arn("aws-cn", "111111111111", "r") == "arn:aws-cn:iam::111111111111:role/r"
    )
    assert partitions.arn("aws-us-gov", "kinesis", "us-gov-west-1", "1", "stream/s") == (
        "arn:aws-us-gov:kinesis:us-gov-west-1:1:stream/s"
    )
    assert partitions.partitions()["aws-cn"].dns_suffix == "amazonaws.com.cn"


@pytest.mark.parametrize(
    ("landing", "regions"),
    [("cn-north-1", ["cn-north-1", "cn-northwest-1"]), ("us-gov-west-1", ["us-gov-east-1"])],
)
def test_a_config_within_one_partition_loads(landing: str, regions: list[str]) -> None:
    cfg = parse_config(raw(landing, regions))
    assert cfg.partition == partitions.partition_of(landing)
    assert cfg.senders.regions == tuple(regions)


def test_mixing_partitions_is_a_config_error_naming_both() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw("us-east-1", ["eu-west-1", "cn-north-1"]))
    message = str(caught.value)
    assert message.startswith("senders.regions[1]: 'cn-north-1' is in partition aws-cn")
    assert "landing.region 'us-east-1' is in aws" in message


def test_a_feature_a_partition_lacks_is_refused_with_its_source() -> None:
    table = {"kinesis_on_demand": {"aws-x": partitions.Support("no", "the X guide, page 3")}}
    with pytest.raises(partitions.PartitionFeatureError) as caught:
        partitions.require(["kinesis_on_demand"], "aws-x", "stack.parameters", table)
    assert str(caught.value) == (
        "stack.parameters: partition aws-x does not offer Kinesis on-demand capacity mode "
        "(KinesisStreamMode ON_DEMAND) (source: the X guide, page 3)"
    )


def test_unknown_support_is_reported_not_assumed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="xaccount_ops.partitions")
    notes = partitions.require(["emit_system_fields", "s3_failure_destination"], "aws-cn", "k")
    assert notes == [
        "emitSystemFields on subscription filters (subscribe --adopt): unknown in partition "
        "aws-cn (not checked: 'Getting Started with Amazon Web Services in China' lists "
        "differences)"
    ]
    assert notes[0] in caplog.text
    # A partition nobody checked is unknown for everything, never taken as "yes".
    assert partitions.support("s3_failure_destination", "aws-iso").status == "unknown"
    # Every feature has a sourced answer for each of the three partitions the templates lint for.
    for feature, answers in partitions.FEATURES.items():
        assert set(answers) >= {"aws", "aws-cn", "aws-us-gov"}, feature
        assert all(a.status in ("yes", "no", "unknown") and a.source for a in answers.values())
