"""Launch and update the landing account's stacks: the main stack and one destination per region.

Every change goes through a CloudFormation change set, so a dry run (:func:`plan_deploy`) shows
exactly what :func:`deploy` would do, and a second deploy with nothing new changes nothing and
says so. :func:`add_accounts` / :func:`remove_accounts` are the seed's whole "Update" tab as one
call: they merge account ids into the deployed ``SendingAccounts`` of every stack and keep every
other parameter as it is (``UsePreviousValue``).

Stack names: ``<stack_name>`` (main, landing region) and ``<stack_name>-destination-<region>``
(every other configured region), ``stack_name`` from ``[landing]`` in the config.

>>> plan = plan_deploy(fleet=fleet)                      # doctest: +SKIP
>>> result = deploy(fleet=fleet, on_event=print)         # doctest: +SKIP
>>> add_accounts(["111111111111"], fleet=fleet)          # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from xaccount_ops import aws, validate
from xaccount_ops.accounts import normalise_accounts
from xaccount_ops.errors import ConfigError, XaccountOpsError
from xaccount_ops.package import (
    CFN_DIR,
    Artifact,
    UploadedArtifact,
    build_artifact,
    check_matches,
    default_bucket,
    default_cache_dir,
    stack_target,
    upload_artifact,
)

log = logging.getLogger(__name__)

MAIN, DESTINATION = "main", "destination"
TEMPLATE_FILES = {MAIN: "main.yaml", DESTINATION: "destination.yaml"}
CAPABILITIES = ["CAPABILITY_IAM"]
# How CloudFormation says "nothing to do" (change sets, and update_stack).
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
# A first create that failed leaves one of these: the stack holds nothing and must be deleted.
DEAD_ON_ARRIVAL = ("ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS")
SUCCESS = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")
# Placeholders for a dry run of destination stacks whose main stack does not exist yet.
PENDING_ROLE = "arn:aws:iam::{account}:role/pending-main-stack"
PENDING_STREAM = "arn:aws:kinesis:{region}:{account}:stream/pending-main-stack"

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
RESULT_COLUMNS = {
    "stack": "string",
    "region": "string",
    "kind": "string",
    "status": "string",
    "changes": "Int64",
    "failed_resource": "string",
    "message": "string",
}

EventCallback = Callable[[dict[str, str]], None]


class StackError(XaccountOpsError):
    """A stack operation failed; ``resource`` names the stack (or the failing logical id)."""


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackSpec:
    """One stack to create or update: name, region, template and parameter values."""

    name: str
    region: str
    kind: str
    parameters: dict[str, str] = field(repr=False)

    @property
    def template_body(self) -> str:
        return template_body(self.kind)


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


@dataclass
class DeployResult:
    """The result of :func:`deploy`: one :class:`StackResult` per stack, and the artifact used."""

    stacks: list[StackResult]
    artifact: UploadedArtifact | None = None

    @property
    def ok(self) -> bool:
        return all(s.status in ("created", "updated", "unchanged") for s in self.stacks)

    @property
    def changed(self) -> bool:
        return any(s.status in ("created", "updated") for s in self.stacks)

    def frame(self) -> pd.DataFrame:
        return _frame([s.row() for s in self.stacks], RESULT_COLUMNS)


@dataclass(frozen=True)
class Outputs:
    """A region's pipeline endpoints, read back from the stacks."""

    region: str
    destination_arn: str
    destination_name: str
    stream_arn: str
    role_arn: str
    function_name: str
    failure_queue_url: str
    failure_queue_arn: str = ""
    stack: str = ""


@dataclass(frozen=True)
class AccountsUpdate:
    """The SendingAccounts of one stack before and after :func:`add_accounts`/:func:`remove_accounts`."""

    stack: str
    region: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    status: str  # updated | unchanged | failed
    message: str = ""

    @property
    def added(self) -> tuple[str, ...]:
        return tuple(a for a in self.after if a not in self.before)

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(a for a in self.before if a not in self.after)


