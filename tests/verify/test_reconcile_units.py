"""The parts of reconcile that need no cloud: window alignment, the search body, CLI usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xaccount_ops.cli import main
from xaccount_ops.verify.reconcile import AGG_BUCKETS, align, count_query

NOW = datetime(2026, 12, 2, 6, 30, 17, tzinfo=UTC)


def test_window_is_whole_minutes_ending_lag_ago() -> None:
    span = align(timedelta(hours=1), now=NOW)  # default lag 5 m: 06:25:17 -> 06:26
    assert (span.start, span.end) == (
        datetime(2026, 12, 2, 5, 26, tzinfo=UTC),
        datetime(2026, 12, 2, 6, 26, tzinfo=UTC),
    )
    assert span.seconds == 3600


def test_lag_zero_includes_the_current_minute() -> None:
    span = align(timedelta(minutes=10), lag=timedelta(0), now=NOW)
    assert span.end == datetime(2026, 12, 2, 6, 31, tzinfo=UTC)


def test_old_windows_use_the_periods_cloudwatch_keeps() -> None:
    # 20 days back: 5-minute points only (MetricStat Period rules).
    span = align(timedelta(minutes=7), until=NOW - timedelta(days=20), lag=timedelta(0), now=NOW)
    assert span.start.minute % 5 == 0 and span.end.minute % 5 == 0
    assert span.seconds % 300 == 0 and span.seconds >= 420
    # 100 days back: hourly.
    span = align(timedelta(hours=2), until=NOW - timedelta(days=100), now=NOW)
    assert span.start.minute == span.end.minute == 0


def test_windows_older_than_cloudwatch_keeps_are_refused() -> None:
    with pytest.raises(ValueError, match="455 days"):
        align("1h", until=NOW - timedelta(days=500), now=NOW)


@pytest.mark.parametrize(
    ("window", "lag"), [(timedelta(0), timedelta(0)), (timedelta(hours=1), timedelta(minutes=-1))]
)
def test_bad_window_or_lag_is_refused(window: timedelta, lag: timedelta) -> None:
    with pytest.raises(ValueError, match="must be"):
        align(window, lag=lag, now=NOW)
    with pytest.raises(ValueError, match="'soon' is not a duration"):
        align("soon", now=NOW)


def test_count_query_counts_a_split_event_once_and_respects_the_bucket_limit() -> None:
    body = count_query("111111111111", ["/a", "/b"], ["us-east-1"], 0, 60_000)
    filters = body["query"]["bool"]["filter"]
    assert {"term": {"owner": "111111111111"}} in filters
    parts = filters[-1]["bool"]["should"]
    assert {"term": {"part": 1}} in parts
    assert body["aggs"]["region"]["aggs"]["group"]["terms"]["size"] == 2
    with pytest.raises(ValueError, match="1000"):
        count_query("111111111111", [f"/g{i}" for i in range(AGG_BUCKETS + 1)], ["r"], 0, 1)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["verify", "--window", "1h"], "--window needs --reconcile"),
        (["verify", "--reconcile", "--threshold", "1.5"], "(0, 1]"),
        (["verify", "--reconcile", "--lag", "soon"], "not a window"),
        (["verify", "--reconcile", "--window", "500d"], "455 days"),
    ],
)
def test_cli_usage_errors(
    argv: list[str], words: str, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["--config", str(tmp_path / "missing.toml"), *argv])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    assert words in capsys.readouterr().err
