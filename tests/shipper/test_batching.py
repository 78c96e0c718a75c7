"""Line and body limits, compression switches, filters, and garbage records."""

from __future__ import annotations

import base64
import gzip
import json
import logging

import pytest

from shipper_lambda.config import MAX_BODY_BYTES, MAX_LINE_BYTES
from shipper_lambda.handler import lambda_handler


@pytest.mark.parametrize(
    ("unit", "count"),
    [("a", 600_000), ("é", 400_000), ("\x01", 300_000), ("支", 200_000)],
    ids=["ascii", "latin", "control-chars", "cjk"],
)
def test_oversize_message_is_truncated_and_marked(
    env, listener, kinesis, context, summary, backend, unit, count
):
    env.setenv("LOGZIO_OVERSIZE", "truncate")
    message = unit * count
    event = kinesis.event(kinesis.payload(messages=["small", message, "after"]))

    result = lambda_handler(event, context)

    assert result == {"batchItemFailures": []}
    (request,) = listener.accepted
    raw_lines = request.body.split(b"\n")
    assert len(raw_lines) == 3
    assert all(len(line) <= MAX_LINE_BYTES for line in raw_lines)
    big = json.loads(raw_lines[1])
    assert big["truncated"] is True
    assert big["originalSize"] == len(message.encode())
    assert message.startswith(big["message"])
    assert len(raw_lines[1]) > MAX_LINE_BYTES - 64  # cut close to the limit, not far below it
    assert big["id"] == "e00001" and big["type"] == "lambda"
    assert "truncated" not in json.loads(raw_lines[0])
    assert summary()["truncated"] == 1


def test_oversize_json_message_ships_as_truncated_text(env, listener, kinesis, context):
    env.setenv("LOGZIO_OVERSIZE", "truncate")
    message = json.dumps({"level": "INFO", "blob": "z" * 600_000})

    lambda_handler(kinesis.event(kinesis.payload(messages=[message])), context)

    (line,) = listener.lines()
    assert line["truncated"] is True and message.startswith(line["message"])
    assert "blob" not in line


def test_bodies_split_at_record_boundaries_under_the_limit(env, listener, kinesis, context):
    env.setenv("LOGZIO_MAX_BODY_BYTES", "20000")
    payloads = [
        kinesis.payload(
            messages=[f"r{r} event {i} " + "p" * 150 for i in range(20)], prefix=f"r{r}-"
        )
        for r in range(12)
    ]
    event = kinesis.event(*payloads)

    result = lambda_handler(event, context)

    assert result == {"batchItemFailures": []}
    expected = [e["id"] for p in payloads for e in p["logEvents"]]
    assert listener.ids() == expected
    assert len(listener.accepted) > 2
    for request in listener.accepted:
        assert len(request.body) <= 20000
        records = [i.split("-")[0] for i in request.ids]
        # whole records: each body starts with a record's first event and ends with its last
        assert request.ids[0].endswith("-00000") and request.ids[-1].endswith("-00019")
        assert len(records) % 20 == 0


def test_a_record_larger_than_a_body_is_split_inside(env, listener, kinesis, context):
    env.setenv("LOGZIO_MAX_BODY_BYTES", "4096")
    payload = kinesis.payload(messages=[f"event {i} " + "q" * 300 for i in range(30)])

    result = lambda_handler(kinesis.event(payload), context)

    assert result == {"batchItemFailures": []}
    assert listener.ids() == [e["id"] for e in payload["logEvents"]]
    assert all(len(r.body) <= 4096 for r in listener.accepted)


def test_default_limit_keeps_bodies_within_10_mib(env, listener, kinesis, context, backend):
    # ~12 MB of lines: at least two requests, each within Logz.io's 10 MiB
    payloads = [
        kinesis.payload(messages=[f"{r}:{i} " + "w" * 2000 for i in range(500)], prefix=f"r{r}-")
        for r in range(12)
    ]

    result = lambda_handler(kinesis.event(*payloads), context)

    assert result == {"batchItemFailures": []}
    assert len(listener.accepted) == 2
    assert all(len(r.body) <= MAX_BODY_BYTES for r in listener.accepted)
    assert len(listener.ids()) == 6000 == len(set(listener.ids()))


def test_a_warm_invocation_sends_only_its_own_lines(env, listener, kinesis, context, backend):
    # The batcher's buffer is kept for the next invocation (no page faults once warm): what a
    # bigger batch left in it must never go out again, whole or cut (a small body limit).
    env.setenv("LOGZIO_MAX_BODY_BYTES", "30000")
    big = [
        kinesis.payload(messages=[f"{r}:{i} " + "w" * 900 for i in range(20)], prefix=f"a{r}-")
        for r in range(4)
    ]
    small = [kinesis.payload(messages=[f"b{i}" for i in range(3)], prefix=f"b{r}-") for r in (0, 1)]

    assert lambda_handler(kinesis.event(*big), context) == {"batchItemFailures": []}
    first = len(listener.accepted)
    assert lambda_handler(kinesis.event(*small), context) == {"batchItemFailures": []}

    assert listener.ids() == [e["id"] for p in big + small for e in p["logEvents"]]
    (request,) = listener.accepted[first:]
    assert request.ids == [e["id"] for p in small for e in p["logEvents"]]
    assert request.body.count(b"\n") == 5 and not request.body.endswith(b"\n")


