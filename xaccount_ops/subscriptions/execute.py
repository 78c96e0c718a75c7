"""Applying a subscription plan: exactly its change rows, with bounded concurrency per target,
pacing to AWS's per-account quota, botocore's adaptive retries and a result per row.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from xaccount_ops import aws
from xaccount_ops.config import MODE_POLICY
from xaccount_ops.errors import TargetError
from xaccount_ops.fleet.accounts import Fleet, Target, fan_out
from xaccount_ops.fleet.inventory import SYSTEM_FIELDS
from xaccount_ops.frames import frame_with
from xaccount_ops.subscriptions import heartbeat
from xaccount_ops.subscriptions import role as sender_role
from xaccount_ops.subscriptions.model import (
    ADOPT,
    APPLY_SCHEMA,
    CHANGE_ACTIONS,
    CREATE_ROLE,
    DELETE,
    ERROR_SCHEMA,
    POLICY_TYPE,
    ROW_HINTS,
    SKIP,
    UNCHANGED,
    ApplyResult,
    Plan,
    as_text,
    emit_system_fields_supported,
)
from xaccount_ops.subscriptions.policy import policy_document

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# Changes in flight per target: enough to reach a per-account PutSubscriptionFilter quota at
# tens of ms of latency; the adaptive retry mode's client-side limiter shares one client per target.
WORKERS_PER_TARGET = 4


# Changes per second per target: AWS's default quota for PutSubscriptionFilter,
# DeleteSubscriptionFilter and PutAccountPolicy is 5 TPS per account and region. Pacing to it up
# front spares a throttling storm (and the retry budget) when thousands of groups change at once;
# adaptive retries still absorb whatever else shares the quota. 0 turns pacing off.
CHANGES_PER_SECOND = 5.0


# IAM is eventually consistent: a role created a moment ago may not be usable by CloudWatch Logs
# yet. Puts naming a role this apply created are retried on InvalidParameterException this long.
ROLE_PROPAGATION_S = 30.0
ROLE_RETRY_S = 2.0


# Errors that fail every call to the target alike: the rest of its rows are not attempted.
FATAL_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "TargetError",
    }
)


def apply(fleet: Fleet, plan: Plan, *, progress: bool | None = None) -> ApplyResult:
    """Execute the plan's create/update/delete rows; every other row is reported as is.

    Targets run in parallel (``aws.max_workers``), a few changes at a time within a target
    (``WORKERS_PER_TARGET``) paced to ``CHANGES_PER_SECOND``, with botocore's adaptive retries
    for throttling. A change that fails
    is a ``failed`` row with the error and a hint; an error that would fail every call in the
    target alike (access denied, role missing, region not enabled) marks the target's remaining
    rows failed without trying them. Nothing is raised for AWS errors.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    frame = plan.frame.reset_index(drop=True)
    # Plain lists, made Series once at the end (a string Series set element by element costs
    # ~22 us a row, iterrows ~30 us).
    status_of = {UNCHANGED: "unchanged", SKIP: "skipped"}  # the rows apply leaves alone
    states: list[str | None] = [status_of.get(action) for action in frame["action"]]
    messages: list[str | None] = [None] * len(frame)
    by_target: dict[Target, list[int]] = defaultdict(list)
    for index, (action, account, region) in enumerate(
        zip(frame["action"], frame["account"], frame["region"], strict=True)
    ):
        if action in CHANGE_ACTIONS and action != CREATE_ROLE:
            by_target[Target(account, region)].append(index)
    total = sum(len(v) for v in by_target.values())
    lock = threading.Lock()
    outcomes: dict[int, tuple[str, str, str]] = {}  # index -> (status, error, hint)
    emit = fleet.config.subscriptions.emit_system_fields and emit_system_fields_supported()
    disable = None if progress is None else not progress
    # Sender roles first: the account's filters and policies name them.
    created, role_failures = _create_roles(fleet, frame, outcomes)

    with tqdm(total=total, desc="subscribe", unit="change", disable=disable) as bar:

        def run(target: Target) -> None:
            logs = fleet.client("logs", target.account_id, target.region)
            fatal: list[tuple[str, str]] = []
            pacer = aws.Pacer(CHANGES_PER_SECOND)

            def one(index: int) -> None:
                row = frame.loc[index]
                role_failed = (
                    role_failures.get(target.account_id) if as_text(row["role_arn"]) else None
                )
                if fatal:
                    outcome = ("failed", f"not attempted: {fatal[0][0]}", fatal[0][1])
                elif role_failed:
                    outcome = ("failed", f"not attempted: {role_failed[0]}", role_failed[1])
                else:
                    try:
                        pacer.wait()
                        fresh = target.account_id in created and bool(as_text(row["role_arn"]))
                        if row["mode"] == heartbeat.MODE:
                            heartbeat.execute(
                                fleet,
                                logs,
                                row,
                                put_filter=lambda r: _execute_waiting_for_role(
                                    logs, r, emit, fresh
                                ),
                            )
                        else:
                            _execute_waiting_for_role(logs, row, emit, fresh)
                        outcome = ("ok", "", "")
                    except Exception as err:  # reported per row, by design
                        aws.raise_if_unreachable(err)
                        code = aws.error_code(err)
                        outcome = ("failed", f"{code}: {err}", ROW_HINTS.get(code, ""))
                        if code in FATAL_CODES or isinstance(err, TargetError):
                            fatal.append(outcome[1:])
                        log.warning(
                            "%s/%s %s %s failed: %s",
                            target.account_id,
                            target.region,
                            row["action"],
                            row["log_group"],
                            outcome[1],
                        )
                with lock:
                    outcomes[index] = outcome
                    bar.update(1)

            indexes = by_target[target]
            with ThreadPoolExecutor(
                max(1, min(WORKERS_PER_TARGET, len(indexes))), thread_name_prefix="xacct-sub"
            ) as pool:
                list(pool.map(one, indexes))

        fan_out(
            run,
            sorted(by_target),
            max_workers=fleet.config.aws.max_workers,
            desc="subscribe",
            progress=False,
        )

    error_rows = [dict(r) for r in plan.errors.to_dict("records")]
    for index, (state, error, hint) in sorted(outcomes.items()):
        states[index] = state
        if error:
            messages[index] = error
            row = frame.loc[index]
            error_rows.append(
                {
                    "account": row["account"],
                    "region": row["region"],
                    "error": f"{row['action']} {row['filter_name']} on {row['log_group']}: {error}",
                    "hint": hint,
                }
            )
    for index in by_target_indexes(by_target):
        if index not in outcomes:  # the target's worker died: say so rather than drop the row
            states[index] = "failed"
            messages[index] = "not attempted: the target's worker failed (see the log)"
    result_frame = frame.assign(
        status=pd.Series(states, index=frame.index, dtype="string"),
        error=pd.Series(messages, index=frame.index, dtype="string"),
    ).astype(APPLY_SCHEMA)
    result = ApplyResult(frame=result_frame, errors=frame_with(ERROR_SCHEMA, error_rows))
    log.info("subscriptions apply: %s", result.summary())
    return result


