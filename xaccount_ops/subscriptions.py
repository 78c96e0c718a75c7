"""Subscriptions: attach the toolkit's subscription filter (or account policy) to the selected log
groups of every sending (account, region), and take it off again.

Always two steps, so nothing changes unseen: :func:`plan` reads a fresh inventory and the landing
account's destinations and says, per (account, region, log group), what it would do and why;
:func:`apply` executes exactly those rows, with bounded concurrency, botocore's adaptive retries
and a per-row result. Running ``plan``/``apply`` again after a successful apply has nothing to do.

Contracts (design.md): the toolkit's filters and account policies are named
``logzio-xacct-<region>``; anything else on a log group is somebody else's and is never changed
or removed; the pipeline's own log groups are never subscribed (a loop: every shipped line makes
more).

Decisions worth knowing:

- **Selection** (``[subscriptions]``): include/exclude patterns (globs or ``re:`` regexes), every
  ``tags`` pair must match exactly (tags are read only when configured: one more call per group),
  ``min_stored_bytes`` and ``min_age_days``. Groups not selected get a ``skip`` row saying why; a
  filter of ours already on such a group is left in place (``subscribe remove`` deletes it).
- **The canary group** (``verify.canary_log_group``) is skipped: ``xaccount-ops verify``
  subscribes it itself with an empty pattern, which must not be "updated" to the configured one.
  ``remove`` does delete its filter (it is ours).
- **emitSystemFields** (``@aws.account``, ``@aws.region``) is sent when the installed botocore
  knows the parameter and ``subscriptions.emit_system_fields`` is true (the default); the shipper
  prefers those fields. Our existing filters are not compared on it.
- **Hand-made filters** (any name, pointing at this region's destination) mean the group ships:
  no filter of ours is added beside it (every event would ship twice). With ``adopt=True`` the
  plan takes them over in place (``adopt`` rows): PutSubscriptionFilter with the filter's own
  name is an update (AWS: "If you are updating an existing filter, you must specify the correct
  name in filterName"), so there is never a second filter nor a moment without one. The user's
  pattern, distribution and role are kept (re-read at apply time; a filter changed since the
  plan fails its row and is left alone); only ``emitSystemFields`` is added. That is also how an
  adopted filter is recognised later (``inventory.is_adopted``), so a second adopt is a no-op.
  ``remove`` never deletes an adopted filter: its name is not ours.
- **Fleet limits**: the filters-per-group quota is the inventory's ``filter_slots`` (Service
  Quotas, else ``subscriptions.filter_slots``, else 2); groups of a class that cannot be
  subscribed (Infrequent Access, Delivery) are skipped with that reason, in both modes.
- **Account-policy mode** puts one ``SUBSCRIPTION_FILTER_POLICY`` per account/region. AWS only
  supports ``LogGroupName NOT IN [...]`` as selection, so every existing group the config does not
  select, the pipeline's groups and the canary group are listed there by name; groups created
  later are covered unless excluded by a later plan/apply. The plan has one row per policy
  (``log_group`` ``*``) plus a ``skip`` row per excluded group.
- **LimitExceededException** is retried by botocore as throttling (it is in botocore's throttled
  codes), so rate-limit ``LimitExceededException`` needs nothing extra; a slot-full one (a filter
  added since the plan) fails its row after the retry budget with a hint to re-plan.

>>> fleet = Fleet.from_config(load_config())  # doctest: +SKIP
>>> p = plan(fleet); print(p.summary())  # doctest: +SKIP
>>> result = apply(fleet, p); print(result.summary())  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from xaccount_ops import aws, partitions, validate
from xaccount_ops.accounts import HINTS as TARGET_HINTS
from xaccount_ops.accounts import Fleet, Target, fan_out
from xaccount_ops.audit import is_pipeline_group, organization_id
from xaccount_ops.config import Config, filter_name
from xaccount_ops.errors import TargetError
from xaccount_ops.inventory import (
    FILTER_SLOTS,
    InventoryResult,
    class_problem,
    is_adopted,
    is_ours,
    log_groups,
)
from xaccount_ops.verify.landing import landing_destinations

log = logging.getLogger(__name__)

MODE_FILTERS, MODE_POLICY = "filters", "account-policy"
CREATE, UPDATE, UNCHANGED, SKIP, DELETE = "create", "update", "unchanged", "skip", "delete"
# Take over, in place, a filter we did not create that points at our destination (--adopt).
ADOPT = "adopt"
CHANGE_ACTIONS = (CREATE, UPDATE, ADOPT, DELETE)
POLICY_TYPE = "SUBSCRIPTION_FILTER_POLICY"
# The log_group of an account-policy row (and of a target that could not be planned).
ALL_GROUPS = "*"
# AWS limit on PutAccountPolicy's selectionCriteria (UTF-8 bytes).
MAX_SELECTION_BYTES = 25_000
SYSTEM_FIELDS = ("@aws.account", "@aws.region")
# Changes in flight per target: enough to reach a per-account PutSubscriptionFilter quota at
# tens of ms of latency; the adaptive retry mode's client-side limiter shares one client per target.
WORKERS_PER_TARGET = 4
# Changes per second per target: AWS's default quota for PutSubscriptionFilter,
# DeleteSubscriptionFilter and PutAccountPolicy is 5 TPS per account and region. Pacing to it up
# front spares a throttling storm (and the retry budget) when thousands of groups change at once;
# adaptive retries still absorb whatever else shares the quota. 0 turns pacing off.
CHANGES_PER_SECOND = 5.0

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
    "at a live stream (`xaccount-ops audit`)",
    "OperationAbortedException": "another change to this log group ran at the same time; re-run "
    "`xaccount-ops subscribe apply`",
    "TargetError": "create the role in this account or set senders.role_name / senders.profiles",
}
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


@functools.cache
def emit_system_fields_supported() -> bool:
    """Whether the installed botocore knows PutSubscriptionFilter's ``emitSystemFields``."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("logs")
    members = model.operation_model("PutSubscriptionFilter").input_shape.members
    return "emitSystemFields" in members


