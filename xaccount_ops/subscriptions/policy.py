"""Account-policy mode: one ``SUBSCRIPTION_FILTER_POLICY`` per account and region.

AWS only supports ``LogGroupName NOT IN [...]`` as selection, so every existing group the config
does not select, the pipeline's groups and the canary group are listed there by name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from xaccount_ops.config import MODE_POLICY, Config
from xaccount_ops.fleet.inventory import (
    class_problem,
    is_ours,
)
from xaccount_ops.fleet.selection import never_subscribed, selection
from xaccount_ops.subscriptions.model import (
    ALL_GROUPS,
    CREATE,
    DELETE,
    MAX_SELECTION_BYTES,
    SKIP,
    UNCHANGED,
    UPDATE,
    TargetContext,
    hand_made_filters,
    plan_row,
)


def selection_criteria(names: Iterable[str]) -> str:
    """``LogGroupName NOT IN ["a", "b"]``: the only selection AWS supports for this policy type."""
    return f"LogGroupName NOT IN {json.dumps(sorted(set(names)))}"


def policy_document(destination_arn: str, pattern: str, role_arn: str = "") -> dict[str, str]:
    """The account policy document. ``RoleArn`` (the sender role) only for an organization-wide
    destination: AWS refuses the policy without it then; an account-list destination needs none."""
    document = {"DestinationArn": destination_arn, "FilterPattern": pattern}
    if role_arn:
        document["RoleArn"] = role_arn
    document["Distribution"] = "Random"
    return document


def policy_rows(
    cfg: Config,
    context: TargetContext,
    groups: Iterable[Any],
    policies: list[dict[str, Any]],
    now: datetime | None,
) -> Iterator[dict[str, Any]]:
    """Account-policy mode: one policy row, and a skip row per excluded group."""
    excluded = {cfg.verify.canary_log_group}
    if context.target.account_id == cfg.landing.account_id:
        excluded.add(f"/aws/lambda/{cfg.landing.stack_name}-shipper")
    covered = with_filter = 0
    for group in groups:
        why_not = never_subscribed(cfg, group.log_group) or class_problem(
            getattr(group, "log_class", None)
        )
        if not why_not:
            chosen, why_not = selection(cfg, group, now)
            why_not = "" if chosen else why_not
        hand_made = hand_made_filters(group, context.destination_arn)
        if not why_not and hand_made:
            why_not = (
                f"shipping through {hand_made[0]['name']} (not ours): the policy would ship its "
                "events twice"
            )
        if why_not:
            excluded.add(group.log_group)
            yield plan_row(
                context,
                MODE_POLICY,
                group.log_group,
                SKIP,
                f"excluded from the account policy: {why_not}",
                filters=group.filters,
            )
            continue
        covered += 1
        with_filter += any(f["owned"] for f in group.filters or ())
    criteria = selection_criteria(excluded)
    desired = policy_document(context.destination_arn, context.pattern, context.role_arn)
    mine = next((p for p in policies if p.get("policyName") == context.filter_name), None)
    foreign = [p.get("policyName", "") for p in policies if not is_ours(p.get("policyName", ""))]
    current = "; ".join(
        f"policy {p.get('policyName')} ({'ours' if is_ours(p.get('policyName', '')) else 'foreign'})"
        f" {p.get('policyDocument', '')} {p.get('selectionCriteria', '')}".strip()
        for p in policies
    )
    reason = f"covers {covered} existing log group(s); {len(excluded)} excluded by name"
    if with_filter:
        reason += f"; {with_filter} also have a filter of ours (their events ship twice)"

    def row(action: str, why: str) -> dict[str, Any]:
        return plan_row(
            context,
            MODE_POLICY,
            ALL_GROUPS,
            action,
            why,
            current=current,
            selection_criteria=criteria,
        )

    if mine is not None:
        try:
            document = json.loads(mine.get("policyDocument") or "{}")
        except ValueError:
            document = {}
        same = document == desired and (mine.get("selectionCriteria") or "") == criteria
        if same:
            yield row(UNCHANGED, f"our account policy is in place; {reason}")
            return
    if context.problem:
        yield row(SKIP, context.problem)
    elif mine is None and foreign:
        yield row(
            SKIP,
            f"the account already has a subscription filter policy we did not create "
            f"({', '.join(foreign)}); AWS allows one per account and region",
        )
    elif len(criteria.encode()) > MAX_SELECTION_BYTES:
        yield row(
            SKIP,
            f"the exclusion list is {len(criteria.encode())} bytes, over AWS's "
            f'{MAX_SELECTION_BYTES}: use subscriptions.mode = "filters"',
        )
    else:
        yield row(UPDATE if mine is not None else CREATE, reason)


def remove_policy_rows(
    context: TargetContext, policies: list[dict[str, Any]] | None, problem: str | None
) -> Iterator[dict[str, Any]]:
    if problem:
        yield plan_row(
            context,
            MODE_POLICY,
            ALL_GROUPS,
            SKIP,
            f"could not check for an account policy of ours: {problem}",
            current="",
            filter_name="",
            destination_arn="",
            filter_pattern="",
        )
        return
    for policy in policies or ():
        name = policy.get("policyName", "")
        if not is_ours(name):
            continue  # somebody else's
        try:
            document = json.loads(policy.get("policyDocument") or "{}")
        except ValueError:
            document = {}
        yield plan_row(
            context,
            MODE_POLICY,
            ALL_GROUPS,
            DELETE,
            "account policy of ours",
            current=f"policy {name} (ours) {policy.get('policyDocument', '')}",
            filter_name=name,
            destination_arn=str(document.get("DestinationArn", "")),
            filter_pattern=str(document.get("FilterPattern", "")),
            selection_criteria=policy.get("selectionCriteria") or None,
        )
