"""What a subscription plan holds: its actions, row schemas, error rows, :class:`Plan` and
:class:`ApplyResult`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xaccount_ops import aws
from xaccount_ops.config import MODE_FILTERS, MODE_POLICY
from xaccount_ops.fleet.accounts import HINTS as TARGET_HINTS
from xaccount_ops.fleet.accounts import Target

if TYPE_CHECKING:
    import pandas as pd

CREATE, UPDATE, UNCHANGED, SKIP, DELETE = "create", "update", "unchanged", "skip", "delete"


# Take over, in place, a filter we did not create that points at our destination (--adopt).
ADOPT = "adopt"


# Create the sender role in an account (organization-wide destinations, subscriptions.role).
CREATE_ROLE = "create-role"


CHANGE_ACTIONS = (CREATE_ROLE, CREATE, UPDATE, ADOPT, DELETE)


# The mode of a CREATE_ROLE row (one per account: IAM names are account-wide).
MODE_ROLE = "role"


POLICY_TYPE = "SUBSCRIPTION_FILTER_POLICY"


# The log_group of an account-policy row (and of a target that could not be planned).
ALL_GROUPS = "*"


# AWS limit on PutAccountPolicy's selectionCriteria (UTF-8 bytes).
MAX_SELECTION_BYTES = 25_000


PLAN_SCHEMA: dict[str, str] = {
    "account": "string",
    "region": "string",
    "log_group": "string",
    "mode": "string",
    "action": "string",
    "reason": "string",
    "filter_name": "string",
    "destination_arn": "string",
    "filter_pattern": "string",
    "current_filters": "string",
    # Account-policy rows only: the NOT IN list the policy is put with.
    "selection_criteria": "string",
    # The sender role the filter or policy names (organization-wide destinations), else empty.
    "role_arn": "string",
}


APPLY_SCHEMA: dict[str, str] = {**PLAN_SCHEMA, "status": "string", "error": "string"}


ERROR_SCHEMA: dict[str, str] = {
    "account": "string",
    "region": "string",
    "error": "string",
    "hint": "string",
}


# What to do about a change that failed, by error code (target-level hints come from accounts).
ROW_HINTS: dict[str, str] = {
    **TARGET_HINTS,
    "AccessDeniedException": "the destination policy may not list this account (`xaccount-ops "
    "accounts add <id>`, then `xaccount-ops deploy`), or the role lacks "
    "logs:PutSubscriptionFilter / logs:*AccountPolicy* (README 'IAM permissions')",
    "ResourceNotFoundException": "the log group is gone since the plan; re-run "
    "`xaccount-ops subscribe plan`",
    "LimitExceededException": "every subscription filter slot is taken (a filter was added since "
    "the plan) or throttled past the retry budget; re-run `xaccount-ops subscribe plan`",
    "InvalidParameterException": "the destination refused the filter: check it exists and points "
    "at a live stream (`xaccount-ops audit`); an organization-wide destination also needs the "
    "sender role (`xaccount-ops subscribe apply` creates it; README 'IAM permissions')",
    "NoSuchEntity": "the sender role is gone since the plan; re-run `xaccount-ops subscribe plan`",
    "OperationAbortedException": "another change to this log group ran at the same time; re-run "
    "`xaccount-ops subscribe apply`",
    "TargetError": "create the role in this account or set senders.role_name / senders.profiles",
}


PAST = {CREATE_ROLE: "sender role(s) created"}


@functools.cache
def emit_system_fields_supported() -> bool:
    """Whether the installed botocore knows PutSubscriptionFilter's ``emitSystemFields``."""
    from xaccount_ops import aws

    model = aws.botocore_session().get_service_model("logs")
    members = model.operation_model("PutSubscriptionFilter").input_shape.members
    return "emitSystemFields" in members


def as_text(value: Any) -> str:
    """A plan cell as text: missing values (None, NA) are ""."""
    import pandas as pd

    return "" if value is None or pd.isna(value) else str(value)


def error_entry(account: str, region: str, error: BaseException | str, hint: str = "") -> dict:
    if isinstance(error, BaseException):
        code = aws.error_code(error)
        text = f"{code}: {error}"
        hint = hint or ROW_HINTS.get(code, "")
    else:
        text = error
    return {"account": account, "region": region, "error": text, "hint": hint}


