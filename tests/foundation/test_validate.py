"""The one duration parser (``validate.duration`` / ``validate.when``) and the one table of
Logz.io regions (the shipper's), as the CLI, the notebooks and the jobs read them."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from shipper_lambda.config import REGION_HOSTS
from xaccount_ops import logzio, validate
from xaccount_ops.cli.context import parse_lag, parse_when, parse_window


def test_duration_units_bare_minutes_and_timedelta() -> None:
    assert validate.duration("90s") == timedelta(seconds=90)
    assert validate.duration("1.5h") == timedelta(minutes=90)
    assert validate.duration(" 2d ") == timedelta(days=2)
    assert validate.duration("30") == timedelta(minutes=30)
    assert validate.duration(timedelta(hours=3)) == timedelta(hours=3)
    assert validate.duration("0") == timedelta(0)


def test_duration_errors_name_the_value_and_the_forms() -> None:
    with pytest.raises(ValueError, match=r"lag 'soon' is not a duration; use e\.g\. 30m"):
        validate.duration("soon", "lag")
    with pytest.raises(ValueError, match=r"window '0m' must be longer than 0"):
        validate.duration("0m", allow_zero=False)
    with pytest.raises(ValueError, match="is not a duration"):
        validate.duration("-5m")


def test_when_is_a_duration_or_an_iso_time() -> None:
    assert validate.when("7d") == timedelta(days=7)
    assert validate.when("2026-01-31T12:00:00Z") == datetime(2026, 1, 31, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"'7' is neither a duration"):
        validate.when("7")  # a point in time needs a unit: 7 what?


def test_cli_types_wrap_the_same_parser() -> None:
    assert parse_window("6h") == validate.duration("6h")
    assert parse_lag("0") == timedelta(0)
    assert parse_when("30m") == timedelta(minutes=30)
    for parse, text in ((parse_window, "0"), (parse_lag, "soon"), (parse_when, "later")):
        with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
            parse(text)


def test_logzio_hosts_come_from_the_shippers_table() -> None:
    assert set(validate.LOGZIO_REGION_CODES) == {c for c in REGION_HOSTS if c}
    for code in validate.LOGZIO_REGION_CODES:
        host = logzio.listener_url(code).removeprefix("https://").rsplit(":", 1)[0]
        assert host == REGION_HOSTS[code]
    assert logzio.api_url("eu") == "https://api-eu.logz.io"
    assert logzio.api_url("") == "https://api.logz.io"