def frame_with(schema: Mapping[str, str], rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """A DataFrame with exactly ``schema``'s columns and types (also when empty)."""
    return pd.DataFrame(list(rows), columns=list(schema)).astype(dict(schema))


def _text(value: Any) -> str:
    """A plan cell as text: missing values (None, NA) are ""."""
    return "" if value is None or pd.isna(value) else str(value)


def error_entry(account: str, region: str, error: BaseException | str, hint: str = "") -> dict:
    if isinstance(error, BaseException):
        code = aws.error_code(error)
        text = f"{code}: {error}"
        hint = hint or ROW_HINTS.get(code, "")
    else:
        text = error
    return {"account": account, "region": region, "error": text, "hint": hint}


# -- results --------------------------------------------------------------------------------------


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
        return {a: int(counts.get(a, 0)) for a in (CREATE, UPDATE, ADOPT, DELETE, UNCHANGED, SKIP)}

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
                f"{int(done.get(a, 0))} {a.removesuffix('e')}ed"
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


# -- selection ------------------------------------------------------------------------------------


def selection(cfg: Config, row: Any, now: datetime | None = None) -> tuple[bool, str]:
    """Whether the config selects this inventory row's log group, and if not, why.

    ``row`` needs ``log_group``, ``stored_bytes``, ``created`` and ``tags`` (None when tags were
    not read). The pipeline's own groups are handled by the caller (never selected).
    """
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
    return ""


def describe_filters(filters: Iterable[Mapping[str, Any]] | None) -> str:
    """``name (ours|foreign) -> destination [pattern]``, ``; ``-separated."""
    parts = []
    for f in filters or ():
        owner = "ours" if f.get("owned") else "foreign"
        pattern = f" [{f['filter_pattern']}]" if f.get("filter_pattern") else ""
        parts.append(f"{f['name']} ({owner}) -> {f.get('destination_arn', '')}{pattern}")
    return "; ".join(parts)


# -- planning -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TargetContext:
    """What planning one target needs beyond its log groups."""

    target: Target
    filter_name: str
    destination_arn: str
    pattern: str
    problem: str  # why nothing can be subscribed here ("" if it can)


def plan(
    fleet: Fleet,
    *,
    inventory: InventoryResult | None = None,
    remove: bool = False,
    adopt: bool = False,
    progress: bool | None = None,
    now: datetime | None = None,
) -> Plan:
    """Plan subscriptions (or, with ``remove``, their removal) for every target of ``fleet``.

    A filter we did not create that already points at this region's destination means the
    group ships: no filter of ours is added beside it (that would ship every event twice).
    ``adopt=True`` plans to take such filters over in place (:data:`ADOPT`, see :func:`apply`).

    Reads a fresh inventory unless ``inventory`` is given, the landing account's destinations
    (and their access policies) and, in account-policy mode or for removal, each target's
    account policies. Nothing is changed. A target that cannot be read is an ``errors`` row and
    a ``skip`` row; the others are planned regardless.
    """
    cfg = fleet.config
    mode = cfg.subscriptions.mode
    # What the landing partition lacks is refused here, before anything is read or changed;
    # what nobody checked there is logged (partitions.FEATURES, with sources).
    if mode == "account-policy" and not remove:
        partitions.require(["account_subscription_policy"], cfg.partition, "subscriptions.mode")
    if adopt:
        partitions.require(["emit_system_fields"], cfg.partition, "--adopt")
    errors: list[dict[str, str]] = []
    destinations: dict[str, Any] | None
    try:
        destinations = landing_destinations(fleet)
    except Exception as err:  # every target is skipped, with the reason
        aws.raise_if_unreachable(err)
        log.warning("cannot look up the destinations in the landing account: %s", err)
        destinations = None
        errors.append(
            error_entry(
                fleet.landing_account,
                fleet.landing_region,
                err,
                "give the hub credentials read access to the landing account's Logs "
                "destinations (logs:DescribeDestinations) and re-run",
            )
        )
    if inventory is None:
        inventory = log_groups(
            fleet,
            tags=bool(cfg.subscriptions.tags) and not remove,
            progress=progress,
            destinations={r: d.arn for r, d in (destinations or {}).items()},
        )
    failed: dict[tuple[str, str], str] = {}
    for e in inventory.errors.itertuples():
        entry = error_entry(e.account_id, e.region, f"{e.error_code}: {e.message}", _text(e.hint))
        errors.append(entry)
        failed[(e.account_id, e.region)] = entry["error"]

    targets = [t for t in fleet.targets if (t.account_id, t.region) not in failed]
    policies: dict[Target, list[dict[str, Any]]] = {}
    policy_problems: dict[Target, str] = {}
    if remove or mode == MODE_POLICY:
        looked_up = fan_out(
            lambda t: _account_policies(fleet, t),
            targets,
            max_workers=cfg.aws.max_workers,
            desc="account policies",
            progress=progress,
        )
        policies = dict(looked_up.values)
        for e in looked_up.errors.itertuples():
            target = Target(e.account_id, e.region)
            text = f"{e.error_code}: {e.message}"
            if mode == MODE_POLICY:
                errors.append(error_entry(e.account_id, e.region, text, _text(e.hint)))
                failed[(e.account_id, e.region)] = text
            else:  # removing filters still works; say the policy could not be checked
                policy_problems[target] = text

    org_id = organization_id(fleet) if destinations else None
    groups = _groups_by_target(inventory.frame)
    rows: list[dict[str, Any]] = []
    for target in fleet.targets:
        key = (target.account_id, target.region)
        if key in failed:
            rows.append(_target_failed_row(target, mode, failed[key]))
            continue
        context = _context(fleet, target, destinations, org_id)
        target_groups = groups.get(key, [])
        if remove:
            rows.extend(_remove_rows(context, target_groups, mode))
            rows.extend(
                _remove_policy_rows(context, policies.get(target), policy_problems.get(target))
            )
        elif mode == MODE_POLICY:
            rows.extend(_policy_rows(cfg, context, target_groups, policies.get(target, []), now))
        else:
            rows.extend(_filter_rows(cfg, context, target_groups, now, adopt=adopt))
    frame = frame_with(PLAN_SCHEMA, rows)
    result = Plan(
        frame=frame,
        errors=frame_with(ERROR_SCHEMA, errors),
        mode=mode,
        remove=remove,
        adopt=adopt and not remove,
    )
    log.info("subscriptions plan: %s", result.summary())
    return result


def remove_plan(fleet: Fleet, *, progress: bool | None = None) -> Plan:
    """The plan that deletes every filter and account policy of ours (and nothing else)."""
    return plan(fleet, remove=True, progress=progress)


def _account_policies(fleet: Fleet, target: Target) -> list[dict[str, Any]]:
    logs = fleet.client("logs", target.account_id, target.region)
    policies: list[dict[str, Any]] = []
    token: str | None = None
    while True:  # no paginator for this operation in botocore
        kwargs: dict[str, Any] = {"policyType": POLICY_TYPE}
        if token:
            kwargs["nextToken"] = token
        page = logs.describe_account_policies(**kwargs)
        policies.extend(page.get("accountPolicies", []))
        token = page.get("nextToken")
        if not token:
            return policies


def _groups_by_target(frame: pd.DataFrame) -> dict[tuple[str, str], list[Any]]:
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in frame.itertuples(index=False):
        groups[(row.account_id, str(row.region))].append(row)
    return groups


def _context(
    fleet: Fleet, target: Target, destinations: Mapping[str, Any] | None, org_id: str | None
) -> _TargetContext:
    cfg = fleet.config
    region, account = target.region, target.account_id
    destination = (destinations or {}).get(region)
    problem = ""
    if destinations is None:
        problem = "could not look up the destinations in the landing account (see errors)"
    elif destination is None:
        problem = (
            f"no Logs destination in {region} in the landing account {fleet.landing_account} "
            f"(none named {cfg.landing.stack_name}*): deploy it with `xaccount-ops deploy`"
        )
    else:
        allows: Callable[[str, str | None], bool] | None = getattr(destination, "allows", None)
        if allows is not None and not allows(account, org_id):
            problem = (
                f"the access policy of {destination.arn} does not allow account {account}: "
                f"`xaccount-ops accounts add {account}` (or allow the organization)"
            )
    return _TargetContext(
        target=target,
        filter_name=filter_name(region),
        destination_arn=destination.arn if destination is not None else "",
        pattern=cfg.subscriptions.filter_pattern,
        problem=problem,
    )


def _row(
    context: _TargetContext,
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
    }
    row.update(overrides)
    return row


def _target_failed_row(target: Target, mode: str, error: str) -> dict[str, Any]:
    context = _TargetContext(target, filter_name(target.region), "", "", "")
    return _row(context, mode, ALL_GROUPS, SKIP, f"target could not be read: {error} (see errors)")


def _slots(group: Any) -> int:
    value = getattr(group, "filter_slots", None)
    return FILTER_SLOTS if value is None or pd.isna(value) else int(value)


def _hand_made(group: Any, destination_arn: str) -> list[dict[str, Any]]:
    """Filters we did not create on ``group`` that point at our destination."""
    return [
        f
        for f in group.filters or ()
        if not f["owned"] and destination_arn and f.get("destination_arn") == destination_arn
    ]


def _adopt_row(
    context: _TargetContext, group: Any, flt: Mapping[str, Any], adopt: bool
) -> dict[str, Any]:
    """The row for a group that ships through a filter we did not create."""
    pattern = flt.get("filter_pattern") or ""
    keeps = f"keeps its pattern {pattern!r}" if pattern else "keeps its empty pattern"

    def row(action: str, reason: str) -> dict[str, Any]:
        return _row(
            context,
            MODE_FILTERS,
            group.log_group,
            action,
            reason,
            filters=group.filters,
            filter_name=flt["name"],
            filter_pattern=pattern,
        )

    if is_adopted(flt, context.destination_arn):
        return row(UNCHANGED, f"adopted filter {flt['name']} is in place ({keeps})")
    shipping = f"shipping through {flt['name']}; its events carry no region"
    if not adopt:
        return row(
            UNCHANGED,
            f"{shipping} (not ours: no second filter is added; `subscribe apply --adopt` "
            "takes it over in place)",
        )
    if context.problem:
        return row(SKIP, f"{shipping}; cannot adopt it: {context.problem}")
    if not emit_system_fields_supported():
        return row(
            SKIP,
            f"{shipping}; cannot adopt it: the installed botocore does not know "
            "PutSubscriptionFilter's emitSystemFields (upgrade boto3)",
        )
    return row(
        ADOPT,
        f"{shipping}: take it over in place (same name, {keeps}); its events carry "
        "@aws.account/@aws.region from then on",
    )


def _filter_rows(
    cfg: Config,
    context: _TargetContext,
    groups: Iterable[Any],
    now: datetime | None,
    *,
    adopt: bool = False,
) -> Iterator[dict[str, Any]]:
    """Filters mode: create, update, keep, adopt or skip our filter on each log group."""
    for group in groups:
        name, filters = group.log_group, list(group.filters or ())
        ours = next((f for f in filters if f["name"] == context.filter_name), None)
        hand_made = _hand_made(group, context.destination_arn)

        def row(action: str, reason: str, _name: str = name, _f: list = filters) -> dict:
            return _row(context, MODE_FILTERS, _name, action, reason, filters=_f)

        why_not = never_subscribed(cfg, name) or class_problem(getattr(group, "log_class", None))
        if not why_not:
            chosen, why_not = selection(cfg, group, now)
            why_not = "" if chosen else why_not
        if why_not:
            if ours is not None:
                why_not += f"; our filter {ours['name']} is left in place (`subscribe remove`)"
            yield row(SKIP, why_not)
            continue
        if ours is None and hand_made:
            yield _adopt_row(context, group, hand_made[0], adopt)
            continue
        twice = ""
        if hand_made:
            twice = (
                f"; {hand_made[0]['name']} (not ours) also points at our destination: every "
                "event ships twice until one of them is deleted (`xaccount-ops audit`)"
            )
        if ours is not None:
            differences = []
            if ours.get("destination_arn") != context.destination_arn:
                differences.append(f"points at {ours.get('destination_arn') or '(nothing)'}")
            if (ours.get("filter_pattern") or "") != context.pattern:
                differences.append(f"pattern {ours.get('filter_pattern') or ''!r}")
            if not differences:
                yield row(UNCHANGED, "our filter is in place" + twice)
            elif context.problem:
                yield row(SKIP, context.problem)
            else:
                yield row(UPDATE, f"our filter {', '.join(differences)}" + twice)
            continue
        if context.problem:
            yield row(SKIP, context.problem)
            continue
        slots = _slots(group)
        if len(filters) >= slots:
            names = ", ".join(f["name"] for f in filters)
            foreign = all(not f["owned"] for f in filters)
            whose = "filters we did not create" if foreign else "other filters"
            yield row(
                SKIP,
                f"slots full: all {slots} subscription filter slots are taken by {whose} "
                f"({names}); ask their owners to free one (or raise the quota)",
            )
            continue
        kept = [f["name"] for f in filters]
        reason = "no filter of ours" + (f"; keeps {', '.join(kept)}" if kept else "")
        yield row(CREATE, reason)


def selection_criteria(names: Iterable[str]) -> str:
    """``LogGroupName NOT IN ["a", "b"]``: the only selection AWS supports for this policy type."""
    return f"LogGroupName NOT IN {json.dumps(sorted(set(names)))}"


def policy_document(destination_arn: str, pattern: str) -> dict[str, str]:
    """The account policy document. No RoleArn: a cross-account destination carries its own."""
    return {"DestinationArn": destination_arn, "FilterPattern": pattern, "Distribution": "Random"}


def _policy_rows(
    cfg: Config,
    context: _TargetContext,
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
        hand_made = _hand_made(group, context.destination_arn)
        if not why_not and hand_made:
            why_not = (
                f"shipping through {hand_made[0]['name']} (not ours): the policy would ship its "
                "events twice"
            )
        if why_not:
            excluded.add(group.log_group)
            yield _row(
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
    desired = policy_document(context.destination_arn, context.pattern)
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
        return _row(
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


def _remove_rows(
    context: _TargetContext, groups: Iterable[Any], mode: str
) -> Iterator[dict[str, Any]]:
    """Delete every filter of ours (any ``logzio-xacct-*`` name); never touch the others."""
    for group in groups:
        filters = list(group.filters or ())
        ours = [f for f in filters if f["owned"]]
        if not ours:
            yield _row(
                context,
                MODE_FILTERS,
                group.log_group,
                UNCHANGED,
                "no filter of ours",
                filters=filters,
                filter_name="",
                destination_arn="",
                filter_pattern="",
            )
            continue
        kept = [f["name"] for f in filters if not f["owned"]]
        for flt in ours:
            yield _row(
                context,
                MODE_FILTERS,
                group.log_group,
                DELETE,
                "filter of ours" + (f"; keeps {', '.join(kept)}" if kept else ""),
                filters=filters,
                filter_name=flt["name"],
                destination_arn=flt.get("destination_arn", ""),
                filter_pattern=flt.get("filter_pattern", ""),
            )


def _remove_policy_rows(
    context: _TargetContext, policies: list[dict[str, Any]] | None, problem: str | None
) -> Iterator[dict[str, Any]]:
    if problem:
        yield _row(
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
        yield _row(
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


# -- applying -------------------------------------------------------------------------------------


def apply(fleet: Fleet, plan: Plan, *, progress: bool | None = None) -> ApplyResult:
    """Execute the plan's create/update/delete rows; every other row is reported as is.

    Targets run in parallel (``aws.max_workers``), a few changes at a time within a target
    (``WORKERS_PER_TARGET``) paced to ``CHANGES_PER_SECOND``, with botocore's adaptive retries
    for throttling. A change that fails
    is a ``failed`` row with the error and a hint; an error that would fail every call in the
    target alike (access denied, role missing, region not enabled) marks the target's remaining
    rows failed without trying them. Nothing is raised for AWS errors.
    """
    from tqdm.auto import tqdm

    frame = plan.frame.reset_index(drop=True)
    status = frame["action"].map({UNCHANGED: "unchanged", SKIP: "skipped"}).astype("string")
    errors = pd.Series([None] * len(frame), dtype="string")
    by_target: dict[Target, list[int]] = defaultdict(list)
    for index, row in frame[frame["action"].isin(CHANGE_ACTIONS)].iterrows():
        by_target[Target(row["account"], row["region"])].append(int(index))
    total = sum(len(v) for v in by_target.values())
    lock = threading.Lock()
    outcomes: dict[int, tuple[str, str, str]] = {}  # index -> (status, error, hint)
    emit = fleet.config.subscriptions.emit_system_fields and emit_system_fields_supported()
    disable = None if progress is None else not progress

    with tqdm(total=total, desc="subscribe", unit="change", disable=disable) as bar:

        def run(target: Target) -> None:
            logs = fleet.client("logs", target.account_id, target.region)
            fatal: list[tuple[str, str]] = []
            pacer = aws.Pacer(CHANGES_PER_SECOND)

            def one(index: int) -> None:
                row = frame.loc[index]
                if fatal:
                    outcome = ("failed", f"not attempted: {fatal[0][0]}", fatal[0][1])
                else:
                    try:
                        pacer.wait()
                        _execute(logs, row, emit)
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
        status[index] = state
        if error:
            errors[index] = error
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
            status[index] = "failed"
            errors[index] = "not attempted: the target's worker failed (see the log)"
    result_frame = frame.assign(status=status, error=errors).astype(APPLY_SCHEMA)
    result = ApplyResult(frame=result_frame, errors=frame_with(ERROR_SCHEMA, error_rows))
    log.info("subscriptions apply: %s", result.summary())
    return result


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
    logs.put_subscription_filter(**kwargs)
    log.info("adopted %s on %s (emitSystemFields %s)", name, group, ", ".join(SYSTEM_FIELDS))


def _execute(logs: Any, raw: Mapping[str, Any], emit_system_fields: bool) -> None:
    """One planned change: the put or delete call for a filter or an account policy."""
    row = {key: _text(value) for key, value in raw.items()}
    action, mode = row["action"], row["mode"]
    try:
        if mode == MODE_POLICY and action == DELETE:
            logs.delete_account_policy(policyName=row["filter_name"], policyType=POLICY_TYPE)
        elif mode == MODE_POLICY:
            logs.put_account_policy(
                policyName=row["filter_name"],
                policyDocument=json.dumps(
                    policy_document(row["destination_arn"], row["filter_pattern"])
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
            logs.put_subscription_filter(**kwargs)
    except Exception as err:
        if action == DELETE and aws.error_code(err) == "ResourceNotFoundException":
            log.info("%s on %s was already gone", row["filter_name"], row["log_group"])
            return
        raise


# -- filters still active for accounts leaving the fleet ------------------------------------------

ACTIVE_SCHEMA: dict[str, str] = {
    "account": "string",
    "region": "string",
    "log_group": "string",
    "filter_name": "string",
    "owned": "bool",
    "destination_arn": "string",
}


def active_filters(
    fleet: Fleet, account_ids: Iterable[str], *, progress: bool | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Subscription filters in ``account_ids`` (every configured region) that point at our
    destinations: ours and hand-made ones. Returns ``(filters, errors)``.

    Used after an account leaves the destination policy: AWS stops its deliveries ("an account
    removed from the policy is stopped from sending any more log data"), but its filters stay and
    keep a slot taken until someone deletes them.
    """
    from xaccount_ops.inventory import iter_log_groups

    destinations = {r: d.arn for r, d in landing_destinations(fleet).items()}
    targets = [Target(a, r) for a in dict.fromkeys(account_ids) for r in fleet.regions]

    def collect(target: Target) -> list[dict[str, Any]]:
        arn = destinations.get(target.region)
        if not arn:
            return []
        return [
            {
                "account": target.account_id,
                "region": target.region,
                "log_group": row["log_group"],
                "filter_name": flt["name"],
                "owned": bool(flt["owned"]),
                "destination_arn": arn,
            }
            for row in iter_log_groups(fleet, target, destination_arn=arn)
            for flt in row["filters"]
            if flt.get("destination_arn") == arn
        ]

    result = fan_out(
        collect,
        targets,
        max_workers=fleet.config.aws.max_workers,
        desc="active filters",
        progress=progress,
    )
    rows = [r for found in result.values.values() for r in found]
    return frame_with(ACTIVE_SCHEMA, rows), result.errors
