"""Redaction, drop/keep filters and multiline joins (issue #22 items 1-3), through the handler
to a real loopback listener, on both backends: per event, before batching, metadata untouched,
every change counted in the metrics line."""

from __future__ import annotations

import dataclasses
import json
import logging
import re

import pytest

from shipper_lambda import config, rules
from shipper_lambda.config import ConfigError
from shipper_lambda.handler import lambda_handler
from shipper_lambda.redaction import Redactor

JAVA = [
    "2024-05-14 12:00:00.001 ERROR [main] c.e.OrderService - payment failed",
    "java.lang.IllegalStateException: card declined",
    "\tat com.example.OrderService.pay(OrderService.java:42)",
    "\tat com.example.OrderController.post(OrderController.java:17)",
    "Caused by: java.net.SocketTimeoutException: Read timed out",
    "\t... 12 more",
    "2024-05-14 12:00:01.002 INFO [main] c.e.OrderService - retry ok",
]
START = r"^\d{4}-\d{2}-\d{2} "


def ship(env, kinesis, context, summary, listener, *payloads, **variables):
    for name, value in variables.items():
        env.setenv(name, value if isinstance(value, str) else json.dumps(value))
    result = lambda_handler(kinesis.event(*payloads), context)
    assert result == {"batchItemFailures": []}
    return listener.lines(), summary()


# -- redaction -----------------------------------------------------------------------------------

