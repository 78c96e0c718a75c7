"""/__admin: fault injection (status, count, delay, match, Retry-After), stats and reset."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests


def test_status_fault_fails_the_next_n_bulks_then_the_listener_recovers(logzio: Any) -> None:
    armed = logzio.fault(status=503, count=2)
    assert armed.status_code == 200
    assert armed.json()["faults"][0]["count"] == 2

    statuses = [logzio.ship([{"message": f"m{i}"}]).status_code for i in range(3)]

    assert statuses == [503, 503, 200]
    assert [d["message"] for d in logzio.sources({"match_all": {}})] == [
        "m2"
    ]  # failed ones dropped
    stats = logzio.stats()
    assert stats["requests_by_status"] == {"200": 1, "503": 2}
    assert stats["faults_fired"] == 2
    assert logzio.http.get(f"{logzio.url}/__admin/faults").json() == {"faults": []}


def test_retry_after_is_sent_when_asked(logzio: Any) -> None:
    logzio.fault(status=429, retry_after=3)

    response = logzio.ship([{"message": "x"}])

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"


def test_match_fault_fails_only_bulks_whose_decompressed_body_contains_the_substring(
    logzio: Any,
) -> None:
    logzio.fault(status=500, count=5, match="poison")

    other = logzio.ship([{"message": "healthy"}], compress=True)
    hit = logzio.ship([{"message": "a poison pill"}], compress=True)

    assert (other.status_code, hit.status_code) == (200, 500)
    remaining = logzio.http.get(f"{logzio.url}/__admin/faults").json()["faults"]
    assert [(f["match"], f["count"]) for f in remaining] == [("poison", 4)]


def test_reject_lines_fault_is_logzio_400_with_counts_and_keeps_the_other_lines(
    logzio: Any,
) -> None:
    logzio.fault(reject_lines="bad-one", match="bad-one")

    hit = logzio.ship([{"message": "good a"}, {"message": "the bad-one"}, {"message": "good b"}])
    again = logzio.ship([{"message": "bad-one, sent again"}])

    assert hit.status_code == 400
    assert hit.json() == {
        "malformedLines": 1,
        "successfulLines": 2,
        "oversizedLines": 0,
        "emptyLogLines": 0,
    }
    assert again.status_code == 200  # count 1: the rule is used up
    messages = sorted(d["message"] for d in logzio.sources({"match_all": {}}))
    assert messages == ["bad-one, sent again", "good a", "good b"]
    assert logzio.stats()["lines_rejected"]["malformed"] == 1


def test_rules_fire_in_order_added(logzio: Any) -> None:
    logzio.fault(status=502, count=1)
    logzio.fault(status=504, count=1)

    assert [logzio.ship([{"message": "x"}]).status_code for _ in range(3)] == [502, 504, 200]


def test_delete_clears_armed_faults(logzio: Any) -> None:
    logzio.fault(status=503, count=100)

    cleared = logzio.http.delete(f"{logzio.url}/__admin/faults")

    assert cleared.status_code == 200
    assert logzio.ship([{"message": "x"}]).status_code == 200


def test_delayed_fault_makes_the_client_time_out(logzio: Any) -> None:
    logzio.fault(status=503, delay_s=1)

    with pytest.raises(requests.Timeout):
        logzio.ship([{"message": "slow"}], timeout=0.2)

    # The listener answers once the delay is over; poll the counters instead of sleeping.
    deadline = time.monotonic() + 15
    while logzio.stats()["requests_by_status"].get("503") != 1:
        assert time.monotonic() < deadline, logzio.stats()
        time.sleep(0.05)
    assert logzio.sources({"match_all": {}}) == []


def test_delay_without_status_answers_normally_and_keeps_the_lines(logzio: Any) -> None:
    logzio.fault(delay_s=5)

    with pytest.raises(requests.Timeout):
        logzio.ship([{"message": "delivered but late"}], timeout=0.3)

    # The client gave up, yet the lines were indexed: the duplicate risk of a retry.
    deadline = time.monotonic() + 15
    while not (docs := logzio.sources({"match_all": {}})):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [d["message"] for d in docs] == ["delivered but late"]


def test_stop_releases_a_delayed_request(tokens: tuple[str, str]) -> None:
    from xaccount_ops.local.logzio import LogzioEmulator

    shipping, _ = tokens
    emulator = LogzioEmulator(shipping_token=shipping, api_token="a").start()
    requests.post(f"{emulator.url}/__admin/faults", json={"status": 503, "delay_s": 600})
    with pytest.raises(requests.RequestException):
        requests.post(f"{emulator.url}/?token={shipping}", data=b'{"m":1}\n', timeout=0.3)

    emulator.stop()
    emulator.stop()  # idempotent

    assert emulator.app is not None
    assert emulator.app.stats.snapshot()["requests_by_status"] in ({}, {"503": 1})


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"status": 99}, "status"),
        ({"status": "503"}, "status"),
        ({"status": 503, "count": 0}, "count"),
        ({"status": 503, "delay_s": -1}, "delay_s"),
        ({"status": 503, "match": ""}, "match"),
        ({"count": 2}, "needs a status"),
        ({"status": 503, "colour": "red"}, "unknown"),
        ({"reject_lines": ""}, "reject_lines"),
        ({"reject_lines": "x", "status": 400}, "give no status"),
    ],
)
def test_invalid_fault_is_400_naming_the_field(logzio: Any, spec: dict, words: str) -> None:
    response = logzio.fault(**spec)

    assert response.status_code == 400
    assert words in response.json()["message"]
    assert logzio.http.get(f"{logzio.url}/__admin/faults").json() == {"faults": []}


def test_faults_need_a_valid_token_first(logzio: Any) -> None:
    logzio.fault(status=503)

    assert logzio.ship([{"message": "x"}], token="wrong").status_code == 401
    assert logzio.ship([{"message": "x"}]).status_code == 503  # still armed for a real request


def test_stats_count_requests_lines_and_bytes(logzio: Any) -> None:
    logzio.ship([{"message": "a"}, {"message": "b"}])
    body = b'{"message":"c"}\nbad\n\n'
    logzio.ship(body)
    logzio.ship([{"message": "x"}], token="wrong")

    stats = logzio.stats()

    assert stats["requests"] == 3
    assert stats["requests_by_status"] == {"200": 1, "400": 1, "401": 1}
    assert stats["lines_accepted"] == 3
    assert stats["lines_rejected"] == {"malformed": 1, "oversized": 0, "empty": 1}
    first = len(b'{"message": "a"}\n{"message": "b"}\n')
    last = len(b'{"message": "x"}\n')
    assert stats["bytes_received"] == first + len(body) + last
    assert stats["documents"] == 3


def test_reset_clears_data_stats_and_faults(logzio: Any) -> None:
    logzio.ship([{"message": "a"}])
    logzio.fault(status=503, count=9)

    response = logzio.http.post(f"{logzio.url}/__admin/reset")

    assert response.status_code == 200
    assert logzio.sources({"match_all": {}}) == []
    stats = logzio.stats()
    assert (stats["requests"], stats["lines_accepted"], stats["bytes_received"]) == (0, 0, 0)
    assert logzio.ship([{"message": "b"}]).status_code == 200


def test_health(logzio: Any) -> None:
    assert logzio.http.get(f"{logzio.url}/__admin/health").json() == {"status": "ok"}


def test_sub_accounts_keep_their_own_documents(logzio: Any) -> None:
    client = logzio
    http, url = client.http, client.url
    created = http.post(
        f"{url}/__admin/accounts",
        json={"name": "security", "shipping_token": "sub-ship-1", "api_token": "sub-api-1"},
        timeout=10,
    )
    assert created.status_code == 200 and created.json() == {"sub_accounts": ["security"]}
    assert client.ship([{"message": "main line"}]).status_code == 200
    assert client.ship([{"message": "sub line"}], token="sub-ship-1").status_code == 200
    assert client.ship([{"message": "x"}], token="nobody").status_code == 401

    def messages(api_token: str) -> list[str]:
        response = http.post(
            f"{url}/v1/search",
            json={"query": {"match_all": {}}, "size": 10},
            headers={"X-API-TOKEN": api_token},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return [h["_source"]["message"] for h in response.json()["hits"]["hits"]]

    assert messages(client.api_token) == ["main line"]
    assert messages("sub-api-1") == ["sub line"]
    stats = http.get(f"{url}/__admin/stats", timeout=10).json()
    assert (stats["documents"], stats["sub_account_documents"]) == (1, {"security": 1})
    bad = http.post(f"{url}/__admin/accounts", json={"name": "x"}, timeout=10)
    assert bad.status_code == 400 and "shipping_token" in bad.text
