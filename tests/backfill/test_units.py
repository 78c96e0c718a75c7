"""Backfill's pieces without a cloud: time parsing, windows, checkpoints, the rebuilt records; and
the emulator's FilterLogEvents (moto + moto_ext in process) as backfill relies on it."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from shipper_lambda.routes import Table
from xaccount_ops import aws
from xaccount_ops.delivery import backfill
from xaccount_ops.delivery.backfill import Checkpoints, GroupWork, _Shipper, _windows
from xaccount_ops.delivery.reship import Reshipper
from xaccount_ops.fleet.accounts import Target
from xaccount_ops.validate import when as parse_when

DAY = backfill.WINDOW_MS
WORK = GroupWork(Target("111111111111", "eu-west-1"), "/g", "logzio-xacct-eu-west-1", "", 5 * DAY)


def test_parse_when() -> None:
    assert parse_when("7d") == timedelta(days=7)
    assert parse_when("90s") == timedelta(seconds=90)
    assert parse_when("2026-01-31T12:00:00") == datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert parse_when("2026-01-31T12:00:00+01:00").utcoffset() == timedelta(hours=1)
    with pytest.raises(ValueError, match=r"'7 weeks' is neither a duration .* nor an ISO"):
        parse_when("7 weeks")
    with pytest.raises(ValueError, match="neither"):
        parse_when("0d")


def test_windows_skip_what_is_done_and_stay_contiguous() -> None:
    assert _windows(0, 2 * DAY + 5, None) == [(0, DAY), (DAY, 2 * DAY), (2 * DAY, 2 * DAY + 5)]
    # done [DAY, 2 DAY): below it descending, above it ascending, so the done range grows by one
    # contiguous window at a time
    assert _windows(0, 3 * DAY, (DAY, 2 * DAY)) == [(0, DAY), (2 * DAY, 3 * DAY)]
    assert _windows(0, 3 * DAY, (2 * DAY, 3 * DAY)) == [(DAY, 2 * DAY), (0, DAY)]
    assert _windows(DAY, 2 * DAY, (0, 3 * DAY)) == []


def test_checkpoints_round_trip_and_refuse_an_unknown_version(tmp_path: Path) -> None:
    checkpoints = Checkpoints(tmp_path / "cache" / "backfill")
    checkpoints.put(WORK, {"covered": [0, DAY], "in_flight": None})
    again = Checkpoints(tmp_path / "cache" / "backfill").get(WORK)
    assert again["covered"] == [0, DAY] and again["filter_created_ms"] == WORK.created_ms
    other = GroupWork(WORK.target, "/other", WORK.filter_name, "", 1)
    assert checkpoints.get(other) == {}
    assert [p.suffix for p in (tmp_path / "cache" / "backfill").iterdir()] == [".json"]
    checkpoints.path(WORK).write_text(json.dumps({"version": 99}))
    with pytest.raises(backfill.BackfillError, match="checkpoint version 99, expected 1"):
        checkpoints.get(WORK)


def test_records_are_cloudwatch_payloads_the_shipper_decodes() -> None:
    from shipper_lambda.config import load
    from shipper_lambda.decode import decode_record

    config = dataclasses.replace(load({"LOGZIO_TOKEN": "s3cr3t-tok"}), token=None)
    shipper = _Shipper(Reshipper(config, "s3cr3t-tok", Table()))
    events = [
        {"eventId": str(i).zfill(56), "timestamp": i, "message": "m" * 1000, "logStreamName": s}
        for i, s in enumerate(["a"] * 950 + ["b"] * 3)
    ]
    records = shipper.records(WORK, events)
    payloads = [decode_record(r)[0] for r in records]
    assert [p["logStream"] for p in payloads] == ["a", "a", "b"]  # ~900 KB per payload at most
    assert sum(len(p["logEvents"]) for p in payloads) == len(events)
    first = payloads[0]
    assert first["messageType"] == "DATA_MESSAGE" and first["owner"] == "111111111111"
    assert first["subscriptionFilters"] == ["logzio-xacct-eu-west-1"]
    assert first["logEvents"][0] == {"id": "0" * 56, "timestamp": 0, "message": "m" * 1000}
    seqs = [r["kinesis"]["sequenceNumber"] for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert gzip.decompress(base64.b64decode(records[0]["kinesis"]["data"]))[:1] == b"{"
    assert "s3cr3t-tok" not in repr(shipper)


def test_emulator_filter_log_events_ids_and_patterns(ext_endpoint: str) -> None:
    """FilterLogEvents returns AWS-shaped 56-digit ids (the ones delivery sends, see
    moto_ext.logs.event_id) and applies filter patterns like delivery does."""
    logs = boto3.client(
        "logs",
        region_name="eu-west-1",
        endpoint_url=ext_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    group = "/backfill/units/patterns"
    t0 = int(datetime.now(UTC).timestamp() * 1000) - 60_000  # moto drops events > 14 days old
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": t0, "message": '{"level": "ERROR", "n": 1}'},
            {"timestamp": t0 + 1, "message": '{"level": "INFO", "n": 2}'},
        ],
    )
    events = logs.filter_log_events(logGroupName=group)["events"]
    assert all(len(e["eventId"]) == 56 and e["eventId"].isdigit() for e in events)
    assert events[0]["eventId"].startswith(f"{t0:020d}")
    errors = logs.filter_log_events(logGroupName=group, filterPattern='{ $.level = "ERROR" }')
    assert [e["message"] for e in errors["events"]] == ['{"level": "ERROR", "n": 1}']
    ranged = logs.filter_log_events(logGroupName=group, startTime=t0 + 1, endTime=t0 + 1)
    assert [e["timestamp"] for e in ranged["events"]] == [t0 + 1]  # both ends inclusive, as AWS
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName=group, filterPattern='{ $.level = "ERROR" ')
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_emulator_filter_log_events_pages_at_one_megabyte(ext_endpoint: str) -> None:
    """AWS returns as many events as fit in 1 MB per page (up to 10,000); so does the emulator,
    and the paginator still reads every event once."""
    logs = boto3.client(
        "logs",
        region_name="eu-west-1",
        endpoint_url=ext_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    group = "/backfill/units/pages"
    t0 = int(datetime.now(UTC).timestamp() * 1000) - 60_000
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    for i in range(5):
        event = {"timestamp": t0 + i, "message": f"{i}" + "x" * 400_000}
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[event])
    pages = list(logs.get_paginator("filter_log_events").paginate(logGroupName=group))
    sizes = [len(p["events"]) for p in pages if p["events"]]
    assert sizes == [2, 2, 1]
    assert [e["message"][0] for p in pages for e in p["events"]] == list("01234")


def test_pacer_spaces_calls_at_the_quota() -> None:
    """FilterLogEvents is paced per target: N calls take (N - 1) / rate seconds, shared by threads."""
    pacer = aws.Pacer(10.0)
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    pacer.clock, pacer.sleep = (lambda: now[0]), sleep
    for _ in range(4):
        pacer.wait()
    assert slept == [0.1, 0.1, 0.1]
    assert aws.Pacer(0).interval == 0.0  # 0 turns pacing off
