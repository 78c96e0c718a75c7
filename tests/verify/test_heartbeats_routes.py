"""``verify --heartbeats`` against the Logz.io emulator alone: heartbeat lines shipped to the main
account and to a route's sub-account are each found with that account's API token, in one
aggregation search per account; a pair with an old heartbeat is stale, one with none never."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from xaccount_ops.config import load_config
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.local.logzio import LogzioEmulator
from xaccount_ops.verify import heartbeats

API_TOKEN = "test-api-token"  # what helpers.write_config puts in the token file
A, B, C = "111111111111", "222222222222", "333333333333"
REGION = "eu-west-1"


@pytest.fixture
def logzio() -> Iterator[LogzioEmulator]:
    with LogzioEmulator(shipping_token="ship", api_token=API_TOKEN) as emulator:
        sub = {"name": "security", "shipping_token": "sub-ship", "api_token": "sub-api"}
        requests.post(f"{emulator.url}/__admin/accounts", json=sub, timeout=10).raise_for_status()
        yield emulator


def ship(emulator: LogzioEmulator, token: str, group: str, owner: str, age: timedelta) -> None:
    stamp = datetime.now(UTC) - age
    line = {
        "message": "Scheduled Event",
        "@timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
        "owner": owner,
        "region": REGION,
        "logGroup": group,
        "detail-type": "Scheduled Event",
    }
    response = requests.post(
        f"{emulator.url}/", params={"token": token}, data=json.dumps(line) + "\n", timeout=10
    )
    assert response.status_code == 200, response.text


def test_routed_pairs_are_searched_in_their_sub_account(
    tmp_path: Path, helpers: Any, logzio: LogzioEmulator
) -> None:
    token_file = tmp_path / "sub-api"
    token_file.write_text("sub-api\n")
    os.chmod(token_file, 0o600)
    path = helpers.write_config(
        tmp_path / "cfg",
        endpoint="http://127.0.0.1:9",
        landing="999999999999",
        accounts=[A, B, C],
        regions=(REGION,),
        stack="hbr",
        canary_group="/xaccount-ops/canary",
        api_url=logzio.api_url,
        extra=f"""
[[logzio.routes]]
name = "security"
accounts = ["{B}"]
token = {{ env = "SECURITY_SHIPPING_TOKEN" }}
api_token = {{ file = "{token_file}" }}
""",
        heartbeat_minutes=5,
    )
    fleet = Fleet.from_config(load_config(path))
    group = fleet.config.verify.heartbeat_log_group
    ship(logzio, "ship", group, A, timedelta(minutes=2))
    ship(logzio, "sub-ship", group, B, timedelta(minutes=1))
    ship(logzio, "ship", group, B, timedelta(minutes=30))  # in the wrong account: not B's answer
    ship(logzio, "ship", group, C, timedelta(minutes=40))
    ship(logzio, "ship", "/some/other/group", C, timedelta(minutes=1))  # not a heartbeat

    result = heartbeats.check(fleet, max_age=timedelta(minutes=15), diagnose_stale=False)

    rows = result.frame.set_index("account_id")
    assert list(rows["route"]) == ["main", "security", "main"]
    assert str(rows.loc[A, "status"]) == "ok" and 100 < rows.loc[A, "age_s"] < 200
    assert str(rows.loc[B, "status"]) == "ok" and rows.loc[B, "age_s"] < 100
    assert str(rows.loc[C, "status"]) == "stale" and "older than 15 min" in rows.loc[C, "detail"]
    assert not result.ok
    searches = requests.get(f"{logzio.url}/__admin/stats", timeout=10).json()["search_requests"]
    assert searches == 2  # one per Logz.io account


def test_a_pair_without_heartbeats_is_never(
    tmp_path: Path, helpers: Any, logzio: LogzioEmulator
) -> None:
    path = helpers.write_config(
        tmp_path,
        endpoint="http://127.0.0.1:9",
        landing="999999999999",
        accounts=[A],
        regions=(REGION,),
        stack="hbn",
        canary_group="/xaccount-ops/canary",
        api_url=logzio.api_url,
        heartbeat_minutes=5,
    )

    result = heartbeats.check(Fleet.from_config(load_config(path)), diagnose_stale=False)

    (row,) = result.frame.itertuples()
    assert str(row.status) == "never" and "last 1 day(s)" in row.detail
    assert result.max_age == timedelta(minutes=15)
