"""Heartbeats in one sending (account, region): what exists, what the toolkit wants, and the calls
that make one into the other. Planned (one ``heartbeat`` row per pair), applied and removed with
the subscription filters (:func:`plan_rows`, :func:`execute`).

A heartbeat is four resources, all named by the toolkit (``config.heartbeat_name``), as
``cfn/sender.yaml`` makes them:

- the log group ``[verify] heartbeat_log_group`` (``/xaccount-ops/heartbeat``), 1-day retention;
- a CloudWatch Logs resource policy letting ``events.amazonaws.com`` create streams and put log
  events in that group (EventBridge may not write to a log group otherwise: AWS knowledge center,
  "add a CloudWatch log group as a target to an EventBridge rule");
- an EventBridge rule ``rate(N minutes)`` (``[verify] heartbeat_minutes``; ``rate(1 minute)``
  for 1, as AWS requires the singular) whose one target is the group: EventBridge writes its whole
  scheduled event (``account``, ``region``, ``time``) there;
- our subscription filter ``logzio-xacct-<region>`` on the group, empty pattern, pointing at the
  region's destination, as on the canary group (in account-policy mode too: the policy leaves the
  group out, so the heartbeat proves the same path in both modes).

``heartbeat_minutes = 0`` turns heartbeats off: the plan has no heartbeat rows (existing ones are
left as they are); ``subscribe remove`` deletes all four (:func:`remove_all`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xaccount_ops.config import Config, filter_name, heartbeat_name
from xaccount_ops.fleet.accounts import Target, fan_out
from xaccount_ops.subscriptions.model import (
    CREATE,
    DELETE,
    SKIP,
    UNCHANGED,
    UPDATE,
    TargetContext,
    as_text,
    error_entry,
    plan_row,
)

log = logging.getLogger(__name__)

RETENTION_DAYS = 1
TARGET_ID = "heartbeat-log-group"
EVENTS_PRINCIPALS = ["events.amazonaws.com", "delivery.logs.amazonaws.com"]


def schedule(minutes: int) -> str:
    """The rule's ScheduleExpression for a heartbeat every ``minutes``."""
    if minutes < 1:
        raise ValueError(f"heartbeat minutes must be at least 1, got {minutes}")
    return "rate(1 minute)" if minutes == 1 else f"rate({minutes} minutes)"


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def group_arn(account_id: str, region: str, group: str) -> str:
    """The group's ARN as an EventBridge target takes it (no ``:*``)."""
    return f"arn:{_partition(region)}:logs:{region}:{account_id}:log-group:{group}"


def policy_document(account_id: str, region: str, group: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgeHeartbeat",
                "Effect": "Allow",
                "Principal": {"Service": EVENTS_PRINCIPALS},
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{group_arn(account_id, region, group)}:*",
            }
        ],
    }


@dataclass
class State:
    """What one (account, region) holds of its heartbeat; ``problems`` say what differs from
    what the toolkit wants (empty: nothing to do)."""

    group: bool = False
    retention: int | None = None
    policy: dict[str, Any] | None = None
    rule: dict[str, Any] | None = None
    targets: list[dict[str, Any]] = field(default_factory=list)
    filter_destination: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        """Whether any part exists (something for ``remove`` to delete)."""
        return bool(self.group or self.policy or self.rule)


def read(logs: Any, events: Any, cfg: Config, account_id: str, region: str) -> State:
    """The heartbeat's parts in one (account, region)."""
    group = cfg.verify.heartbeat_log_group
    name = heartbeat_name(group)
    state = State()
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=group):
        for found in page.get("logGroups", []):
            if found["logGroupName"] == group:
                state.group = True
                state.retention = found.get("retentionInDays")
    for policy in logs.describe_resource_policies().get("resourcePolicies", []):
        if policy.get("policyName") == name:
            try:
                state.policy = json.loads(policy.get("policyDocument") or "{}")
            except ValueError:
                state.policy = {}
    try:
        state.rule = events.describe_rule(Name=name)
        state.targets = events.list_targets_by_rule(Rule=name).get("Targets", [])
    except events.exceptions.ResourceNotFoundException:
        state.rule = None
    if state.group:
        filters = logs.describe_subscription_filters(logGroupName=group).get(
            "subscriptionFilters", []
        )
        ours = [f for f in filters if f["filterName"] == filter_name(region)]
        state.filter_destination = ours[0].get("destinationArn", "") if ours else None
    return state


