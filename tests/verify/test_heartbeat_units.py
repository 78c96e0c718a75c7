"""Heartbeat pieces without a cloud: the search and its answer, the rule's schedule, names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xaccount_ops.config import heartbeat_name
from xaccount_ops.subscriptions import heartbeat
from xaccount_ops.verify import heartbeats


def test_search_body_is_one_aggregation_over_the_last_day() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    body = heartbeats.search_body(
        "/xaccount-ops/heartbeat", accounts=["3", "1", "2"], regions=2, now=now
    )

    assert body["size"] == 0
    term, owners, window = body["query"]["bool"]["filter"]
    assert term == {"term": {"logGroup": "/xaccount-ops/heartbeat"}}
    assert owners == {"terms": {"owner": ["1", "2", "3"]}}
    assert window["range"]["@timestamp"]["lte"] - window["range"]["@timestamp"]["gte"] == 86_400_000
    owner = body["aggs"]["owner"]
    assert owner["terms"] == {"field": "owner", "size": 3}
    region = owner["aggs"]["region"]
    assert region["terms"] == {"field": "region", "size": 2}
    assert region["aggs"] == {"last": {"max": {"field": "@timestamp"}}}


def test_newest_reads_the_buckets() -> None:
    response = {
        "aggregations": {
            "owner": {
                "buckets": [
                    {
                        "key": "111111111111",
                        "region": {
                            "buckets": [
                                {"key": "eu-west-1", "last": {"value": 1_765_108_800_000.0}},
                                {"key": "us-east-1", "last": {"value": None}},
                            ]
                        },
                    }
                ]
            }
        }
    }

    found = heartbeats.newest(response)

    assert found == {("111111111111", "eu-west-1"): datetime(2025, 12, 7, 12, 0, tzinfo=UTC)}


@pytest.mark.parametrize(("minutes", "expression"), [(1, "rate(1 minute)"), (5, "rate(5 minutes)")])
def test_schedule_uses_the_singular_for_one(minutes: int, expression: str) -> None:
    assert heartbeat.schedule(minutes) == expression


def test_schedule_refuses_zero() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        heartbeat.schedule(0)


def test_names_and_the_policy_match_sender_yaml() -> None:
    assert heartbeat_name() == "xaccount-ops-heartbeat"
    assert (
        heartbeat_name("/xaccount-ops/t1-heartbeat")
        == "xaccount-ops-heartbeat-xaccount-ops-t1-heartbeat"
    )
    assert len(heartbeat_name("/" + "x" * 100)) == 64
    document = heartbeat.policy_document("111111111111", "eu-west-1", "/xaccount-ops/heartbeat")
    (statement,) = document["Statement"]
    assert statement["Principal"] == {
        "Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]
    }
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert (
        statement["Resource"]
        == "arn:aws:logs:eu-west-1:111111111111:log-group:/xaccount-ops/heartbeat:*"
    )
    assert (
        heartbeat.group_arn("1", "cn-north-1", "/g") == "arn:aws-cn:logs:cn-north-1:1:log-group:/g"
    )


def test_search_body_refuses_more_accounts_than_buckets() -> None:
    with pytest.raises(ValueError, match="1..1000 accounts"):
        heartbeats.search_body(
            "/g", accounts=[str(i) for i in range(1001)], regions=1, now=datetime.now(UTC)
        )
