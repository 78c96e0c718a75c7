"""The shipped line, rule by rule (issue #13): seed compatibility, clashing fields, UTF-8, exact
numbers, configuration errors, oversize events split into parts, line validation."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from shipper_lambda import codec, config
from shipper_lambda.config import ConfigError
from shipper_lambda.handler import lambda_handler
from shipper_lambda.transform import (
    InvalidLine,
    LineEncoder,
    check_line,
    derive_type,
    record_context,
    split_encoded,
)

BASE = {"LOGZIO_TOKEN": "t"}

# The seed's derivation, run on these names (shared reference seed-lines.md). Its one defect, an
# empty type for "/ecs/", becomes the default.
SEED_TYPES = [
    ("/aws/lambda/orders", "lambda"),
    ("/aws/lambda/", "lambda"),
    ("/aws/ecs/containerinsights/prod/performance", "ecs"),
    ("/aws/rds/instance/db1/postgresql", "rds"),
    ("/aws/eks/prod/cluster", "eks"),
    ("/aws/apigateway/welcome", "apigateway"),
    ("/aws/events/trail/x", "trail"),
    ("/aws/event/rule-a", "rule-a"),
    ("/aws/Events/Rule", "Events"),
    ("/aws/events", "aws-cross-account"),
    ("/aws/vpc/flowlogs", "vpc"),
    ("/ecs/orders-svc", "orders-svc"),
    ("/ecs/", "aws-cross-account"),
    ("/vpc/prod/flow", "prod"),
    ("/myorg/lambda/fn", "lambda"),
    ("API-Gateway-Execution-Logs_abc/prod", "aws-cross-account"),
    ("aws-cloudtrail-logs-123456789012-abcd", "aws-cross-account"),
    ("vpc-flow-logs", "aws-cross-account"),
    ("a/b/c", "c"),
    ("/xaccount-ops/canary", "canary"),
    ("RDSOSMetrics", "aws-cross-account"),
    ("/aws/codebuild/proj", "codebuild"),
    ("/aws/vendedlogs/states/sfn", "vendedlogs"),
    ("/", "aws-cross-account"),
    ("//x", "x"),
]

# What the seed put on a line (seed-lines.md) → how this shipper ships it. A seed field that is
# neither on the line nor listed in SEED_DIFFERENCES fails the compatibility test.
SEED_FIELDS = {
    "messageType",
    "owner",
    "logGroup",
    "logStream",
    "subscriptionFilters",
    "id",
    "@timestamp",
    "type",
    "extractedFields",
}
SEED_DIFFERENCES = {
    # field: the documented reason (README, "A shipped line")
    "@timestamp": "ISO-8601 UTC string with milliseconds, not epoch milliseconds (design contract)",
    "message": "non-object JSON (a number, array, quoted string) stays text: one mapping type",
    "merge": "metadata wins its key over the message's own field, which moves to msg_<key>",
}


def cfg_of(**env: str) -> config.Config:
    return config.load({**BASE, **env})


def payload(messages, *, group="/aws/lambda/orders", filters=None, extracted=None):
    events = []
    for i, message in enumerate(messages):
        event = {"id": f"{i:056d}", "timestamp": 1715688000123 + i, "message": message}
        if extracted is not None:
            event["extractedFields"] = extracted
        events.append(event)
    return {
        "messageType": "DATA_MESSAGE",
        "owner": "210987654321",
        "logGroup": group,
        "logStream": "2024/05/14/[$LATEST]abc",
        "subscriptionFilters": ["logzio-xacct-eu-west-1"] if filters is None else filters,
        "logEvents": events,
    }


def raw_lines(p, cfg=None, encoder=None):
    cfg = cfg or cfg_of()
    encoder = encoder or LineEncoder(cfg)
    return encoder.lines(p["logEvents"], record_context(p, cfg))


def lines_of(p, cfg=None, encoder=None):
    got = raw_lines(p, cfg, encoder)
    for line in got:
        check_line(line, (cfg or cfg_of()).max_line_bytes)
    return [json.loads(line) for line in got]


# -- type ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("group", "expected"), SEED_TYPES)
def test_type_is_what_the_seed_derives(group, expected):
    assert derive_type(group, cfg_of()) == expected


def test_type_map_prefix_then_regex_then_seed_then_default():
    cfg = cfg_of(
        LOGZIO_TYPE="xacct",
        LOGZIO_TYPE_MAP=json.dumps(
            {"re:-svc$": "service", "/ecs/orders": "orders", "re:^/aws/lambda/prod-": "prod-fn"}
        ),
    )
    assert derive_type("/ecs/orders-svc", cfg) == "orders"  # a prefix wins over a regex
    assert derive_type("/ecs/billing-svc", cfg) == "service"
    assert derive_type("/aws/lambda/prod-api", cfg) == "prod-fn"
    assert derive_type("/aws/lambda/dev-api", cfg) == "lambda"  # no rule: the seed's
    assert derive_type("/ecs/", cfg) == "xacct"  # nothing: the default


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"re:(": "x"}', "rule 're:\\(' is not a valid regex"),
        ('{"/ecs/": ""}', "type for rule '/ecs/' must be a non-empty string"),
        ('{"re:": "x"}', "rule 're:' must be a log-group prefix or re:<regex>"),
    ],
)
def test_bad_type_map_names_the_rule(value, message):
    with pytest.raises(ConfigError, match=message):
        cfg_of(LOGZIO_TYPE_MAP=value)


# -- seed compatibility -------------------------------------------------------------------------


def test_seed_fields_all_ship_or_have_a_documented_reason(backend):
    """Every field the seed shipped is on the line, or SEED_DIFFERENCES says why not."""
    extracted = {"level": "INFO", "latency": "12"}
    p = payload(['{"level": "INFO", "msg": "hi"}', "plain text"], extracted=extracted)
    merged, text = lines_of(p)
    for line in (merged, text):
        missing = SEED_FIELDS - set(line) - set(SEED_DIFFERENCES)
        assert not missing, f"seed fields gone without a documented reason: {missing}"
        assert line["messageType"] == "DATA_MESSAGE"
        assert line["subscriptionFilters"] == ["logzio-xacct-eu-west-1"]
        assert line["extractedFields"] == extracted
        assert (line["owner"], line["logGroup"], line["type"]) == (
            "210987654321",
            "/aws/lambda/orders",
            "lambda",
        )
        assert line["@timestamp"].startswith("2024-05-14T12:00:00.")
    assert (merged["level"], merged["msg"]) == ("INFO", "hi") and "message" not in merged
    assert text["message"] == "plain text"


@pytest.mark.parametrize(
    "name", ["kinesis_cloudtrail.json", "kinesis_lambda.json", "kinesis_mixed.json"]
)
def test_aws_sample_payloads_keep_every_seed_field(kinesis, backend, name):
    """AWS's documented payloads (tests/events): each DATA_MESSAGE line carries the seed's
    fields (extractedFields only where the event has it) with the payload's values."""
    checked = 0
    for record in kinesis.load(name)["Records"]:
        p = kinesis.decode(record)
        if p["messageType"] != "DATA_MESSAGE":
            continue
        lines = lines_of(p)
        assert [line["id"] for line in lines] == [str(e["id"]) for e in p["logEvents"]]
        for line, event in zip(lines, p["logEvents"], strict=True):
            wanted = SEED_FIELDS - set(SEED_DIFFERENCES) - {"extractedFields"}
            assert wanted <= set(line), wanted - set(line)
            assert ("extractedFields" in line) == ("extractedFields" in event)
            assert line["subscriptionFilters"] == p["subscriptionFilters"]
            assert (line["logGroup"], line["logStream"]) == (p["logGroup"], p["logStream"])
            checked += 1
    assert checked


