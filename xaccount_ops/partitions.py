"""AWS partitions: which one a region is in, ARNs built for it, and what the pipeline needs that a
partition may lack.

ARNs start ``arn:<partition>:`` and the partition is ``aws``, ``aws-cn`` (China), ``aws-us-gov``
(GovCloud) and a few more; a region belongs to exactly one. The source is botocore's endpoint data
(``endpoints.json``, the table every AWS SDK resolves endpoints from), never a prefix guess, so a
new partition (e.g. ``aws-eusc``) is known as soon as botocore is.

One config ships within one partition: a CloudWatch Logs destination can only be reached from the
same partition (accounts, roles and ARNs do not cross partitions), so a landing region in one and
a sending region in another is a configuration error naming both.

Features the pipeline uses are checked per partition in :data:`FEATURES`, each answer with its
source. ``no`` is refused (:class:`PartitionFeatureError`), ``unknown`` is reported (a warning and
the README's list) with what would settle it; nothing is assumed from the commercial partition.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from xaccount_ops.errors import ConfigError

log = logging.getLogger(__name__)

COMMERCIAL = "aws"


@dataclass(frozen=True)
class Partition:
    """One partition as botocore's endpoint data describes it."""

    name: str  # "aws", "aws-cn", "aws-us-gov", ...
    dns_suffix: str  # "amazonaws.com", "amazonaws.com.cn", ...
    regions: frozenset[str]


@functools.cache
def partitions() -> dict[str, Partition]:
    """Every partition botocore knows, by name."""
    from xaccount_ops import aws  # here, not at import: `--help` stays light

    data = aws.data_loader().load_data("endpoints")
    return {
        p["partition"]: Partition(p["partition"], p["dnsSuffix"], frozenset(p.get("regions", {})))
        for p in data["partitions"]
    }


@functools.cache
def partition_of(region: str) -> str:
    """The partition of ``region`` (``cn-north-1`` → ``aws-cn``), from botocore's endpoint data
    (its listed regions first, then each partition's region pattern, as the SDKs resolve)."""
    for partition in partitions().values():
        if region in partition.regions:
            return partition.name
    from xaccount_ops import aws

    return aws.botocore_session().get_partition_for_region(region)


def arn(partition: str, service: str, region: str, account: str, resource: str) -> str:
    """``arn:<partition>:<service>:<region>:<account>:<resource>`` (region blank for IAM)."""
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def role_arn(partition: str, account: str, name: str) -> str:
    """An IAM role's ARN in ``partition``."""
    return arn(partition, "iam", "", account, f"role/{name}")


def service_regions(endpoint_prefix: str, partition: str) -> frozenset[str]:
    """Regions of ``partition`` where botocore's endpoint data lists a service (by its endpoint
    prefix: ``logs``, ``monitoring`` for CloudWatch): what botocore's ``get_available_regions``
    answers, read from the endpoint data alone (it would parse the service's model first)."""
    from xaccount_ops import aws

    for data in aws.data_loader().load_data("endpoints")["partitions"]:
        if data["partition"] == partition:
            listed = data["services"].get(endpoint_prefix, {}).get("endpoints", {})
            return frozenset(region for region in listed if region in data["regions"])
    return frozenset()


def check_one_partition(
    landing_region: str, regions: Iterable[str], key: str = "senders.regions"
) -> str:
    """The landing region's partition; a ConfigError naming both when a region is in another."""
    landing = partition_of(landing_region)
    for index, region in enumerate(regions):
        other = partition_of(region)
        if other != landing:
            raise ConfigError(
                f"{key}[{index}]",
                f"{region!r} is in partition {other} but landing.region {landing_region!r} is in "
                f"{landing}: one config ships within one partition (a Logs destination cannot be "
                f"reached from another partition); use a second config and landing account in "
                f"{other} for those regions",
            )
    return landing


# -- features the pipeline uses, per partition, with their sources ------------------------------


