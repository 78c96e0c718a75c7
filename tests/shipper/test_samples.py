"""AWS's documented payloads (tests/events/) through the handler to a real loopback listener."""

from __future__ import annotations

import json

from shipper_lambda.handler import lambda_handler

SCHEMA = {"owner", "region", "logGroup", "logStream", "id", "@timestamp", "type"}


def test_cloudtrail_sample_ships_each_event_with_truncated_json_kept_as_text(
    env, listener, kinesis, context, backend
):
    # GIVEN AWS's CloudTrail sample, whose messages are cut-off JSON
    event = kinesis.load("kinesis_cloudtrail.json")
    payload = kinesis.decode(event["Records"][0])

    # WHEN
    result = lambda_handler(event, context)

    # THEN every event arrives once, message unchanged (it does not parse), default type, no region
    assert result == {"batchItemFailures": []}
    lines = listener.lines()
    assert [line["id"] for line in lines] == [e["id"] for e in payload["logEvents"]]
    for line, source in zip(lines, payload["logEvents"], strict=True):
        assert line == {
            "message": source["message"],
            "@timestamp": "2015-05-28T15:27:35.000Z",
            "id": source["id"],
            "owner": "123456789012",
            "logGroup": "CloudTrail",
            "logStream": "123456789012_CloudTrail_us-east-1",
            "messageType": "DATA_MESSAGE",
            "subscriptionFilters": ["Destination"],
            "type": "aws-cross-account",
        }


def test_control_message_ships_nothing(env, listener, kinesis, context, summary):
    result = lambda_handler(kinesis.load("kinesis_control_message.json"), context)

    assert result == {"batchItemFailures": []}
    assert listener.requests == []
    counts = summary()
    assert (counts["records"], counts["records_control"], counts["lines"]) == (1, 1, 0)


def test_lambda_sample_merges_json_with_metadata_winning_and_keeps_non_ascii(
    env, listener, kinesis, context, backend
):
    event = kinesis.load("kinesis_lambda.json")
    source = kinesis.decode(event["Records"][0])["logEvents"]

    result = lambda_handler(event, context)

    assert result == {"batchItemFailures": []}
    (request,) = listener.accepted
    assert request.headers["Content-Encoding"] == "gzip"
    lines = request.lines
    assert len(lines) == 5
    for line in lines:
        assert line.keys() >= SCHEMA
        assert line["type"] == "lambda"
        assert line["region"] == "eu-west-1"
        assert line["owner"] == "210987654321"
    assert lines[0]["message"] == source[0]["message"]  # text kept as is, newline included
    assert lines[0]["@timestamp"] == "2024-05-14T12:00:00.123Z"
    merged = lines[1]
    assert "message" not in merged
    assert (merged["level"], merged["orderId"], merged["amount"]) == ("INFO", "A-1042", 12.5)
    # the message's own "type" and "owner" lose to the metadata
    assert (merged["type"], merged["owner"]) == ("lambda", "210987654321")
    assert lines[2]["message"] == source[2]["message"]
    assert "bestätigt" in request.body.decode() and "支払い完了" in request.body.decode()


def test_mixed_batch_every_event_once_system_fields_win(env, listener, kinesis, context):
    event = kinesis.load("kinesis_mixed.json")
    expected = [
        e["id"]
        for record in event["Records"]
        for e in kinesis.decode(record)["logEvents"]
        if kinesis.decode(record)["messageType"] == "DATA_MESSAGE"
    ]

    result = lambda_handler(event, context)

    assert result == {"batchItemFailures": []}
    assert listener.ids() == expected
    last = listener.lines()[-1]
    assert last["region"] == "ap-southeast-2"  # from @aws.region on the event
    assert last["owner"] == "345678901234"
    assert last["type"] == "scheduler"  # /aws/events/<x>/... → x
    assert "@aws.region" not in last


def test_summary_line_is_emf_with_the_counts(env, listener, kinesis, context, summary):
    lambda_handler(kinesis.load("kinesis_mixed.json"), context)

    doc = summary()
    assert doc["records"] == 4
    assert doc["events"] == 9
    assert doc["lines"] == 9
    assert doc["requests"] == 1
    assert doc["bytes_out"] == len(listener.requests[0].raw)
    assert doc["bytes_in"] > 0 and doc["duration_ms"] >= 0
    metrics = doc["_aws"]["CloudWatchMetrics"][0]
    names = {m["Name"] for m in metrics["Metrics"]}
    assert {"records", "events", "lines", "requests", "retries", "dropped", "truncated"} <= names
    assert all(name in doc for name in names)  # EMF requires each metric as a top-level member
    assert metrics["Dimensions"] == [["FunctionName"]]
    assert doc["FunctionName"] == "logzio-xacct-shipper"
    json.dumps(doc)
