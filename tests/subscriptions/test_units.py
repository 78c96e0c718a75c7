"""Pure functions of the subscriptions module: selection, criteria, summaries, the pacer."""

from __future__ import annotations

import threading
import types
from datetime import UTC, datetime, timedelta

import pandas as pd

from xaccount_ops import aws, subscriptions
from xaccount_ops.config import parse_config
from xaccount_ops.fleet.selection import never_subscribed, selection
from xaccount_ops.frames import frame_with
from xaccount_ops.subscriptions.model import TargetContext
from xaccount_ops.subscriptions.policy import policy_rows


def config(subscriptions_table: dict) -> object:
    return parse_config(
        {
            "landing": {"account_id": "111111111111", "region": "us-east-1", "stack_name": "lz"},
            "senders": {"accounts": ["222222222222"], "regions": ["us-east-1"]},
            "logzio": {"shipping_token": {"env": "X"}},
            "subscriptions": subscriptions_table,
        }
    )


def group(name: str, *, stored: int | None = 10, age_days: int = 30, tags: dict | None = None):
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return types.SimpleNamespace(
        log_group=name,
        stored_bytes=stored if stored is not None else pd.NA,
        created=pd.Timestamp(now - timedelta(days=age_days)),
        tags=tags,
    )


NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_selection_reasons() -> None:
    cfg = config(
        {
            "include": ["/aws/lambda/*", "re:^/ecs/"],
            "exclude": ["/aws/lambda/noisy-*"],
            "min_stored_bytes": 5,
            "min_age_days": 7,
        }
    )
    assert selection(cfg, group("/aws/lambda/a"), NOW) == (True, "")
    assert selection(cfg, group("/ecs/web"), NOW)[0]
    ok, why = selection(cfg, group("/aws/lambda/noisy-1"), NOW)
    assert not ok and "'/aws/lambda/noisy-*'" in why
    ok, why = selection(cfg, group("/other"), NOW)
    assert not ok and "subscriptions.include" in why
    ok, why = selection(cfg, group("/aws/lambda/a", stored=1), NOW)
    assert not ok and "min_stored_bytes" in why
    ok, why = selection(cfg, group("/aws/lambda/a", age_days=1), NOW)
    assert not ok and "min_age_days" in why


def test_tag_selection_needs_every_pair() -> None:
    cfg = config({"tags": {"team": "orders", "env": "prod"}})
    both = {"team": "orders", "env": "prod", "x": "y"}
    assert selection(cfg, group("/g", tags=both), NOW)[0]
    ok, why = selection(cfg, group("/g", tags={"team": "orders"}), NOW)
    assert not ok and "env=prod" in why
    ok, why = selection(cfg, group("/g", tags=None), NOW)
    assert not ok and "without tags" in why


def test_never_subscribed_pipeline_and_canary() -> None:
    cfg = config({})
    assert "loop" in never_subscribed(cfg, "/aws/lambda/lz-shipper")
    assert "verify" in never_subscribed(cfg, "/xaccount-ops/canary")
    assert never_subscribed(cfg, "/aws/lambda/orders") == ""


def test_selection_criteria_and_policy_document() -> None:
    text = subscriptions.selection_criteria(["/b", "/a", "/a", 'q"uote'])
    assert text == 'LogGroupName NOT IN ["/a", "/b", "q\\"uote"]'
    document = subscriptions.policy_document("arn:aws:logs:r:1:destination:d", "")
    assert document == {
        "DestinationArn": "arn:aws:logs:r:1:destination:d",
        "FilterPattern": "",
        "Distribution": "Random",
    }


def test_emit_system_fields_follows_the_service_model() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("logs")
    members = model.operation_model("PutSubscriptionFilter").input_shape.members
    assert subscriptions.emit_system_fields_supported() == ("emitSystemFields" in members)


