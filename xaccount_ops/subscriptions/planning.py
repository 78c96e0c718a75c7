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
- **Organization-wide destinations** (policy granting ``aws:PrincipalOrgID``): AWS refuses a
  filter or account policy without a role in the sending account, so every filter and policy
  names ``<stack_name>-subscription-role`` (``subscriptions.role``), ours lacking it are
  ``update`` rows, and an account without the role gets one ``create-role`` row (IAM names are
  account-wide). A destination granting an account list needs no role: none is added or
  removed then.
- **LimitExceededException** is retried by botocore as throttling (it is in botocore's throttled
  codes), so rate-limit ``LimitExceededException`` needs nothing extra; a slot-full one (a filter
  added since the plan) fails its row after the retry budget with a hint to re-plan.

>>> fleet = Fleet.from_config(load_config())  # doctest: +SKIP
>>> p = plan(fleet); print(p.summary())  # doctest: +SKIP
>>> result = apply(fleet, p); print(result.summary())  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from xaccount_ops import aws, partitions
from xaccount_ops.config import MODE_FILTERS, MODE_POLICY, Config, filter_name
from xaccount_ops.fleet.accounts import Fleet, Target, fan_out, organization_id
from xaccount_ops.fleet.inventory import (
    InventoryResult,
    class_problem,
    group_slots,
    is_adopted,
    iter_log_groups,
    log_groups,
)
from xaccount_ops.fleet.pipeline import landing_destinations
from xaccount_ops.fleet.selection import never_subscribed, selection
from xaccount_ops.frames import frame_with
from xaccount_ops.subscriptions import heartbeat
from xaccount_ops.subscriptions import role as sender_role
from xaccount_ops.subscriptions.model import (
    ADOPT,
    ALL_GROUPS,
    CREATE,
    CREATE_ROLE,
    DELETE,
    ERROR_SCHEMA,
    MODE_ROLE,
    PLAN_SCHEMA,
    POLICY_TYPE,
    SKIP,
    UNCHANGED,
    UPDATE,
    Plan,
    TargetContext,
    as_text,
    emit_system_fields_supported,
    error_entry,
    hand_made_filters,
    plan_row,
)
from xaccount_ops.subscriptions.policy import policy_rows, remove_policy_rows

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


# -- results --------------------------------------------------------------------------------------


# -- selection ------------------------------------------------------------------------------------


# -- planning -------------------------------------------------------------------------------------


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
    if mode == MODE_POLICY and not remove:
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
        entry = error_entry(e.account_id, e.region, f"{e.error_code}: {e.message}", as_text(e.hint))
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
                errors.append(error_entry(e.account_id, e.region, text, as_text(e.hint)))
                failed[(e.account_id, e.region)] = text
            else:  # removing filters still works; say the policy could not be checked
                policy_problems[target] = text

    org_id = organization_id(fleet) if destinations else None
    groups = _groups_by_target(inventory.frame)
    rows: list[dict[str, Any]] = []
    contexts: dict[Target, TargetContext] = {}
    for target in fleet.targets:
        key = (target.account_id, target.region)
        if key in failed:
            rows.append(_target_failed_row(target, mode, failed[key]))
            continue
        context = contexts[target] = _context(fleet, target, destinations, org_id)
        target_groups = groups.get(key, [])
        if remove:
            rows.extend(_remove_rows(context, target_groups, mode))
            rows.extend(
                remove_policy_rows(context, policies.get(target), policy_problems.get(target))
            )
        elif mode == MODE_POLICY:
            rows.extend(policy_rows(cfg, context, target_groups, policies.get(target, []), now))
        else:
            rows.extend(_filter_rows(cfg, context, target_groups, now, adopt=adopt))
    beat_rows, beat_errors = heartbeat.plan_rows(fleet, contexts, remove=remove, progress=progress)
    rows.extend(beat_rows)
    errors.extend(beat_errors)
    if remove:
        for row in rows:  # deleting needs no role; the column stays empty
            row["role_arn"] = None
    else:
        role_rows, role_errors = _role_rows(fleet, rows, progress)
        rows = role_rows + rows
        errors.extend(role_errors)
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