# -- templates and parameters ---------------------------------------------------------------


def template_path(kind: str) -> Path:
    return CFN_DIR / TEMPLATE_FILES[kind]


def template_body(kind: str) -> str:
    return template_path(kind).read_text()


def template_parameters(kind: str) -> set[str]:
    """The parameter names a template declares (our templates list them two spaces in)."""
    names: set[str] = set()
    inside = False
    for line in template_body(kind).splitlines():
        if re.match(r"^\S", line):
            inside = line.startswith("Parameters:")
        elif inside and (match := re.match(r"^  ([A-Za-z0-9]+):\s*$", line)):
            names.add(match.group(1))
    return names


def template_noecho(kind: str) -> set[str]:
    """The parameters a template declares ``NoEcho: true`` (their values are never shown)."""
    return {name for name, spec in _parameter_specs(kind).items() if spec.get("NoEcho") == "true"}


def template_defaults(kind: str) -> dict[str, str]:
    """``{parameter: Default}`` as the template declares them (what an unpassed one gets)."""
    return {
        name: spec["Default"] for name, spec in _parameter_specs(kind).items() if "Default" in spec
    }


def _parameter_specs(kind: str) -> dict[str, dict[str, str]]:
    """The scalar attributes of each parameter (our templates list them two and four spaces in)."""
    specs: dict[str, dict[str, str]] = {}
    inside, current = False, ""
    for line in template_body(kind).splitlines():
        if re.match(r"^\S", line):
            inside = line.startswith("Parameters:")
        elif inside and (match := re.match(r"^  ([A-Za-z0-9]+):\s*$", line)):
            current = match.group(1)
            specs[current] = {}
        elif inside and current and (match := re.match(r"^    (\w+):\s*(.*?)\s*$", line)):
            value = match.group(2)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            specs[current][match.group(1)] = value.lower() if match.group(1) == "NoEcho" else value
    return specs


def stack_names(fleet: Any) -> dict[str, str]:
    """``{region: stack name}`` for the main and every destination stack."""
    base = fleet.config.landing.stack_name
    names = {fleet.landing_region: base}
    for region in fleet.regions:
        if region != fleet.landing_region:
            names[region] = f"{base}-destination-{region}"
    return names


def accounts_parameters(fleet: Any, deployed: dict[str, Any] | None = None) -> dict[str, str]:
    """SendingAccounts (plain comma list) or OrganizationId (organization mode).

    Accounts already in the ``deployed`` main stack are kept even when the config does not list
    them (added with :func:`add_accounts`): only :func:`remove_accounts` removes an account.
    """
    if fleet.config.senders.organization:
        org = fleet.landing_client("organizations").describe_organization()["Organization"]
        return {"SendingAccounts": "", "OrganizationId": org["Id"]}
    accounts = sorted(fleet.accounts)
    if not accounts:
        raise ConfigError("senders.accounts", "no sending accounts left after senders.exclude")
    current = _parameters_map(deployed).get("SendingAccounts", "") if deployed else ""
    kept = [a for a in validate.account_list(current, "SendingAccounts") if a not in accounts]
    if kept:
        log.info("keeping deployed accounts not in the config: %s", ", ".join(kept))
    # Sorted and de-duplicated: the order accounts were added in is never a change.
    return {
        "SendingAccounts": ",".join(normalise_accounts([*accounts, *kept])),
        "OrganizationId": "",
    }


# Parameters holding a list of accounts: a different order of the same accounts is no change.
ACCOUNT_LISTS = ("SendingAccounts", "AccountsArns")


def _keep_deployed_order(values: dict[str, str], existing: dict[str, Any] | None) -> dict[str, str]:
    """``values`` with each account list as deployed when it holds the same items.

    A stack deployed before lists were sorted (or edited by hand) would otherwise show, and
    make, a change that only reorders its accounts.
    """
    deployed = _parameters_map(existing)
    kept = dict(values)
    for key in ACCOUNT_LISTS:
        if key in kept and key in deployed and _items(kept[key]) == _items(deployed[key]):
            kept[key] = deployed[key]
    return kept