@dataclass(frozen=True)
class Support:
    """Whether a partition has a feature: ``yes``, ``no`` or ``unknown``, and where that is
    written (or, for ``unknown``, what would settle it)."""

    status: str
    source: str


YES, NO, UNKNOWN = "yes", "no", "unknown"

# What each feature is, for messages.
FEATURE_NAMES = {
    "s3_failure_destination": "an S3 bucket as the Kinesis event source mapping's on-failure "
    "destination (the failure store)",
    "account_subscription_policy": "account-level subscription filter policies "
    "(subscriptions.mode = account-policy)",
    "emit_system_fields": "emitSystemFields on subscription filters (subscribe --adopt)",
    "kinesis_on_demand": "Kinesis on-demand capacity mode (KinesisStreamMode ON_DEMAND)",
}
_GOV_GUIDE = (
    "not checked: the AWS GovCloud (US) User Guide's page for the service lists its differences"
)
_CN_GUIDE = "not checked: 'Getting Started with Amazon Web Services in China' lists differences"
FEATURES: dict[str, dict[str, Support]] = {
    "s3_failure_destination": {
        COMMERCIAL: Support(
            YES,
            "AWS Lambda Developer Guide, 'Retain discarded batch records for a Kinesis Data "
            "Streams event source' (S3 destinations get the whole invocation record)",
        ),
        "aws-cn": Support(
            YES,
            "docs.amazonaws.cn, Lambda guide 'Retain discarded records for a DynamoDB event "
            "source' and CloudFormation 'AWS::Lambda::EventSourceMapping OnFailure' (S3 bucket "
            "for Kinesis, DynamoDB, Kafka)",
        ),
        "aws-us-gov": Support(UNKNOWN, _GOV_GUIDE),
    },
    "account_subscription_policy": {
        COMMERCIAL: Support(
            YES,
            "CloudWatch Logs User Guide, 'Create an account-level subscription filter policy'",
        ),
        "aws-cn": Support(
            YES,
            "docs.amazonaws.cn, CloudWatch Logs guide 'Step 3: Create an account-level "
            "subscription filter policy' (put-account-policy SUBSCRIPTION_FILTER_POLICY)",
        ),
        "aws-us-gov": Support(UNKNOWN, _GOV_GUIDE),
    },
    "emit_system_fields": {
        COMMERCIAL: Support(YES, "CloudWatch Logs API Reference, PutSubscriptionFilter"),
        "aws-cn": Support(UNKNOWN, _CN_GUIDE),
        "aws-us-gov": Support(UNKNOWN, _GOV_GUIDE),
    },
    "kinesis_on_demand": {
        COMMERCIAL: Support(YES, "Kinesis Data Streams Developer Guide, 'on-demand mode'"),
        "aws-cn": Support(UNKNOWN, _CN_GUIDE),
        "aws-us-gov": Support(UNKNOWN, _GOV_GUIDE),
    },
}


class PartitionFeatureError(ConfigError):
    """The partition lacks a feature the run needs; names the feature, partition and source."""


def support(
    feature: str, partition: str, table: Mapping[str, Mapping[str, Support]] = FEATURES
) -> Support:
    """What is known of ``feature`` in ``partition``; unknown for a partition nobody checked."""
    known = table[feature].get(partition)
    return known or Support(UNKNOWN, f"not checked for partition {partition}")


def require(
    features: Iterable[str],
    partition: str,
    key: str,
    table: Mapping[str, Mapping[str, Support]] = FEATURES,
) -> list[str]:
    """Refuse a feature ``partition`` lacks (naming the fact and its source); return one note
    per feature whose support is unknown there (also logged as a warning)."""
    notes: list[str] = []
    for feature in features:
        answer = support(feature, partition, table)
        what = FEATURE_NAMES.get(feature, feature)
        if answer.status == NO:
            raise PartitionFeatureError(
                key, f"partition {partition} does not offer {what} (source: {answer.source})"
            )
        if answer.status == UNKNOWN:
            note = f"{what}: unknown in partition {partition} ({answer.source})"
            log.warning("%s", note)
            notes.append(note)
    return notes
