"""Org-scale rollout with CloudFormation StackSets (SELF_MANAGED, administered from the landing
account).

``deploy --stackset`` keeps the main stack as a plain stack in the landing region (it holds the
stream, the shipper and the roles, once) and rolls out the rest as two stack sets:

- ``<stack_name>-destinations``: ``cfn/destination.yaml``, one instance per other region in the
  landing account (replaces the per-region ``<stack_name>-destination-<region>`` stacks);
- ``<stack_name>-senders``: ``cfn/sender.yaml`` in every sending account and region, in
  ``subscriptions.mode = "account-policy"`` only: one account-level subscription filter policy per
  account/region covers every log group. In ``filters`` mode the per-group filters are the
  ``subscribe`` command's job (it handles thousands of groups, both slots and foreign filters,
  which a template with ten named groups cannot), so no senders stack set is made.

SELF_MANAGED needs two roles that this module does not create (creating IAM roles in every
account is the organization admin's call): ``AWSCloudFormationStackSetAdministrationRole`` in the
landing account, and ``AWSCloudFormationStackSetExecutionRole`` in every target account trusting
it; cfn/README.md has both. The administration role is checked before anything is changed.

Every call is idempotent: a stack set whose template and parameters are already deployed is left
alone, and only missing instances are created. Instances that are no longer wanted are reported
(status ``extra``), never deleted here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from xaccount_ops import partitions
from xaccount_ops.errors import XaccountOpsError
from xaccount_ops.frames import frame_with
from xaccount_ops.landing import stacks
from xaccount_ops.landing.changesets import (
    CAPABILITIES,
    EventCallback,
    StackResult,
    describe_stack,
    outputs_map,
    wait_until,
)
from xaccount_ops.landing.package import CFN_DIR
from xaccount_ops.landing.templates import (
    DESTINATION,
    accounts_parameters,
    cfn_parameters,
    destination_parameters,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
# StackSets' defaults act on one account at a time, one region after another, and stop at the
# first failure (StackSetOperationPreferences: MaxConcurrentCount "at most one more than the
# FailureToleranceCount" under the default STRICT_FAILURE_TOLERANCE, FailureToleranceCount 0,
# RegionConcurrencyType one Region at a time): 1,000 accounts x 17 regions would be 17,000
# operations in a row. Soft tolerance keeps "stop starting new ones after a failure" while
# every account and region runs at once (CloudFormation lowers it when it throttles).
OPERATION_PREFERENCES = {
    "RegionConcurrencyType": "PARALLEL",
    "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
    "MaxConcurrentPercentage": 100,
    "FailureToleranceCount": 0,
}

ADMIN_ROLE = "AWSCloudFormationStackSetAdministrationRole"
EXECUTION_ROLE = "AWSCloudFormationStackSetExecutionRole"
SENDER = "sender"
TEMPLATE_FILES = {DESTINATION: "destination.yaml", SENDER: "sender.yaml"}
DONE = ("SUCCEEDED", "FAILED", "STOPPED")

# Polling knobs (module constants so tests can shrink them).
OPERATION_TIMEOUT_S = 3600.0

COLUMNS = {
    "stack_set": "string",
    "account": "string",
    "region": "string",
    "status": "string",  # created | updated | unchanged | extra | failed | planned
    "detail": "string",
}


class StackSetError(XaccountOpsError):
    """A stack set operation could not start or did not succeed."""


@dataclass(frozen=True)
class StackSetSpec:
    """One stack set: its name, template, parameters and the (account, region) instances."""

    name: str
    kind: str
    parameters: dict[str, str] = field(repr=False)
    instances: tuple[tuple[str, str], ...]

    @property
    def template_body(self) -> str:
        return (CFN_DIR / TEMPLATE_FILES[self.kind]).read_text()


@dataclass
class StackSetResult:
    """The main stack's result and one row per stack set instance."""

    main: StackResult | None
    rows: list[dict[str, str]]

    @property
    def ok(self) -> bool:
        main_ok = self.main is None or self.main.status in ("created", "updated", "unchanged")
        return main_ok and all(r["status"] != "failed" for r in self.rows)

    @property
    def changed(self) -> bool:
        main_changed = self.main is not None and self.main.status in ("created", "updated")
        return main_changed or any(r["status"] in ("created", "updated") for r in self.rows)

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(COLUMNS)).astype(COLUMNS)


