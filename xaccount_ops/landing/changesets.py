"""One stack through a CloudFormation change set: create, show, execute, wait, report events.

Every change the toolkit makes to a stack goes through here, so a dry run shows exactly what
executing would do and a change set with nothing in it is reported as no change.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from xaccount_ops import aws
from xaccount_ops.errors import XaccountOpsError

log = logging.getLogger(__name__)
T = TypeVar("T")

CAPABILITIES = ["CAPABILITY_IAM"]


# How CloudFormation says "nothing to do" (change sets, and update_stack).
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


# A first create that failed leaves one of these: the stack holds nothing and must be deleted.
DEAD_ON_ARRIVAL = ("ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS")


SUCCESS = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")


# Polling knobs: class-level constants so tests can shrink them.
POLL_S = 2.0


STACK_TIMEOUT_S = 1800.0


CHANGE_SET_TIMEOUT_S = 300.0


EVENT_COLUMNS = {
    "stack": "string",
    "region": "string",
    "timestamp": "string",
    "logical_id": "string",
    "resource_type": "string",
    "status": "string",
    "reason": "string",
}


EventCallback = Callable[[dict[str, str]], None]


class StackError(XaccountOpsError):
    """A stack operation failed; ``resource`` names the stack (or the failing logical id)."""


@dataclass
class StackResult:
    """What happened to one stack."""

    stack: str
    region: str
    kind: str
    status: str  # created | updated | unchanged | failed | skipped
    changes: int = 0
    failed_resource: str = ""
    message: str = ""
    notes: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        message = "; ".join([*self.notes, self.message] if self.message else self.notes)
        return {
            "stack": self.stack,
            "region": self.region,
            "kind": self.kind,
            "status": self.status,
            "changes": self.changes,
            "failed_resource": self.failed_resource,
            "message": message,
        }


def describe_stack(cfn: Any, name: str) -> dict[str, Any] | None:
    """The stack, or None when it does not exist."""
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as err:
        if "does not exist" in str(err):
            return None
        raise
    return stacks[0] if stacks else None


def outputs_map(stack: dict[str, Any] | None) -> dict[str, str]:
    return {o["OutputKey"]: o.get("OutputValue", "") for o in (stack or {}).get("Outputs", [])}


def _change_set_name() -> str:
    return f"xaccount-ops-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"


def wait_until(
    read: Callable[[], T],
    done: Callable[[T], bool],
    timeout_s: float,
    late: Callable[[T], Exception],
) -> T:
    """Read every :data:`POLL_S` until ``done`` says so; past ``timeout_s``, raise ``late(last)``.

    The one wait of the landing side (change sets, stacks, stack-set operations): ``done`` may
    raise itself for a state that will not get better (DELETE_FAILED, say).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        state = read()
        if done(state):
            return state
        if time.monotonic() > deadline:
            raise late(state)
        time.sleep(POLL_S)


def wait_change_set(cfn: Any, change_set_id: str) -> dict[str, Any]:
    return wait_until(
        lambda: cfn.describe_change_set(ChangeSetName=change_set_id),
        lambda described: described["Status"] in ("CREATE_COMPLETE", "FAILED"),
        CHANGE_SET_TIMEOUT_S,
        lambda described: StackError(
            f"change set {change_set_id} still {described['Status']} after "
            f"{CHANGE_SET_TIMEOUT_S:.0f}s",
            resource=change_set_id,
        ),
    )


def change_rows(cfn: Any, described: dict[str, Any], stack: str, region: str) -> list[dict]:
    rows = []
    page = described
    while True:
        for change in page.get("Changes", []):
            rc = change.get("ResourceChange", {})
            rows.append(
                {
                    "stack": stack,
                    "region": region,
                    "action": rc.get("Action", ""),
                    "logical_id": rc.get("LogicalResourceId", ""),
                    "resource_type": rc.get("ResourceType", ""),
                    "replacement": rc.get("Replacement", "") or "",
                }
            )
        token = page.get("NextToken")
        if not token:
            return rows
        page = cfn.describe_change_set(ChangeSetName=described["ChangeSetId"], NextToken=token)


def causing_parameters(cfn: Any, described: dict[str, Any]) -> set[str]:
    """The parameters a change set says cause its changes (``Details`` with ``ChangeSource``
    ``ParameterReference``, ``CausingEntity`` the parameter). CloudFormation names a NoEcho one
    too although it masks its value: the one way to tell whether a secret changed (recorded on
    AWS: tests/fidelity fixture cloudformation/no_echo)."""
    causes: set[str] = set()
    page = described
    while True:
        for change in page.get("Changes", []):
            for detail in change.get("ResourceChange", {}).get("Details", []) or []:
                if detail.get("ChangeSource") == "ParameterReference" and detail.get(
                    "CausingEntity"
                ):
                    causes.add(str(detail["CausingEntity"]))
        token = page.get("NextToken")
        if not token:
            return causes
        page = cfn.describe_change_set(ChangeSetName=described["ChangeSetId"], NextToken=token)