def _items(text: str) -> set[str]:
    return {part.strip().strip('"') for part in text.split(",") if part.strip()}


def _parameters_map(stack: dict[str, Any] | None) -> dict[str, str]:
    return {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in (stack or {}).get("Parameters", [])
    }


def token_parameters(fleet: Any) -> dict[str, str]:
    """LogzioTokenSecretArn when configured (the function reads the secret), else LogzioTOKEN."""
    logzio = fleet.config.logzio
    if logzio.token_secret_arn:
        return {"LogzioTokenSecretArn": logzio.token_secret_arn, "LogzioTOKEN": ""}
    token = logzio.shipping_token.resolve(lambda service: fleet.landing_client(service))
    return {"LogzioTOKEN": token, "LogzioTokenSecretArn": ""}


def route_parameters(fleet: Any) -> dict[str, str]:
    """``[[logzio.routes]]`` as the main stack takes them: the routes (no tokens), the tokens of
    ``env`` routes (the NoEcho ``LogzioRouteTokens``, passed only when there are such tokens: a
    NoEcho value always describes as ``****``, so an empty one would show in every dry run), and
    the secrets/parameters the function may read."""
    routes = fleet.config.logzio.routes
    landing = fleet.config.landing
    env_tokens = {r.token.name: r.token.resolve() for r in routes if r.token.kind == "env"}
    secrets = [r.token.name for r in routes if r.token.kind == "secret"]
    ssm = [
        f"arn:aws:ssm:{landing.region}:{landing.account_id}:parameter/{r.token.name.lstrip('/')}"
        for r in routes
        if r.token.kind == "ssm"
    ]
    values = {
        "LogzioRoutes": json.dumps([r.shipper_entry() for r in routes], separators=(",", ":"))
        if routes
        else "",
        "RouteSecretArns": ",".join(secrets),
        "RouteSsmParameterArns": ",".join(ssm),
    }
    if env_tokens:
        values["LogzioRouteTokens"] = json.dumps(env_tokens, sort_keys=True)
    return values


def main_parameters(
    fleet: Any,
    *,
    bucket: str,
    key: str,
    token: dict[str, str] | None = None,
    accounts: dict[str, str] | None = None,
) -> dict[str, str]:
    """Every main-stack parameter value, from the config (``stack.parameters`` win)."""
    cfg = fleet.config
    logzio = cfg.logzio
    values = {
        "NamePrefix": cfg.landing.stack_name,
        "ArtifactBucket": bucket,
        "ArtifactKey": key,
        "LogzioREGION": logzio.region,
        "LogzioListenerUrl": logzio.listener_url or "",
        "LogzioCOMPRESS": "true" if logzio.compress else "false",
        "LogzioTYPE": logzio.type,
        "AdditionalFields": ";".join(f"{k}={v}" for k, v in logzio.additional_fields.items()),
        "LogzioTypeMap": json.dumps(dict(logzio.type_map), separators=(",", ":"))
        if logzio.type_map
        else "",
        **(accounts if accounts is not None else accounts_parameters(fleet)),
        **(token if token is not None else token_parameters(fleet)),
        **route_parameters(fleet),
    }
    return _with_overrides(values, MAIN, cfg.stack.parameters)


def destination_parameters(
    fleet: Any, *, role_arn: str, stream_arn: str, accounts: dict[str, str] | None = None
) -> dict[str, str]:
    values = {
        "NamePrefix": fleet.config.landing.stack_name,
        "RoleArn": role_arn,
        "KinesisStreamArn": stream_arn,
        **(accounts if accounts is not None else accounts_parameters(fleet)),
    }
    return _with_overrides(values, DESTINATION, fleet.config.stack.parameters)


