"""The search client against the Logz.io emulator itself: lines shipped to its bulk listener are
found by marker; the wrong token (the shipping token) is refused with the wrong-token-type hint."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import pytest
import requests

from xaccount_ops import logzio
from xaccount_ops.local.logzio import LogzioEmulator

SHIPPING = "local-ship-token-abc"
API = "local-api-token-xyz"


@pytest.fixture(scope="module")
def emulator() -> Iterator[LogzioEmulator]:
    with LogzioEmulator(shipping_token=SHIPPING, api_token=API) as running:
        yield running


def ship(emulator: LogzioEmulator, *lines: dict) -> None:
    body = gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())
    response = requests.post(
        f"{emulator.listener_url}/?token={SHIPPING}&type=test",
        data=body,
        headers={"Content-Encoding": "gzip"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_markers_shipped_are_found_exactly(emulator: LogzioEmulator) -> None:
    run = "20261124t101010-deadbeef"
    one = f"xacct-canary-{run}-111111111111-us-east-1"
    two = f"xacct-canary-{run}-222222222222-eu-west-1"
    near = f"xacct-canary-{run}-222222222222-eu-west-1-extra"  # contains `two` as a phrase
    ship(
        emulator,
        {logzio.MARKER_FIELD: one, "owner": "111111111111", "region": "us-east-1"},
        {logzio.MARKER_FIELD: near, "owner": "222222222222", "region": "eu-west-1"},
        {"message": f"mentions {two} in text only"},
    )
    with logzio.SearchClient(emulator.api_url, API) as client:
        found = client.find_markers([one, two])
        assert set(found) == {one}
        assert found[one][0]["owner"] == "111111111111"
        ship(emulator, {logzio.MARKER_FIELD: two, "owner": "222222222222"})
        assert set(client.find_markers([one, two])) == {one, two}


def test_shipping_token_as_api_token_is_named(emulator: LogzioEmulator) -> None:
    client = logzio.SearchClient(emulator.api_url, SHIPPING)
    with pytest.raises(logzio.SearchAuthError, match="not the log shipping token") as caught:
        client.find_markers(["x"])
    assert caught.value.status == 401
    assert SHIPPING not in str(caught.value)


def test_delivered_keys_counts_lines_per_id_and_part(emulator: LogzioEmulator) -> None:
    old = 1_700_000_000_000  # Nov 2023: outside the default window of today and yesterday
    ids = [f"{n:056d}" for n in range(900, 905)]
    ship(
        emulator,
        {"id": ids[0], "@timestamp": old, "message": "a"},
        {"id": ids[1], "@timestamp": old, "message": "b", "part": 1, "parts": 2},
        {"id": ids[1], "@timestamp": old, "message": "c", "part": 2, "parts": 2},
        {"id": ids[2], "@timestamp": old, "message": "dup"},
        {"id": ids[2], "@timestamp": old, "message": "dup"},
        {"id": ids[3], "@timestamp": old + 10 * 86_400_000, "message": "outside the range"},
    )
    with logzio.SearchClient(emulator.api_url, API) as client:
        found = client.delivered_keys(ids, since_ms=old - 1000, until_ms=old + 1000)
    assert found == {(ids[0], 0): 1, (ids[1], 1): 1, (ids[1], 2): 1, (ids[2], 0): 2}