def test_extracted_fields_only_where_the_filter_extracted_them():
    (line,) = lines_of(payload(["x"]))
    assert "extractedFields" not in line


# -- clashing message fields --------------------------------------------------------------------


def test_clashing_fields_are_kept_under_msg_prefix_metadata_wins(backend):
    message = json.dumps(
        {
            "region": "eu-central-1",
            "owner": "someone",
            "type": "audit",
            "id": 7,
            "msg_owner": "taken",
            "env": "dev",
            "level": "WARN",
        }
    )
    cfg = cfg_of(ADDITIONAL_FIELDS="env=prod")
    encoder = LineEncoder(cfg)
    (line,) = lines_of(payload([message]), cfg, encoder)
    assert (line["region"], line["msg_region"]) == ("eu-west-1", "eu-central-1")
    assert (line["owner"], line["msg_msg_owner"], line["msg_owner"]) == (
        "210987654321",
        "someone",
        "taken",
    )
    assert (line["type"], line["msg_type"]) == ("lambda", "audit")
    assert (line["id"], line["msg_id"]) == ("0" * 56, 7)
    assert (line["env"], line["msg_env"]) == ("prod", "dev")
    assert line["level"] == "WARN"
    assert encoder.renamed == 5


def test_message_value_stays_when_the_metadata_has_none(backend):
    """No region known (a hand-made filter without a region in its name): the message's own
    region is the line's region, not renamed. ``part`` is another matter (below)."""
    message = '{"region":"eu-central-1","truncated":false}'
    (line,) = lines_of(payload([message], filters=["HandMade"]))
    assert line["region"] == "eu-central-1" and "msg_region" not in line
    assert line["truncated"] is False