BUILTIN_CASES = [
    ("email", "mail bob.smith+x@mail.example.co.uk now", "bob.smith+x@mail.example.co.uk"),
    ("ipv4", "from 10.20.30.40:443 ok", "10.20.30.40"),
    ("ipv6", "peer 2001:db8::8a2e:370:7334 closed", "2001:db8::8a2e:370:7334"),
    ("ipv6", "bound to ::1 port 80", "::1"),
    ("ipv4", "[10.0.0.1]", "10.0.0.1"),
    ("credit_card", "amex 3782-822463-10005.", "3782-822463-10005"),
    ("credit_card", "pan=4111111111111111&x", "4111111111111111"),
    ("credit_card", "card 4111 1111 1111 1111 charged", "4111 1111 1111 1111"),
    ("aws_access_key_id", "key=AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
    (
        "aws_secret_key",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    ("bearer_token", "Authorization: Bearer abc.DEF-123_x=", "abc.DEF-123_x="),
    (
        "jwt",
        "t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_x end",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_x",
    ),
]
NOT_MATCHED = {
    "email": "user at example dot com; a@b",
    "ipv4": "version 1.2.3 and 300.1.1.1 and 1.2.3.4.5 and v2.10.1.3.4",
    "ipv6": "time 12:30:45, a::b::c, std::vector, Foo::Bar, arn:aws:s3:::bucket",
    "credit_card": "card 4111 1111 1111 1112 (Luhn fails); 1715688000 1715688060 1715688000123",
    "aws_access_key_id": "AROAIOSFODNN7EXAMPLE is a role id",
    "aws_secret_key": "secret is short: abc",
    "bearer_token": "no token here",
    "jwt": "eyJonly.one",
}


@pytest.mark.parametrize(("name", "text", "secret"), BUILTIN_CASES)
def test_builtins_redact_what_they_name_and_count_it(
    env, listener, kinesis, context, summary, backend, name, text, secret
):
    messages = [text, NOT_MATCHED[name]]
    lines, counts = ship(
        env, kinesis, context, summary, listener, kinesis.payload(messages=messages),
        LOGZIO_REDACT=[{"builtin": name}],
    )  # fmt: skip
    assert lines[0]["message"] == text.replace(secret, f"[REDACTED:{name}]")
    assert lines[1]["message"] == NOT_MATCHED[name]
    assert counts[f"redacted_{name}"] == 1


def test_json_message_values_are_redacted_keys_and_metadata_never(
    env, listener, kinesis, context, summary, backend
):
    message = json.dumps(
        {
            "user": {"email": "ann@example.com", "ids": ["x", "bob@example.org"]},
            "escaped": "zoe\\u0040example.net",  # JSON-escaped "@", as json.dumps writes it
            "ann@example.com": "the key stays",
            "n": 123456789012345678901234567890,
        }
    ).replace("\\\\u0040", "\\u0040")
    payload = kinesis.payload(
        "/aws/lambda/orders", [message, "eu-west-1 owner 210987654321"],
        log_stream="stream-ann@example.com",
    )  # fmt: skip
    lines, counts = ship(
        env, kinesis, context, summary, listener, payload,
        LOGZIO_REDACT=[
            {"builtin": "email", "replacement": "<email>"},
            {"name": "meta", "pattern": "eu-west-1|210987654321|orders|lambda"},
        ],
    )  # fmt: skip
    merged, text = lines
    assert merged["user"] == {"email": "<email>", "ids": ["x", "<email>"]}
    assert merged["escaped"] == "<email>"
    assert merged["ann@example.com"] == "the key stays"
    assert merged["n"] == 123456789012345678901234567890
    assert text["message"] == "[REDACTED:meta] owner [REDACTED:meta]"
    for line in lines:  # metadata untouched, although the patterns match it
        assert (line["region"], line["owner"], line["logGroup"], line["type"]) == (
            "eu-west-1", "210987654321", "/aws/lambda/orders", "lambda",
        )  # fmt: skip
        assert line["logStream"] == "stream-ann@example.com"
    assert (counts["redacted_email"], counts["redacted_meta"]) == (3, 2)


def test_fields_limit_a_rule_to_those_json_paths(env, listener, kinesis, context, summary, backend):
    message = json.dumps({"req": {"ip": "10.1.2.3", "via": "10.9.9.9"}, "peer": "10.4.4.4"})
    lines, counts = ship(
        env, kinesis, context, summary, listener,
        kinesis.payload(messages=[message, "text 10.5.5.5"]),
        LOGZIO_REDACT=[{"builtin": "ipv4", "fields": ["req.ip", "peer"]}],
    )  # fmt: skip
    assert lines[0]["req"] == {"ip": "[REDACTED:ipv4]", "via": "10.9.9.9"}
    assert lines[0]["peer"] == "[REDACTED:ipv4]"
    assert lines[1]["message"] == "text 10.5.5.5"  # fields: JSON-object messages only
    assert counts["redacted_ipv4"] == 2


def test_log_groups_scope_a_rule(env, listener, kinesis, context, summary, backend):
    lines, counts = ship(
        env, kinesis, context, summary, listener,
        kinesis.payload("/aws/lambda/pay", ["a@b.io"], prefix="p"),
        kinesis.payload("/aws/lambda/web", ["a@b.io"], prefix="w"),
        LOGZIO_REDACT=[{"builtin": "email", "log_groups": ["^/aws/lambda/pay$"]}],
    )  # fmt: skip
    assert [line["message"] for line in lines] == ["[REDACTED:email]", "a@b.io"]
    assert counts["redacted_email"] == 1


def test_an_oversize_event_is_redacted_before_it_is_split(
    env, listener, kinesis, context, summary, backend
):
    """The secret straddles where the first part ends: found in the whole, then split."""
    secret = "AKIAIOSFODNN7EXAMPLE"
    head = "x" * 499_600  # the first part ends inside the key
    message = head + secret + "y" * 300_000
    lines, counts = ship(
        env, kinesis, context, summary, listener, kinesis.payload(messages=[message]),
        LOGZIO_REDACT=[{"builtin": "aws_access_key_id"}],
    )  # fmt: skip
    assert [line["part"] for line in lines] == [1, 2]
    whole = "".join(line["message"] for line in lines)
    assert whole == head + "[REDACTED:aws_access_key_id]" + "y" * 300_000
    assert counts["redacted_aws_access_key_id"] == 1 and counts["split"] == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            '[{"pattern": "("}]',
            r"LOGZIO_REDACT\[0\] \(pattern1\).pattern: '\(' is not a valid regex",
        ),
        ('[{"builtin": "phone"}]', r"LOGZIO_REDACT\[0\]: builtin 'phone' is not one of"),
        ('[{"builtin": "email", "pattern": "x"}]', "needs exactly one of builtin or pattern"),
        ('[{"pattern": "x", "name": "a-b"}]', "name 'a-b' must be 1-64 letters"),
        ('[{"builtin": "email"}, {"builtin": "email"}]', "two rules are named 'email'"),
        (
            '[{"pattern": "x", "log_groups": ["["]}]',
            r"\(pattern1\).log_groups: '\[' is not a valid",
        ),
        ('[{"pattern": "x", "fields": ["a..b"]}]', "fields must be a non-empty list of dotted"),
        ('[{"pattern": "x", "extra": 1}]', r"unknown key\(s\) \['extra'\]"),
        ('{"pattern": "x"}', "must be a JSON array of rule objects"),
        ("[{", "LOGZIO_REDACT is not JSON"),
    ],
)
def test_a_bad_redaction_rule_is_a_config_error_naming_it(value, message):
    with pytest.raises(ConfigError, match=message):
        config.load({"LOGZIO_TOKEN": "t", "LOGZIO_REDACT": value})


