"""Which log groups the toolkit subscribes: the config's selection rule, and the groups it never
subscribes (the pipeline's own and the canary group).

Shared by subscriptions (what to subscribe), backfill (what to read back), estimate and audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from xaccount_ops import validate
from xaccount_ops.config import Config


def selection(cfg: Config, row: Any, now: datetime | None = None) -> tuple[bool, str]:
    """Whether the config selects this inventory row's log group, and if not, why.

    ``row`` needs ``log_group``, ``stored_bytes``, ``created`` and ``tags`` (None when tags were
    not read). The pipeline's own groups are handled by the caller (never selected).
    """
    import pandas as pd

    subs = cfg.subscriptions
    name = row.log_group
    if not validate.matches(name, subs.include):
        return False, f"not selected: matches none of subscriptions.include {list(subs.include)}"
    excluded = [p for p in subs.exclude if validate.matches(name, [p])]
    if excluded:
        return False, f"not selected: matches subscriptions.exclude {excluded[0]!r}"
    if subs.tags:
        tags = row.tags
        if not isinstance(tags, Mapping):
            return False, "not selected: tags unknown (the inventory was taken without tags)"
        wrong = {k: v for k, v in subs.tags.items() if tags.get(k) != v}
        if wrong:
            wanted = ", ".join(f"{k}={v}" for k, v in wrong.items())
            return False, f"not selected: tag {wanted} required by subscriptions.tags"
    if subs.min_stored_bytes and (
        pd.isna(row.stored_bytes) or row.stored_bytes < subs.min_stored_bytes
    ):
        stored = 0 if pd.isna(row.stored_bytes) else int(row.stored_bytes)
        return False, (
            f"not selected: {stored} bytes stored, below subscriptions.min_stored_bytes "
            f"{subs.min_stored_bytes}"
        )
    if subs.min_age_days and not pd.isna(row.created):
        now = now or datetime.now(UTC)
        if row.created > now - timedelta(days=subs.min_age_days):
            return False, (
                f"not selected: created {row.created:%Y-%m-%d}, younger than "
                f"subscriptions.min_age_days {subs.min_age_days}"
            )
    return True, ""


def never_subscribed(cfg: Config, name: str) -> str:
    """Why the toolkit never subscribes ``name`` itself ("" if it may)."""
    if is_pipeline_group(name, cfg):
        return (
            "the pipeline's own log group: never subscribed (it would ship its own logs in a loop)"
        )
    if name == cfg.verify.canary_log_group:
        return "the canary group: `xaccount-ops verify` subscribes it itself"
    if name == cfg.verify.heartbeat_log_group:
        return "the heartbeat group: planned on its own heartbeat row (rule, policy, filter)"
    return ""


def is_pipeline_group(name: str, cfg: Config) -> bool:
    """True for the pipeline's own log groups: the shipper's (``/aws/lambda/<stack_name>-*``)."""
    return name.startswith(f"/aws/lambda/{cfg.landing.stack_name}")
