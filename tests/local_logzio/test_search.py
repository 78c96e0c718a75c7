"""/v1/search over real HTTP: token, each query kind, paging, sort, _source and the time window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from xaccount_ops import logzio as logzio_client


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


NOW = datetime.now(UTC)  # absolute bounds below are computed from it at collection time


def lines_at(now: datetime) -> list[dict[str, Any]]:
    """The test lines, stamped relative to ``now``."""
    return [
        {
            "message": "Connection refused by upstream",
            "level": "ERROR",
            "owner": "111111111111",
            "region": "eu-west-1",
            "logGroup": "/aws/lambda/orders",
            "status": 502,
            "aws": {"service": "lambda"},
            "@timestamp": iso(now - timedelta(minutes=50)),
        },
        {
            "message": "request served in 12 ms",
            "level": "INFO",
            "owner": "222222222222",
            "region": "us-east-1",
            "logGroup": "/aws/lambda/payments",
            "status": 200,
            "aws": {"service": "lambda"},
            "@timestamp": iso(now - timedelta(minutes=10)),
        },
        {
            "message": "upstream connection reset, retrying",
            "level": "WARN",
            "owner": "111111111111",
            "region": "us-east-1",
            "logGroup": "/aws/ecs/cart",
            "status": 503,
            "tags": ["retry", "net"],
            "@timestamp": iso(now - timedelta(minutes=5)),
        },
        {
            "message": "user signed in",
            "level": "INFO",
            "owner": "333333333333",
            "logGroup": "/aws/ecs/auth",
            "xaccount_ops_canary": "xacct-canary-1a2b",
            "@timestamp": iso(now - timedelta(minutes=1)),
        },
    ]


LINES = lines_at(NOW)


@pytest.fixture
def loaded(logzio: Any) -> Any:
    assert logzio.ship(LINES, log_type="app").status_code == 200
    return logzio


def messages(logzio: Any, query: dict[str, Any], **body: Any) -> list[str]:
    return [d["message"] for d in logzio.sources(query, sort=["_doc"], **body)]


def test_response_shape(loaded: Any) -> None:
    response = loaded.search({"query": {"match_all": {}}, "size": 2})

    assert response.status_code == 200
    body = response.json()
    assert body["hits"]["total"] == 4
    assert len(body["hits"]["hits"]) == 2
    assert body["hits"]["hits"][0]["_source"]["message"] == LINES[0]["message"]
    assert body["hits"]["hits"][0]["_source"]["type"] == "app"


def test_empty_body_searches_everything_with_the_default_size_10(loaded: Any) -> None:
    response = loaded.search({})

    assert response.status_code == 200
    assert response.json()["hits"]["total"] == 4


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_missing_or_wrong_api_token_is_401_json(loaded: Any, token: str | None) -> None:
    response = loaded.search({"query": {"match_all": {}}}, token=token)

    assert response.status_code == 401
    assert "X-API-TOKEN" in response.json()["message"]


def test_shipping_token_is_not_an_api_token(loaded: Any) -> None:
    assert (
        loaded.search({"query": {"match_all": {}}}, token=loaded.shipping_token).status_code == 401
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("level:ERROR", [0]),
        ("level:error", [0]),  # case-insensitive like an analysed field
        ('message:"connection reset"', [2]),
        ('"signed in"', [3]),
        ("upstream", [0, 2]),  # bare term: every string field
        ("upstream AND level:WARN", [2]),
        ("level:ERROR OR level:WARN", [0, 2]),
        ("owner:111111111111 AND NOT level:ERROR", [2]),
        ("owner:111111111111 -level:ERROR", [2]),  # Lucene: -clause prohibited, rest required
        ("owner:222222222222 +level:WARN", [2]),  # +clause required, plain ones optional
        ("-level:INFO", [0, 2]),
        ("owner:222222222222 owner:333333333333", [1, 3]),  # default operator OR
        ("(level:ERROR OR level:WARN) AND region:us-east-1", [2]),
        ("logGroup:/aws/lambda/orders", [0]),
        ("logGroup:\\/aws\\/ecs*", [2, 3]),
        ("aws.service:lambda", [0, 1]),
        ("status:502", [0]),
        ("tags:retry", [2]),
        ("level:(INFO OR WARN) AND owner:222222222222", [1]),
        ("xaccount_ops_canary:*", [3]),
        ("nothing-like-this", []),
    ],
)
def test_query_string(loaded: Any, query: str, expected: list[int]) -> None:
    got = messages(loaded, {"query_string": {"query": query}})

    assert got == [LINES[i]["message"] for i in expected]


def test_query_string_default_operator_and(loaded: Any) -> None:
    query = {"query_string": {"query": "upstream connection reset", "default_operator": "AND"}}

    assert messages(loaded, query) == [LINES[2]["message"]]


def test_query_string_leading_wildcard_is_refused(loaded: Any) -> None:
    response = loaded.search({"query": {"query_string": {"query": "message:*stream"}}})

    assert response.status_code == 400
    assert "leading wildcard" in response.json()["message"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"match": {"message": "upstream"}}, [0, 2]),
        ({"match": {"message": "refused reset"}}, [0, 2]),  # OR by default
        ({"match": {"message": {"query": "upstream reset", "operator": "and"}}}, [2]),
        ({"match": {"status": 200}}, [1]),
        ({"match_phrase": {"message": "connection reset"}}, [2]),
        ({"match_phrase": {"message": "reset connection"}}, []),
        ({"term": {"owner": "111111111111"}}, [0, 2]),
        ({"term": {"level.keyword": "INFO"}}, [1, 3]),
        ({"term": {"level.keyword": "info"}}, []),
        ({"term": {"level": "info"}}, [1, 3]),  # a lowercase token of an analysed field
        ({"term": {"status": {"value": 503}}}, [2]),
        ({"terms": {"owner": ["222222222222", "333333333333"]}}, [1, 3]),
        ({"exists": {"field": "tags"}}, [2]),
        ({"prefix": {"logGroup": "/aws/ecs/"}}, [2, 3]),
        ({"wildcard": {"region": "us-*"}}, [1, 2]),
        ({"range": {"status": {"gte": 500, "lt": 503}}}, [0]),
        ({"match_none": {}}, []),
    ],
)
def test_leaf_queries(loaded: Any, query: dict[str, Any], expected: list[int]) -> None:
    assert messages(loaded, query) == [LINES[i]["message"] for i in expected]


def test_bool_must_filter_should_must_not(loaded: Any) -> None:
    query = {
        "bool": {
            "must": [{"match": {"message": "upstream"}}],
            "filter": [{"term": {"owner": "111111111111"}}],
            "must_not": [{"term": {"level.keyword": "ERROR"}}],
        }
    }
    assert messages(loaded, query) == [LINES[2]["message"]]

    should_only = {"bool": {"should": [{"term": {"status": 200}}, {"term": {"status": 502}}]}}
    assert messages(loaded, should_only) == [LINES[0]["message"], LINES[1]["message"]]

    should_optional = {
        "bool": {"filter": [{"term": {"level": "info"}}], "should": [{"term": {"status": 999}}]}
    }
    assert messages(loaded, should_optional) == [LINES[1]["message"], LINES[3]["message"]]

    minimum = {
        "bool": {
            "should": [{"match": {"message": "upstream"}}, {"term": {"level": "warn"}}],
            "minimum_should_match": 2,
        }
    }
    assert messages(loaded, minimum) == [LINES[2]["message"]]


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({"gte": "now-15m"}, [1, 2, 3]),
        ({"gt": "now-1h", "lt": "now-6m"}, [0, 1]),
        ({"lte": iso(NOW - timedelta(minutes=10))}, [0, 1]),
        ({"lt": iso(NOW - timedelta(minutes=10))}, [0]),
        ({"gte": int((NOW - timedelta(minutes=6)).timestamp() * 1000)}, [2, 3]),
    ],
)
def test_range_on_timestamp(logzio: Any, bounds: dict[str, Any], expected: list[int]) -> None:
    # Date math ("now-6m") is relative to the emulator's clock at query time, minutes after
    # collection in a long suite: stamp those lines from a fresh now.
    relative = any(isinstance(v, str) and v.startswith("now") for v in bounds.values())
    lines = lines_at(datetime.now(UTC)) if relative else LINES
    assert logzio.ship(lines, log_type="app").status_code == 200
    query = {"bool": {"filter": [{"range": {"@timestamp": bounds}}]}}

    assert messages(logzio, query) == [lines[i]["message"] for i in expected]


def test_range_bound_that_is_not_a_date_is_400(loaded: Any) -> None:
    response = loaded.search({"query": {"range": {"@timestamp": {"gte": "last tuesday"}}}})

    assert response.status_code == 400
    assert "last tuesday" in response.json()["message"]


def test_default_window_is_today_and_yesterday_and_day_offset_moves_it(logzio: Any) -> None:
    old = iso(NOW - timedelta(days=5))
    logzio.ship([{"message": "old", "@timestamp": old}, {"message": "new"}])

    assert messages(logzio, {"match_all": {}}) == ["new"]
    shifted = logzio.search({"query": {"match_all": {}}}, day_offset=5)
    assert [h["_source"]["message"] for h in shifted.json()["hits"]["hits"]] == ["old"]
    # An explicit range on @timestamp replaces the default window.
    ranged = {"range": {"@timestamp": {"gte": "now-6d"}}}
    assert sorted(messages(logzio, ranged)) == ["new", "old"]


def test_lines_stored_as_sent_are_found_by_text_queries(logzio: Any) -> None:
    # A line with its own type and @timestamp is stored byte for byte (no re-encoding).
    line = b'{"message":"Caf\xc3\xa9 \\u00e9t\\u00e9 ok-1234","type":"tee","@timestamp":"%s"}'
    logzio.ship(line.replace(b"%s", iso(NOW).encode()) + b"\n")

    assert messages(logzio, {"term": {"type": "TEE"}}) == []
    assert messages(logzio, {"term": {"type": "tee"}}) == ["Café été ok-1234"]
    assert messages(logzio, {"match": {"message": {"query": "1234", "operator": "and"}}}) == [
        "Café été ok-1234"
    ]
    assert messages(logzio, {"match_phrase": {"message": "café été"}}) == ["Café été ok-1234"]
    assert messages(logzio, {"match": {"message": "OK-1234"}}) == ["Café été ok-1234"]
    assert messages(logzio, {"terms": {"message": ["nope", "also-nope"]}}) == []


def test_unparsable_timestamp_is_filed_under_receive_time(logzio: Any) -> None:
    logzio.ship([{"message": "odd", "@timestamp": "yesterday-ish"}])

    docs = logzio.sources({"range": {"@timestamp": {"gte": "now-5m"}}})
    assert [(d["message"], d["@timestamp"]) for d in docs] == [("odd", "yesterday-ish")]


def test_size_from_and_limits(loaded: Any) -> None:
    page = loaded.search({"query": {"match_all": {}}, "from": 1, "size": 2, "sort": ["_doc"]})
    assert [h["_source"]["message"] for h in page.json()["hits"]["hits"]] == [
        LINES[1]["message"],
        LINES[2]["message"],
    ]
    assert page.json()["hits"]["total"] == 4

    assert loaded.search({"query": {"match_all": {}}, "size": 10_000}).status_code == 200
    too_big = loaded.search({"query": {"match_all": {}}, "size": 10_001})
    assert too_big.status_code == 400
    assert "10000" in too_big.json()["message"]
    assert loaded.search({"query": {"match_all": {}}, "size": -1}).status_code == 400


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ([{"@timestamp": {"order": "desc"}}], [3, 2, 1, 0]),
        ([{"@timestamp": "asc"}], [0, 1, 2, 3]),
        ([{"status": "desc"}], [2, 0, 1, 3]),  # missing values last
        ([{"status": {"order": "asc"}}], [1, 0, 2, 3]),
        ([{"owner": "asc"}, {"@timestamp": "desc"}], [2, 0, 1, 3]),
        ([{"level": "asc"}, {"_doc": "desc"}], [0, 3, 1, 2]),
        ("level", [0, 1, 3, 2]),  # a bare field name sorts ascending; ties keep insertion order
    ],
)
def test_sort(loaded: Any, sort: Any, expected: list[int]) -> None:
    hits = loaded.search({"query": {"match_all": {}}, "sort": sort}).json()["hits"]["hits"]

    assert [h["_source"]["message"] for h in hits] == [LINES[i]["message"] for i in expected]


def test_source_filtering(loaded: Any) -> None:
    only = loaded.sources({"term": {"status": 502}}, _source=["owner", "aws.service"])
    assert only == [{"owner": "111111111111", "aws": {"service": "lambda"}}]

    parent = loaded.sources({"term": {"status": 502}}, _source="aws")
    assert parent == [{"aws": {"service": "lambda"}}]

    excluded = loaded.sources(
        {"term": {"status": 502}}, _source={"includes": ["*"], "excludes": ["message", "aws"]}
    )
    assert set(excluded[0]) == {
        "level",
        "owner",
        "region",
        "logGroup",
        "status",
        "type",
        "@timestamp",
    }

    hits = loaded.search({"query": {"term": {"status": 502}}, "_source": False}).json()
    assert "_source" not in hits["hits"]["hits"][0]


def test_terms_aggregation_and_post_filter(loaded: Any) -> None:
    body = {
        "query": {"match_all": {}},
        "aggs": {"by_owner": {"terms": {"field": "owner", "size": 2}}},
        "post_filter": {"term": {"level": "info"}},
    }

    result = loaded.search(body).json()

    assert result["aggregations"]["by_owner"]["buckets"] == [
        {"key": "111111111111", "doc_count": 2},
        {"key": "222222222222", "doc_count": 1},
    ]
    assert result["aggregations"]["by_owner"]["sum_other_doc_count"] == 1
    assert result["hits"]["total"] == 2


def test_nested_terms_aggregations(loaded: Any) -> None:
    """owner > region > logGroup.keyword, as ``verify --reconcile`` asks (ES 6.8 sub-aggs)."""
    body = {
        "query": {"term": {"owner": "111111111111"}},
        "size": 0,
        "aggs": {
            "region": {
                "terms": {"field": "region", "size": 10},
                "aggs": {"group": {"terms": {"field": "logGroup.keyword", "size": 1000}}},
            }
        },
    }

    result = loaded.search(body).json()

    assert result["hits"]["hits"] == []
    regions = {b["key"]: b for b in result["aggregations"]["region"]["buckets"]}
    assert set(regions) == {"eu-west-1", "us-east-1"}
    assert regions["eu-west-1"]["group"]["buckets"] == [
        {"key": "/aws/lambda/orders", "doc_count": 1}
    ]
    assert regions["us-east-1"]["group"]["buckets"] == [{"key": "/aws/ecs/cart", "doc_count": 1}]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"query": {"fuzzy": {"message": "x"}}}, "fuzzy"),
        ({"query": {"match": {}}}, "exactly one field"),
        ({"query": {"bool": {"must": [], "nope": []}}}, "nope"),
        ({"query": {"match_all": {}}, "highlight": {}}, "highlight"),
        ({"query": {"query_string": {"query": '"unbalanced'}}}, "unbalanced"),
        ({"query": {"match_all": {}}, "sort": [{"status": "sideways"}]}, "sideways"),
        ({"query": {"match_all": {}}, "aggs": {"x": {"avg": {"field": "status"}}}}, "terms"),
        (
            {"query": {"match_all": {}}, "aggs": {"x": {"terms": {"field": "a", "size": 1001}}}},
            "1..1000",
        ),
        (
            {
                "query": {"match_all": {}},
                "aggs": {"x": {"terms": {"field": "a", "order": {"_key": "asc"}}}},
            },
            "order",
        ),
    ],
)
def test_unsupported_or_invalid_search_is_400_naming_it(
    loaded: Any, body: dict[str, Any], words: str
) -> None:
    response = loaded.search(body)

    assert response.status_code == 400
    assert words in response.json()["message"]


def test_body_that_is_not_json_is_400(loaded: Any) -> None:
    response = loaded.http.post(
        f"{loaded.url}/v1/search", data=b"{nope", headers={"X-API-TOKEN": loaded.api_token}
    )

    assert response.status_code == 400


def test_the_projects_search_client_finds_canary_markers(loaded: Any) -> None:
    # The real client from xaccount_ops.logzio, against the emulator: the query it builds works.
    with logzio_client.SearchClient(loaded.url, loaded.api_token) as client:
        found = client.find_markers(["xacct-canary-1a2b", "xacct-canary-none"])

    assert list(found) == ["xacct-canary-1a2b"]
    assert found["xacct-canary-1a2b"][0]["owner"] == "333333333333"


def test_the_projects_search_client_reports_a_bad_token_as_auth_error(loaded: Any) -> None:
    with (
        logzio_client.SearchClient(loaded.url, "wrong") as client,
        pytest.raises(logzio_client.SearchAuthError),
    ):
        client.search({"query": {"match_all": {}}})


def test_max_timestamp_inside_terms_buckets(loaded: Any) -> None:
    """The heartbeat search: owner > region buckets, each with the newest ``@timestamp``
    (ES 6.8 answers a date field's max as epoch ms plus ``value_as_string``)."""
    body = {
        "query": {"match_all": {}},
        "size": 0,
        "aggs": {
            "owner": {
                "terms": {"field": "owner", "size": 10},
                "aggs": {
                    "region": {
                        "terms": {"field": "region", "size": 10},
                        "aggs": {"last": {"max": {"field": "@timestamp"}}},
                    }
                },
            },
            "oldest": {"min": {"field": "@timestamp"}},
        },
    }

    result = loaded.search(body).json()

    owners = {b["key"]: b for b in result["aggregations"]["owner"]["buckets"]}
    eu = next(b for b in owners["111111111111"]["region"]["buckets"] if b["key"] == "eu-west-1")
    newest = max(
        datetime.fromisoformat(line["@timestamp"])
        for line in lines_at(NOW)
        if line["owner"] == "111111111111" and line["region"] == "eu-west-1"
    )
    assert eu["last"]["value"] == newest.timestamp() * 1000
    assert eu["last"]["value_as_string"] == iso(newest)
    assert result["aggregations"]["oldest"]["value"] <= eu["last"]["value"]


def test_max_over_no_documents_is_null(loaded: Any) -> None:
    body = {
        "query": {"term": {"owner": "999999999999"}},
        "aggs": {"last": {"max": {"field": "@timestamp"}}, "top": {"max": {"field": "status"}}},
    }

    result = loaded.search(body).json()

    assert result["aggregations"] == {"last": {"value": None}, "top": {"value": None}}


def test_max_with_an_unknown_key_is_400(loaded: Any) -> None:
    body = {"query": {"match_all": {}}, "aggs": {"x": {"max": {"field": "a", "script": "1"}}}}

    response = loaded.search(body)

    assert response.status_code == 400
    assert "script" in response.json()["message"]