def is_no_change(reason: str) -> bool:
    return any(marker in reason for marker in NO_CHANGES)


def create_change_set(
    cfn: Any,
    *,
    name: str,
    region: str,
    change_type: str,
    parameters: list[dict[str, Any]],
    template: str | None = None,
) -> str | None:
    """The change set's id, or None when CloudFormation says up front there is nothing to do."""
    kwargs: dict[str, Any] = {
        "StackName": name,
        "ChangeSetName": _change_set_name(),
        "ChangeSetType": change_type,
        "Parameters": parameters,
        "Capabilities": CAPABILITIES,
        "Description": "xaccount-ops",
    }
    if template is None:
        kwargs["UsePreviousTemplate"] = True
    else:
        kwargs["TemplateBody"] = template
    if change_type == "CREATE":
        kwargs["Tags"] = [{"Key": "xaccount-ops:stack", "Value": name}]
    try:
        return cfn.create_change_set(**kwargs)["Id"]
    except ClientError as err:
        code = aws.error_code(err)
        message = err.response.get("Error", {}).get("Message", str(err))
        if is_no_change(message):
            return None
        hint = ""
        if code == "InsufficientCapabilitiesException":
            hint = f"; the template needs more than {', '.join(CAPABILITIES)}"
        elif code in ("AccessDenied", "AccessDeniedException"):
            hint = "; the landing credentials need cloudformation:CreateChangeSet"
        raise StackError(
            f"stack {name} in {region}: cannot create a change set: {code}: {message}{hint}",
            region=region,
            resource=name,
        ) from err


def _prepare(
    cfn: Any, name: str, region: str, on_event: EventCallback | None
) -> tuple[str, list[str]]:
    """Decide CREATE or UPDATE; clear a dead first create. Returns (change type, notes)."""
    notes: list[str] = []
    existing = describe_stack(cfn, name)
    if existing is None:
        return "CREATE", notes
    status = existing["StackStatus"]
    if status in DEAD_ON_ARRIVAL:
        note = (
            f"stack {name} in {region} is {status} (a first create that did not finish): "
            "deleting it before creating it again"
        )
        log.warning(note)
        notes.append(note)
        _emit(on_event, name, region, "", "AWS::CloudFormation::Stack", "DELETING", note)
        cfn.delete_stack(StackName=existing["StackId"])
        _wait_deleted(cfn, existing["StackId"], name, region)
        return "CREATE", notes
    if status.endswith("_IN_PROGRESS"):
        raise StackError(
            f"stack {name} in {region} is {status}: another operation is running; wait for it "
            "to finish, then run again",
            region=region,
            resource=name,
        )
    if status == "UPDATE_ROLLBACK_FAILED":
        raise StackError(
            f"stack {name} in {region} is UPDATE_ROLLBACK_FAILED; fix the resource named in its "
            "events, run `aws cloudformation continue-update-rollback`, then run again",
            region=region,
            resource=name,
        )
    if status in ("ROLLBACK_FAILED", "DELETE_FAILED"):
        raise StackError(
            f"stack {name} in {region} is {status}; delete it (retaining the resources named in "
            "its events), then run again",
            region=region,
            resource=name,
        )
    return "UPDATE", notes


def _wait_deleted(cfn: Any, stack_id: str, name: str, region: str) -> None:
    def failed(stack: dict[str, Any]) -> StackError:
        return StackError(
            f"could not delete stack {name} in {region}: {stack['StackStatus']} "
            f"{stack.get('StackStatusReason', '')}",
            region=region,
            resource=name,
        )

    def deleted(stack: dict[str, Any] | None) -> bool:
        if stack is None or stack["StackStatus"] == "DELETE_COMPLETE":
            return True
        if stack["StackStatus"] == "DELETE_FAILED":
            raise failed(stack)
        return False

    wait_until(lambda: describe_stack(cfn, stack_id), deleted, STACK_TIMEOUT_S, failed)


def _emit(
    on_event: EventCallback | None,
    stack: str,
    region: str,
    logical_id: str,
    resource_type: str,
    status: str,
    reason: str = "",
    timestamp: str = "",
) -> None:
    if on_event is None:
        return
    on_event(
        {
            "stack": stack,
            "region": region,
            "timestamp": timestamp or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "logical_id": logical_id,
            "resource_type": resource_type,
            "status": status,
            "reason": reason,
        }
    )


def _new_events(cfn: Any, stack_id: str, seen: set[str]) -> list[dict[str, Any]]:
    """Events not seen yet, oldest first (describe_stack_events returns newest first)."""
    fresh: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StackName": stack_id}
    while True:
        page = cfn.describe_stack_events(**kwargs)
        stop = False
        for event in page.get("StackEvents", []):
            if event["EventId"] in seen:
                stop = True
                break
            fresh.append(event)
        if stop or not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    for event in fresh:
        seen.add(event["EventId"])
    return list(reversed(fresh))