def test_rules_compile_once_per_cold_start():
    env = {"LOGZIO_REDACT": '[{"builtin": "email"}]', "LOGZIO_DROP_EVENTS": '[{"pattern": "x"}]'}
    assert rules.load(env) is rules.load(dict(env))
    assert config.load({"LOGZIO_TOKEN": "t", **env}).rules is rules.load(env)
    assert not rules.load({})


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"password=\S+", ("password=",)),
        (r"\d+ms", ("ms",)),
        (r"x(abc)y\d", ("abc",)),
        (r"foo|bar", None),
        (r"(?i)token", None),
        (r"[a-z]+", None),
    ],
)
def test_prefilter_literals_are_read_from_the_pattern(pattern, literals):
    assert rules.required_literals(re.compile(pattern)) == literals


def test_a_rule_is_not_searched_where_its_prefilter_says_it_cannot_match():
    class Counting:
        def __init__(self, pattern):
            self.inner, self.searched = re.compile(pattern), 0
            self.pattern, self.flags = self.inner.pattern, self.inner.flags

        def subn(self, repl, text):
            self.searched += 1
            return self.inner.subn(repl, text)

    (rule,) = rules.parse_redact([{"builtin": "email"}])
    counting = Counting(rule.regex.pattern)
    redactor = Redactor([dataclasses.replace(rule, regex=counting)])
    assert redactor.message("no at sign here", redactor.rules) == "no at sign here"
    assert redactor.message('{"a": "nor here"}', redactor.rules) == '{"a": "nor here"}'
    assert counting.searched == 0
    assert redactor.message("x@y.io", redactor.rules) == "[REDACTED:email]"
    assert counting.searched == 1


# -- drop / keep ---------------------------------------------------------------------------------


def test_drop_and_keep_filter_events_count_them_and_log_ids_at_debug(
    env, listener, kinesis, context, summary, backend, caplog
):
    caplog.set_level(logging.DEBUG, logger="shipper_lambda")
    api = kinesis.payload(
        "/aws/lambda/api", ["GET /health 200", "GET /orders 500", "POST /orders 201"], prefix="a"
    )
    web = kinesis.payload("/ecs/web", ["GET /health 200", "debug x"], prefix="w")
    lines, counts = ship(
        env, kinesis, context, summary, listener, api, web,
        LOGZIO_LOG_LEVEL="DEBUG",
        LOGZIO_DROP_EVENTS=[{"pattern": "/health"}],
        LOGZIO_KEEP_EVENTS=[{"pattern": " [45]\\d\\d$", "log_groups": "^/aws/lambda/"}],
    )  # fmt: skip
    assert [line["id"] for line in lines] == ["a00001", "w00001"]
    assert counts["filtered_events"] == 3
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    for dropped in ("a00000", "a00002", "w00000"):
        assert dropped in logged


def test_a_bad_filter_rule_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match=r"LOGZIO_KEEP_EVENTS\[1\] \(errors\).pattern"):
        config.load(
            {
                "LOGZIO_TOKEN": "t",
                "LOGZIO_KEEP_EVENTS": '[{"pattern": "a"}, {"name": "errors", "pattern": "(?<"}]',
            }
        )
    with pytest.raises(ConfigError, match=r"LOGZIO_DROP_EVENTS\[0\] needs a pattern"):
        config.load({"LOGZIO_TOKEN": "t", "LOGZIO_DROP_EVENTS": '[{"log_groups": "x"}]'})


