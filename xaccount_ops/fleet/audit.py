"""Audit: what is wrong with the shipping set-up, as a DataFrame of findings with fixes.

Works on an inventory (:func:`xaccount_ops.fleet.inventory.log_groups`) plus a few small lookups in the
landing account (destinations and their policies, the shipper function, its failure queue).
Each finding has a severity (``error``: logs are or will be lost; ``warning``: something is not
shipped that should be; ``info``: worth knowing), where it is, what is wrong and what to do.

>>> inv = log_groups(fleet)  # doctest: +SKIP
>>> findings = audit(fleet, inv)  # doctest: +SKIP
>>> findings[findings.severity == "error"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from xaccount_ops import aws
from xaccount_ops.config import Config
from xaccount_ops.fleet.accounts import Fleet, fan_out, organization_id
from xaccount_ops.fleet.inventory import (
    InventoryResult,
    account_names,
    class_problem,
    group_slots,
    is_adopted,
)
from xaccount_ops.fleet.pipeline import landing_destinations
from xaccount_ops.fleet.selection import is_pipeline_group, selection
from xaccount_ops.frames import Categories, frame_with

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SEVERITIES = ("error", "warning", "info")  # most severe first
SEVERITY_DTYPE = Categories(tuple(reversed(SEVERITIES)), ordered=True)

FINDINGS_SCHEMA: dict[str, Any] = {
    "severity": SEVERITY_DTYPE,
    "check": "string",
    "account_id": "string",
    "region": "string",
    "resource": "string",
    "finding": "string",
    "fix": "string",
}

# What each check means; the names are stable so scheduled runs can filter on them.
CHECKS = {
    "inventory-failed": "error",
    "lookup-failed": "error",
    "no-destination": "error",
    "filter-destination-gone": "error",
    "filter-other-region": "error",
    "filter-other-destination": "warning",
    "account-not-in-policy": "error",
    "pipeline-loop": "error",
    "shipper-missing": "error",
    "failure-queue-missing": "warning",
    "double-delivery": "error",
    "sender-role-missing": "error",
    "slots-full": "warning",
    "not-shipping": "warning",
    "shipping-unowned": "info",
    "class-unsubscribable": "info",
    "never-expires": "info",
    "data-protection-account": "info",
    "data-protection-group": "info",
}
DATA_PROTECTION_POLICY = "DATA_PROTECTION_POLICY"
# What a data protection policy means for shipped lines (AWS guide, "Help protect sensitive log
# data with masking": masked "at all egress points, including ... subscription filters").
MASKED_EGRESS = (
    "CloudWatch masks matching values at ingestion and every egress, subscription filters "
    "included, so our shipper and Logz.io receive them as asterisks (logs:Unmask does not apply "
    "to subscriptions)"
)

Finding = dict[str, Any]


def finding(
    check: str, account_id: str, region: str, resource: str, text: str, fix: str
) -> Finding:
    return {
        "severity": CHECKS[check],
        "check": check,
        "account_id": account_id,
        "region": region,
        "resource": resource,
        "finding": text,
        "fix": fix,
    }


def findings_frame(rows: Iterable[Finding] = ()) -> pd.DataFrame:
    """The typed findings frame, most severe first (also when empty)."""
    frame = frame_with(FINDINGS_SCHEMA, rows)
    return frame.sort_values(
        ["severity", "check", "account_id", "region", "resource"],
        ascending=[False, True, True, True, True],
        ignore_index=True,
    )


def at_or_above(findings: pd.DataFrame, severity: str) -> pd.DataFrame:
    """Findings at least as severe as ``severity`` (what ``audit --fail-on`` counts)."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    return findings[findings["severity"] >= severity]


