"""Pure functions: configuration parsing, type/region derivation, line encoding, codec fallbacks."""

from __future__ import annotations

import json

import pytest

from shipper_lambda import codec, config
from shipper_lambda.batch import Batcher, Body
from shipper_lambda.config import ConfigError
from shipper_lambda.transform import LineEncoder, RecordContext, derive_type, region_from_filters

BASE = {"LOGZIO_TOKEN": "t"}


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ("/aws/lambda/orders", "lambda"),
        ("/aws/lambda", "lambda"),
        ("/aws/events/scheduler/nightly", "scheduler"),
        ("/aws/event/bus/x", "bus"),
        ("/aws/events", "aws-cross-account"),
        ("/ecs/app/web", "app"),
        ("CloudTrail", "aws-cross-account"),
        ("/aws/", "aws-cross-account"),
    ],
)
def test_derive_type_as_the_reference(group, expected):
    assert derive_type(group, config.load(BASE)) == expected


def test_type_map_longest_prefix_and_default_override():
    cfg = config.load(
        {
            **BASE,
            "LOGZIO_TYPE": "xacct",
            "LOGZIO_TYPE_MAP": '{"/aws/lambda/": "fn", "/aws/lambda/prod-": "prod"}',
        }
    )
    assert derive_type("/aws/lambda/prod-api", cfg) == "prod"
    assert derive_type("/aws/lambda/dev-api", cfg) == "fn"
    assert derive_type("custom", cfg) == "xacct"


@pytest.mark.parametrize(
    ("filters", "region"),
    [
        (["logzio-xacct-eu-west-1"], "eu-west-1"),
        (["other", "logzio-xacct-us-gov-west-1"], "us-gov-west-1"),
        (["logzio-xacct-ap-southeast-2"], "ap-southeast-2"),
        (["Destination"], None),
        ([], None),
        (None, None),
    ],
)
def test_region_from_filter_names(filters, region):
    assert region_from_filters(filters) == region


def test_additional_fields_both_formats_and_reserved_keys_refused():
    assert config.parse_additional_fields("env=prod; team=core") == {"env": "prod", "team": "core"}
    assert config.parse_additional_fields('{"env": "prod", "tier": 2}') == {
        "env": "prod",
        "tier": 2,
    }
    with pytest.raises(ConfigError, match="ADDITIONAL_FIELDS may not set owner"):
        config.parse_additional_fields("owner=me")
    with pytest.raises(ConfigError, match="not key=value"):
        config.parse_additional_fields("justtext")


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "https://listener.logz.io:8071"),
        ({"LOGZIO_REGION": "eu"}, "https://listener-eu.logz.io:8071"),
        ({"REGION": "uk"}, "https://listener-uk.logz.io:8071"),
        (
            {"LOGZIO_REGION": "au", "LOGZIO_LISTENER_URL": "http://127.0.0.1:9/"},
            "http://127.0.0.1:9",
        ),
    ],
)
def test_listener_url(env, url):
    assert config.load({**BASE, **env}).listener_url == url


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOGZIO_TOKEN": ""}, "no shipping token"),
        ({"LOGZIO_REGION": "mars"}, "LOGZIO_REGION 'mars' is not a Logz.io region code"),
        ({"LOGZIO_COMPRESS": "maybe"}, "LOGZIO_COMPRESS must be true or false"),
        ({"INCLUDE_LOG_GROUPS": "("}, "INCLUDE_LOG_GROUPS is not a valid regular expression"),
        ({"LOGZIO_LISTENER_URL": "ftp://x"}, "LOGZIO_LISTENER_URL must be an http"),
        ({"LOGZIO_MAX_BODY_BYTES": "20000000"}, "LOGZIO_MAX_BODY_BYTES must be between"),
    ],
)
def test_bad_configuration_names_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        config.load({**BASE, **env})


def test_seed_variable_names_still_work():
    cfg = config.load({"TOKEN": "seedtoken", "REGION": "ca", "COMPRESS": "false"})
    assert (cfg.token, cfg.listener_url, cfg.compress) == (
        "seedtoken",
        "https://listener-ca.logz.io:8071",
        False,
    )


def encode(messages, backend_env=None, **fields):
    cfg = config.load({**BASE, **(backend_env or {})})
    ctx = RecordContext("1", "eu-west-1", "/aws/lambda/f", "s", "lambda", cfg.additional_fields)
    events = [
        {"id": f"{i:056d}", "timestamp": 1715688000123, "message": m}
        for i, m in enumerate(messages)
    ]
    return [json.loads(line) for line in LineEncoder(cfg).lines(events, ctx)]