@dataclass
class Plan:
    """What :func:`apply` would do: one row per (account, region, log group) (see PLAN_SCHEMA),
    and one row per target that could not be planned."""

    frame: pd.DataFrame
    errors: pd.DataFrame
    mode: str = MODE_FILTERS
    remove: bool = False
    adopt: bool = False

    @property
    def changes(self) -> int:
        """Rows whose action changes something (create, update, delete)."""
        return int(self.frame["action"].isin(CHANGE_ACTIONS).sum())

    def counts(self) -> dict[str, int]:
        counts = self.frame["action"].value_counts()
        return {
            a: int(counts.get(a, 0))
            for a in (CREATE_ROLE, CREATE, UPDATE, ADOPT, DELETE, UNCHANGED, SKIP)
        }

    def summary(self) -> str:
        """E.g. ``12 to create, 0 to update, 40 unchanged, 3 skipped``."""
        c = self.counts()
        if self.remove:
            text = f"{c[DELETE]} to delete, {c[UNCHANGED]} unchanged, {c[SKIP]} skipped"
        else:
            text = (
                f"{c[CREATE]} to create, {c[UPDATE]} to update, {c[UNCHANGED]} unchanged, "
                f"{c[SKIP]} skipped"
            )
            if c[ADOPT] or self.adopt:
                text = f"{c[ADOPT]} to adopt, " + text
            if c[CREATE_ROLE]:
                text = f"{c[CREATE_ROLE]} sender role(s) to create, " + text
        if self.mode == MODE_POLICY and not self.remove:
            text += " (account-policy mode)"
        if not self.errors.empty:
            text += f"; {len(self.errors)} target(s) could not be planned"
        return text


@dataclass
class ApplyResult:
    """What :func:`apply` did: the plan's rows with ``status`` (ok, failed, skipped, unchanged) and
    ``error``; ``errors`` holds the plan's target errors and every failed change with a hint."""

    frame: pd.DataFrame
    errors: pd.DataFrame

    @property
    def changed(self) -> int:
        return int(
            ((self.frame["status"] == "ok") & self.frame["action"].isin(CHANGE_ACTIONS)).sum()
        )

    @property
    def failed(self) -> int:
        return int((self.frame["status"] == "failed").sum())

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.errors.empty

    def summary(self) -> str:
        status = self.frame["status"].value_counts()
        unchanged, skipped = int(status.get("unchanged", 0)), int(status.get("skipped", 0))
        attempted = int(self.frame["action"].isin(CHANGE_ACTIONS).sum())
        if attempted == 0:
            text = "0 changes: everything already as planned"
            text += f" ({unchanged} unchanged, {skipped} skipped)"
        else:
            done = self.frame[self.frame["status"] == "ok"]["action"].value_counts()
            parts = [
                f"{int(done.get(a, 0))} {PAST.get(a, a.removesuffix('e') + 'ed')}"
                for a in CHANGE_ACTIONS
                if done.get(a, 0)
            ]
            text = (
                f"{self.changed} changed ({', '.join(parts) or 'none'}), {self.failed} failed, "
                f"{unchanged} unchanged, {skipped} skipped"
            )
        target_errors = len(self.errors) - self.failed
        if target_errors > 0:
            text += f"; {target_errors} target(s) could not be planned"
        return text


def describe_filters(filters: Iterable[Mapping[str, Any]] | None) -> str:
    """``name (ours|foreign) -> destination [pattern]``, ``; ``-separated."""
    parts = []
    for f in filters or ():
        owner = "ours" if f.get("owned") else "foreign"
        pattern = f" [{f['filter_pattern']}]" if f.get("filter_pattern") else ""
        parts.append(f"{f['name']} ({owner}) -> {f.get('destination_arn', '')}{pattern}")
    return "; ".join(parts)


@dataclass(frozen=True)
class TargetContext:
    """What planning one target needs beyond its log groups."""

    target: Target
    filter_name: str
    destination_arn: str
    pattern: str
    problem: str  # why nothing can be subscribed here ("" if it can)
    role_arn: str = ""  # the sender role filters here must name (organization-wide destination)


def plan_row(
    context: TargetContext,
    mode: str,
    log_group: str,
    action: str,
    reason: str,
    *,
    filters: Iterable[Mapping[str, Any]] | None = None,
    current: str | None = None,
    **overrides: str,
) -> dict[str, Any]:
    row = {
        "account": context.target.account_id,
        "region": context.target.region,
        "log_group": log_group,
        "mode": mode,
        "action": action,
        "reason": reason,
        "filter_name": context.filter_name,
        "destination_arn": context.destination_arn,
        "filter_pattern": context.pattern,
        "current_filters": current if current is not None else describe_filters(filters),
        "selection_criteria": None,
        "role_arn": context.role_arn or None,
    }
    row.update(overrides)
    return row


def hand_made_filters(group: Any, destination_arn: str) -> list[dict[str, Any]]:
    """Filters we did not create on ``group`` that point at our destination."""
    return [
        f
        for f in group.filters or ()
        if not f["owned"] and destination_arn and f.get("destination_arn") == destination_arn
    ]