# -- what to deploy -----------------------------------------------------------------------------


def specs(fleet: Any, main_outputs: dict[str, str]) -> list[StackSetSpec]:
    """The stack sets for this fleet, with parameters from the main stack's outputs."""
    cfg = fleet.config
    base = cfg.landing.stack_name
    main = describe_stack(fleet.landing_client("cloudformation"), base)
    accounts = accounts_parameters(fleet, main)
    other_regions = tuple(r for r in fleet.regions if r != fleet.landing_region)
    result = []
    if other_regions:
        values = destination_parameters(
            fleet,
            role_arn=main_outputs.get("LogzioCrossAccountRole", ""),
            stream_arn=main_outputs.get("LogzioCrossAccountKinesisStreamArn", ""),
            accounts=accounts,
        )
        instances = tuple((fleet.landing_account, r) for r in other_regions)
        result.append(StackSetSpec(f"{base}-destinations", DESTINATION, values, instances))
    if cfg.subscriptions.mode == "account-policy":
        values = {
            "LandingAccountId": fleet.landing_account,
            "DestinationName": main_outputs.get(
                "LogzioCrossAccountDestinationName", f"{base}-destination"
            ),
            "NamePrefix": base,
            # An organization-wide destination refuses policies without a role in the sender:
            # sender.yaml then makes <NamePrefix>-subscription-role (in one region) and names it.
            "OrganizationDestination": "true" if accounts.get("OrganizationId") else "false",
            "SubscriptionRoleRegion": role_region(fleet),
            "Mode": "account-policy",
            "FilterPattern": cfg.subscriptions.filter_pattern,
            "ExcludedLogGroups": ",".join(pipeline_log_groups(fleet)),
        }
        instances = tuple((a, r) for a in sorted(fleet.accounts) for r in fleet.regions)
        result.append(StackSetSpec(f"{base}-senders", SENDER, values, instances))
    return result


def role_region(fleet: Any) -> str:
    """The one region whose sender stack creates the account-wide sender role (deployed first)."""
    return fleet.landing_region if fleet.landing_region in fleet.regions else fleet.regions[0]


def _capabilities(spec: StackSetSpec) -> list[str]:
    """sender.yaml names its role (<NamePrefix>-subscription-role): CAPABILITY_NAMED_IAM."""
    return [*CAPABILITIES, "CAPABILITY_NAMED_IAM"] if spec.kind == SENDER else list(CAPABILITIES)


def _preferences(spec: StackSetSpec, regions: list[str]) -> dict[str, Any]:
    """Every account and region at once; but sender instances of an organization-wide
    destination go one region after another, the role's region first, so the others find the
    role in place (IAM names are account-wide)."""
    first = spec.parameters.get("SubscriptionRoleRegion")
    if spec.kind != SENDER or spec.parameters.get("OrganizationDestination") != "true":
        return dict(OPERATION_PREFERENCES)
    order = sorted(set(regions), key=lambda r: (r != first, r))
    return {**OPERATION_PREFERENCES, "RegionConcurrencyType": "SEQUENTIAL", "RegionOrder": order}


def pipeline_log_groups(fleet: Any) -> list[str]:
    """Log groups an account policy must leave out: the shipper's own (a loop otherwise)."""
    return [f"/aws/lambda/{fleet.config.landing.stack_name}-shipper"]


# -- plan and deploy ----------------------------------------------------------------------------


