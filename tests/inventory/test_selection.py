"""The audit's "not shipping" finding uses the same selection as ``subscribe`` (patterns, tags,
size and age floors), so it never reports a group that ``subscribe`` would not attach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from xaccount_ops.config import parse_config
from xaccount_ops.fleet import audit
from xaccount_ops.fleet.inventory import inventory_frame

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def config(**subscriptions: Any):
    return parse_config(
        {
            "landing": {"account_id": "123456789012", "region": "us-east-1"},
            "senders": {"accounts": ["111111111111"], "regions": ["us-east-1"]},
            "logzio": {"shipping_token": {"env": "UNUSED_TOKEN_VAR"}},
            "subscriptions": subscriptions,
        }
    )


def group(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "account_id": "111111111111",
        "region": "us-east-1",
        "log_group": name,
        "created": NOW - timedelta(days=30),
        "retention_days": 14,
        "stored_bytes": 1000,
        "ships": False,
        "filters": [],
        "tags": {},
        **fields,
    }


def not_shipping(cfg: Any, rows: list[dict[str, Any]]) -> set[str]:
    findings = audit._group_checks(cfg, inventory_frame(rows), NOW)
    return {f["resource"] for f in findings if f["check"] == "not-shipping"}


def test_tags_size_and_age_narrow_what_counts_as_not_shipping() -> None:
    rows = [
        group("/app/orders", tags={"team": "orders"}),
        group("/app/web", tags={"team": "web"}),
        group("/app/tiny", tags={"team": "orders"}, stored_bytes=10),
        group("/app/new", tags={"team": "orders"}, created=NOW - timedelta(days=1)),
    ]
    assert not_shipping(config(), rows) == {"/app/orders", "/app/web", "/app/tiny", "/app/new"}
    narrowed = config(tags={"team": "orders"}, min_stored_bytes=100, min_age_days=7)
    assert not_shipping(narrowed, rows) == {"/app/orders"}


def test_excluded_and_pipeline_groups_are_not_findings() -> None:
    rows = [group("/app/a"), group("/app/noisy-1"), group("/aws/lambda/logzio-xacct-shipper")]
    assert not_shipping(config(exclude=["/app/noisy-*"]), rows) == {"/app/a"}
