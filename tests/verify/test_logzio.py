"""xaccount_ops.logzio: region URLs, and the search client against a scripted server on loopback.

The scripted server (a real HTTP server on 127.0.0.1) answers what the Logz.io emulator cannot be
told to: 403, 429 with Retry-After, plan refusals, 5xx then success.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from urllib3.util.retry import Retry

from xaccount_ops import logzio
from xaccount_ops.config import parse_config
from xaccount_ops.errors import ConfigError

TOKEN = "api-token-SECRET-0123456789"


@pytest.mark.parametrize(
    ("code", "listener", "api"),
    [
        ("us", "https://listener.logz.io:8071", "https://api.logz.io"),
        ("", "https://listener.logz.io:8071", "https://api.logz.io"),
        ("au", "https://listener-au.logz.io:8071", "https://api-au.logz.io"),
        ("ca", "https://listener-ca.logz.io:8071", "https://api-ca.logz.io"),
        ("eu", "https://listener-eu.logz.io:8071", "https://api-eu.logz.io"),
        ("uk", "https://listener-uk.logz.io:8071", "https://api-uk.logz.io"),
        ("nl", "https://listener-nl.logz.io:8071", "https://api-nl.logz.io"),
        ("wa", "https://listener-wa.logz.io:8071", "https://api-wa.logz.io"),
    ],
)
def test_region_codes_map_to_hosts(code: str, listener: str, api: str) -> None:
    assert logzio.listener_url(code) == listener
    assert logzio.api_url(code) == api


def test_overrides_win_and_bad_codes_are_named() -> None:
    assert logzio.listener_url("eu", "http://127.0.0.1:9/") == "http://127.0.0.1:9"
    assert logzio.api_url("eu", "http://127.0.0.1:8") == "http://127.0.0.1:8"
    with pytest.raises(ConfigError, match="'xx' is not a Logz.io region code"):
        logzio.listener_url("xx")


def test_endpoints_from_config() -> None:
    cfg = parse_config(
        {
            "landing": {"account_id": "111111111111", "region": "us-east-1"},
            "senders": {"accounts": ["222222222222"], "regions": ["us-east-1"]},
            "logzio": {
                "region": "uk",
                "shipping_token": {"env": "X"},
                "api_url": "http://127.0.0.1:1234",
            },
        }
    )
    ends = logzio.endpoints(cfg.logzio)
    assert ends.listener_url == "https://listener-uk.logz.io:8071"
    assert ends.api_url == "http://127.0.0.1:1234"


def test_from_config_without_api_token_says_which_token() -> None:
    cfg = parse_config(
        {
            "landing": {"account_id": "111111111111", "region": "us-east-1"},
            "senders": {"accounts": ["222222222222"], "regions": ["us-east-1"]},
            "logzio": {"shipping_token": {"env": "X"}},
        }
    )
    with pytest.raises(ConfigError, match="not the shipping token"):
        logzio.SearchClient.from_config(cfg)


def test_marker_query_is_exact_and_bounded() -> None:
    body = logzio.marker_query(["b", "a", "a"])
    assert body["query"] == {
        "bool": {
            "should": [
                {"match_phrase": {logzio.MARKER_FIELD: "a"}},
                {"match_phrase": {logzio.MARKER_FIELD: "b"}},
            ],
            "minimum_should_match": 1,
        }
    }
    assert 2 <= body["size"] <= logzio.MAX_SEARCH_SIZE
    assert logzio.marker_query(["a"], size=50_000)["size"] == logzio.MAX_SEARCH_SIZE
    with pytest.raises(ValueError):
        logzio.marker_query([])


# -- against a scripted server (conftest.scripted) ------------------------------------------


def fast_retry(total: int = 3) -> Retry:
    return Retry(
        total=total,
        status=total,
        backoff_factor=0,
        status_forcelist=logzio.RETRY_STATUSES,
        allowed_methods=frozenset({"POST"}),
        respect_retry_after_header=False,
        raise_on_status=False,
    )


def hits(*sources: dict) -> bytes:
    return json.dumps(
        {"hits": {"total": len(sources), "hits": [{"_source": s} for s in sources]}}
    ).encode()


def test_search_sends_token_header_and_finds_markers(scripted: tuple[str, Any]) -> None:
    url, script = scripted
    script.responses = [
        (
            200,
            {},
            hits(
                {logzio.MARKER_FIELD: "m1", "owner": "1"},
                {logzio.MARKER_FIELD: "other", "owner": "2"},
            ),
        )
    ]
    with logzio.SearchClient(url, TOKEN, retry=fast_retry()) as client:
        found = client.find_markers(["m1", "m2"])
    assert found == {"m1": [{logzio.MARKER_FIELD: "m1", "owner": "1"}]}
    request = script.requests[0]
    assert request["path"] == "/v1/search"
    assert request["headers"]["X-API-TOKEN"] == TOKEN
    should = request["body"]["query"]["bool"]["should"]
    assert [c["match_phrase"][logzio.MARKER_FIELD] for c in should] == ["m1", "m2"]


def test_repr_hides_token(scripted: tuple[str, Any]) -> None:
    url, _ = scripted
    client = logzio.SearchClient(url, TOKEN)
    assert TOKEN not in repr(client) and TOKEN not in str(client)


def test_retries_5xx_then_succeeds(scripted: tuple[str, Any]) -> None:
    url, script = scripted
    script.responses = [(503, {}, b"busy"), (502, {}, b"busy"), (200, {}, hits())]
    client = logzio.SearchClient(url, TOKEN, retry=fast_retry())
    assert client.find_markers(["m"]) == {}
    assert len(script.requests) == 3


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_say_wrong_token_type_and_never_echo_it(
    scripted: tuple[str, Any], status: int
) -> None:
    url, script = scripted
    script.responses = [(status, {}, b'{"message":"Unauthorized"}')]
    client = logzio.SearchClient(url, TOKEN, retry=fast_retry())
    with pytest.raises(logzio.SearchAuthError) as caught:
        client.search({"query": {"match_all": {}}})
    message = str(caught.value)
    assert "API token" in message and "not the log shipping token" in message
    assert caught.value.status == status
    assert TOKEN not in message and TOKEN not in repr(caught.value)
    assert len(script.requests) == 1  # not retried: waiting does not fix a token


def test_rate_limit_after_retries(scripted: tuple[str, Any]) -> None:
    url, script = scripted
    script.responses = [(429, {"Retry-After": "0"}, b"slow down")]
    client = logzio.SearchClient(url, TOKEN, retry=fast_retry(total=2))
    with pytest.raises(logzio.SearchRateLimitError, match="429"):
        client.search({"query": {"match_all": {}}})
    assert len(script.requests) == 3  # first try + 2 retries


def test_plan_restriction_is_named(scripted: tuple[str, Any]) -> None:
    url, script = scripted
    script.responses = [
        (403, {}, b'{"message":"Search API is not available for your plan"}'),
    ]
    client = logzio.SearchClient(url, TOKEN, retry=fast_retry())
    with pytest.raises(logzio.SearchPlanError, match="Pro or Enterprise"):
        client.search({"query": {"match_all": {}}})


def test_unreachable_api_names_url_not_token() -> None:
    client = logzio.SearchClient("http://127.0.0.1:9", TOKEN, retry=fast_retry(total=0))
    with pytest.raises(logzio.SearchError, match="cannot reach") as caught:
        client.search({"query": {"match_all": {}}})
    assert TOKEN not in str(caught.value)


def test_non_json_200_is_an_error(scripted: tuple[str, Any]) -> None:
    url, script = scripted
    script.responses = [(200, {}, b"<html>")]
    with pytest.raises(logzio.SearchError, match="not JSON"):
        logzio.SearchClient(url, TOKEN, retry=fast_retry()).search({"query": {}})


def test_many_markers_are_searched_in_chunks(
    scripted: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, script = scripted
    monkeypatch.setattr(logzio, "MARKERS_PER_SEARCH", 2)
    script.responses = [(200, {}, hits({logzio.MARKER_FIELD: "m4"}))]
    found = logzio.SearchClient(url, TOKEN, retry=fast_retry()).find_markers(
        ["m1", "m2", "m3", "m4", "m5"]
    )
    assert list(found) == ["m4"]
    asked = [
        [c["match_phrase"][logzio.MARKER_FIELD] for c in r["body"]["query"]["bool"]["should"]]
        for r in script.requests
    ]
    assert asked == [["m1", "m2"], ["m3", "m4"], ["m5"]]