def plan(fleet: Any) -> pd.DataFrame:
    """Dry run: what :func:`deploy` would do to each stack set instance. Changes nothing.

    The main stack's own changes are :func:`~xaccount_ops.landing.preview.plan_deploy`'s (``deploy --dry-run`` shows
    both).
    """
    cfn = fleet.landing_client("cloudformation")
    outputs = outputs_map(describe_stack(cfn, fleet.config.landing.stack_name))
    rows: list[dict[str, str]] = []
    for spec in specs(fleet, outputs):
        current = _describe_stack_set(cfn, spec.name)
        existing = _instances(cfn, spec.name) if current else {}
        drift = current is not None and _differs(current, spec)
        for account, region in spec.instances:
            if (account, region) not in existing:
                action, detail = "planned", "create instance"
            elif drift:
                action, detail = "planned", "update instance (template or parameters changed)"
            else:
                action, detail = "unchanged", "already as planned"
            rows.append(_row(spec.name, account, region, action, detail))
        rows += _extra_rows(spec, existing)
    return frame_with(COLUMNS, rows)


def deploy(
    *,
    fleet: Any,
    artifact: Any = None,
    include_speedups: bool = True,
    on_event: EventCallback | None = None,
) -> StackSetResult:
    """Create or update the main stack, then every stack set and its missing instances."""
    _check_admin_role(fleet)
    main = stacks.deploy(
        fleet=fleet,
        artifact=artifact,
        include_speedups=include_speedups,
        on_event=on_event,
        destinations=False,
    )
    head = main.stacks[0]
    if head.status == "failed":
        return StackSetResult(head, [])
    cfn = fleet.landing_client("cloudformation")
    outputs = outputs_map(describe_stack(cfn, fleet.config.landing.stack_name))
    rows: list[dict[str, str]] = []
    for spec in specs(fleet, outputs):
        try:
            rows += _apply(cfn, fleet, spec)
        except (ClientError, StackSetError) as err:
            log.warning("stack set %s: %s", spec.name, err)
            rows += [_row(spec.name, a, r, "failed", str(err)) for a, r in spec.instances]
    return StackSetResult(head, rows)


def _apply(cfn: Any, fleet: Any, spec: StackSetSpec) -> list[dict[str, str]]:
    current = _describe_stack_set(cfn, spec.name)
    updated = False
    if current is None:
        cfn.create_stack_set(
            StackSetName=spec.name,
            Description=f"xaccount-ops {spec.kind} ({fleet.config.landing.stack_name})",
            TemplateBody=spec.template_body,
            Parameters=cfn_parameters(spec.parameters),
            Capabilities=_capabilities(spec),
            PermissionModel="SELF_MANAGED",
            AdministrationRoleARN=admin_role_arn(fleet),
            ExecutionRoleName=EXECUTION_ROLE,
        )
        log.info("created stack set %s", spec.name)
    existing = _instances(cfn, spec.name)
    present = [i for i in spec.instances if i in existing]
    missing = [i for i in spec.instances if i not in existing]
    if current is not None and _differs(current, spec):
        accounts, regions = _axes(present) if present else ([], [])
        operation = cfn.update_stack_set(
            StackSetName=spec.name,
            TemplateBody=spec.template_body,
            Parameters=cfn_parameters(spec.parameters),
            Capabilities=_capabilities(spec),
            AdministrationRoleARN=admin_role_arn(fleet),
            ExecutionRoleName=EXECUTION_ROLE,
            **({"Accounts": accounts, "Regions": regions} if present else {}),
            OperationPreferences=_preferences(spec, regions),
        )["OperationId"]
        _wait(cfn, spec.name, operation)
        updated = True
    for accounts, regions in _batches(missing):
        operation = cfn.create_stack_instances(
            StackSetName=spec.name,
            Accounts=accounts,
            Regions=regions,
            OperationPreferences=_preferences(spec, regions),
        )["OperationId"]
        _wait(cfn, spec.name, operation)
    after = _instances(cfn, spec.name)
    rows = []
    for account, region in spec.instances:
        instance = after.get((account, region))
        if instance is None:
            rows.append(_row(spec.name, account, region, "failed", "instance was not created"))
            continue
        detail = _instance_detail(instance)
        if detail.startswith(("FAILED", "CANCELLED", "INOPERABLE")):
            status = "failed"
        elif (account, region) in missing:
            status = "created"
        else:
            status = "updated" if updated else "unchanged"
        rows.append(_row(spec.name, account, region, status, detail))
    return rows + _extra_rows(spec, after)