def _create_roles(
    fleet: Fleet, frame: pd.DataFrame, outcomes: dict[int, tuple[str, str, str]]
) -> tuple[set[str], dict[str, tuple[str, str]]]:
    """Run the plan's ``create-role`` rows (one per account, in parallel); fill ``outcomes``.

    Returns the accounts whose role this apply created (their puts wait for IAM to propagate)
    and, per account whose role could not be made, the error and hint its other rows get.
    """
    rows = frame[frame["action"] == CREATE_ROLE]
    if rows.empty:
        return set(), {}
    stack = fleet.config.landing.stack_name
    indexes = {Target(r["account"], r["region"]): int(i) for i, r in rows.iterrows()}

    def create(target: Target) -> bool:
        iam = fleet.client("iam", target.account_id, target.region)
        return sender_role.ensure_role(iam, target.account_id, fleet.landing_account, stack)

    done = fan_out(
        create, sorted(indexes), max_workers=fleet.config.aws.max_workers, progress=False
    )
    created = {t.account_id for t, made in done.values.items() if made}
    for target in done.values:
        outcomes[indexes[target]] = ("ok", "", "")
    failures: dict[str, tuple[str, str]] = {}
    hint = (
        "the sending account's role needs iam:CreateRole, iam:PutRolePolicy and iam:PassRole on "
        f"{sender_role.role_name(stack)} (README 'IAM permissions'), or create it with "
        "cfn/sender.yaml"
    )
    for e in done.errors.itertuples():
        error = f"{e.error_code}: {e.message}"
        outcomes[indexes[Target(e.account_id, e.region)]] = ("failed", error, hint)
        failures[e.account_id] = (f"the sender role could not be created: {error}", hint)
    return created, failures