# -- UTF-8 and numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "text \ud800 with a lone surrogate",
        '{"s": "\\ud800", "n": 1}',  # an escape in the message's JSON
        '{"s": "raw \udc00", "n": 1}',  # a raw surrogate char in the decoded message
        '{"ok": "\\ud83d\\ude00 a valid pair", "id": 1}',
    ],
)
def test_lines_are_valid_utf8_and_lone_surrogates_are_counted(backend, message):
    encoder = LineEncoder(cfg_of())
    (raw,) = raw_lines(payload([message]), encoder=encoder)
    text = raw.decode("utf-8")  # strict: raises on invalid UTF-8
    # No lone surrogate, raw or escaped (a valid pair's escape may stay as written).
    assert not codec.SURROGATE.search(json.dumps(json.loads(text), ensure_ascii=False))
    check_line(raw, 500_000)
    expected = 0 if "valid pair" in message else 1
    assert encoder.surrogates == expected
    if expected:
        assert "\ufffd" in text
    else:
        assert json.loads(raw)["ok"] == "\U0001f600 a valid pair"


@pytest.mark.parametrize(
    "message",
    [
        '{"id": "clash", "n": 123456789012345678901234567890, "m": -18446744073709551617}',
        '{\n  "n": 123456789012345678901234567890,\n  "f": 0.1\n}',
        '{"n": 123456789012345678901234567890, "f": 1e-7}',  # reused verbatim
    ],
)
def test_numbers_survive_exactly_with_either_backend(backend, message):
    (line,) = lines_of(payload([message]))
    assert line["n"] == 123456789012345678901234567890
    assert type(line["n"]) is int
    if "m" in line:
        assert line["m"] == -18446744073709551617
    if "f" in line:
        assert line["f"] == json.loads(message)["f"]


def test_summary_counts_surrogates_split_and_renamed(env, listener, kinesis, context, summary):
    big = "x" * 600_000
    messages = ["bad \ud800", '{"owner": "me"}', big]
    lambda_handler(kinesis.event(kinesis.payload(messages=messages)), context)
    counts = summary()
    assert (counts["surrogates"], counts["renamed"], counts["split"]) == (1, 1, 1)
    assert counts["lines"] == 4  # the big one is two parts


# -- configuration errors -----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["message", "messageType", "part", "extractedFields", "region"])
def test_additional_fields_naming_message_or_metadata_is_an_error(key):
    with pytest.raises(ConfigError, match=f"ADDITIONAL_FIELDS may not set {key}:"):
        cfg_of(ADDITIONAL_FIELDS=f"{key}=x")


def test_oversize_mode_is_checked():
    assert cfg_of().oversize == "split"
    assert cfg_of(LOGZIO_OVERSIZE="Truncate").oversize == "truncate"
    with pytest.raises(ConfigError, match="LOGZIO_OVERSIZE must be one of split, truncate"):
        cfg_of(LOGZIO_OVERSIZE="drop")


# -- oversize: split into parts -----------------------------------------------------------------

