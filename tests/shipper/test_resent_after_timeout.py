"""Duplicates made visible: lines sent again after an ambiguous request timeout are counted
(``resent_after_timeout``) and their first/last event ids logged; the request timeout is a
validated setting."""

from __future__ import annotations

import logging

import pytest

from shipper_lambda import config
from shipper_lambda.config import ConfigError
from shipper_lambda.handler import lambda_handler

# Each hung attempt costs this long. Under load these counts once came out short: the socket's
# own timeout had beaten the watchdog's thread and was not counted (fixed in the sender; see
# the last test here), so a test-sized deadline is safe.
TIMEOUT_S = "0.3"


def keep_then_hang(listener, hung: int):
    """The first ``hung`` requests: the body is kept (indexed) but the answer comes only after
    the shipper's timeout (held until the test ends); later requests get 200."""

    def script(req):
        if req.index < hung:
            with listener._lock:
                listener.accepted.append(req)
            return listener.answer(hang=True)
        return None

    return script


def test_resend_after_a_timeout_is_counted_and_names_first_and_last_ids(
    env, listener, kinesis, context, summary, caplog
):
    env.setenv("LOGZIO_TIMEOUT_SECONDS", TIMEOUT_S)
    payload = kinesis.payload(messages=[f"m{i}" for i in range(5)], prefix="dup-")
    listener.script = keep_then_hang(listener, hung=1)

    result = lambda_handler(kinesis.event(payload), context)

    assert result == {"batchItemFailures": []}
    ids = [e["id"] for e in payload["logEvents"]]
    # The listener kept the timed-out body: every line is there twice, and the metric says so.
    assert listener.id_counts() == {i: 2 for i in ids}
    doc = summary()
    assert doc["resent_after_timeout"] == 5
    assert doc["request_timeouts"] == 1
    assert "resent_after_timeout" in {
        m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "resending" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert f"event ids {ids[0]}..{ids[-1]}" in warnings[0]
    assert "5 lines" in warnings[0]


def test_halves_split_off_a_timed_out_body_count_as_resent(
    env, listener, kinesis, context, summary
):
    env.setenv("LOGZIO_TIMEOUT_SECONDS", TIMEOUT_S)
    event = kinesis.event(
        *(
            kinesis.payload(messages=[f"r{r} m{i}" for i in range(4)], prefix=f"r{r}-")
            for r in range(3)
        )
    )
    listener.script = keep_then_hang(listener, hung=3)  # every attempt of the whole body

    result = lambda_handler(event, context)

    assert result == {"batchItemFailures": []}
    doc = summary()
    # Attempts 2 and 3 of the 12-line body, then the first attempt of each half (4 + 8 lines).
    assert doc["resent_after_timeout"] == 2 * 12 + 12
    assert doc["request_timeouts"] == 3


def test_an_answered_error_is_not_an_ambiguous_timeout(env, listener, kinesis, context, summary):
    listener.script = lambda req: listener.answer(503) if req.index == 0 else None

    result = lambda_handler(kinesis.event(kinesis.payload(messages=["a", "b"])), context)

    assert result == {"batchItemFailures": []}
    doc = summary()
    assert (doc["retries"], doc["resent_after_timeout"]) == (1, 0)
    assert listener.id_counts() == {"e00000": 1, "e00001": 1}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "LOGZIO_TIMEOUT_SECONDS must be a float, got 'soon'"),
        ("0", "LOGZIO_TIMEOUT_SECONDS must be between 0.01 and 900.0, got 0.0"),
        ("3600", "LOGZIO_TIMEOUT_SECONDS must be between 0.01 and 900.0, got 3600.0"),
    ],
)
def test_a_bad_request_timeout_is_a_config_error_naming_it(value: str, message: str) -> None:
    env = {"LOGZIO_TOKEN": "t", "LOGZIO_TIMEOUT_SECONDS": value}
    with pytest.raises(ConfigError) as err:
        config.load(env)
    assert str(err.value) == message


def test_request_timeout_default_is_15_seconds() -> None:
    assert config.load({"LOGZIO_TOKEN": "t"}).timeout_s == 15.0
    assert config.load({"LOGZIO_TOKEN": "t", "LOGZIO_TIMEOUT_SECONDS": "2.5"}).timeout_s == 2.5


def test_a_socket_timeout_that_beats_the_watchdog_is_the_same_ambiguous_timeout(
    env, listener, kinesis, context, summary, monkeypatch
):
    """The connection's own socket timeout has the watchdog's length; on a busy machine it can
    fire first (the watchdog is a thread). Seen in a full run under load: the attempt then read
    as a plain TimeoutError, not counted, and the resend after it went uncounted too."""
    from shipper_lambda import sender

    class LateWatchdog(sender.Watchdog):  # never first: only the socket's timeout can fire
        def __init__(self, conn, timeout):
            super().__init__(conn, timeout + 60)

    monkeypatch.setattr(sender, "Watchdog", LateWatchdog)
    env.setenv("LOGZIO_TIMEOUT_SECONDS", "0.3")
    payload = kinesis.payload(messages=[f"s{i}" for i in range(3)], prefix="sock-")
    listener.script = keep_then_hang(listener, hung=1)

    result = lambda_handler(kinesis.event(payload), context)

    assert result == {"batchItemFailures": []}
    doc = summary()
    assert (doc["request_timeouts"], doc["resent_after_timeout"]) == (1, 3)
    assert listener.id_counts() == {e["id"]: 2 for e in payload["logEvents"]}