def problems(
    state: State, cfg: Config, account_id: str, region: str, destination_arn: str
) -> list[str]:
    """What differs from the wanted heartbeat (``heartbeat_minutes`` > 0)."""
    group = cfg.verify.heartbeat_log_group
    found: list[str] = []
    if not state.group:
        found.append(f"log group {group} missing")
    elif state.retention != RETENTION_DAYS:
        found.append(f"retention {state.retention or 'never expires'}, want {RETENTION_DAYS} day")
    if state.policy != policy_document(account_id, region, group):
        found.append(
            "resource policy for EventBridge " + ("differs" if state.policy else "missing")
        )
    want = schedule(cfg.verify.heartbeat_minutes)
    if state.rule is None:
        found.append("EventBridge rule missing")
    else:
        if state.rule.get("ScheduleExpression") != want:
            found.append(f"rule runs {state.rule.get('ScheduleExpression')}, want {want}")
        if state.rule.get("State") != "ENABLED":
            found.append(f"rule is {state.rule.get('State')}")
        arns = [t.get("Arn") for t in state.targets]
        if arns != [group_arn(account_id, region, group)]:
            found.append("rule's target is not the heartbeat group")
    if state.filter_destination is None:
        found.append(f"no {filter_name(region)} filter on the group")
    elif state.filter_destination != destination_arn:
        found.append(f"{filter_name(region)} points at {state.filter_destination}")
    return found


def ensure(
    logs: Any,
    events: Any,
    cfg: Config,
    account_id: str,
    region: str,
    destination_arn: str | None = None,
    emit_system_fields: bool = False,
) -> None:
    """Create or repair every part (idempotent: each call puts the wanted value). The filter is
    put here only when ``destination_arn`` is given; ``apply`` puts it through its own filter
    call instead, the one every other group gets."""
    group = cfg.verify.heartbeat_log_group
    name = heartbeat_name(group)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    logs.put_retention_policy(logGroupName=group, retentionInDays=RETENTION_DAYS)
    logs.put_resource_policy(
        policyName=name,
        policyDocument=json.dumps(policy_document(account_id, region, group)),
    )
    events.put_rule(
        Name=name,
        ScheduleExpression=schedule(cfg.verify.heartbeat_minutes),
        State="ENABLED",
        Description=f"xaccount-ops heartbeat into {group} (xaccount-ops verify --heartbeats)",
    )
    stale = [
        t["Id"]
        for t in events.list_targets_by_rule(Rule=name).get("Targets", [])
        if t["Id"] != TARGET_ID
    ]
    if stale:
        events.remove_targets(Rule=name, Ids=stale)
    events.put_targets(
        Rule=name, Targets=[{"Id": TARGET_ID, "Arn": group_arn(account_id, region, group)}]
    )
    log.info(
        "heartbeat in %s/%s: %s every %s min",
        account_id,
        region,
        group,
        cfg.verify.heartbeat_minutes,
    )
    if destination_arn is None:
        return
    kwargs: dict[str, Any] = {
        "logGroupName": group,
        "filterName": filter_name(region),
        "filterPattern": "",
        "destinationArn": destination_arn,
    }
    if emit_system_fields:
        kwargs["emitSystemFields"] = ["@aws.account", "@aws.region"]
    logs.put_subscription_filter(**kwargs)
    log.info(
        "heartbeat in %s/%s: %s every %s min",
        account_id,
        region,
        group,
        cfg.verify.heartbeat_minutes,
    )


def remove_all(logs: Any, events: Any, cfg: Config) -> None:
    """Delete every part that exists (the rule first, so nothing writes into a deleted group)."""
    group = cfg.verify.heartbeat_log_group
    name = heartbeat_name(group)
    turn_off(events, cfg)
    with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
        logs.delete_resource_policy(policyName=name)
    with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
        logs.delete_log_group(logGroupName=group)  # its filter goes with it