def audit(
    fleet: Fleet,
    inventory: pd.DataFrame | InventoryResult,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> pd.DataFrame:
    """Check the inventory and the landing account; return the findings (see ``CHECKS``).

    Pass the :class:`InventoryResult` to also report targets that could not be inventoried.
    A lookup that fails in the landing account is a ``lookup-failed`` finding, not an exception.
    """
    rows: list[Finding] = []
    if isinstance(inventory, InventoryResult):
        rows.extend(_inventory_errors(inventory.errors))
        frame = inventory.frame
    else:
        frame = inventory
    cfg = fleet.config
    landing = fleet.landing_account
    destinations: dict[str, Any] = {}
    try:
        destinations = landing_destinations(fleet)
    except Exception as err:
        rows.append(_lookup_failed(fleet, "destinations", err))

    rows.extend(_destination_checks(fleet, frame, destinations))
    rows.extend(_filter_checks(fleet, frame, destinations))
    try:
        rows.extend(_sender_role_checks(fleet, frame, destinations))
    except Exception as err:
        rows.append(_lookup_failed(fleet, "account policies", err))
    rows.extend(_group_checks(cfg, frame, now(), destinations))
    try:
        rows.extend(_pipeline_loop_checks(fleet, frame, destinations))
    except Exception as err:
        rows.append(_lookup_failed(fleet, "pipeline log groups", err))
    rows.extend(_data_protection_checks(fleet, frame, _failed_targets(inventory)))
    try:
        rows.extend(_shipper_checks(fleet))
    except Exception as err:
        rows.append(_lookup_failed(fleet, "shipper function and queue", err))
    log.info("audit: %d findings (landing account %s)", len(rows), landing)
    return findings_frame(rows)


# -- the checks --------------------------------------------------------------------------------


def _inventory_errors(errors: pd.DataFrame) -> Iterator[Finding]:
    for error in errors.itertuples():
        yield finding(
            "inventory-failed",
            error.account_id,
            error.region,
            "",
            f"could not inventory this target: {error.error_code}: {error.message}",
            error.hint or "fix access to this account/region and re-run",
        )


def _lookup_failed(fleet: Fleet, what: str, err: Exception) -> Finding:
    aws.raise_if_unreachable(err)  # not a finding: nothing else can be checked either
    log.warning("audit: cannot look up %s: %s", what, err)
    return finding(
        "lookup-failed",
        fleet.landing_account,
        fleet.landing_region,
        what,
        f"could not look up the {what} in the landing account: {aws.error_code(err)}",
        "give the hub credentials read access to the landing account (logs, lambda, sqs) and re-run",
    )


def _destination_checks(
    fleet: Fleet, frame: pd.DataFrame, destinations: Mapping[str, Any]
) -> Iterator[Finding]:
    """Regions with groups but no destination; sending accounts the destination policy refuses."""
    cfg = fleet.config
    regions_with_groups = sorted({str(r) for r in frame["region"].dropna().unique()})
    for region in regions_with_groups:
        if region not in destinations:
            yield finding(
                "no-destination",
                fleet.landing_account,
                region,
                f"{cfg.landing.stack_name}-destination",
                f"log groups exist in {region} but the landing account has no destination there "
                f"(no Logs destination named {cfg.landing.stack_name}*)",
                f"deploy the landing stacks for {region}: `xaccount-ops deploy`",
            )
    org_id = organization_id(fleet)
    org_accounts = set(account_names(fleet)) if org_id else set()
    for region, destination in sorted(destinations.items()):
        allows = getattr(destination, "allows", None)
        if allows is None:  # a destination record without policy support
            continue
        for account in sorted(fleet.accounts):
            if allows(account, org_id):
                continue
            outside = bool(org_accounts) and account not in org_accounts
            why = (
                "is outside the organization the destination policy allows"
                if outside
                else "is missing from the destination policy"
            )
            yield finding(
                "account-not-in-policy",
                account,
                region,
                destination.arn,
                f"sending account {account} {why}: its subscription filters will be refused",
                "add the account: `xaccount-ops accounts add "
                f"{account}` (or switch the destination policy to the organization)",
            )


def _filter_checks(
    fleet: Fleet, frame: pd.DataFrame, destinations: Mapping[str, Any]
) -> Iterator[Finding]:
    """Our filters that point anywhere but this region's destination."""
    ours = {region: d.arn for region, d in destinations.items()}
    exists: dict[str, bool] = {}
    for row in frame.itertuples():
        for flt in row.filters or ():
            if not flt.get("owned"):
                continue
            arn = flt.get("destination_arn", "")
            region = str(row.region)
            if arn == ours.get(region):
                continue
            parts = arn.split(":")
            arn_region = parts[3] if len(parts) > 5 else ""
            where = (row.account_id, region, row.log_group)
            fix = (
                "re-point it: `xaccount-ops subscribe apply` replaces our filter with one to "
                f"{ours.get(region, 'the ' + region + ' destination (deploy it first)')}"
            )
            if arn_region and arn_region != region:
                yield finding(
                    "filter-other-region",
                    *where,
                    f"our filter {flt['name']} points at a destination in {arn_region}: {arn}",
                    fix,
                )
                continue
            if arn not in exists:
                exists[arn] = _destination_exists(fleet, arn)
            if not exists[arn]:
                yield finding(
                    "filter-destination-gone",
                    *where,
                    f"our filter {flt['name']} points at a destination that no longer exists: {arn}",
                    fix,
                )
            else:
                yield finding(
                    "filter-other-destination",
                    *where,
                    f"our filter {flt['name']} points at {arn}, not at this install's destination",
                    fix,
                )


def _sender_role_checks(
    fleet: Fleet, frame: pd.DataFrame, destinations: Mapping[str, Any]
) -> Iterator[Finding]:
    """Filters (ours, adopted or hand-made) and account policies of ours that point at an
    organization-wide destination without naming a role: AWS refuses to create or update such
    a filter ("Role ARN is required when creating subscription filter against destination with
    Organization access policy"; tests/fidelity fixture logs/org_destination_requires_role)."""
    from xaccount_ops.config import MODE_POLICY

    org_wide = {
        region: d for region, d in destinations.items() if getattr(d, "grants_organization", False)
    }
    if not org_wide:
        return
    role = f"{fleet.config.landing.stack_name}-subscription-role"
    fix = (
        f"`xaccount-ops subscribe apply` creates {role} in the account and names it "
        "(filters of ours and adopted ones; a hand-made filter needs its owner to add roleArn)"
    )
    for row in frame.itertuples():
        destination = org_wide.get(str(row.region))
        if destination is None or row.account_id == fleet.landing_account:
            continue
        for flt in row.filters or ():
            if flt.get("destination_arn") != destination.arn or flt.get("role_arn"):
                continue
            yield finding(
                "sender-role-missing",
                row.account_id,
                str(row.region),
                row.log_group,
                f"filter {flt['name']} points at {destination.arn}, which grants the "
                "organization, but names no role: AWS refuses it on any update, and a new one "
                "like it is refused outright",
                fix,
            )
    if fleet.config.subscriptions.mode != MODE_POLICY:
        return
    for target in fleet.targets:
        destination = org_wide.get(target.region)
        if destination is None or target.account_id == fleet.landing_account:
            continue
        logs = fleet.client("logs", target.account_id, target.region)
        policies = logs.describe_account_policies(policyType="SUBSCRIPTION_FILTER_POLICY")
        for policy in policies.get("accountPolicies", []):
            try:
                document = json.loads(policy.get("policyDocument") or "{}")
            except ValueError:
                continue
            if document.get("DestinationArn") != destination.arn or document.get("RoleArn"):
                continue
            yield finding(
                "sender-role-missing",
                target.account_id,
                target.region,
                f"account policy {policy.get('policyName', '')}",
                f"the account policy points at {destination.arn}, which grants the "
                "organization, but has no RoleArn: AWS refuses it",
                fix,
            )


def _failed_targets(inventory: pd.DataFrame | InventoryResult) -> set[tuple[str, str]]:
    """(account, region) pairs the inventory could not read: already an ``inventory-failed``."""
    if not isinstance(inventory, InventoryResult):
        return set()
    errors = inventory.errors
    return {(str(e.account_id), str(e.region)) for e in errors.itertuples()}


def _masked_identifiers(document: str | None) -> list[str]:
    """The data identifiers a policy document masks (its Deidentify statements), short names."""
    try:
        parsed = json.loads(document or "{}")
    except ValueError:
        return []
    names: list[str] = []
    for statement in parsed.get("Statement") or []:
        if "Deidentify" not in (statement.get("Operation") or {}):
            continue
        for identifier in statement.get("DataIdentifier") or []:
            name = str(identifier).rsplit("/", 1)[-1]
            if name not in names:
                names.append(name)
    return names


def _data_protection_checks(
    fleet: Fleet,
    frame: pd.DataFrame,
    skip: Collection[tuple[str, str]] = (),
) -> Iterator[Finding]:
    """Data protection policies in the sending accounts: informational, never a failure.

    One DescribeAccountPolicies per (account, region); a group's own policy comes from the
    inventory (DescribeLogGroups' ``dataProtectionStatus``), so no call per group. A lookup that
    fails is said as an informational finding too (the role may lack the permission)."""
    targets = [t for t in fleet.targets if (t.account_id, t.region) not in skip]

    def account_policies(target: Any) -> list[dict[str, Any]]:
        logs = fleet.client("logs", target.account_id, target.region)
        answer = logs.describe_account_policies(policyType=DATA_PROTECTION_POLICY)
        return list(answer.get("accountPolicies", []))

    result = fan_out(
        account_policies,
        targets,
        max_workers=fleet.config.aws.max_workers,
        desc="data protection",
        progress=False,
    )
    for target, policies in result.values.items():
        for policy in policies:
            names = _masked_identifiers(policy.get("policyDocument"))
            yield finding(
                "data-protection-account",
                target.account_id,
                target.region,
                f"account policy {policy.get('policyName', '')}",
                "an account-level data protection policy masks "
                f"{', '.join(names) or 'no identifier'} in every log group here: " + MASKED_EGRESS,
                "nothing to do if intended; the shipper's LOGZIO_REDACT covers what the policy "
                "does not mask (aws logs describe-account-policies --policy-type "
                "DATA_PROTECTION_POLICY shows it)",
            )
    for error in result.errors.itertuples():
        yield finding(
            "data-protection-account",
            str(error.account_id),
            str(error.region),
            "account policies",
            f"could not read the data protection account policy: {error.error_code}",
            "allow logs:DescribeAccountPolicies to the sender role to see it",
        )
    if "data_protection" not in frame:
        return
    for row in frame[frame["data_protection"]].itertuples():
        shipped = (
            "its lines ship masked: " + MASKED_EGRESS
            if row.ships
            else "it is not shipped; if it is subscribed, " + MASKED_EGRESS
        )
        yield finding(
            "data-protection-group",
            row.account_id,
            str(row.region),
            row.log_group,
            f"the log group has its own data protection policy; {shipped}",
            "nothing to do if intended (aws logs get-data-protection-policy "
            f"--log-group-identifier {row.log_group} shows what it masks)",
        )


def _destination_exists(fleet: Fleet, arn: str) -> bool:
    """True unless we can see that ``arn`` (a landing-account destination) is gone.

    Destinations in other accounts cannot be listed from here: those count as existing.
    """
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "logs" or parts[5] != "destination":
        return True
    region, account, name = parts[3], parts[4], parts[6]
    if account != fleet.landing_account:
        return True
    logs = fleet.landing_client("logs", region)
    for page in logs.get_paginator("describe_destinations").paginate(DestinationNamePrefix=name):
        if any(d.get("destinationName") == name for d in page.get("destinations", [])):
            return True
    return False


def _group_checks(
    cfg: Config, frame: pd.DataFrame, now: datetime, destinations: Mapping[str, Any] | None = None
) -> Iterator[Finding]:
    """Per log group: shipping twice, shipping through a filter we did not create, a class that
    cannot be subscribed, slots full of foreign filters, not shipping, never expiring."""
    import pandas as pd

    ours = {region: d.arn for region, d in (destinations or {}).items()}
    for row in frame.itertuples():
        where = (row.account_id, str(row.region), row.log_group)
        pipeline = is_pipeline_group(row.log_group, cfg)
        if pd.isna(row.retention_days):
            yield finding(
                "never-expires",
                *where,
                "retention is 'never expire': storage grows without bound",
                "set a retention policy (aws logs put-retention-policy --retention-in-days N)",
            )
        if pipeline:
            continue
        selected = selection(cfg, row, now)[0]
        if row.ships:
            yield from _shipping_checks(row, where, ours.get(str(row.region)), selected)
            continue
        if not selected:
            continue
        problem = class_problem(row.log_class)
        if problem:
            yield finding(
                "class-unsubscribable",
                *where,
                f"not shipping: {problem}",
                "nothing to do if its logs need not ship; `subscribe` skips it",
            )
            continue
        if not pd.isna(row.our_filter):
            continue  # ours points elsewhere: the filter checks say where and why
        slots = group_slots(row)
        foreign = [f["name"] for f in (row.filters or ()) if not f.get("owned")]
        if len(foreign) >= slots:
            yield finding(
                "slots-full",
                *where,
                f"not shipping: all {slots} subscription filter slots are taken by "
                f"filters we do not own ({', '.join(foreign)})",
                "ask the owners to free a slot (or raise the filters-per-group quota), "
                "then `xaccount-ops subscribe apply`",
            )
            continue
        yield finding(
            "not-shipping",
            *where,
            "not shipping: no filter of ours points at this region's destination",
            "`xaccount-ops subscribe apply` (it only adds or updates filters named "
            f"logzio-xacct-{row.region})",
        )


def _shipping_checks(
    row: Any, where: tuple[str, str, str], destination_arn: str | None, selected: bool = True
) -> Iterator[Finding]:
    """A shipping group: twice (two filters to our destination), or through a hand-made filter."""
    to_us = [
        f
        for f in (row.filters or ())
        if destination_arn and f.get("destination_arn") == destination_arn
    ]
    if len(to_us) > 1:
        names = ", ".join(f["name"] for f in to_us)
        hand_made = [f["name"] for f in to_us if not f.get("owned")]
        yield finding(
            "double-delivery",
            *where,
            f"{len(to_us)} subscription filters point at our destination ({names}): every event "
            "of this group ships twice",
            f"delete one: `aws logs delete-subscription-filter --log-group-name {row.log_group} "
            f"--filter-name {(hand_made or [to_us[-1]['name']])[0]}`",
        )
        return
    if to_us and not to_us[0].get("owned") and not is_adopted(to_us[0], destination_arn):
        yield finding(
            "shipping-unowned",
            *where,
            f"shipping through {to_us[0]['name']}; its events carry no region "
            "(a filter the toolkit did not create)",
            "`xaccount-ops subscribe apply --adopt` takes it over in place (same name, "
            "events carry @aws.region from then on)"
            + ("" if selected else "; it only adopts groups that [subscriptions] selects"),
        )


def _pipeline_loop_checks(
    fleet: Fleet, frame: pd.DataFrame, destinations: Mapping[str, Any]
) -> Iterator[Finding]:
    """The pipeline's own log groups subscribed to the pipeline: every shipped line makes more."""
    cfg = fleet.config
    ours = {d.arn for d in destinations.values()}
    seen: set[tuple[str, str, str]] = set()
    for row in frame.itertuples():
        if is_pipeline_group(row.log_group, cfg):
            seen.add((row.account_id, str(row.region), row.log_group))
            yield from _loop_finding(
                cfg, row.account_id, str(row.region), row.log_group, row.filters, ours
            )
    inventoried = set(frame["account_id"].dropna().unique())
    if fleet.landing_account in inventoried:
        return
    # The landing account is not a sender: look at its pipeline groups directly (a few calls).
    logs = fleet.landing_client("logs")
    prefix = f"/aws/lambda/{cfg.landing.stack_name}"
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
        for group in page.get("logGroups", []):
            name = group["logGroupName"]
            if not is_pipeline_group(name, cfg):
                continue
            filters = [
                {"name": f["filterName"], "destination_arn": f.get("destinationArn", "")}
                for f in logs.describe_subscription_filters(logGroupName=name).get(
                    "subscriptionFilters", []
                )
            ]
            yield from _loop_finding(
                cfg, fleet.landing_account, fleet.landing_region, name, filters, ours
            )


def _loop_finding(
    cfg: Config,
    account: str,
    region: str,
    name: str,
    filters: Iterable[Mapping[str, Any]] | None,
    ours: set[str],
) -> Iterator[Finding]:
    for flt in filters or ():
        if flt.get("destination_arn") in ours or str(flt.get("name", "")).startswith(
            cfg.landing.stack_name
        ):
            yield finding(
                "pipeline-loop",
                account,
                region,
                name,
                f"the pipeline's own log group is subscribed ({flt.get('name')}): what the "
                "shipper logs is shipped, logged and shipped again",
                f"delete that filter (aws logs delete-subscription-filter --log-group-name {name}) "
                "and add the group to subscriptions.exclude",
            )
            return


def _shipper_checks(fleet: Fleet) -> Iterator[Finding]:
    """The shipper Lambda and its failure queue exist in the landing region (names start with
    the stack name)."""
    stack = fleet.config.landing.stack_name
    region = fleet.landing_region
    functions = fleet.landing_client("lambda").get_paginator("list_functions")
    found = any(
        f["FunctionName"].startswith(stack)
        for page in functions.paginate()
        for f in page.get("Functions", [])
    )
    if not found:
        yield finding(
            "shipper-missing",
            fleet.landing_account,
            region,
            f"{stack}-shipper",
            f"no shipper Lambda function named {stack}* in the landing account: nothing reads "
            "the stream, logs pile up in Kinesis and expire",
            "deploy the landing stack: `xaccount-ops deploy`",
        )
    queues = fleet.landing_client("sqs").list_queues(QueueNamePrefix=stack).get("QueueUrls", [])
    if not queues:
        yield finding(
            "failure-queue-missing",
            fleet.landing_account,
            region,
            f"{stack}-shipper-failures",
            f"no failure queue named {stack}* in the landing account: batches that exhaust "
            "their retries are dropped without a record",
            "deploy the landing stack: `xaccount-ops deploy`",
        )


# -- lookups shared with the destinations module ----------------------------------------------