def _role_rows(
    fleet: Fleet, rows: list[dict[str, Any]], progress: bool | None
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """One ``create-role`` row per account whose planned filters or policies name a sender role
    the account does not have yet (and error rows for accounts where that cannot be read)."""
    wanted: dict[str, tuple[str, str]] = {}  # account -> (role ARN, first region)
    for row in rows:
        arn = row.get("role_arn")
        if arn and row["action"] in (CREATE, UPDATE, UNCHANGED, ADOPT):
            wanted.setdefault(row["account"], (arn, row["region"]))
    if not wanted:
        return [], []
    name = sender_role.role_name(fleet.config.landing.stack_name)
    accounts = sorted(wanted)
    checked = fan_out(
        lambda t: sender_role.role_exists(fleet.client("iam", t.account_id, t.region), name),
        [Target(a, wanted[a][1]) for a in accounts],
        max_workers=fleet.config.aws.max_workers,
        desc="sender roles",
        progress=progress,
    )
    exists = {t.account_id: found for t, found in checked.values.items()}
    errors = [
        error_entry(
            e.account_id,
            e.region,
            f"{e.error_code}: {e.message}",
            "the sending account's role needs iam:GetRole, iam:CreateRole, iam:PutRolePolicy "
            "and iam:PassRole on the sender role (README 'IAM permissions')",
        )
        for e in checked.errors.itertuples()
    ]
    role_rows = []
    for account in accounts:
        if exists.get(account, True):  # present, or unreadable (an error row says so)
            continue
        arn, region = wanted[account]
        policy = sender_role.permissions_policy(
            fleet.landing_account, fleet.config.landing.stack_name
        )
        context = TargetContext(Target(account, region), name, "", "", "", arn)
        role_rows.append(
            plan_row(
                context,
                MODE_ROLE,
                ALL_GROUPS,
                CREATE_ROLE,
                "the destination grants the organization: AWS refuses filters and account "
                f"policies without a role in the sender; creates {name} (trusted by "
                "logs.amazonaws.com, logs:PutLogEvents on "
                f"{policy['Statement'][0]['Resource']} only)",
                current="",
                filter_name=name,
            )
        )
    return role_rows, errors


def _groups_by_target(frame: pd.DataFrame) -> dict[tuple[str, str], list[Any]]:
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in frame.itertuples(index=False):
        groups[(row.account_id, str(row.region))].append(row)
    return groups


def _context(
    fleet: Fleet, target: Target, destinations: Mapping[str, Any] | None, org_id: str | None
) -> TargetContext:
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
    role_arn = ""
    if (
        destination is not None
        and getattr(destination, "grants_organization", False)
        and account != fleet.landing_account  # a destination's own account needs no role
    ):
        role_arn = sender_role.role_arn(account, cfg.landing.stack_name)
    return TargetContext(
        target=target,
        filter_name=filter_name(region),
        destination_arn=destination.arn if destination is not None else "",
        pattern=cfg.subscriptions.filter_pattern,
        problem=problem,
        role_arn=role_arn,
    )


def _target_failed_row(target: Target, mode: str, error: str) -> dict[str, Any]:
    context = TargetContext(target, filter_name(target.region), "", "", "")
    return plan_row(
        context, mode, ALL_GROUPS, SKIP, f"target could not be read: {error} (see errors)"
    )


def _adopt_row(
    context: TargetContext, group: Any, flt: Mapping[str, Any], adopt: bool
) -> dict[str, Any]:
    """The row for a group that ships through a filter we did not create."""
    pattern = flt.get("filter_pattern") or ""
    keeps = f"keeps its pattern {pattern!r}" if pattern else "keeps its empty pattern"

    def row(action: str, reason: str) -> dict[str, Any]:
        return plan_row(
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
    context: TargetContext,
    groups: Iterable[Any],
    now: datetime | None,
    *,
    adopt: bool = False,
) -> Iterator[dict[str, Any]]:
    """Filters mode: create, update, keep, adopt or skip our filter on each log group."""
    for group in groups:
        name, filters = group.log_group, list(group.filters or ())
        ours = next((f for f in filters if f["name"] == context.filter_name), None)
        hand_made = hand_made_filters(group, context.destination_arn)

        def row(action: str, reason: str, _name: str = name, _f: list = filters) -> dict:
            return plan_row(context, MODE_FILTERS, _name, action, reason, filters=_f)

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
            if context.role_arn and (ours.get("role_arn") or "") != context.role_arn:
                differences.append(
                    "names no sender role (the destination grants the organization)"
                    if not ours.get("role_arn")
                    else f"names role {ours.get('role_arn')}"
                )
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
        slots = group_slots(group)
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


def _remove_rows(
    context: TargetContext, groups: Iterable[Any], mode: str
) -> Iterator[dict[str, Any]]:
    """Delete every filter of ours (any ``logzio-xacct-*`` name); never touch the others."""
    for group in groups:
        filters = list(group.filters or ())
        ours = [f for f in filters if f["owned"]]
        if not ours:
            yield plan_row(
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
            yield plan_row(
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


# -- applying -------------------------------------------------------------------------------------


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
