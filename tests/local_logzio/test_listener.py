"""The bulk listener's status paths, over real HTTP: 200, 400 with Logz.io's counts, 401, 413,
gzip, and what the stored document looks like."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import zlib
from typing import Any

from xaccount_ops.local.logzio.bulk import MAX_BODY_BYTES, MAX_LINE_BYTES


def everything(logzio: Any) -> list[dict[str, Any]]:
    return logzio.sources({"match_all": {}}, sort=["_doc"])


def test_good_bulk_is_200_with_an_empty_body_and_every_line_is_stored(logzio: Any) -> None:
    response = logzio.ship([{"message": "one", "n": 1}, {"message": "two", "n": 2}], log_type="app")

    assert response.status_code == 200
    assert response.content == b""
    docs = everything(logzio)
    assert [(d["message"], d["n"], d["type"]) for d in docs] == [
        ("one", 1, "app"),
        ("two", 2, "app"),
    ]
    assert all(d["@timestamp"].endswith("Z") for d in docs)  # added at receive time


def test_a_lines_own_type_wins_over_the_query_parameter_and_the_default_is_http_bulk(
    logzio: Any,
) -> None:
    assert logzio.ship([{"message": "a", "type": "mine"}], log_type="param").status_code == 200
    assert logzio.ship([{"message": "b"}]).status_code == 200

    assert [(d["message"], d["type"]) for d in everything(logzio)] == [
        ("a", "mine"),
        ("b", "http-bulk"),
    ]


def test_a_lines_own_timestamp_is_kept_as_sent(logzio: Any) -> None:
    stamp = "2031-01-02T03:04:05.678Z"
    logzio.ship([{"message": "future", "@timestamp": stamp}])

    docs = logzio.sources({"range": {"@timestamp": {"gte": "2031-01-02T00:00:00Z"}}})
    assert [d["@timestamp"] for d in docs] == [stamp]


def test_missing_or_wrong_token_is_401_and_nothing_is_stored(logzio: Any) -> None:
    missing = logzio.ship([{"message": "x"}], token=None)
    wrong = logzio.ship([{"message": "x"}], token="not-the-token")

    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert everything(logzio) == []
    assert logzio.stats()["requests_by_status"] == {"401": 2}


def test_gzip_body_is_decompressed(logzio: Any) -> None:
    lines = [{"message": f"zipped {i}"} for i in range(50)]

    response = logzio.ship(lines, compress=True)

    assert response.status_code == 200
    assert [d["message"] for d in everything(logzio)] == [f"zipped {i}" for i in range(50)]
    stats = logzio.stats()
    assert stats["bytes_received"] < stats["bytes_uncompressed"]


def test_concatenated_gzip_members_are_one_body(logzio: Any) -> None:
    body = gzip.compress(b'{"message":"first"}\n') + gzip.compress(b'{"message":"second"}\n')

    response = logzio.http.post(
        f"{logzio.url}/",
        params={"token": logzio.shipping_token},
        data=body,
        headers={"Content-Encoding": "gzip"},
    )

    assert response.status_code == 200
    assert [d["message"] for d in everything(logzio)] == ["first", "second"]


def test_body_that_is_not_gzip_as_announced_is_400(logzio: Any) -> None:
    response = logzio.http.post(
        f"{logzio.url}/",
        params={"token": logzio.shipping_token},
        data=b'{"message":"plain"}\n',
        headers={"Content-Encoding": "gzip"},
    )

    assert response.status_code == 400
    assert "gzip" in response.json()["message"]
    assert everything(logzio) == []


def test_malformed_and_empty_lines_are_400_with_counts_and_good_lines_are_kept(logzio: Any) -> None:
    body = b"\n".join(
        [
            b'{"message":"good 1"}',
            b"not json",
            b"[1, 2]",  # JSON, but not an object
            b'"a string"',
            b'{"message": "\xff\xfe bad utf-8"}',
            b"",  # a blank line in the middle
            b"   ",
            b"{}",
            b'{"message":"good 2"}',
        ]
    )

    response = logzio.ship(body + b"\n")

    assert response.status_code == 400
    assert response.json() == {
        "malformedLines": 4,
        "successfulLines": 2,
        "oversizedLines": 0,
        "emptyLogLines": 3,
    }
    assert [d["message"] for d in everything(logzio)] == ["good 1", "good 2"]
    stats = logzio.stats()
    assert stats["lines_accepted"] == 2
    assert stats["lines_rejected"] == {"malformed": 4, "oversized": 0, "empty": 3}


def test_oversized_line_is_400_and_a_line_at_the_limit_is_accepted(logzio: Any) -> None:
    filler = '{"message":"' + "x" * (MAX_LINE_BYTES - len('{"message":""}')) + '"}'
    assert len(filler) == MAX_LINE_BYTES
    too_big = filler[:-2] + 'y"}'

    response = logzio.ship([filler.encode(), too_big.encode(), {"message": "small"}], compress=True)

    assert response.status_code == 400
    assert response.json() == {
        "malformedLines": 0,
        "successfulLines": 2,
        "oversizedLines": 1,
        "emptyLogLines": 0,
    }
    assert [len(d["message"]) for d in everything(logzio)] == [MAX_LINE_BYTES - 14, 5]


def test_body_over_10_mib_uncompressed_is_413_plain_and_gzip(logzio: Any) -> None:
    line = json.dumps({"message": "z" * 9_000}).encode() + b"\n"
    body = line * (MAX_BODY_BYTES // len(line) + 1)
    assert len(body) > MAX_BODY_BYTES

    plain = logzio.ship(body)
    zipped = logzio.ship(body, compress=True)

    assert plain.status_code == 413
    assert zipped.status_code == 413
    assert everything(logzio) == []
    assert logzio.stats()["requests_by_status"] == {"413": 2}


def test_body_of_exactly_10_mib_is_accepted(logzio: Any) -> None:
    line = json.dumps({"message": "q" * 9_000}).encode() + b"\n"
    count = MAX_BODY_BYTES // len(line)
    tail = MAX_BODY_BYTES - count * len(line)
    body = line * count + json.dumps({"message": "t" * (tail - 16)}).encode() + b"\n"
    assert len(body) == MAX_BODY_BYTES

    response = logzio.ship(body, compress=True)

    assert response.status_code == 200, response.text
    assert logzio.stats()["lines_accepted"] == count + 1


def test_large_gzip_bulk_near_the_limit_is_accepted(logzio: Any) -> None:
    # Random base64 barely compresses: ~10 MB inflated, over 7.5 MB on the wire.
    lines = [
        json.dumps({"message": base64.b64encode(os.urandom(3_000)).decode(), "i": i}).encode()
        for i in range(2_500)
    ]
    raw = b"\n".join(lines) + b"\n"
    body = gzip.compress(raw, compresslevel=1)
    assert len(raw) <= MAX_BODY_BYTES
    assert len(body) > 7_500_000

    response = logzio.http.post(
        f"{logzio.url}/",
        params={"token": logzio.shipping_token},
        data=body,
        headers={"Content-Encoding": "gzip"},
        timeout=30,
    )

    assert response.status_code == 200
    stats = logzio.stats()
    assert stats["lines_accepted"] == 2_500
    assert stats["bytes_received"] == len(body)


def test_deflate_and_crlf_lines_are_understood(logzio: Any) -> None:
    body = zlib.compress(b'{"message":"a"}\r\n{"message":"b"}\r\n')

    response = logzio.http.post(
        f"{logzio.url}/",
        params={"token": logzio.shipping_token},
        data=body,
        headers={"Content-Encoding": "deflate"},
    )

    assert response.status_code == 200
    assert [d["message"] for d in everything(logzio)] == ["a", "b"]


def test_empty_body_is_400_one_empty_line(logzio: Any) -> None:
    response = logzio.ship(b"")

    assert response.status_code == 400
    assert response.json()["emptyLogLines"] == 1


def test_chunked_upload_and_keep_alive_connection(logzio: Any) -> None:
    # One connection, two requests: a chunked body, then a Content-Length body.
    conn = http.client.HTTPConnection(logzio.emulator.host, logzio.emulator.port, timeout=10)
    try:
        path = f"/?token={logzio.shipping_token}&type=chunky"
        conn.request("POST", path, body=iter([b'{"message":"c1"}\n', b'{"message":"c2"}\n']))
        first = conn.getresponse()
        assert (first.status, first.read()) == (200, b"")
        conn.request("POST", path, body=b'{"message":"c3"}\n')
        second = conn.getresponse()
        assert (second.status, second.read()) == (200, b"")
    finally:
        conn.close()

    assert [d["message"] for d in everything(logzio)] == ["c1", "c2", "c3"]


def test_other_methods_and_paths_are_refused(logzio: Any) -> None:
    assert (
        logzio.http.get(f"{logzio.url}/", params={"token": logzio.shipping_token}).status_code
        == 405
    )
    assert logzio.http.post(f"{logzio.url}/nope").status_code == 404
    assert logzio.http.get(f"{logzio.url}/v1/search").status_code == 405