# -- helpers ------------------------------------------------------------------------------------


def admin_role_arn(fleet: Any) -> str:
    return partitions.role_arn(fleet.config.partition, fleet.landing_account, ADMIN_ROLE)


def _check_admin_role(fleet: Any) -> None:
    iam = fleet.landing_client("iam")
    try:
        iam.get_role(RoleName=ADMIN_ROLE)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "NoSuchEntity":
            raise
        raise StackSetError(
            f"role {ADMIN_ROLE} does not exist in the landing account {fleet.landing_account}; "
            "SELF_MANAGED stack sets need it there, and "
            f"{EXECUTION_ROLE} in every target account (see cfn/README.md 'StackSets')",
            account_id=fleet.landing_account,
            resource=ADMIN_ROLE,
        ) from None


def _describe_stack_set(cfn: Any, name: str) -> dict[str, Any] | None:
    try:
        found = cfn.describe_stack_set(StackSetName=name)["StackSet"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "StackSetNotFoundException":
            return None
        raise
    return None if found.get("Status") == "DELETED" else found


def _differs(current: dict[str, Any], spec: StackSetSpec) -> bool:
    deployed = {p["ParameterKey"]: p.get("ParameterValue", "") for p in current["Parameters"]}
    changed_template = current.get("TemplateBody", "") != spec.template_body
    return changed_template or _normal(deployed) != _normal(spec.parameters)


def _normal(values: dict[str, str]) -> str:
    return json.dumps({k: str(v) for k, v in sorted(values.items())})


def _instances(cfn: Any, name: str) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"StackSetName": name}
    while True:
        page = cfn.list_stack_instances(**kwargs)
        for summary in page.get("Summaries", []):
            found[(summary["Account"], summary["Region"])] = summary
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def _instance_detail(instance: dict[str, Any]) -> str:
    detailed = instance.get("StackInstanceStatus", {}).get("DetailedStatus", "")
    reason = instance.get("StatusReason", "")
    return " ".join(x for x in (detailed or instance.get("Status", ""), reason) if x)


def _extra_rows(
    spec: StackSetSpec, existing: dict[tuple[str, str], dict[str, Any]]
) -> list[dict[str, str]]:
    wanted = set(spec.instances)
    return [
        _row(spec.name, a, r, "extra", "deployed but not in the config; left as is")
        for a, r in sorted(existing)
        if (a, r) not in wanted
    ]


def _axes(instances: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return sorted({a for a, _ in instances}), sorted({r for _, r in instances})


def _batches(missing: list[tuple[str, str]]) -> list[tuple[list[str], list[str]]]:
    """Group missing instances into (accounts × regions) calls: one per distinct region set."""
    by_account: dict[str, set[str]] = {}
    for account, region in missing:
        by_account.setdefault(account, set()).add(region)
    groups: dict[tuple[str, ...], list[str]] = {}
    for account, regions in by_account.items():
        groups.setdefault(tuple(sorted(regions)), []).append(account)
    return [(sorted(accounts), list(regions)) for regions, accounts in groups.items()]


def _wait(cfn: Any, name: str, operation_id: str) -> None:
    operation = wait_until(
        lambda: cfn.describe_stack_set_operation(StackSetName=name, OperationId=operation_id)[
            "StackSetOperation"
        ],
        lambda operation: operation["Status"] in DONE,
        OPERATION_TIMEOUT_S,
        lambda operation: StackSetError(
            f"stack set {name} operation {operation_id} still {operation['Status']} after "
            f"{OPERATION_TIMEOUT_S:.0f}s",
            resource=name,
        ),
    )
    if operation["Status"] != "SUCCEEDED":
        raise StackSetError(
            f"stack set {name} operation {operation_id} ended {operation['Status']}: "
            f"{operation.get('StatusReason', 'see list_stack_set_operation_results')}",
            resource=name,
        )


def _row(stack_set: str, account: str, region: str, status: str, detail: str) -> dict[str, str]:
    return {
        "stack_set": stack_set,
        "account": account,
        "region": region,
        "status": status,
        "detail": detail,
    }
