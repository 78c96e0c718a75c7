"""Listener answers that are not plain success or plain failure: 400 (partial success or a
listener fault), 413 within the limits, 429 beyond the time left, a trickled answer, and answers
that echo the token.

Logz.io facts (``/work/shared/reference/logzio-api.md``): a 400 body is JSON with
``malformedLines``/``successfulLines``/``oversizedLines``/``emptyLogLines``, its good lines are
indexed, and Logz.io's own Java sender never resends a 400; bodies are at most 10 MB and lines at
most 500,000 bytes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from shipper_lambda import redact
from shipper_lambda.handler import lambda_handler


def counts_400(malformed: int, successful: int) -> bytes:
    return json.dumps(
        {
            "malformedLines": malformed,
            "successfulLines": successful,
            "oversizedLines": 0,
            "emptyLogLines": 0,
        }
    ).encode()


def logzio_like(listener, bad: bytes = b"POISON"):
    """Answer as Logz.io does: 400 with the counts when a line holds ``bad``, else 200."""

    def script(req):
        lines = req.body.split(b"\n")
        rejected = sum(bad in line for line in lines)
        if rejected:
            return listener.answer(400, counts_400(rejected, len(lines) - rejected))
        return None

    return script


def sent_counts(listener) -> Counter[str]:
    """How many requests carried each event id, whatever the listener answered."""
    return Counter(i for request in listener.requests for i in request.ids)


def all_ids(kinesis, event):
    return [e["id"] for r in event["Records"] for e in kinesis.decode(r)["logEvents"]]


def test_400_is_partial_success_nothing_resent_counts_logged(
    env, listener, kinesis, context, caplog, summary
):
    # GIVEN one line the listener rejects among 30, over two records in one body
    messages = [f"fine {i}" for i in range(30)]
    messages[7] = "POISON"
    event = kinesis.event(
        kinesis.payload(messages=messages[:15], prefix="a"),
        kinesis.payload(messages=messages[15:], prefix="b"),
    )
    listener.script = logzio_like(listener)

    # WHEN
    result = lambda_handler(event, context)

    # THEN the body was sent once, never bisected or resent, and the batch succeeded
    assert result == {"batchItemFailures": []}
    assert len(listener.requests) == 1
    assert set(sent_counts(listener).values()) == {1}
    assert sorted(sent_counts(listener)) == sorted(all_ids(kinesis, event))
    doc = summary()
    assert (doc["partial_bodies"], doc["rejected_malformed"], doc["dropped"]) == (1, 1, 0)
    assert doc["listener_faults"] == 0
    logged = [r.getMessage() for r in caplog.records if "partial success" in r.getMessage()]
    assert len(logged) == 1
    assert "took 29 of 30 lines" in logged[0]
    assert "event ids a00000..b00014" in logged[0]
    assert "malformedLines=1" in logged[0]


def test_400_for_every_body_with_taken_lines_delivers_every_body_once(
    env, listener, kinesis, context, summary
):
    env.setenv("LOGZIO_MAX_BODY_BYTES", "4096")
    event = kinesis.event(
        *(kinesis.payload(messages=["POISON"] + ["x" * 300] * 5, prefix=f"r{r}-") for r in range(4))
    )
    listener.script = logzio_like(listener)

    result = lambda_handler(event, context)

    assert result == {"batchItemFailures": []}
    assert len(listener.requests) > 1  # several bodies, each answered 400
    assert set(sent_counts(listener).values()) == {1}
    doc = summary()
    assert doc["partial_bodies"] == len(listener.requests)
    assert doc["rejected_malformed"] == 4


@pytest.mark.parametrize(
    "answer",
    [
        counts_400(malformed=12, successful=0),  # a listener that judges no line good
        b"<html><body>400 Bad Request</body></html>",  # a proxy's page: no counts
        b'{"malformedLines": "many"}',  # JSON, but not Logz.io's counts
    ],
    ids=["successful-0", "proxy-html", "not-counts"],
)
def test_400_taking_no_line_is_a_listener_fault_that_fails_the_batch(
    env, listener, kinesis, context, summary, answer
):
    # GIVEN a listener that delivers the first body and answers 400 to the next without counts
    env.setenv("LOGZIO_MAX_BODY_BYTES", "4096")
    event = kinesis.event(
        *(kinesis.payload(messages=["x" * 300] * 6, prefix=f"r{r}-") for r in range(3))
    )
    listener.script = lambda req: listener.answer(400, answer) if req.index >= 1 else None

    result = lambda_handler(event, context)

    # THEN the batch fails from the second body's first record; nothing bisected, nothing dropped
    second_body_first = int(listener.requests[1].ids[0].split("-")[0][1:])
    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(second_body_first)}]}
    assert len(listener.requests) == 2
    doc = summary()
    assert (doc["listener_faults"], doc["partial_bodies"], doc["dropped"]) == (1, 0, 0)
    assert doc["records_failed"] == 3 - second_body_first


def test_413_for_a_body_within_the_limits_fails_the_batch_without_splitting(
    env, listener, kinesis, context, caplog, summary
):
    env.setenv("LOGZIO_MAX_BODY_BYTES", "4096")
    event = kinesis.event(
        *(kinesis.payload(messages=["y" * 300] * 6, prefix=f"r{r}-") for r in range(3))
    )
    listener.script = lambda req: listener.answer(413) if req.index >= 1 else None

    result = lambda_handler(event, context)

    failed_from = int(listener.requests[1].ids[0].split("-")[0][1:])
    assert failed_from >= 1
    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(failed_from)}]}
    assert len(listener.requests) == 2  # no split, no retry
    assert summary()["listener_faults"] == 1
    assert any("within Logz.io's limits" in r.getMessage() for r in caplog.records)


def test_429_with_retry_after_beyond_the_time_left_fails_without_a_burst(
    env, listener, kinesis, make_context, summary
):
    event = kinesis.event(
        *(kinesis.payload(messages=[f"m{i}" for i in range(3)], prefix=f"r{r}-") for r in range(4))
    )
    listener.script = lambda req: listener.answer(429, headers={"Retry-After": "120"})

    result = lambda_handler(event, make_context(budget_ms=5_000))

    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(0)}]}
    assert len(listener.requests) == 1  # not split per record, not retried early
    doc = summary()
    assert (doc["deferred"], doc["retries"]) == (1, 0)


# -- a listener that trickles its answer --------------------------------------------------------


class Trickler:
    """Reads a request, then answers 200 one byte per ``every_s`` seconds: each socket read
    succeeds well within any per-operation timeout, but the answer takes ~4 s in all."""

    def __init__(self, every_s: float = 0.02) -> None:
        self.every_s = every_s
        self.completed = 0
        self.cut_off = 0
        self.requests = 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = head.split(b"\r\n\r\n", 1)[1]
            while len(body) < length:
                body += conn.recv(65536)
            self.requests += 1
            answer = (
                b"HTTP/1.1 200 OK\r\nX-Padding: " + b"." * 200 + b"\r\nContent-Length: 0\r\n\r\n"
            )
            try:
                for byte in answer:
                    if self._stop.wait(self.every_s):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                self.cut_off += 1
                return
            self.completed += 1

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.close()


@pytest.fixture
def trickler() -> Iterator[Trickler]:
    server = Trickler()
    yield server
    server.stop()


def test_trickled_answer_is_cut_off_at_the_whole_request_deadline(
    env, trickler, kinesis, context, summary
):
    # GIVEN a 0.3 s request deadline and a listener whose 200 takes ~4 s to arrive, byte by byte
    env.setenv("LOGZIO_LISTENER_URL", trickler.url)
    env.setenv("LOGZIO_TIMEOUT_SECONDS", "0.3")
    env.setenv("LOGZIO_RETRY_ATTEMPTS", "2")

    # WHEN
    result = lambda_handler(kinesis.event(kinesis.payload(messages=["a", "b"])), context)

    # THEN every attempt was cut off at its deadline (never waited out), and the batch fails
    assert result == {"batchItemFailures": [{"itemIdentifier": kinesis.seq(0)}]}
    doc = summary()
    assert (doc["requests"], doc["request_timeouts"]) == (2, 2)
    assert trickler.completed == 0


# -- token hygiene ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 500, 502])
def test_token_echoed_by_an_error_body_never_reaches_a_log_line(
    env, listener, kinesis, context, caplog, token, status
):
    """The autouse fixture asserts the token is in no record, stdout or stderr; this checks
    the echo was really logged, masked."""
    echo = f"bad request POST /?token={token}&type=x (token {token})".encode()
    listener.script = lambda req: listener.answer(status, echo)

    lambda_handler(kinesis.event(kinesis.payload()), context)

    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "/?token=***&type=x" in messages
    assert "(token ***)" in messages


def test_redactor_masks_raw_and_quoted_token_and_any_token_parameter():
    scrub = redact.Redactor(["a/b+c=="])
    assert scrub("x a/b+c== y a%2Fb%2Bc%3D%3D z") == "x *** y *** z"
    assert scrub("GET /?type=t&token=other-token&x=1") == "GET /?type=t&token=***&x=1"
    assert redact.Redactor([None, ""])("token is fine") == "token is fine"


def test_guard_scrubs_records_formatted_from_arguments_and_tracebacks(caplog, token):
    log = logging.getLogger("shipper_lambda.sender")
    with redact.guard(token):
        log.error("an argument %s", token)
        try:
            raise ValueError(f"boom {token}")
        except ValueError:
            log.exception("failed")
    log.info("after the guard, records pass untouched: %s", "plain")
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "an argument ***" in text
    assert "ValueError: boom ***" in text
    assert "plain" in text


def test_limits_a_413_is_judged_against_are_logzios():
    """10,485,760 bytes a body and 500,000 bytes a line, newline not counted."""
    from shipper_lambda.deliver import _within_limits

    at_limit = bytearray(b"a" * 500_000 + b"\n" + b"b\n")
    assert _within_limits(at_limit, 0, len(at_limit))
    long_line = bytearray(b"b\n" + b"a" * 500_001 + b"\n")
    assert not _within_limits(long_line, 0, len(long_line))
    big_body = bytearray((b"c" * 99 + b"\n") * 104_858)
    assert len(big_body) - 1 > 10_485_760
    assert not _within_limits(big_body, 0, len(big_body))
