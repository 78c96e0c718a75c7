"""The one way tests build a config file: tables as dicts, written as TOML.

``base_tables`` gives the four tables every config has (landing, senders, logzio, aws); a test
adds or overrides tables with ``merge`` (or TOML text, for fragments that read better as the user
writes them, like ``[[logzio.routes]]``), and ``write_config`` writes ``xaccount-ops.toml``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

UNUSED_TOKEN = {"env": "UNUSED_IN_THESE_TESTS"}


def base_tables(
    *,
    endpoint: str,
    landing: str = "111111111111",
    accounts: Sequence[str] = ("222222222222",),
    regions: Sequence[str] = ("us-east-1",),
    stack_name: str | None = None,
    role_name: str | None = None,
    shipping_token: Mapping[str, str] = UNUSED_TOKEN,
    max_attempts: int | None = 2,
) -> dict[str, dict[str, Any]]:
    """landing / senders / logzio / aws for a fleet on ``endpoint`` (landing in ``regions[0]``)."""
    tables: dict[str, dict[str, Any]] = {
        "landing": {"account_id": landing, "region": regions[0]},
        "senders": {"accounts": list(accounts), "regions": list(regions)},
        "logzio": {"shipping_token": dict(shipping_token)},
        "aws": {"endpoint_url": endpoint},
    }
    if stack_name is not None:
        tables["landing"]["stack_name"] = stack_name
    if role_name is not None:
        tables["senders"]["role_name"] = role_name
    if max_attempts is not None:
        tables["aws"]["max_attempts"] = max_attempts
    return tables


def merge(base: Mapping[str, Any], *more: Mapping[str, Any] | str) -> dict[str, Any]:
    """``base`` with each of ``more`` (dicts, or TOML text) merged in, table by table."""
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in base.items()}
    for extra in more:
        tables = tomllib.loads(extra) if isinstance(extra, str) else extra
        for key, value in tables.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
    return out


def write_config(
    directory: Path, tables: Mapping[str, Any], *extra: Mapping[str, Any] | str
) -> Path:
    """``directory/xaccount-ops.toml`` holding ``tables`` (with ``extra`` merged in)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "xaccount-ops.toml"
    path.write_text(to_toml(merge(tables, *extra)))
    return path


def to_toml(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """Top-level tables of plain values, lists and inline tables: all a config uses."""
    blocks = []
    for name, table in tables.items():
        lines = [f"[{name}]", *(f"{key} = {_value(value)}" for key, value in table.items())]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")