@pytest.mark.parametrize("variable", ["LOGZIO_COMPRESS", "COMPRESS"])
def test_compression_off_sends_plain_json_lines(env, listener, kinesis, context, variable):
    env.setenv(variable, "false")

    lambda_handler(kinesis.event(kinesis.payload(messages=["plain ü"])), context)

    (request,) = listener.accepted
    assert "Content-Encoding" not in request.headers
    assert request.raw == request.body
    assert json.loads(request.raw)["message"] == "plain ü"


def test_compression_on_by_default(env, listener, kinesis, context):
    lambda_handler(kinesis.event(kinesis.payload()), context)

    (request,) = listener.accepted
    assert request.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(request.raw) == request.body


def test_include_and_exclude_log_groups(env, listener, kinesis, context, summary):
    env.setenv("INCLUDE_LOG_GROUPS", r"^/aws/lambda/")
    env.setenv("EXCLUDE_LOG_GROUPS", r"-debug$")
    event = kinesis.event(
        kinesis.payload("/aws/lambda/orders", prefix="keep"),
        kinesis.payload("/aws/lambda/orders-debug", prefix="exclude"),
        kinesis.payload("/ecs/web", prefix="notincluded"),
    )

    result = lambda_handler(event, context)

    assert result == {"batchItemFailures": []}
    assert listener.ids() == ["keep00000"]
    assert summary()["records_filtered"] == 2


def test_additional_fields_and_type_overrides(env, listener, kinesis, context):
    env.setenv("ADDITIONAL_FIELDS", "env=prod;team=core")
    env.setenv("LOGZIO_TYPE", "xacct")
    env.setenv("LOGZIO_TYPE_MAP", "/aws/lambda/orders=orders-lambda")
    event = kinesis.event(
        kinesis.payload("/aws/lambda/orders", prefix="a"),
        kinesis.payload("/aws/lambda/billing", prefix="b"),
        kinesis.payload("my-app", prefix="c", filters=["custom"]),
    )

    lambda_handler(event, context)

    lines = {line["id"][0]: line for line in listener.lines()}
    assert [lines[k]["type"] for k in "abc"] == ["orders-lambda", "lambda", "xacct"]
    assert all((line["env"], line["team"]) == ("prod", "core") for line in lines.values())
    assert "region" not in lines["c"]  # filter name without a region: unknown, left out


def garbage_records(kinesis):
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    good = kinesis.record(kinesis.payload(messages=["good one"], prefix="good"), kinesis.seq(9))
    return [
        {"kinesis": {"sequenceNumber": "seq-not-base64", "data": "!!!@@@###"}},
        {"kinesis": {"sequenceNumber": "seq-not-gzip", "data": b64(b"\x00\x01binary junk")}},
        {"kinesis": {"sequenceNumber": "seq-bad-gzip", "data": b64(b"\x1f\x8b\x08garbage")}},
        {"kinesis": {"sequenceNumber": "seq-not-json", "data": b64(gzip.compress(b"{nope"))}},
        {"kinesis": {"sequenceNumber": "seq-array", "data": b64(gzip.compress(b"[1,2]"))}},
        {
            "kinesis": {
                "sequenceNumber": "seq-no-events",
                "data": b64(gzip.compress(b'{"messageType":"DATA_MESSAGE","logGroup":"g"}')),
            }
        },
        {"kinesis": {"sequenceNumber": "seq-int-data", "data": 12345}},
        {"kinesis": {"sequenceNumber": "seq-empty", "data": ""}},
        {"no-kinesis": True},
        "not even a dict",
        good,
    ]


def test_garbage_records_are_counted_logged_and_skipped(
    env, listener, kinesis, context, caplog, summary
):
    records = garbage_records(kinesis)
    broken_events = kinesis.payload(messages=["ok 1", "ok 2"], prefix="mixed")
    broken_events["logEvents"].insert(1, {"id": "no-timestamp", "message": "x"})
    broken_events["logEvents"].append({"id": "bad-ts", "timestamp": "soon", "message": "x"})
    broken_events["logEvents"].append("not an event")
    records.append(kinesis.record(broken_events, kinesis.seq(10)))

    result = lambda_handler({"Records": records}, context)

    assert result == {"batchItemFailures": []}
    assert listener.ids() == ["good00000", "mixed00000", "mixed00001"]
    doc = summary()
    assert doc["records_undecodable"] == 10
    assert doc["malformed"] == 3
    logged = caplog.text
    for seq in ("seq-not-base64", "seq-not-gzip", "seq-bad-gzip", "seq-not-json", "seq-array"):
        assert f"seq={seq}" in logged
    assert "id=no-timestamp" in logged and "id=bad-ts" in logged
    assert any(
        r.levelno == logging.ERROR and "undecodable" in r.getMessage() for r in caplog.records
    )


def test_event_without_records_ships_nothing(env, listener, context):
    assert lambda_handler({}, context) == {"batchItemFailures": []}
    assert lambda_handler({"Records": []}, context) == {"batchItemFailures": []}
    assert listener.requests == []