ROUND_TRIPS = {
    "ascii": "a" * 1_000_000,
    "escapes": ('"quoted" \\back\\slash\\ \x01\x1f\t\n\r' * 40_000)[:1_000_000],
    "emoji": "🚀✓ ok 😀" * 120_000,
    "cjk": "支払い完了" * 200_000,
    "json-1mb": json.dumps(
        {"level": "INFO", "blob": "z" * 999_000, "n": 123456789012345678901234567890}
    ),
}


@pytest.mark.parametrize("kind", sorted(ROUND_TRIPS))
def test_oversize_event_splits_into_parts_that_concatenate_to_the_original(backend, kind):
    message = ROUND_TRIPS[kind]
    cfg = cfg_of(ADDITIONAL_FIELDS="env=prod")
    got = raw_lines(payload(["before", message, "after"]), cfg)
    lines = [json.loads(check_line(line, cfg.max_line_bytes)) for line in got]
    parts = [line for line in lines if line["id"] == f"{1:056d}"]
    assert len(parts) >= 2 and len(lines) == len(parts) + 2
    assert "".join(p["message"] for p in parts) == message
    assert [p["part"] for p in parts] == list(range(1, len(parts) + 1))
    assert {p["parts"] for p in parts} == {len(parts)}
    for p in parts:  # the metadata on each part
        assert (p["owner"], p["region"], p["type"], p["env"]) == (
            "210987654321",
            "eu-west-1",
            "lambda",
            "prod",
        )
        assert p["@timestamp"] == "2024-05-14T12:00:00.124Z"
    assert "part" not in lines[0] and "part" not in lines[-1]


def test_parts_use_the_room_and_fit_exactly(backend):
    message = "é" * 700_000
    cfg = cfg_of()
    got = raw_lines(payload([message]), cfg)
    assert len(got) == 3
    assert all(cfg.max_line_bytes - 8 < len(line) <= cfg.max_line_bytes for line in got[:-1])


def test_parts_with_extracted_fields_keep_them_on_each_part(backend):
    cfg = dataclasses.replace(cfg_of(), max_line_bytes=1_000)
    got = raw_lines(payload(["y" * 3_000], extracted={"a": "1"}), cfg)
    lines = [json.loads(check_line(line, 1_000)) for line in got]
    assert len(lines) >= 4 and all(line["extractedFields"] == {"a": "1"} for line in lines)
    assert "".join(line["message"] for line in lines) == "y" * 3_000


def test_split_cut_points_never_break_characters_or_escapes():
    """Every cut position over a dense mix of escapes and multi-byte characters."""
    rng = random.Random(13)
    alphabet = ['"', "\\", "\x01", "\n", "a", "é", "支", "😀", "\\u", "\u2028", "/"]
    for _ in range(40):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(50, 400)))
        encoded = codec.dumps_str(text)[1:-1]
        for room in (6, 7, 8, 9, 13, 31):
            pieces = split_encoded(encoded, room)
            assert all(0 < len(p) <= room for p in pieces)
            decoded = [json.loads(b'"' + p + b'"') for p in pieces]
            assert "".join(decoded) == text


def test_truncate_mode_keeps_the_marked_truncation(backend):
    cfg = cfg_of(LOGZIO_OVERSIZE="truncate")
    (line,) = lines_of(payload(["w" * 600_000]), cfg)
    assert line["truncated"] is True and line["originalSize"] == 600_000
    assert "part" not in line


def test_metadata_too_big_for_any_part_is_malformed_not_sent():
    cfg = dataclasses.replace(cfg_of(), max_line_bytes=400)
    encoder = LineEncoder(cfg)
    p = payload(["q" * 1_000], group="/aws/lambda/" + "g" * 300)
    assert raw_lines(p, cfg, encoder) == []
    assert encoder.malformed == ["0" * 56]


def test_through_the_handler_each_id_part_arrives_once(env, listener, kinesis, context, backend):
    message = "m" * 1_000_000
    lambda_handler(kinesis.event(kinesis.payload(messages=["a", message, "b"])), context)
    keys = [(line["id"], line.get("part", 0)) for line in listener.lines()]
    assert keys == [("e00000", 0), ("e00001", 1), ("e00001", 2), ("e00001", 3), ("e00002", 0)]
    parts = [line for line in listener.lines() if line.get("part")]
    assert "".join(p["message"] for p in parts) == message


