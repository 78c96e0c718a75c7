"""Every listener answer, with exact expectations on what arrived and what the handler returned."""

from __future__ import annotations

import logging
import socket

from shipper_lambda import sender
from shipper_lambda.handler import lambda_handler


def three_records(kinesis, per_record=4):
    return kinesis.event(
        *(
            kinesis.payload(messages=[f"r{r} m{i}" for i in range(per_record)], prefix=f"r{r}-")
            for r in range(3)
        )
    )


def ids_of(kinesis, event, records=None):
    chosen = event["Records"] if records is None else [event["Records"][i] for i in records]
    return [e["id"] for record in chosen for e in kinesis.decode(record)["logEvents"]]


def test_healthy_listener_gets_every_event_once_with_the_schema(env, listener, kinesis, context):
    event = three_records(kinesis)

    result = lambda_handler(event, context)

    assert result == {"batchItemFailures": []}
    assert listener.ids() == ids_of(kinesis, event)
    assert set(listener.id_counts().values()) == {1}
    for line in listener.lines():
        assert line["owner"] == "210987654321"
        assert line["region"] == "eu-west-1"
        assert line["logGroup"] == "/aws/lambda/orders"
        assert line["logStream"] == "2024/05/14/[$LATEST]abc"
        assert line["type"] == "lambda"
        assert line["@timestamp"].startswith("2024-05-14T12:00:00.0")
        assert line["@timestamp"].endswith("Z") and len(line["@timestamp"]) == 24
        assert isinstance(line["id"], str)


def test_record_that_can_never_be_delivered_is_reported_and_earlier_records_arrive_once(
    env, listener, kinesis, context
):
    # GIVEN a listener that answers 500 to any request carrying one of record 2's events
    event = three_records(kinesis)
    poisoned = set(ids_of(kinesis, event, [1]))
    listener.script = lambda req: listener.answer(500) if poisoned.intersection(req.ids) else None

    # WHEN
    result = lambda_handler(event, context)

    # THEN record 2 is reported, record 1 arrived exactly once, record 3 was not sent after it
    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(1)}]}
    assert listener.ids() == ids_of(kinesis, event, [0])
    # nothing was tried for record 3 on its own once record 2 had failed
    assert not any(all(i.startswith("r2-") for i in r.ids) for r in listener.requests)


def test_failure_in_first_record_sends_nothing_after_it(env, listener, kinesis, context):
    event = three_records(kinesis)
    listener.script = lambda req: (
        listener.answer(503) if any(i.startswith("r0-") for i in req.ids) else None
    )

    result = lambda_handler(event, context)

    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(0)}]}
    assert listener.accepted == []


def test_listener_fails_then_recovers_nothing_lost_nothing_duplicated(
    env, listener, kinesis, context, summary
):
    event = three_records(kinesis)
    listener.script = lambda req: listener.answer(500) if req.index < 2 else None

    result = lambda_handler(event, context)

    assert result == {"batchItemFailures": []}
    assert listener.ids() == ids_of(kinesis, event)
    assert summary()["retries"] == 2


def test_429_is_retried_honouring_retry_after(env, listener, kinesis, context, summary):
    event = three_records(kinesis)
    listener.script = lambda req: (
        listener.answer(429, headers={"Retry-After": "0"}) if req.index == 0 else None
    )

    result = lambda_handler(event, context)

    assert result == {"batchItemFailures": []}
    assert listener.ids() == ids_of(kinesis, event)
    assert len(listener.requests) == 2
    assert summary()["retries"] == 1


def test_timeout_is_retried_and_the_hung_request_is_not_counted_delivered(
    env, listener, kinesis, context
):
    env.setenv("LOGZIO_TIMEOUT_SECONDS", "0.3")
    event = three_records(kinesis)
    listener.script = lambda req: listener.answer(hang=True) if req.index == 0 else None

    result = lambda_handler(event, context)

    assert result == {"batchItemFailures": []}
    assert len(listener.requests) == 2
    assert listener.ids() == ids_of(kinesis, event)


def test_connection_refused_reports_first_record(env, kinesis, context, summary):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env.setenv("LOGZIO_LISTENER_URL", f"http://127.0.0.1:{port}")

    result = lambda_handler(three_records(kinesis), context)

    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(0)}]}
    doc = summary()
    # LOGZIO_RETRY_ATTEMPTS=3 for the body, then 3 for record 1 alone after the per-record split
    assert doc["requests"] == 6
    assert doc["failed_sequence_number"] == kinesis.seq(0)


def test_time_budget_bounds_retries(env, listener, kinesis, make_context):
    env.setenv("LOGZIO_RETRY_ATTEMPTS", "100")
    env.setenv("LOGZIO_RETRY_BASE_MS", "20")
    env.setenv("LOGZIO_RETRY_MAX_MS", "20")
    listener.script = lambda req: listener.answer(500)

    result = lambda_handler(three_records(kinesis), make_context(budget_ms=300))

    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(0)}]}
    assert 1 <= len(listener.requests) < 100
    assert listener.accepted == []


def test_401_fails_loudly_and_drops_nothing(env, listener, kinesis, context, caplog, summary):
    listener.token = "another-token"  # the listener does not know ours

    result = lambda_handler(three_records(kinesis), context)

    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(0)}]}
    assert listener.accepted == []
    assert len(listener.requests) == 1  # no retry, no split, no bisect on a bad token
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("refused the shipping token" in r.getMessage() for r in errors)
    doc = summary()
    assert (doc["auth_failures"], doc["dropped"]) == (1, 0)


def test_403_after_a_delivered_body_reports_the_first_undelivered_record(
    env, listener, kinesis, context
):
    env.setenv("LOGZIO_MAX_BODY_BYTES", "4096")
    event = kinesis.event(
        *(kinesis.payload(messages=["x" * 300] * 3, prefix=f"r{r}-") for r in range(3))
    )
    listener.script = lambda req: listener.answer(403) if req.index >= 1 else None

    result = lambda_handler(event, context)

    first_body_records = {i.split("-")[0] for i in listener.requests[0].ids}
    assert first_body_records == {"r0", "r1"}  # two whole records fit in 4 KB, not three
    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(2)}]}
    assert listener.ids() == ids_of(kinesis, event, [0, 1])


def test_unexpected_4xx_fails_without_dropping(env, listener, kinesis, context):
    listener.script = lambda req: listener.answer(404)

    result = lambda_handler(three_records(kinesis), context)

    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(0)}]}
    assert len(listener.requests) == 1


def test_stale_keepalive_connection_is_replaced_without_a_retry(
    env, listener, kinesis, context, summary
):
    # GIVEN a warm container whose pooled connection the listener has since closed
    assert lambda_handler(three_records(kinesis), context) == {"batchItemFailures": []}
    summary()
    assert len(sender._pool) == 1
    listener.drop_connections()

    # WHEN the next batch comes
    result = lambda_handler(three_records(kinesis), context)

    # THEN it reconnects at once (no backoff retry) and delivers once more
    assert result == {"batchItemFailures": []}
    assert sorted(listener.id_counts().values()) == [2] * 12
    doc = summary()
    assert (doc["reconnects"], doc["retries"]) == (1, 0)
