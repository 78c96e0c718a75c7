"""Seed the local cloud like a small real estate: an organization, a landing account, sending
accounts with realistic log groups, and a few foreign subscription filters.

Everything goes through boto3 over HTTP, as a person would do it, so the seed also exercises the
server. Account ids are deterministic because moto's random generator is seeded first.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from xaccount_ops import partitions

log = logging.getLogger(__name__)

ROLE_NAME = "OrganizationAccountAccessRole"
FOREIGN_STREAM = "team-siem-feed"


@dataclass(frozen=True)
class SeedGroup:
    name: str
    retention_days: int | None
    lines: Sequence[str]
    tags: dict[str, str] | None = None


def _lambda_lines(function: str) -> list[str]:
    request = "8f5a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
    return [
        f"START RequestId: {request} Version: $LATEST",
        json.dumps(
            {"level": "INFO", "msg": "order accepted", "function": function, "order_id": 1042}
        ),
        json.dumps(
            {"level": "ERROR", "msg": "payment declined", "function": function, "code": 402}
        ),
        f"END RequestId: {request}",
        f"REPORT RequestId: {request}\tDuration: 12.31 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB",
    ]


def seed_groups(account_index: int) -> list[SeedGroup]:
    """The log groups every sending account gets in every region."""
    groups = [
        SeedGroup("/aws/lambda/orders-api", 30, _lambda_lines("orders-api"), {"team": "orders"}),
        SeedGroup(
            "/aws/lambda/payments-worker",
            14,
            _lambda_lines("payments-worker"),
            {"team": "payments"},
        ),
        SeedGroup(
            "API-Gateway-Execution-Logs_a1b2c3d4e5/prod",
            7,
            ['(0f3c) Method request path: {"id":"42"}', "(0f3c) Method completed with status: 200"],
        ),
        SeedGroup(
            "/ecs/web-frontend",
            None,  # never expires: an audit finding
            [
                '10.0.1.23 - - [24/Nov/2026:10:01:02 +0000] "GET /cart HTTP/1.1" 200 5123 "-" "Mozilla/5.0"',
                '10.0.1.24 - - [24/Nov/2026:10:01:03 +0000] "POST /checkout HTTP/1.1" 502 312 "-" "curl/8.5"',
            ],
            {"team": "web"},
        ),
        SeedGroup(
            "/aws/rds/instance/orders-db/postgresql",
            90,
            ["2026-11-24 10:01:02 UTC::@:[412]:LOG:  checkpoint complete: wrote 12 buffers"],
        ),
        SeedGroup(
            "/aws/vpc/flow-logs",
            365,
            [
                "2 123456789012 eni-0a1b2c3d 10.0.1.23 10.0.2.10 443 49152 6 10 8400 1700000000 1700000060 ACCEPT OK"
            ],
        ),
        SeedGroup(
            "/aws/events/audit/console-signins",
            None,
            [
                json.dumps(
                    {"detail-type": "AWS Console Sign In via CloudTrail", "source": "aws.signin"}
                )
            ],
        ),
    ]
    if account_index % 2 == 0:
        groups.append(
            SeedGroup(
                "aws-cloudtrail-logs-org-trail",
                365,
                [
                    json.dumps(
                        {
                            "eventVersion": "1.09",
                            "eventSource": "s3.amazonaws.com",
                            "eventName": "GetObject",
                        }
                    )
                ],
            )
        )
    return groups


def create_organization(
    organizations: Any, sending_count: int
) -> tuple[str, str, list[str], dict[str, str]]:
    """Create the org (or reuse the caller's), a landing account and the sending accounts.

    Returns (org id, landing, senders, names). Reusing matters in one process: moto's state is
    per process, so a second seeded server there finds the organization already made.
    """
    try:
        org = organizations.create_organization(FeatureSet="ALL")["Organization"]
    except organizations.exceptions.AlreadyInOrganizationException:
        org = organizations.describe_organization()["Organization"]
    names: dict[str, str] = {}

    def create(name: str) -> str:
        status = organizations.create_account(Email=f"{name}@example.com", AccountName=name)
        account_id = status["CreateAccountStatus"]["AccountId"]
        names[account_id] = name
        return account_id

    landing = create("log-landing")
    senders = [create(f"workload-{index + 1:02d}") for index in range(sending_count)]
    return org["Id"], landing, senders, names


def seed_account(
    client: Callable[[str, str], Any], region: str, account_index: int, now_ms: int | None = None
) -> int:
    """Create the log groups (with retention, tags and a few events) in one account/region.

    ``client(service, region)`` returns a client in that account. Returns the number of groups.
    The first sending account also gets foreign subscription filters in its first region's
    groups: one on ``/aws/lambda/orders-api`` and two (both slots) on the RDS group.
    """
    logs = client("logs", region)
    now_ms = now_ms or int(time.time() * 1000)
    groups = seed_groups(account_index)
    for group in groups:
        kwargs: dict[str, Any] = {"logGroupName": group.name}
        if group.tags:
            kwargs["tags"] = group.tags
        logs.create_log_group(**kwargs)
        if group.retention_days:
            logs.put_retention_policy(logGroupName=group.name, retentionInDays=group.retention_days)
        logs.create_log_stream(logGroupName=group.name, logStreamName="seed")
        events = [{"timestamp": now_ms + i, "message": line} for i, line in enumerate(group.lines)]
        logs.put_log_events(logGroupName=group.name, logStreamName="seed", logEvents=events)
    return len(groups)


def add_foreign_filters(client: Callable[[str, str], Any], region: str, account_id: str) -> None:
    """Filters another team owns: the toolkit must never touch them, and must skip full groups."""
    kinesis = client("kinesis", region)
    kinesis.create_stream(StreamName=FOREIGN_STREAM, ShardCount=1)
    partition = partitions.partition_of(region)
    stream_arn = partitions.arn(
        partition, "kinesis", region, account_id, f"stream/{FOREIGN_STREAM}"
    )
    role_arn = partitions.role_arn(partition, account_id, "team-siem-cwl")
    logs = client("logs", region)
    for group, name in (
        ("/aws/lambda/orders-api", "team-siem"),
        ("/aws/rds/instance/orders-db/postgresql", "splunk-forwarder"),
        ("/aws/rds/instance/orders-db/postgresql", "datadog-forwarder"),
    ):
        logs.put_subscription_filter(
            logGroupName=group,
            filterName=name,
            filterPattern="",
            destinationArn=stream_arn,
            roleArn=role_arn,
        )