def test_message_parsing_rules(backend):
    lines = encode(
        [
            '{"a": 1, "nested": {"b": [1, 2]}}',
            ' {"a": 1}',  # does not start with {: text
            '["x"]',
            '{"a": NaN}',  # not JSON: text
            '{"id": "spoof", "@timestamp": "x", "keep": true}',
            '{\n  "pretty": 1\n}\n',
            "{}",
            '{"big": 123456789012345678901234567890}',
            '{"s": "\\ud800"}',
        ]
    )
    assert (lines[0]["a"], lines[0]["nested"]) == (1, {"b": [1, 2]})
    assert lines[1]["message"] == ' {"a": 1}'
    assert lines[2]["message"] == '["x"]'
    assert lines[3]["message"] == '{"a": NaN}'
    assert (lines[4]["id"], lines[4]["@timestamp"], lines[4]["keep"]) == (
        "0" * 55 + "4",
        "2024-05-14T12:00:00.123Z",
        True,
    )
    assert lines[5]["pretty"] == 1 and "message" not in lines[5]
    assert lines[6]["message"] == "{}"
    assert lines[7]["big"] == 123456789012345678901234567890
    assert lines[8]["s"] == "\ufffd"  # a lone surrogate cannot be UTF-8


def test_codec_fallbacks_keep_odd_but_valid_json():
    codec.select()
    assert codec.loads('"\\ud800"') == "\ud800"
    assert json.loads(codec.dumps_str("\ud800")) == "\ufffd"
    assert json.loads(codec.dumps_obj({"n": 10**30})) == {"n": 10**30}
    with pytest.raises(ValueError):
        codec.strict_loads('{"a": Infinity}')


@pytest.mark.parametrize(
    ("text", "field", "value", "surrogates"),
    [
        # Lone surrogate escapes nested where the fast key reader skips: the stdlib decides.
        ('{"a": {"b": "\\ud800"}}', "a", {"b": "\ufffd"}, 1),
        ('{"a": [1, {"b": "\\udfff x"}]}', "a", [1, {"b": "\ufffd x"}], 1),
        # Numbers orjson would turn into floats: the message's own text is reused.
        ('{"n": 123456789012345678901234567890}', "n", 123456789012345678901234567890, 0),
    ],
)
def test_nested_values_the_fast_key_reader_skips_still_make_valid_lines(
    backend, text, field, value, surrogates
):
    """msgspec reads only the keys of a JSON-object message; a nested value it refuses sends the
    message down the stdlib path, never into a bad line."""
    encoder = LineEncoder(config.load(BASE))
    ctx = RecordContext(
        owner="1", region=None, log_group="/g", log_stream="s", type="t", additional={}
    )
    (line,) = encoder.lines([{"id": "1", "timestamp": 0, "message": text}], ctx)
    doc = json.loads(line.decode("utf-8"))  # strict UTF-8: a lone surrogate would fail here
    assert doc[field] == value
    assert encoder.surrogates == surrogates


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("eyJhIjogMX0=", b'{"a": 1}'),
        ("eyJhIjog\nMX0=", b'{"a": 1}'),  # a stray newline: skipped, as binascii does
    ],
)
def test_base64_fast_path_is_as_lenient_as_the_stdlib(backend, data, expected):
    assert codec.b64decode(data) == expected


def test_base64_garbage_raises_on_both_backends(backend):
    import binascii

    with pytest.raises((binascii.Error, ValueError)):
        codec.b64decode("eyJhIjogMX0")  # bad padding


def test_batchers_alive_at_once_never_share_a_buffer():
    # Buffers are kept for the next batcher (a warm invocation's): two at once (threads, tests)
    # must each write into their own, and a reused one must carry nothing over.
    sent: list[bytes] = []

    def deliver(body: Body) -> None:
        sent.append(bytes(body.buf[: body.end]))

    for round_ in range(3):
        first, second = Batcher(1000, deliver), Batcher(1000, deliver)
        assert first._buf is not second._buf
        first.add_record(0, b"a%d-long-line\n" % round_ * (3 - round_), 3 - round_)
        second.add_record(0, b"b%d\n" % round_, 1)
        first.flush()
        second.flush()
        first.release()
        second.release()
        assert sent[-2:] == [b"a%d-long-line\n" % round_ * (3 - round_), b"b%d\n" % round_]