def test_plan_summary_and_empty_frames() -> None:
    rows = [
        {"account": "1", "region": "r", "log_group": "/a", "action": a, "mode": "filters"}
        for a in ("create", "create", "unchanged", "skip", "update")
    ]
    plan = subscriptions.Plan(
        frame=frame_with(subscriptions.PLAN_SCHEMA, rows),
        errors=frame_with(subscriptions.ERROR_SCHEMA),
    )
    assert plan.changes == 3
    assert plan.summary() == "2 to create, 1 to update, 1 unchanged, 1 skipped"
    empty = subscriptions.Plan(
        frame=frame_with(subscriptions.PLAN_SCHEMA),
        errors=frame_with(subscriptions.ERROR_SCHEMA),
    )
    assert list(empty.frame.columns) == list(subscriptions.PLAN_SCHEMA)
    assert empty.changes == 0


def test_pacer_spaces_starts_across_threads() -> None:
    now = [0.0]
    slept: list[float] = []
    lock = threading.Lock()
    pacer = aws.Pacer(5.0, clock=lambda: now[0])

    def fake_sleep(seconds: float) -> None:
        with lock:
            slept.append(round(seconds, 6))

    pacer.sleep = fake_sleep
    threads = [threading.Thread(target=pacer.wait) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the first starts at once, the others 0.2 s apart (time frozen at 0)
    assert sorted(slept) == [0.2, 0.4, 0.6, 0.8]
    assert aws.Pacer(0).interval == 0.0


def _context(problem: str = "") -> object:
    from xaccount_ops.fleet.accounts import Target

    return TargetContext(
        target=Target("222222222222", "us-east-1"),
        filter_name="logzio-xacct-us-east-1",
        destination_arn="arn:aws:logs:us-east-1:111111111111:destination:lz-destination",
        pattern="",
        problem=problem,
    )


def _groups(*names: str) -> list:
    out = []
    for name in names:
        g = group(name)
        g.filters = []
        out.append(g)
    return out


def test_policy_rows_exclude_unselected_pipeline_and_canary() -> None:
    cfg = config({"exclude": ["/ecs/*"]})
    groups = _groups("/aws/lambda/app", "/ecs/web", "/aws/lambda/lz-shipper")
    rows = list(policy_rows(cfg, _context(), groups, [], NOW))
    policy = [r for r in rows if r["log_group"] == "*"]
    assert len(policy) == 1 and policy[0]["action"] == "create"
    assert policy[0]["selection_criteria"] == (
        'LogGroupName NOT IN ["/aws/lambda/lz-shipper", "/ecs/web", "/xaccount-ops/canary"]'
    )
    assert {r["log_group"] for r in rows if r["action"] == "skip"} == {
        "/ecs/web",
        "/aws/lambda/lz-shipper",
    }


def test_policy_rows_unchanged_update_and_foreign() -> None:
    import json

    cfg = config({})
    groups = _groups("/aws/lambda/app")
    (first,) = [r for r in policy_rows(cfg, _context(), groups, [], NOW) if r["log_group"] == "*"]
    ours = {
        "policyName": "logzio-xacct-us-east-1",
        "policyDocument": json.dumps(subscriptions.policy_document(first["destination_arn"], "")),
        "selectionCriteria": first["selection_criteria"],
    }
    (same,) = policy_rows(cfg, _context(), groups, [ours], NOW)
    assert same["action"] == "unchanged"
    stale = {**ours, "selectionCriteria": "LogGroupName NOT IN []"}
    (update,) = policy_rows(cfg, _context(), groups, [stale], NOW)
    assert update["action"] == "update"
    foreign = {"policyName": "central-logging", "policyDocument": "{}"}
    (skip,) = policy_rows(cfg, _context(), groups, [foreign], NOW)
    assert skip["action"] == "skip" and "central-logging" in skip["reason"]
    (refused,) = policy_rows(cfg, _context("no destination"), groups, [], NOW)
    assert refused["action"] == "skip" and refused["reason"] == "no destination"


def test_policy_rows_refuse_an_exclusion_list_over_the_limit() -> None:
    cfg = config({"include": ["/keep"]})
    groups = _groups(*(f"/aws/lambda/{i:05d}-{'x' * 200}" for i in range(150)))
    rows = list(policy_rows(cfg, _context(), groups, [], NOW))
    (policy,) = [r for r in rows if r["log_group"] == "*"]
    assert policy["action"] == "skip" and "over AWS's" in policy["reason"]
