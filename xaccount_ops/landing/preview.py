"""The dry run of a deploy: per stack, the change set's resource changes and the parameter changes,
without executing anything (the change sets are deleted again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xaccount_ops.frames import frame_with
from xaccount_ops.landing.changesets import (
    DEAD_ON_ARRIVAL,
    StackError,
    causing_parameters,
    change_rows,
    create_change_set,
    describe_stack,
    is_no_change,
    outputs_map,
    wait_change_set,
)
from xaccount_ops.landing.package import (
    Artifact,
    UploadedArtifact,
)
from xaccount_ops.landing.stacks import artifact_location
from xaccount_ops.landing.templates import (
    DESTINATION,
    MAIN,
    PENDING_ROLE,
    PENDING_STREAM,
    accounts_parameters,
    cfn_parameters,
    destination_parameters,
    keep_deployed_order,
    main_parameters,
    parameters_map,
    stack_names,
    template_body,
    template_defaults,
    template_noecho,
)

if TYPE_CHECKING:
    import pandas as pd

PLAN_COLUMNS = {
    "stack": "string",
    "region": "string",
    "action": "string",
    "logical_id": "string",
    "resource_type": "string",
    "replacement": "string",
    "detail": "string",  # parameter rows: "old → new" (NoEcho values masked)
}


# How CloudFormation shows a NoEcho parameter's value, and how a dry run shows ours.
MASK = "****"


def plan_deploy(
    *,
    artifact: Artifact | UploadedArtifact | None = None,
    include_speedups: bool = True,
    fleet: Any,
) -> pd.DataFrame:
    """Dry run: one change set per stack, described and deleted. Nothing is changed.

    Rows: stack, region, action (Add/Modify/Remove, or ``Unchanged`` for a stack with nothing to
    do), logical_id, resource_type, replacement. The artifact is built but not uploaded.
    """
    bucket, key, _ = artifact_location(
        fleet, artifact, include_speedups=include_speedups, upload=False
    )
    names = stack_names(fleet)
    landing = fleet.landing_region
    rows: list[dict[str, Any]] = []
    cfn = fleet.landing_client("cloudformation", landing)
    accounts = accounts_parameters(fleet, describe_stack(cfn, names[landing]))
    main_values = main_parameters(fleet, bucket=bucket, key=key, accounts=accounts)
    rows += _plan_one(cfn, names[landing], landing, MAIN, main_values)
    outputs = outputs_map(describe_stack(cfn, names[landing]))
    account = fleet.landing_account
    for region, name in names.items():
        if region == landing:
            continue
        values = destination_parameters(
            fleet,
            role_arn=outputs.get("LogzioCrossAccountRole")
            or PENDING_ROLE.format(partition=fleet.config.partition, account=account),
            stream_arn=outputs.get("LogzioCrossAccountKinesisStreamArn")
            or PENDING_STREAM.format(
                partition=fleet.config.partition, region=landing, account=account
            ),
            accounts=accounts,
        )
        regional = fleet.landing_client("cloudformation", region)
        rows += _plan_one(regional, name, region, DESTINATION, values)
    return frame_with(PLAN_COLUMNS, rows)


def _plan_one(cfn: Any, name: str, region: str, kind: str, values: dict[str, str]) -> list[dict]:
    existing = describe_stack(cfn, name)
    if existing is not None and existing["StackStatus"] in DEAD_ON_ARRIVAL:
        note = f"{existing['StackStatus']}: deploy deletes and recreates it"
        return [_plan_note(name, region, "Recreate", note)]
    values = keep_deployed_order(values, existing)
    change_type = "UPDATE" if existing is not None else "CREATE"
    change_set_id = create_change_set(
        cfn,
        name=name,
        region=region,
        change_type=change_type,
        parameters=cfn_parameters(values),
        template=template_body(kind),
    )
    if change_set_id is None:
        return [_plan_note(name, region, "Unchanged", "")]
    try:
        described = wait_change_set(cfn, change_set_id)
        if described["Status"] == "FAILED":
            reason = described.get("StatusReason", "")
            if is_no_change(reason):
                return [_plan_note(name, region, "Unchanged", "")]
            raise StackError(
                f"stack {name} in {region}: change set failed: {reason}",
                region=region,
                resource=name,
            )
        rows = change_rows(cfn, described, name, region)
        # With resource rows, the change set names every parameter behind them; without any,
        # nothing can be read from it (parameter_changes falls back to its guess).
        causes = causing_parameters(cfn, described) if existing is not None and rows else None
        parameters = parameter_changes(
            existing, values, kind, name=name, region=region, causes=causes
        )
        if not rows and not parameters:
            rows = [_plan_note(name, region, "Modify", "(parameter values only)")]
        return rows + parameters
    finally:
        cfn.delete_change_set(ChangeSetName=change_set_id)
        if change_type == "CREATE":
            # A CREATE change set leaves an empty REVIEW_IN_PROGRESS stack behind: remove it.
            stack = describe_stack(cfn, name)
            if stack is not None and stack["StackStatus"] == "REVIEW_IN_PROGRESS":
                cfn.delete_stack(StackName=stack["StackId"])


def _plan_note(name: str, region: str, action: str, note: str) -> dict[str, str]:
    return {
        "stack": name,
        "region": region,
        "action": action,
        "logical_id": "",
        "resource_type": note,
        "replacement": "",
        "detail": "",
    }


def parameter_changes(
    existing: dict[str, Any] | None,
    values: dict[str, str],
    kind: str,
    *,
    name: str,
    region: str,
    causes: set[str] | None = None,
) -> list[dict[str, str]]:
    """A plan row per parameter whose value changes: ``detail`` is ``old → new``.

    A new stack lists every parameter (``(none) → value``). NoEcho values are never shown:
    CloudFormation returns them as ``****`` (a defaulted one too), so their old value cannot be
    read back. ``causes``, the parameters the change set names as ``CausingEntity``, settles it:
    a NoEcho parameter named there changed (``**** → ****``), one not named did not. Without
    ``causes`` (or when the change set names none while nothing else changed), such a parameter
    is listed as ``**** → ****`` when nothing else changed (it then must be what changed), and
    with "(maybe ...)" beside other changes. An unchanged stack lists nothing.
    """
    secret = template_noecho(kind)
    deployed = parameters_map(existing)
    if existing is not None:  # what CloudFormation gives a parameter we do not pass
        values = {**template_defaults(kind), **values}
    rows, unreadable = [], []
    for key in sorted(set(deployed) | set(values)):
        old, new = deployed.get(key), values.get(key)
        if existing is not None and key in secret:
            if new is not None and new != old and old in (MASK, None):
                unreadable.append(key)
            elif old is not None and new is None:
                rows.append(_parameter_row(name, region, key, MASK, None, existing))
            continue
        if existing is not None and old == new:
            continue
        if key in secret:
            old, new = (MASK if old else old), (MASK if new else new)
        rows.append(_parameter_row(name, region, key, old, new, existing))
    if causes is not None:
        # The change set says which secrets changed: exactly those, no guessing.
        certain = [k for k in unreadable if k in causes]
        return rows + [_parameter_row(name, region, k, MASK, MASK, existing) for k in certain]
    # Alone, an unreadable NoEcho parameter is what changed; beside others it may or may not be.
    note = "" if not rows else " (maybe: NoEcho hides the deployed value)"
    rows += [_parameter_row(name, region, key, MASK, MASK, existing, note) for key in unreadable]
    return rows


def _parameter_row(
    name: str,
    region: str,
    key: str,
    old: str | None,
    new: str | None,
    existing: Any,
    note: str = "",
) -> dict[str, str]:
    def shown(value: str | None) -> str:
        return "(none)" if value is None else '""' if value == "" else value

    return {
        "stack": name,
        "region": region,
        "action": "Add" if existing is None else "Modify",
        "logical_id": key,
        "resource_type": "Parameter",
        "replacement": "",
        "detail": f"{shown(old)} → {shown(new)}{note}",
    }
