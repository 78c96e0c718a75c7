"""``estimate`` on a seeded world (plain moto: log groups plus the AWS/Logs metrics CloudWatch would
have), checked against the arithmetic done by hand from the packaged price table."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from xaccount_ops.cli import main
from xaccount_ops.errors import ConfigError
from xaccount_ops.fleet import estimate, inventory

GB = 1024**3
MONTH_DAYS = 730 / 24
# (region, group, bytes/day, events/day); the landing region is us-east-1.
WORLD = (
    ("us-east-1", "/app/orders", 1_000_000_000, 2_000_000),
    ("eu-west-1", "/app/orders", 500_000_000, 1_000_000),
    ("eu-west-1", "/app/noisy-debug", 9_000_000_000, 9_000_000),  # excluded by the config
)
# The metadata the shipper adds to a line of these groups: {"message":"","@timestamp":"...Z",
# "id":<56 digits>,"owner":<12 digits>,"region":"us-east-1","logGroup":"/app/orders",
# "logStream":<52 chars>,"type":"aws-cross-account","messageType":"DATA_MESSAGE",
# "subscriptionFilters":["logzio-xacct-us-east-1"]} and the newline (eu-west-1 is as long).
OVERHEAD = 360


@pytest.fixture
def world(make_fleet, new_account, moto_endpoint: str):
    account = new_account()
    fleet = make_fleet(
        moto_endpoint,
        accounts=[account],
        extra='[subscriptions]\nexclude = ["/app/noisy-*"]\n',
    )
    now = datetime.now(UTC)
    for region, group, size, events in WORLD:
        fleet.client("logs", account, region).create_log_group(logGroupName=group)
        fleet.client("cloudwatch", account, region).put_metric_data(
            Namespace="AWS/Logs",
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "LogGroupName", "Value": group}],
                    "Timestamp": now - timedelta(hours=2),
                    "Value": float(value),
                }
                for name, value in (("IncomingBytes", size), ("IncomingLogEvents", events))
            ],
        )
    return fleet, account


def test_line_overhead_matches_the_hand_count(world) -> None:
    fleet, account = world
    assert estimate.line_overhead(fleet.config, account, "us-east-1", "/app/orders") == OVERHEAD


def test_figures_match_a_hand_computation(world) -> None:
    fleet, _ = world
    frame = inventory.log_groups(fleet, progress=False, destinations={}).frame
    volume = inventory.daily_volume(fleet, frame, progress=False)

    found = estimate.estimate(fleet.config, frame, volume)

    rows = found.frame.set_index("region")
    assert list(rows.index) == ["eu-west-1", "us-east-1"]  # the excluded group adds nothing
    # To Logz.io: the messages (IncomingBytes less CloudWatch's 26 bytes an event) plus the line.
    for region, size, events in (("us-east-1", 1e9, 2e6), ("eu-west-1", 5e8, 1e6)):
        expected = (size - 26 * events + OVERHEAD * events) / GB
        assert rows.loc[region, "gb_per_day"] == pytest.approx(expected, abs=1e-4)
        assert rows.loc[region, "events_per_day"] == events
    # Kinesis: (bytes + 100 an event) * 0.2 compression = 2.4e8 + 1.2e8 a day; 3e6 events in
    # records of 50 -> 60,000 records of 6,000 bytes (billed as 6 KB each in on-demand mode).
    kinesis_bytes, records = 3.6e8, 60_000
    on_demand = (
        730 * 0.04
        + records * MONTH_DAYS * 6 * 1024 / GB * 0.08
        + kinesis_bytes * MONTH_DAYS / GB * 0.04
    )
    # The peak (3x the mean) is 12.5 kB/s and 2.1 records/s: one shard, one PUT unit a record.
    provisioned = 730 * 0.015 + records * MONTH_DAYS / 1e6 * 0.014
    rec = found.recommendation
    assert (rec.stream_mode, rec.shards) == ("PROVISIONED", 1)
    assert rec.on_demand_usd == pytest.approx(on_demand, abs=0.01)
    assert rec.provisioned_usd == pytest.approx(provisioned, abs=0.01)
    # Lambda: one poll a second on one shard beats batches of 100 -> min(60,000, 86,400)
    # invocations a day, each 0.05 s + 50 events * 10 us, at 512 MB.
    invocations = 60_000 * MONTH_DAYS
    gb_seconds = invocations * (0.05 + 50 * 0.00001) * 0.5
    assert found.lambda_invocations_per_month == pytest.approx(invocations)
    lambda_usd = invocations / 1e6 * 0.20 + gb_seconds * 0.0000166667
    assert float(found.frame["lambda_usd"].sum()) == pytest.approx(lambda_usd, abs=0.02)
    # Inter-region transfer only from eu-west-1: its 1.2e8 compressed bytes a day at $0.02/GB.
    assert rows.loc["us-east-1", "cloudwatch_usd"] == 0
    assert rows.loc["eu-west-1", "cloudwatch_usd"] == pytest.approx(
        1.2e8 * MONTH_DAYS / GB * 0.02, abs=0.01
    )
    # Rows share the stream by bytes and add up to the total; the stream is priced in the mode
    # the stack is deployed with (the template's ON_DEMAND), not the cheaper recommended one.
    assert rows.loc["us-east-1", "kinesis_usd"] == pytest.approx(on_demand * 2 / 3, abs=0.01)
    assert found.total["monthly_usd"] == pytest.approx(
        on_demand + lambda_usd + float(rows["cloudwatch_usd"].sum()), abs=0.03
    )
    assert rec.priced_mode == "ON_DEMAND"
    assert (
        f'set stack.parameters KinesisStreamMode = "PROVISIONED" to save '
        f"${round(on_demand, 2) - round(provisioned, 2):,.2f} a month" in rec.summary()
    )
    # The same volume in MB, for fleets whose day is well under a thousandth of a GB.
    assert rows.loc["us-east-1", "mb_per_day"] == pytest.approx(
        rows.loc["us-east-1", "gb_per_day"] * 1024, abs=0.01
    )
    # Batches of about 5 MB of lines: 60,000 records carry 1.55 + 0.77 GB a day of lines.
    line_bytes = (1e9 + 5e8) + 3e6 * (OVERHEAD - 26)
    assert rec.batch_size == round(5 * 1024 * 1024 / (line_bytes / records), -2)


def test_cli_json_has_rows_and_total(world, capsys) -> None:
    fleet, _ = world
    code = main(["--config", str(fleet.config.path), "estimate", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = json.loads(captured.out)
    assert {"account_id", "region", "gb_per_day", "monthly_usd"} <= set(rows[0])
    assert [r["account_id"] for r in rows][-1] == "total"
    assert math.isclose(
        rows[-1]["monthly_usd"], sum(r["monthly_usd"] for r in rows[:-1]), abs_tol=0.02
    )
    assert "KinesisStreamMode=PROVISIONED" in captured.err
    assert "prices as of 2026-11-01" in captured.err


def test_price_file_override_and_errors(tmp_path: Path) -> None:
    packaged = Path(estimate.__file__).parents[1] / "data" / "prices.toml"
    cheaper = tmp_path / "prices.toml"
    cheaper.write_text(packaged.read_text().replace("shard_hour = 0.015", "shard_hour = 0.001"))
    assert estimate.Prices.load(cheaper).kinesis["shard_hour"] == 0.001
    broken = tmp_path / "broken.toml"
    broken.write_text(packaged.read_text().replace("[lambda]", "[lambda_typo]"))
    with pytest.raises(ConfigError, match=r"has no 'lambda'"):
        estimate.Prices.load(broken)
    with pytest.raises(ConfigError, match=r"cannot read .*missing\.toml"):
        estimate.Prices.load(tmp_path / "missing.toml")


def test_a_small_day_is_not_zero_and_provisioned_is_priced_when_configured(
    make_fleet, new_account, moto_endpoint: str, capsys
) -> None:
    account = new_account()
    fleet = make_fleet(
        moto_endpoint,
        accounts=[account],
        extra='[stack.parameters]\nKinesisStreamMode = "PROVISIONED"\nKinesisShardCount = "2"\n',
    )
    logs = fleet.client("logs", account, "us-east-1")
    logs.create_log_group(logGroupName="/app/quiet")
    fleet.client("cloudwatch", account, "us-east-1").put_metric_data(
        Namespace="AWS/Logs",
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "LogGroupName", "Value": "/app/quiet"}],
                "Timestamp": datetime.now(UTC) - timedelta(hours=2),
                "Value": value,
            }
            for name, value in (("IncomingBytes", 40_000.0), ("IncomingLogEvents", 111.0))
        ],
    )
    code = main(["--config", str(fleet.config.path), "estimate"])
    out, err = capsys.readouterr()
    assert code == 0, err
    header, _, *rows = out.splitlines()
    assert "mb_per_day" in header and "gb_per_day" not in header  # a terminal reads MB
    first = dict(zip(header.split(), rows[0].split(), strict=False))
    assert float(first["mb_per_day"]) > 0 and float(first["incoming_mb_per_day"]) > 0
    found = estimate.estimate(
        fleet.config,
        inventory.log_groups(fleet, progress=False, destinations={}).frame,
        inventory.daily_volume(
            fleet, inventory.log_groups(fleet, progress=False, destinations={}).frame
        ),
    )
    # Two configured shards, priced as such: 730 h x $0.015 each, plus PUT units.
    assert found.recommendation.priced_mode == "PROVISIONED"
    assert found.total["kinesis_usd"] == pytest.approx(2 * 730 * 0.015, abs=0.05)