def turn_off(events: Any, cfg: Config) -> None:
    """Delete the rule (and its targets): no more heartbeats; the group and its filter stay."""
    name = heartbeat_name(cfg.verify.heartbeat_log_group)
    try:
        ids = [t["Id"] for t in events.list_targets_by_rule(Rule=name).get("Targets", [])]
        if ids:
            events.remove_targets(Rule=name, Ids=ids)
        events.delete_rule(Name=name)
    except events.exceptions.ResourceNotFoundException:
        pass


# -- plan rows and their execution ----------------------------------------------------------------

MODE = "heartbeat"  # the plan rows' ``mode``


def plan_rows(
    fleet: Any,
    contexts: Mapping[Any, TargetContext],
    *,
    remove: bool,
    progress: bool | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """One ``heartbeat`` row per target of ``contexts`` (rows, and the targets that could not be
    read as error entries). Without ``remove``: create/update/unchanged from :func:`problems`, and
    nothing at all when ``heartbeat_minutes`` is 0; with it: delete what exists."""
    cfg = fleet.config
    group = cfg.verify.heartbeat_log_group
    minutes = cfg.verify.heartbeat_minutes
    if minutes == 0 and not remove:
        return [], []  # heartbeats off: the toolkit plans none (remove still deletes them)
    looked = fan_out(
        lambda t: read(
            fleet.client("logs", t.account_id, t.region),
            fleet.client("events", t.account_id, t.region),
            cfg,
            t.account_id,
            t.region,
        ),
        list(contexts),
        max_workers=cfg.aws.max_workers,
        desc="heartbeats",
        progress=progress,
    )
    rows: list[dict[str, Any]] = []
    errors = []
    for e in looked.errors.itertuples():
        text = f"{e.error_code}: {e.message}"
        errors.append(
            error_entry(
                e.account_id,
                e.region,
                f"heartbeat: {text}",
                as_text(e.hint)
                or "the role needs events:DescribeRule/PutRule/PutTargets and "
                "logs:DescribeResourcePolicies/PutResourcePolicy (README 'IAM permissions')",
            )
        )
        context = contexts[Target(e.account_id, e.region)]
        rows.append(
            plan_row(context, MODE, group, SKIP, f"heartbeat could not be read: {text}", current="")
        )
    for target, state in sorted(looked.values.items()):
        context = contexts[target]
        current = _describe(state)
        if remove:
            if state.anything:
                rows.append(
                    plan_row(context, MODE, group, DELETE, "heartbeat of ours", current=current)
                )
            continue
        if context.problem:
            rows.append(plan_row(context, MODE, group, SKIP, context.problem, current=current))
            continue
        found = problems(state, cfg, target.account_id, target.region, context.destination_arn)
        if not found:
            action, reason = UNCHANGED, f"heartbeat every {minutes} min"
        elif not state.anything:
            action, reason = CREATE, f"heartbeat every {minutes} min into {group}"
        else:
            action, reason = UPDATE, "; ".join(found)
        rows.append(
            plan_row(context, MODE, group, action, reason, current=current, filter_pattern="")
        )
    return rows, errors


def _describe(state: State) -> str:
    parts = []
    if state.rule is not None:
        parts.append(f"rule {state.rule.get('ScheduleExpression')} {state.rule.get('State')}")
    if state.group:
        parts.append(f"group (retention {state.retention})")
    if state.policy:
        parts.append("resource policy")
    if state.filter_destination:
        parts.append(f"filter -> {state.filter_destination}")
    return "; ".join(parts)


def execute(
    fleet: Any,
    logs: Any,
    row: Mapping[str, Any],
    *,
    put_filter: Callable[[Mapping[str, Any]], None],
) -> None:
    """One heartbeat row: create/update puts every part (the filter through ``put_filter``,
    the call every other group's filter goes through); delete (a ``remove`` plan) removes all."""
    account, region = str(row["account"]), str(row["region"])
    events = fleet.client("events", account, region)
    cfg = fleet.config
    if row["action"] == DELETE:
        remove_all(logs, events, cfg)
        return
    ensure(logs, events, cfg, account, region)
    put_filter(row)