# -- multiline -----------------------------------------------------------------------------------


def test_a_java_stack_trace_becomes_one_line_with_its_ids(
    env, listener, kinesis, context, summary, backend
):
    payload = kinesis.payload("/ecs/orders", ["\tat orphan.continuation(X.java:1)", *JAVA])
    lines, counts = ship(
        env, kinesis, context, summary, listener, payload,
        LOGZIO_MULTILINE=[{"log_groups": "^/ecs/", "start": START}],
    )  # fmt: skip
    orphan, trace, retry = lines
    assert orphan["message"] == "\tat orphan.continuation(X.java:1)" and "joined" not in orphan
    assert trace["message"] == "\n".join(JAVA[:6])
    assert (trace["id"], trace["joined"]) == ("e00001", 6)
    assert trace["joined_ids"] == ["e00002", "e00003", "e00004", "e00005", "e00006"]
    assert trace["@timestamp"] == "2024-05-14T12:00:00.001Z"  # the first event's
    assert retry["id"] == "e00007" and "joined" not in retry
    assert (counts["joined"], counts["joined_lines"], counts["lines"]) == (5, 1, 3)
    shipped = [orphan["id"], retry["id"], trace["id"], *trace["joined_ids"]]
    assert sorted(shipped) == [e["id"] for e in payload["logEvents"]]  # each id exactly once


def test_joins_never_cross_payloads_and_respect_max_lines(
    env, listener, kinesis, context, summary, backend
):
    first = kinesis.payload("/ecs/orders", JAVA[:3], prefix="a")
    second = kinesis.payload("/ecs/orders", JAVA[3:6], prefix="b")  # same stream, next batch
    lines, counts = ship(
        env, kinesis, context, summary, listener, first, second,
        LOGZIO_MULTILINE=[{"start": START, "max_lines": 2}],
    )  # fmt: skip
    ids = [(line["id"], line.get("joined_ids", [])) for line in lines]
    # max_lines 2: the third event starts the next join; b's continuations ship alone.
    assert ids == [
        ("a00000", ["a00001"]), ("a00002", []), ("b00000", []), ("b00001", []), ("b00002", []),
    ]  # fmt: skip
    assert counts["joined"] == 1


def test_max_bytes_bounds_a_join(env, listener, kinesis, context, summary, backend):
    payload = kinesis.payload(messages=["2024-05-14 start", "c" * 700, "d" * 700, "e" * 10])
    lines, _ = ship(
        env, kinesis, context, summary, listener, payload,
        LOGZIO_MULTILINE=[{"start": START, "max_bytes": 1000}],
    )  # fmt: skip
    assert [line.get("joined", 1) for line in lines] == [2, 2]
    assert all(len(line["message"].encode()) <= 1000 for line in lines)


def test_a_joined_event_split_and_filtered_is_counted_whole(
    env, listener, kinesis, context, summary, backend
):
    big = ["2024-05-14 12:00:00 big", *(["\tat " + "f" * 99_000] * 6)]
    dropped = ["2024-05-14 12:00:01 DEBUG noise", "\tat noise"]
    payload = kinesis.payload(messages=[*big, *dropped])
    lines, counts = ship(
        env, kinesis, context, summary, listener, payload,
        LOGZIO_MULTILINE=[{"start": START, "max_bytes": 1_000_000}],
        LOGZIO_DROP_EVENTS=[{"pattern": "DEBUG"}],
    )  # fmt: skip
    assert len(lines) == 2 and [line["part"] for line in lines] == [1, 2]
    assert all(line["joined"] == 7 and len(line["joined_ids"]) == 6 for line in lines)
    assert "".join(line["message"] for line in lines) == "\n".join(big)
    assert counts["filtered_events"] == 2 and counts["joined"] == 7