def _execute_waiting_for_role(logs: Any, row: Any, emit: bool, fresh_role: bool) -> None:
    """:func:`_execute`; a put naming a role created moments ago is retried while IAM
    propagates it (AWS answers InvalidParameterException until CloudWatch Logs can use it)."""
    deadline = time.monotonic() + (ROLE_PROPAGATION_S if fresh_role else 0.0)
    while True:
        try:
            _execute(logs, row, emit)
            return
        except Exception as err:
            if aws.error_code(err) != "InvalidParameterException" or time.monotonic() > deadline:
                raise
            log.info("the sender role is not usable yet (%s); retrying", err)
            time.sleep(ROLE_RETRY_S)


def by_target_indexes(by_target: Mapping[Target, list[int]]) -> Iterator[int]:
    for indexes in by_target.values():
        yield from indexes


class ChangedSincePlan(Exception):
    """The filter to adopt is no longer what the plan saw: nothing was changed."""


def _adopt(logs: Any, row: Mapping[str, str]) -> None:
    """Take over a filter we did not create, in place: PutSubscriptionFilter with its own name.

    AWS: "If you are updating an existing filter, you must specify the correct name in
    filterName" (PutSubscriptionFilter): the same name updates the one filter, so there is no
    moment with two filters (double delivery) or none (a gap). Its pattern, distribution and
    role are kept as they are now (read again here, so a change since the plan is not undone);
    only ``emitSystemFields`` is added.
    """
    name, group = row["filter_name"], row["log_group"]
    current = next(
        (
            f
            for page in logs.get_paginator("describe_subscription_filters").paginate(
                logGroupName=group, filterNamePrefix=name
            )
            for f in page.get("subscriptionFilters", [])
            if f["filterName"] == name
        ),
        None,
    )
    if current is None or current.get("destinationArn") != row["destination_arn"]:
        where = "is gone" if current is None else f"points at {current.get('destinationArn')}"
        raise ChangedSincePlan(
            f"{name} on {group} {where} since the plan; nothing changed: re-run "
            "`xaccount-ops subscribe plan --adopt`"
        )
    kwargs: dict[str, Any] = {
        "logGroupName": group,
        "filterName": name,
        "filterPattern": current.get("filterPattern", ""),
        "destinationArn": current["destinationArn"],
        "emitSystemFields": list(SYSTEM_FIELDS),
    }
    for key in ("roleArn", "distribution", "applyOnTransformedLogs", "fieldSelectionCriteria"):
        if current.get(key) not in (None, ""):
            kwargs[key] = current[key]
    if "roleArn" not in kwargs and row.get("role_arn"):
        kwargs["roleArn"] = row["role_arn"]  # AWS refuses the update without one (org trust)
    logs.put_subscription_filter(**kwargs)
    log.info("adopted %s on %s (emitSystemFields %s)", name, group, ", ".join(SYSTEM_FIELDS))


def _execute(logs: Any, raw: Mapping[str, Any], emit_system_fields: bool) -> None:
    """One planned change: the put or delete call for a filter or an account policy."""
    row = {key: as_text(value) for key, value in raw.items()}
    action, mode = row["action"], row["mode"]
    try:
        if mode == MODE_POLICY and action == DELETE:
            logs.delete_account_policy(policyName=row["filter_name"], policyType=POLICY_TYPE)
        elif mode == MODE_POLICY:
            logs.put_account_policy(
                policyName=row["filter_name"],
                policyDocument=json.dumps(
                    policy_document(
                        row["destination_arn"], row["filter_pattern"], row.get("role_arn", "")
                    )
                ),
                policyType=POLICY_TYPE,
                scope="ALL",
                selectionCriteria=row["selection_criteria"],
            )
        elif action == DELETE:
            logs.delete_subscription_filter(
                logGroupName=row["log_group"], filterName=row["filter_name"]
            )
        elif action == ADOPT:
            _adopt(logs, row)
        else:
            kwargs: dict[str, Any] = {
                "logGroupName": row["log_group"],
                "filterName": row["filter_name"],
                "filterPattern": row["filter_pattern"],
                "destinationArn": row["destination_arn"],
            }
            if emit_system_fields:
                kwargs["emitSystemFields"] = list(SYSTEM_FIELDS)
            if row.get("role_arn"):  # organization-wide destination: AWS requires the role
                kwargs["roleArn"] = row["role_arn"]
            logs.put_subscription_filter(**kwargs)
    except Exception as err:
        if action == DELETE and aws.error_code(err) == "ResourceNotFoundException":
            log.info("%s on %s was already gone", row["filter_name"], row["log_group"])
            return
        raise
