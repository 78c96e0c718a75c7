"""filter_pattern.matches: CloudWatch Logs filter pattern semantics, as pure function calls."""

from __future__ import annotations

import pytest

from xaccount_ops.local.moto_ext.filter_pattern import matches

LINE = "2026-12-01 ERROR [payments] card declined for order 42"


@pytest.mark.parametrize(
    ("pattern", "message", "expected"),
    [
        ("", "anything", True),
        ("   ", "anything", True),
        ("ERROR", LINE, True),
        ("error", LINE, False),  # case-sensitive
        ("ERROR payments", LINE, True),  # all terms must appear
        ("ERROR refunds", LINE, False),
        ('"card declined"', LINE, True),
        ('"declined card"', LINE, False),
        ("ERROR -payments", LINE, False),
        ("ERROR -DEBUG", LINE, True),
        ('-"card declined"', LINE, False),
        ("?WARN ?ERROR", LINE, True),
        ("?WARN ?FATAL", LINE, False),
        ('?"card declined" ?nothing', LINE, True),
    ],
)
def test_terms(pattern: str, message: str, expected: bool) -> None:
    assert matches(pattern, message) is expected


DOC = '{"level": "ERROR", "latency": 512, "user": {"id": "u-17", "tags": ["a", "b"]}, "ok": false}'


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{ $.level = "ERROR" }', True),
        ('{ $.level = "INFO" }', False),
        ("{ $.level = ERROR }", True),  # unquoted string value
        ('{ $.level != "INFO" }', True),
        ('{ $.level != "ERROR" }', False),
        ('{ $.level = "ERR*" }', True),
        ('{ $.level = "*RO*" }', True),
        ('{ $.level = "E*X" }', False),
        ("{ $.latency > 500 }", True),
        ("{ $.latency > 512 }", False),
        ("{ $.latency >= 512 }", True),
        ("{ $.latency < 100 }", False),
        ("{ $.latency <= 512 }", True),
        ("{ $.latency = 512 }", True),
        ("{ $.latency = 512.0 }", True),
        ("{ $.level > 1 }", False),  # a string is not a number
        ('{ $.user.id = "u-17" }', True),
        ('{ $.user.tags[1] = "b" }', True),
        ('{ $.user.tags[5] = "b" }', False),
        ('{ $.missing = "x" }', False),
        ('{ $.missing != "x" }', False),
        ('{ $.level = "ERROR" && $.latency > 1000 }', False),
        ('{ $.level = "ERROR" || $.latency > 1000 }', True),
        ('{ ($.level = "INFO" || $.latency > 500) && $.user.id = "u-*" }', True),
        ('{ $.level = "INFO" || ($.latency > 500 && $.user.id = "x") }', False),
        ("{ $.ok IS FALSE }", True),
        ("{ $.ok IS TRUE }", False),
        ("{ $.missing NOT EXISTS }", True),
        ("{ $.level NOT EXISTS }", False),
    ],
)
def test_json(pattern: str, expected: bool) -> None:
    assert matches(pattern, DOC) is expected


@pytest.mark.parametrize("message", ["ERROR not json", "", "[1, 2", '"ERROR"'])
def test_non_json_message_never_matches_a_json_pattern(message: str) -> None:
    assert matches('{ $.level = "ERROR" }', message) is False


@pytest.mark.parametrize(
    "pattern",
    ["{ $.level = }", "{ $.level }", "{ level = 1 }", "{ $.a = 1 && }", "{ $.a > x }", "{ $.a = 1"],
)
def test_malformed_json_pattern_raises(pattern: str) -> None:
    with pytest.raises(ValueError):
        matches(pattern, '{"level": 1}')
