"""Recorded AWS answers (fixtures) and a key-by-key comparison of the local cloud's answers.

A fixture is ``fixtures/<service>/<name>.json``: ``source`` (where the answer was recorded: a
LocalStack snapshot file with its last-validated date, an AWS doc page, or an issue quoting the
error), ``note``, and ``recorded`` (the answer). LocalStack normalises volatile values into
placeholders (``<uuid:1>``, ``<datetime>``, ``timestamp``, ``arn:<partition>:...``); a value
holding a placeholder is compared by type only, every other value must be equal.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).with_name("fixtures")
_PLACEHOLDER = re.compile(r"<[^<>]+>")
_VOLATILE = {"timestamp", "datetime", "id", "starting_hash", "ending_hash"}


def fixture(name: str) -> dict[str, Any]:
    """``fixtures/<name>.json`` (``name`` like ``"lambda/create_event_source_mapping"``)."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def recorded(name: str, *keys: str) -> Any:
    """The recorded answer of a fixture, or the part under ``keys``."""
    value = fixture(name)["recorded"]
    for key in keys:
        value = value[key]
    return value


def _is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and (value in _VOLATILE or bool(_PLACEHOLDER.search(value)))


def differences(
    expected: Any, actual: Any, path: str = "$", ignore: frozenset[str] = frozenset()
) -> list[str]:
    """Every place where ``actual`` differs from the recorded ``expected``: missing or extra keys,
    other values (placeholders: other types). Lists compare item by item and by length."""
    if path in ignore:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        found = [
            f"{path}.{k}: missing"
            for k in expected
            if k not in actual and f"{path}.{k}" not in ignore
        ]
        found += [
            f"{path}.{k}: not in AWS's answer"
            for k in actual
            if k not in expected and f"{path}.{k}" not in ignore
        ]
        for key in expected:
            if key in actual:
                found += differences(expected[key], actual[key], f"{path}.{key}", ignore)
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {actual!r}"]
        if len(expected) != len(actual):
            return [f"{path}: {len(actual)} items, AWS has {len(expected)}"]
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in differences(e, a, f"{path}[{i}]", ignore)
        ]
    if _is_placeholder(expected):
        if actual is None:
            return [f"{path}: null, AWS has a value ({expected})"]
        return []
    if expected != actual:
        return [f"{path}: {actual!r}, AWS has {expected!r}"]
    return []


def assert_same_shape(
    expected: Any, actual: Any, ignore: tuple[str, ...] = (), why: str = ""
) -> None:
    """Fail with every difference between a recorded AWS answer and ours (``ignore``: paths
    not compared, each with its reason in ``why``)."""
    found = differences(expected, actual, ignore=frozenset(ignore))
    assert not found, (
        "differs from AWS's recorded answer:\n  "
        + "\n  ".join(found)
        + (f"\n(ignored: {', '.join(ignore)}: {why})" if ignore else "")
    )


def error_answer(err: Any) -> dict[str, Any]:
    """A botocore ClientError's response, reduced as the fixtures are (status code only)."""
    response = dict(err.response)
    response["ResponseMetadata"] = {
        "HTTPStatusCode": response["ResponseMetadata"]["HTTPStatusCode"]
    }
    return response


def answer(response: dict[str, Any]) -> dict[str, Any]:
    """A successful boto3 response, reduced as the fixtures are."""
    out = dict(response)
    out["ResponseMetadata"] = {"HTTPStatusCode": response["ResponseMetadata"]["HTTPStatusCode"]}
    return out