def _event_row(event: dict[str, Any], name: str, region: str) -> dict[str, str]:
    timestamp = event.get("Timestamp")
    return {
        "stack": name,
        "region": region,
        "timestamp": timestamp.isoformat() if hasattr(timestamp, "isoformat") else str(timestamp),
        "logical_id": event.get("LogicalResourceId", ""),
        "resource_type": event.get("ResourceType", ""),
        "status": event.get("ResourceStatus", ""),
        "reason": event.get("ResourceStatusReason", "") or "",
    }


def _execute_and_wait(
    cfn: Any,
    change_set_id: str,
    stack_id: str,
    name: str,
    region: str,
    on_event: EventCallback | None,
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Execute the change set, relay new stack events, return the final stack and its events."""
    seen: set[str] = set()
    _new_events(cfn, stack_id, seen)  # what happened before this run is not news
    cfn.execute_change_set(ChangeSetName=change_set_id)
    rows: list[dict[str, str]] = []

    def relay() -> None:
        for event in _new_events(cfn, stack_id, seen):
            row = _event_row(event, name, region)
            rows.append(row)
            if on_event is not None:
                on_event(row)

    def read() -> dict[str, Any]:
        relay()
        stack = describe_stack(cfn, stack_id)
        if stack is None:
            raise StackError(f"stack {name} in {region} disappeared", region=region, resource=name)
        return stack

    stack = wait_until(
        read,
        lambda stack: not stack["StackStatus"].endswith("_IN_PROGRESS"),
        STACK_TIMEOUT_S,
        lambda stack: StackError(
            f"stack {name} in {region} still {stack['StackStatus']} after "
            f"{STACK_TIMEOUT_S:.0f}s; it keeps going in CloudFormation: check its events",
            region=region,
            resource=name,
        ),
    )
    relay()
    return stack, rows


def _first_failure(rows: Sequence[dict[str, str]]) -> tuple[str, str]:
    """The resource that failed first and why (later 'cancelled' failures are consequences)."""
    for row in rows:
        if row["status"].endswith("_FAILED") and row["resource_type"] != (
            "AWS::CloudFormation::Stack"
        ):
            return row["logical_id"], row["reason"]
    for row in rows:
        if row["status"].endswith("_FAILED") or "ROLLBACK" in row["status"]:
            return row["logical_id"], row["reason"]
    return "", ""


def apply_stack(
    cfn: Any,
    *,
    name: str,
    region: str,
    kind: str,
    parameters: list[dict[str, Any]],
    template: str | None,
    on_event: EventCallback | None = None,
) -> StackResult:
    """Create or update one stack through a change set and wait for it.

    ``template=None`` reuses the deployed template (parameter-only updates). Never raises for a
    failed deployment: the result says which resource failed and why, and the stack is left so
    that the next run can fix it (a failed first create is deleted before the next create).
    """
    change_type, notes = _prepare(cfn, name, region, on_event)
    if template is None and change_type == "CREATE":
        raise StackError(
            f"stack {name} does not exist in {region}; run `xaccount-ops deploy` first",
            region=region,
            resource=name,
        )
    change_set_id = create_change_set(
        cfn,
        name=name,
        region=region,
        change_type=change_type,
        parameters=parameters,
        template=template,
    )
    if change_set_id is None:
        return StackResult(
            name, region, kind, "unchanged", message="no changes: already up to date", notes=notes
        )
    described = wait_change_set(cfn, change_set_id)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        cfn.delete_change_set(ChangeSetName=change_set_id)
        if is_no_change(reason):
            return StackResult(
                name,
                region,
                kind,
                "unchanged",
                message="no changes: already up to date",
                notes=notes,
            )
        return StackResult(
            name, region, kind, "failed", message=f"change set failed: {reason}", notes=notes
        )
    changes = len(change_rows(cfn, described, name, region))
    stack, rows = _execute_and_wait(
        cfn, change_set_id, described["StackId"], name, region, on_event
    )
    status = stack["StackStatus"]
    if status in SUCCESS:
        return StackResult(
            name,
            region,
            kind,
            "created" if change_type == "CREATE" else "updated",
            changes=changes,
            message=status,
            notes=notes,
        )
    resource, reason = _first_failure(rows)
    hint = (
        "the next deploy deletes the rolled-back stack and creates it again"
        if status == "ROLLBACK_COMPLETE"
        else "the stack rolled back to its previous state; fix the cause and run again"
    )
    return StackResult(
        name,
        region,
        kind,
        "failed",
        changes=changes,
        failed_resource=resource,
        message=f"{status}: {resource or 'stack'}: {reason or stack.get('StackStatusReason', '')}; {hint}",
        notes=notes,
    )