def _with_overrides(
    values: dict[str, str], kind: str, overrides: dict[str, str] | Any
) -> dict[str, str]:
    declared = template_parameters(kind)
    known = template_parameters(MAIN) | template_parameters(DESTINATION)
    for name, value in overrides.items():
        if name not in known:
            raise ConfigError(
                f"stack.parameters.{name}",
                f"no template declares this parameter; known: {', '.join(sorted(known))}",
            )
        if name in declared:
            values[name] = str(value)
    return {k: v for k, v in values.items() if k in declared}


def _cfn_parameters(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]


# -- reading stacks ---------------------------------------------------------------------------


def describe_stack(cfn: Any, name: str) -> dict[str, Any] | None:
    """The stack, or None when it does not exist."""
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as err:
        if "does not exist" in str(err):
            return None
        raise
    return stacks[0] if stacks else None


def _outputs_map(stack: dict[str, Any] | None) -> dict[str, str]:
    return {o["OutputKey"]: o.get("OutputValue", "") for o in (stack or {}).get("Outputs", [])}


def stack_outputs(fleet: Any) -> dict[str, Outputs]:
    """``{region: Outputs}`` for every region with a deployed destination (main stack first).

    Raises :class:`StackError` if the main stack does not exist (deploy first).
    """
    names = stack_names(fleet)
    landing = fleet.landing_region
    main = describe_stack(fleet.landing_client("cloudformation"), names[landing])
    if main is None:
        raise StackError(
            f"main stack {names[landing]} does not exist in {landing}; run `xaccount-ops deploy`",
            account_id=fleet.landing_account,
            region=landing,
            resource=names[landing],
        )
    out = _outputs_map(main)
    result = {landing: _outputs(landing, names[landing], out, out)}
    for region, name in names.items():
        if region == landing:
            continue
        stack = describe_stack(fleet.landing_client("cloudformation", region), name)
        if stack is not None and stack["StackStatus"] in (*SUCCESS, "UPDATE_ROLLBACK_COMPLETE"):
            result[region] = _outputs(region, name, _outputs_map(stack), out)
    return result


def _outputs(region: str, name: str, own: dict[str, str], main: dict[str, str]) -> Outputs:
    return Outputs(
        region=region,
        destination_arn=own.get("LogzioCrossAccountDestinationARN", ""),
        destination_name=own.get("LogzioCrossAccountDestinationName", ""),
        stream_arn=main.get("LogzioCrossAccountKinesisStreamArn", ""),
        role_arn=main.get("LogzioCrossAccountRole", ""),
        function_name=main.get("ShipperFunctionName", ""),
        failure_queue_url=main.get("FailureQueueUrl", ""),
        failure_queue_arn=main.get("FailureQueueArn", ""),
        stack=name,
    )


def outputs_frame(outputs: dict[str, Outputs]) -> pd.DataFrame:
    from dataclasses import asdict

    rows = [asdict(o) for o in outputs.values()]
    columns = list(Outputs.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns).astype("string")


# -- change sets ------------------------------------------------------------------------------


def _change_set_name() -> str:
    return f"xaccount-ops-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"


