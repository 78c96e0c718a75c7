"""The inventory against a plain moto server over HTTP: rows, schema, pagination, filters,
tags, summary, daily volume and the cache. (Shipping to a cross-account destination needs the
local cloud's extension: see test_local.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest

from xaccount_ops.fleet import inventory
from xaccount_ops.fleet.accounts import Fleet

REGIONS = ("us-east-1", "eu-west-1")


def _populate(fleet: Fleet, account: str, region: str, count: int) -> None:
    logs = fleet.client("logs", account, region)
    for index in range(count):
        logs.create_log_group(logGroupName=f"/app/{index:03d}", tags={"n": str(index)})
    logs.put_retention_policy(logGroupName="/app/000", retentionInDays=7)
    logs.create_log_stream(logGroupName="/app/000", logStreamName="s")
    logs.put_log_events(
        logGroupName="/app/000",
        logStreamName="s",
        logEvents=[{"timestamp": int(datetime.now(UTC).timestamp() * 1000), "message": "x" * 100}],
    )
    kinesis = fleet.client("kinesis", account, region)
    kinesis.create_stream(StreamName="other-team", ShardCount=1)
    stream = f"arn:aws:kinesis:{region}:{account}:stream/other-team"
    role = f"arn:aws:iam::{account}:role/other-team"
    for name in ("team-a", f"logzio-xacct-{region}"):
        logs.put_subscription_filter(
            logGroupName="/app/001",
            filterName=name,
            filterPattern="ERROR",
            destinationArn=stream,
            roleArn=role,
        )


def test_every_group_listed_with_filters_across_pages(
    make_fleet, new_account, moto_endpoint: str
) -> None:
    accounts = [new_account(), new_account()]
    fleet = make_fleet(moto_endpoint, accounts=accounts)
    for account in accounts:
        for region in REGIONS:
            _populate(fleet, account, region, 55)  # > 50: describe_log_groups pages

    result = inventory.log_groups(fleet, tags=True, progress=False, destinations={})

    assert result.ok, result.errors
    frame = result.frame
    assert len(frame) == 2 * 2 * 55
    assert set(zip(frame.account_id, frame.region.astype(str), strict=True)) == {
        (a, r) for a in accounts for r in REGIONS
    }
    row = frame[(frame.account_id == accounts[0]) & (frame.region == "eu-west-1")]
    row = row.set_index("log_group")
    assert row.loc["/app/001", "filter_count"] == 2
    assert row.loc["/app/001", "our_filter"] == "logzio-xacct-eu-west-1"
    assert row.loc["/app/001", "foreign_filters"] == "team-a"
    assert {f["name"]: f["owned"] for f in row.loc["/app/001", "filters"]} == {
        "team-a": False,
        "logzio-xacct-eu-west-1": True,
    }
    assert row.loc["/app/001", "filters"][0]["filter_pattern"] == "ERROR"
    # Our filter points at a Kinesis stream, not at our destination: not shipping.
    assert not row.loc["/app/001", "ships"]
    assert row.loc["/app/000", "retention_days"] == 7
    assert pd.isna(row.loc["/app/002", "retention_days"])  # never expires
    assert row.loc["/app/000", "stored_bytes"] == 100
    assert row.loc["/app/002", "filter_count"] == 0
    assert pd.isna(row.loc["/app/002", "our_filter"])
    assert row.loc["/app/007", "tags"] == {"n": "7"}
    assert row.loc["/app/000", "arn"].endswith(f":{accounts[0]}:log-group:/app/000")
    assert abs(row.loc["/app/000", "created"] - pd.Timestamp.now(tz="UTC")) < timedelta(hours=1)


def test_ships_when_our_filter_points_at_the_destination(
    make_fleet, new_account, moto_endpoint: str
) -> None:
    account = new_account()
    fleet = make_fleet(moto_endpoint, accounts=[account], regions=("us-east-1",))
    _populate(fleet, account, "us-east-1", 3)
    stream = f"arn:aws:kinesis:us-east-1:{account}:stream/other-team"

    result = inventory.log_groups(fleet, progress=False, destinations={"us-east-1": stream})

    ships = result.frame.set_index("log_group").ships
    assert ships.to_dict() == {"/app/000": False, "/app/001": True, "/app/002": False}
    assert result.frame.tags.isna().all()  # tags=False makes no tag calls


def test_schema_is_the_same_for_live_empty_and_cached_frames(
    make_fleet, new_account, moto_endpoint: str, tmp_path: Path
) -> None:
    account = new_account()
    fleet = make_fleet(moto_endpoint, accounts=[account])
    _populate(fleet, account, "us-east-1", 2)

    live = inventory.log_groups(fleet, tags=True, progress=False, destinations={}).frame
    empty = inventory.inventory_frame([])
    taken = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    inventory.save_cache(live, fleet.config, taken_at=taken)
    cached, taken_at = inventory.load_cache(fleet.config)

    expected = {column: str(dtype) for column, dtype in live.dtypes.items()}
    assert list(expected) == list(inventory.INVENTORY_SCHEMA)
    assert {column: str(dtype) for column, dtype in empty.dtypes.items()} == expected
    assert str(live.dtypes["created"]) == "datetime64[ns, UTC]"
    assert str(live.dtypes["filter_count"]) == "Int8"
    assert str(live.dtypes["region"]) == "category"
    pdt.assert_frame_equal(cached, live)
    assert taken_at == taken
    assert (tmp_path / inventory.CACHE_DIR_NAME / inventory.CACHE_FRAME).is_file()


def test_load_cache_without_a_cache_names_the_place(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"\.xaccount-ops-cache"):
        inventory.load_cache(tmp_path)


def test_summary_counts_bytes_and_coverage() -> None:
    rows = [
        {"account_id": "1", "region": "us-east-1", "log_group": g, "stored_bytes": b, "ships": s}
        for g, b, s in (("a", 100, True), ("b", 50, False), ("c", 0, False), ("d", 10, True))
    ] + [{"account_id": "2", "region": "us-east-1", "log_group": "e", "stored_bytes": 5}]
    out = inventory.summary(inventory.inventory_frame(rows)).set_index("account_id")

    assert out.loc["1", "log_groups"] == 4
    assert out.loc["1", "shipping"] == 2
    assert out.loc["1", "coverage_pct"] == 50.0
    assert out.loc["1", "stored_bytes"] == 160
    assert out.loc["1", "shipping_bytes"] == 110
    assert out.loc["2", "coverage_pct"] == 0.0
    assert inventory.summary(inventory.inventory_frame([])).empty


def test_daily_volume_from_incoming_bytes(make_fleet, new_account, moto_endpoint: str) -> None:
    account = new_account()
    fleet = make_fleet(moto_endpoint, accounts=[account], regions=("us-east-1",))
    # /app/000 receives an event: once moto_ext is installed in this process (it is process-wide),
    # its IncomingBytes are real ones; the volumes below go to groups that receive none.
    _populate(fleet, account, "us-east-1", 3)
    cloudwatch = fleet.client("cloudwatch", account, "us-east-1")
    now = datetime.now(UTC)
    for hours_ago, value in ((1, 1000.0), (5, 2500.0), (30, 99999.0)):  # the last is too old
        cloudwatch.put_metric_data(
            Namespace="AWS/Logs",
            MetricData=[
                {
                    "MetricName": "IncomingBytes",
                    "Dimensions": [{"Name": "LogGroupName", "Value": "/app/001"}],
                    "Timestamp": now - timedelta(hours=hours_ago),
                    "Value": value,
                    "Unit": "Bytes",
                }
            ],
        )
    frame = inventory.log_groups(fleet, progress=False, destinations={}).frame

    volume = inventory.daily_volume(fleet, frame, progress=False).set_index("log_group")

    assert volume.loc["/app/001", "incoming_bytes_24h"] == 3500
    assert pd.isna(volume.loc["/app/002", "incoming_bytes_24h"])
    assert str(volume.dtypes["incoming_bytes_24h"]) == "Int64"