# -- line validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "empty line"),
        (b'{"a":"' + b"x" * 600 + b'"}', "over the 500-byte limit"),
        (b'{"a":"\xed\xa0\x80"}', "not valid UTF-8"),
        (b'{"a":1}{"b":2}', "not one JSON value"),
        (b'["a"]', "a JSON list, not an object"),
        (b'{"a":\n1}', "holds a newline"),
    ],
)
def test_check_line_names_what_the_listener_would_reject(line, reason):
    with pytest.raises(InvalidLine, match=reason):
        check_line(line, 500)


def test_every_line_of_a_mixed_record_passes_the_check(backend):
    messages = [*ROUND_TRIPS.values(), "x", '{"a": 1}', '{"region": "x"}', "\ud800"]
    cfg = cfg_of()
    for line in raw_lines(payload(messages), cfg):
        check_line(line, cfg.max_line_bytes)


# -- speed-ups that do not import ---------------------------------------------------------------


def test_bundled_speedups_that_fail_to_import_warn_once_per_cold_start(tmp_path):
    """A wheel for another Python/architecture is present but raises ImportError: one WARNING
    at import (a cold start), stdlib backend, and a handler run adds no second warning."""
    broken = tmp_path / "orjson"
    broken.mkdir()
    (broken / "__init__.py").write_text(
        "raise ImportError('orjson.cpython-313-aarch64-linux-gnu.so: wrong ELF class')\n"
    )
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
        "from shipper_lambda import codec, config\n"
        "from shipper_lambda.transform import LineEncoder, record_context\n"
        "cfg = config.load({'LOGZIO_TOKEN': 't'})\n"
        "p = {'logGroup': '/aws/lambda/x', 'logEvents': [{'id': '1', 'timestamp': 1, 'message': 'a'}]}\n"
        "for _ in range(2):\n"
        "    LineEncoder(cfg).lines(p['logEvents'], record_context(p, cfg))\n"
        "print(codec.BACKEND)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{repo}"}
    env.pop("SHIPPER_STDLIB_ONLY", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "orjson" not in done.stdout  # the stdlib JSON backend (isal may still load)
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "orjson (" in warnings[0] and "wrong ELF class" in warnings[0]


def test_no_warning_when_speedups_are_simply_absent(tmp_path):
    script = (
        "import logging, sys, builtins\n"
        "real = builtins.__import__\n"
        "def fake(name, *a, **k):\n"
        "    if name in ('orjson', 'msgspec', 'pybase64', 'isal'): raise ImportError(name)\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = fake\n"
        "import importlib.util\n"
        "importlib.util.find_spec = lambda name, *a: None\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
        "from shipper_lambda import codec\n"
        "print(codec.BACKEND)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stdlib" and "WARNING" not in done.stderr


def test_gunzip_one_member_fast_path_keeps_multi_member_and_refuses_truncation(backend):
    import gzip

    one = gzip.compress(b'{"a": 1}')
    assert codec.gunzip(one) == b'{"a": 1}'
    assert codec.gunzip(one + gzip.compress(b"tail")) == b'{"a": 1}tail'
    for cut in (one[:-4], one[:-10]):
        with pytest.raises((EOFError, OSError, ValueError)):
            codec.gunzip(cut)


@pytest.mark.parametrize("json_message", [False, True])
def test_a_line_exactly_at_the_limit_ships_whole_one_byte_more_is_split(backend, json_message):
    """The encoder checks lines against a bound and measures only near it: the limit itself
    must still be exact on both sides, for text and merged JSON messages."""
    cfg = dataclasses.replace(cfg_of(), max_line_bytes=1_000)

    def message(size: int) -> str:
        return f'{{"k":"{"x" * size}"}}' if json_message else "x" * size

    (probe,) = raw_lines(payload([message(100)]), cfg)
    at_limit = message(100 + 1_000 - len(probe))
    (line,) = raw_lines(payload([at_limit]), cfg)
    assert len(line) == 1_000 and "part" not in json.loads(line)
    over = raw_lines(payload([message(101 + 1_000 - len(probe))]), cfg)
    assert len(over) == 2 and all(len(part) <= 1_000 for part in over)
    assert [json.loads(part)["part"] for part in over] == [1, 2]