def test_a_secret_cut_across_two_events_is_found_in_the_join(
    env, listener, kinesis, context, summary, backend
):
    payload = kinesis.payload(
        messages=["2024-05-14 login token=", "  Bearer abc123", "2024-05-14 x"]
    )
    lines, counts = ship(
        env, kinesis, context, summary, listener, payload,
        LOGZIO_MULTILINE=[{"start": START}], LOGZIO_REDACT=[{"builtin": "bearer_token"}],
    )  # fmt: skip
    assert lines[0]["message"] == "2024-05-14 login token=\n  Bearer [REDACTED:bearer_token]"
    assert counts["redacted_bearer_token"] == 1


def test_a_bad_multiline_rule_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match=r"LOGZIO_MULTILINE\[0\] \(java\).max_lines"):
        config.load(
            {
                "LOGZIO_TOKEN": "t",
                "LOGZIO_MULTILINE": '[{"name": "java", "start": "^x", "max_lines": 0}]',
            }
        )
    with pytest.raises(ConfigError, match=r"LOGZIO_MULTILINE\[0\] \(multiline1\) needs start"):
        config.load({"LOGZIO_TOKEN": "t", "LOGZIO_MULTILINE": "[{}]"})


@pytest.mark.parametrize("escape", ["", "\n"], ids=["in-place", "parsed"])
def test_json_redaction_is_the_same_in_place_and_parsed(backend, escape):
    """A JSON text without a backslash is redacted in its text (no parse, no re-serialisation);
    with one it is parsed, redacted value by value and re-serialised: the same result."""
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    doc = {
        "ann@example.com": "key stays",
        "who": f"ann@example.com{escape}",
        "ip": "10.0.0.1",
        "n": 10.1,
        "nested": [{"SecretAccessKey": secret, "peer": "bob@example.org"}],
        "card_as_number": 4111111111111111,
    }
    text = json.dumps(doc, separators=(",", ":"))
    assert ("\\" in text) == bool(escape)
    redactor = Redactor(
        rules.parse_redact(
            [
                {"builtin": "email"},
                {"builtin": "ipv4"},
                {"builtin": "aws_secret_key"},
                {"builtin": "credit_card"},
            ]
        )
    )
    out = json.loads(redactor.message(text, redactor.rules))
    assert out["ann@example.com"] == "key stays"
    assert out["who"] == f"[REDACTED:email]{escape}"
    assert (out["ip"], out["n"]) == ("[REDACTED:ipv4]", 10.1)
    assert out["nested"] == [
        {"SecretAccessKey": "[REDACTED:aws_secret_key]", "peer": "[REDACTED:email]"}
    ]
    assert out["card_as_number"] == 4111111111111111  # string values only
    assert redactor.counts == {"email": 2, "ipv4": 1, "aws_secret_key": 1, "credit_card": 0}


def test_a_record_is_redacted_whole_and_message_by_message_alike(backend):
    """Built-ins run once over a record's text messages joined by NUL; a message holding a NUL
    itself sends the record down the one-by-one path: the same result either way."""
    messages = [
        "from 10.0.0.1 to 10.0.0.2",
        '{"10.9.9.9": "key", "peer": "10.0.0.3"}',
        "x Bearer\n tok-1 end",  # a \s+ match inside one message, across its newline
        "end of 1.2.3.4",
        "5.6.7.8 starts this one",
    ]
    rule_set = rules.parse_redact([{"builtin": "ipv4"}, {"builtin": "bearer_token"}])
    results = []
    for extra in ([], ["nul \x00 inside 10.1.1.1"]):
        redactor = Redactor(rule_set)
        events = [{"id": str(i), "message": m} for i, m in enumerate(messages + extra)]
        out = redactor.events(events, redactor.rules)
        assert [e["message"] for e in events] == messages + extra  # the payload is not changed
        results.append(([e["message"] for e in out][: len(messages)], redactor.counts))
    (whole, counts), (one_by_one, _) = results
    assert whole == one_by_one
    assert whole[0] == "from [REDACTED:ipv4] to [REDACTED:ipv4]"
    assert json.loads(whole[1]) == {"10.9.9.9": "key", "peer": "[REDACTED:ipv4]"}
    assert whole[2] == "x Bearer\n [REDACTED:bearer_token] end"
    assert whole[3:] == ["end of [REDACTED:ipv4]", "[REDACTED:ipv4] starts this one"]
    assert counts == {"ipv4": 5, "bearer_token": 1}