def _wait_change_set(cfn: Any, change_set_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + CHANGE_SET_TIMEOUT_S
    while True:
        described = cfn.describe_change_set(ChangeSetName=change_set_id)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return described
        if time.monotonic() > deadline:
            raise StackError(
                f"change set {change_set_id} still {described['Status']} after "
                f"{CHANGE_SET_TIMEOUT_S:.0f}s",
                resource=change_set_id,
            )
        time.sleep(POLL_S)


def _change_rows(cfn: Any, described: dict[str, Any], stack: str, region: str) -> list[dict]:
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


def _is_no_change(reason: str) -> bool:
    return any(marker in reason for marker in NO_CHANGES)


def _create_change_set(
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
        if _is_no_change(message):
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
    deadline = time.monotonic() + STACK_TIMEOUT_S
    while True:
        stack = describe_stack(cfn, stack_id)
        if stack is None or stack["StackStatus"] == "DELETE_COMPLETE":
            return
        if stack["StackStatus"] == "DELETE_FAILED" or time.monotonic() > deadline:
            raise StackError(
                f"could not delete stack {name} in {region}: {stack['StackStatus']} "
                f"{stack.get('StackStatusReason', '')}",
                region=region,
                resource=name,
            )
        time.sleep(POLL_S)


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
    deadline = time.monotonic() + STACK_TIMEOUT_S
    while True:
        for event in _new_events(cfn, stack_id, seen):
            row = _event_row(event, name, region)
            rows.append(row)
            if on_event is not None:
                on_event(row)
        stack = describe_stack(cfn, stack_id)
        if stack is None:
            raise StackError(f"stack {name} in {region} disappeared", region=region, resource=name)
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            for event in _new_events(cfn, stack_id, seen):
                row = _event_row(event, name, region)
                rows.append(row)
                if on_event is not None:
                    on_event(row)
            return stack, rows
        if time.monotonic() > deadline:
            raise StackError(
                f"stack {name} in {region} still {stack['StackStatus']} after "
                f"{STACK_TIMEOUT_S:.0f}s; it keeps going in CloudFormation: check its events",
                region=region,
                resource=name,
            )
        time.sleep(POLL_S)


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
    change_set_id = _create_change_set(
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
    described = _wait_change_set(cfn, change_set_id)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        cfn.delete_change_set(ChangeSetName=change_set_id)
        if _is_no_change(reason):
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
    changes = len(_change_rows(cfn, described, name, region))
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


# -- deploy -----------------------------------------------------------------------------------


def _artifact_location(
    fleet: Any,
    artifact: Artifact | UploadedArtifact | None,
    *,
    include_speedups: bool,
    upload: bool,
) -> tuple[str, str, UploadedArtifact | None]:
    """(bucket, key, uploaded) for the shipper zip: upload it, or (dry run) only name it.

    The zip is built for the stack's runtime and architecture (``package.stack_target``); a
    given artifact built for others is refused (its speed-ups would not import).
    """
    runtime, arch = stack_target(fleet.config.stack.parameters)
    if isinstance(artifact, UploadedArtifact):
        return artifact.bucket, artifact.key, artifact
    if artifact is None:
        artifact = build_artifact(
            default_cache_dir().parent / "build",
            runtime=runtime,
            arch=arch,
            include_speedups=include_speedups,
        )
    check_matches(artifact, runtime, arch)
    if upload:
        uploaded = upload_artifact(artifact, fleet=fleet)
        return uploaded.bucket, uploaded.key, uploaded
    bucket = fleet.config.stack.artifact_bucket or default_bucket(
        fleet.landing_account, fleet.landing_region
    )
    return bucket, f"xaccount-ops/shipper/{artifact.sha256}/{artifact.path.name}", None


def deploy(
    *,
    artifact: Artifact | UploadedArtifact | None = None,
    include_speedups: bool = True,
    on_event: EventCallback | None = None,
    destinations: bool = True,
    fleet: Any,
) -> DeployResult:
    """Create or update the main stack, then a destination stack in every other region.

    ``destinations=False`` deploys the main stack only (the StackSets rollout,
    :mod:`xaccount_ops.stacksets`, owns the other regions' destinations then).

    ``artifact``: an uploaded artifact, a built one (uploaded here), or None (built and uploaded
    here). ``on_event(row)`` receives each new stack event (stack, region, timestamp, logical_id,
    resource_type, status, reason) while CloudFormation works. Destinations are skipped when
    the main stack fails.
    """
    bucket, key, uploaded = _artifact_location(
        fleet, artifact, include_speedups=include_speedups, upload=True
    )
    names = stack_names(fleet)
    landing = fleet.landing_region
    cfn = fleet.landing_client("cloudformation", landing)
    accounts = accounts_parameters(fleet, describe_stack(cfn, names[landing]))
    main_values = main_parameters(fleet, bucket=bucket, key=key, accounts=accounts)
    results = [_safe_apply(cfn, names[landing], landing, MAIN, main_values, on_event)]
    if not destinations:
        return DeployResult(results, uploaded)
    if results[0].status == "failed":
        for region, name in names.items():
            if region != landing:
                results.append(
                    StackResult(name, region, DESTINATION, "skipped", message="main stack failed")
                )
        return DeployResult(results, uploaded)
    outputs = _outputs_map(describe_stack(cfn, names[landing]))
    for region, name in names.items():
        if region == landing:
            continue
        values = destination_parameters(
            fleet,
            role_arn=outputs.get("LogzioCrossAccountRole", ""),
            stream_arn=outputs.get("LogzioCrossAccountKinesisStreamArn", ""),
            accounts=accounts,
        )
        regional = fleet.landing_client("cloudformation", region)
        results.append(_safe_apply(regional, name, region, DESTINATION, values, on_event))
    return DeployResult(results, uploaded)


def _safe_apply(
    cfn: Any,
    name: str,
    region: str,
    kind: str,
    values: dict[str, str],
    on_event: EventCallback | None,
) -> StackResult:
    try:
        values = _keep_deployed_order(values, describe_stack(cfn, name))
        return apply_stack(
            cfn,
            name=name,
            region=region,
            kind=kind,
            parameters=_cfn_parameters(values),
            template=template_body(kind),
            on_event=on_event,
        )
    except (StackError, ClientError) as err:
        log.warning("stack %s in %s: %s", name, region, err)
        return StackResult(name, region, kind, "failed", message=str(err))


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
    bucket, key, _ = _artifact_location(
        fleet, artifact, include_speedups=include_speedups, upload=False
    )
    names = stack_names(fleet)
    landing = fleet.landing_region
    rows: list[dict[str, Any]] = []
    cfn = fleet.landing_client("cloudformation", landing)
    accounts = accounts_parameters(fleet, describe_stack(cfn, names[landing]))
    main_values = main_parameters(fleet, bucket=bucket, key=key, accounts=accounts)
    rows += _plan_one(cfn, names[landing], landing, MAIN, main_values)
    outputs = _outputs_map(describe_stack(cfn, names[landing]))
    account = fleet.landing_account
    for region, name in names.items():
        if region == landing:
            continue
        values = destination_parameters(
            fleet,
            role_arn=outputs.get("LogzioCrossAccountRole") or PENDING_ROLE.format(account=account),
            stream_arn=outputs.get("LogzioCrossAccountKinesisStreamArn")
            or PENDING_STREAM.format(region=landing, account=account),
            accounts=accounts,
        )
        regional = fleet.landing_client("cloudformation", region)
        rows += _plan_one(regional, name, region, DESTINATION, values)
    return _frame(rows, PLAN_COLUMNS)


def _plan_one(cfn: Any, name: str, region: str, kind: str, values: dict[str, str]) -> list[dict]:
    existing = describe_stack(cfn, name)
    if existing is not None and existing["StackStatus"] in DEAD_ON_ARRIVAL:
        note = f"{existing['StackStatus']}: deploy deletes and recreates it"
        return [_plan_note(name, region, "Recreate", note)]
    values = _keep_deployed_order(values, existing)
    change_type = "UPDATE" if existing is not None else "CREATE"
    change_set_id = _create_change_set(
        cfn,
        name=name,
        region=region,
        change_type=change_type,
        parameters=_cfn_parameters(values),
        template=template_body(kind),
    )
    if change_set_id is None:
        return [_plan_note(name, region, "Unchanged", "")]
    try:
        described = _wait_change_set(cfn, change_set_id)
        if described["Status"] == "FAILED":
            reason = described.get("StatusReason", "")
            if _is_no_change(reason):
                return [_plan_note(name, region, "Unchanged", "")]
            raise StackError(
                f"stack {name} in {region}: change set failed: {reason}",
                region=region,
                resource=name,
            )
        rows = _change_rows(cfn, described, name, region)
        parameters = parameter_changes(existing, values, kind, name=name, region=region)
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
    existing: dict[str, Any] | None, values: dict[str, str], kind: str, *, name: str, region: str
) -> list[dict[str, str]]:
    """A plan row per parameter whose value changes: ``detail`` is ``old → new``.

    A new stack lists every parameter (``(none) → value``). NoEcho values are never shown:
    CloudFormation returns them as ``****``, so whether one changed cannot be read back: such a
    parameter is listed as ``**** → ****`` when nothing else changed (it then must be what
    changed), and with "(maybe ...)" beside other changes. An unchanged stack lists nothing.
    """
    secret = template_noecho(kind)
    deployed = _parameters_map(existing)
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


# -- accounts ---------------------------------------------------------------------------------


def add_accounts(
    ids: Iterable[str], *, on_event: EventCallback | None = None, fleet: Any
) -> list[AccountsUpdate]:
    """Add account ids to the deployed SendingAccounts of the main and every destination stack.

    Merges (never overwrites, never duplicates; accepts ``"1234...","5678..."``) and keeps every
    other parameter and the template as deployed.
    """
    new = validate.account_list(list(_split_ids(ids)), "accounts")
    return _update_accounts(
        lambda before: normalise_accounts([*before, *new]), new, on_event, fleet
    )


def remove_accounts(
    ids: Iterable[str], *, on_event: EventCallback | None = None, fleet: Any
) -> list[AccountsUpdate]:
    """Remove account ids from the deployed SendingAccounts of every stack (others untouched)."""
    gone = validate.account_list(list(_split_ids(ids)), "accounts")
    return _update_accounts(
        lambda before: normalise_accounts(a for a in before if a not in gone), gone, on_event, fleet
    )


def preview_accounts(
    ids: Iterable[str], *, remove: bool = False, fleet: Any
) -> list[AccountsUpdate]:
    """Dry run of :func:`add_accounts` (or, with ``remove``, :func:`remove_accounts`).

    The merged SendingAccounts of every deployed stack, read and computed, nothing changed;
    ``status`` says what the real call would do (``would update``, ``unchanged``, ``failed``).
    """
    wanted = validate.account_list(list(_split_ids(ids)), "accounts")
    updates = []
    for region, name in stack_names(fleet).items():
        stack = describe_stack(fleet.landing_client("cloudformation", region), name)
        if stack is None:
            updates.append(
                AccountsUpdate(name, region, (), (), "failed", "stack not deployed; run deploy")
            )
            continue
        current = _parameters_map(stack)
        before = validate.account_list(
            current.get("SendingAccounts", ""), f"{name}.SendingAccounts"
        )
        if current.get("OrganizationId"):
            updates.append(
                AccountsUpdate(name, region, before, before, "unchanged", "organization mode")
            )
            continue
        if remove:
            after = normalise_accounts(a for a in before if a not in wanted)
        else:
            after = normalise_accounts([*before, *wanted])
        if not after:
            status, message = "failed", "refusing to remove every sending account"
        elif set(after) == set(before):
            after, status, message = before, "unchanged", ""
        else:
            status, message = "would update", ""
        updates.append(AccountsUpdate(name, region, before, after, status, message))
    return updates


def _split_ids(ids: Iterable[str]) -> Iterable[str]:
    if isinstance(ids, str):
        ids = [ids]
    for item in ids:
        yield from (part for part in str(item).split(",") if part.strip())


def _update_accounts(
    merge: Callable[[tuple[str, ...]], tuple[str, ...]],
    ids: tuple[str, ...],
    on_event: EventCallback | None,
    fleet: Any,
) -> list[AccountsUpdate]:
    names = stack_names(fleet)
    landing = fleet.landing_region
    if describe_stack(fleet.landing_client("cloudformation", landing), names[landing]) is None:
        raise StackError(
            f"main stack {names[landing]} does not exist in {landing}; run `xaccount-ops deploy`",
            region=landing,
            resource=names[landing],
        )
    results = []
    for region, name in names.items():
        cfn = fleet.landing_client("cloudformation", region)
        stack = describe_stack(cfn, name)
        if stack is None:
            results.append(
                AccountsUpdate(name, region, (), (), "failed", "stack not deployed; run deploy")
            )
            continue
        results.append(_update_one(cfn, stack, name, region, merge, on_event))
    return results


def _update_one(
    cfn: Any,
    stack: dict[str, Any],
    name: str,
    region: str,
    merge: Callable[[tuple[str, ...]], tuple[str, ...]],
    on_event: EventCallback | None,
) -> AccountsUpdate:
    current = _parameters_map(stack)
    if current.get("OrganizationId"):
        return AccountsUpdate(
            name,
            region,
            (),
            (),
            "unchanged",
            f"organization mode ({current['OrganizationId']}): every account of the organization "
            "is already allowed",
        )
    before = validate.account_list(current.get("SendingAccounts", ""), f"{name}.SendingAccounts")
    after = merge(before)
    if set(after) == set(before):  # the same accounts in another order is no change
        return AccountsUpdate(name, region, before, before, "unchanged", "already as requested")
    if not after:
        return AccountsUpdate(
            name,
            region,
            before,
            before,
            "failed",
            "refusing to remove every sending account: the destination would accept nobody",
        )
    parameters: list[dict[str, Any]] = []
    for key in sorted(current):
        if key == "SendingAccounts":
            parameters.append({"ParameterKey": key, "ParameterValue": ",".join(after)})
        elif key == "AccountsArns" and current[key]:
            parameters.append(
                {"ParameterKey": key, "ParameterValue": _merge_arns(current[key], before, after)}
            )
        else:
            parameters.append({"ParameterKey": key, "UsePreviousValue": True})
    try:
        result = apply_stack(
            cfn,
            name=name,
            region=region,
            kind="",
            parameters=parameters,
            template=None,
            on_event=on_event,
        )
    except (StackError, ClientError) as err:
        return AccountsUpdate(name, region, before, before, "failed", str(err))
    if result.status == "failed":
        return AccountsUpdate(name, region, before, before, "failed", result.message)
    return AccountsUpdate(
        name, region, before, after, "updated" if result.status == "updated" else result.status
    )


def _merge_arns(arns: str, before: tuple[str, ...], after: tuple[str, ...]) -> str:
    """Keep the seed-style AccountsArns list in step with SendingAccounts."""
    removed = {a for a in before if a not in after}
    kept = [arn for arn in arns.split(",") if arn.strip() and arn.split(":")[4] not in removed]
    present = {arn.split(":")[4] for arn in kept if arn.count(":") >= 5}
    kept += [f"arn:aws:logs:*:{a}:*" for a in after if a not in present]
    return ",".join(sorted(kept, key=lambda arn: arn.split(":")[4] if arn.count(":") >= 5 else arn))


def accounts_frame(updates: Sequence[AccountsUpdate]) -> pd.DataFrame:
    rows = [
        {
            "stack": u.stack,
            "region": u.region,
            "status": u.status,
            "before": ",".join(u.before),
            "after": ",".join(u.after),
            "added": ",".join(u.added),
            "removed": ",".join(u.removed),
            "message": u.message,
        }
        for u in updates
    ]
    columns = ["stack", "region", "status", "before", "after", "added", "removed", "message"]
    return pd.DataFrame(rows, columns=columns).astype("string")


def _frame(rows: Sequence[dict[str, Any]], schema: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(schema)).astype(schema)
