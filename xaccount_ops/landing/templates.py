"""The landing stacks' templates and the parameters the toolkit gives them.

Two templates (``cfn/main.yaml`` for the landing region, ``cfn/destination.yaml`` for every other
configured region); their parameters are built from the fleet's config, and a change that only
reorders an account list is no change.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from xaccount_ops import partitions, trust, validate
from xaccount_ops.config import REQUEST_TIMEOUT_PARAMETER
from xaccount_ops.errors import ConfigError
from xaccount_ops.fleet.accounts import normalise_accounts
from xaccount_ops.landing.package import (
    CFN_DIR,
)

log = logging.getLogger(__name__)

MAIN, DESTINATION = "main", "destination"


TEMPLATE_FILES = {MAIN: "main.yaml", DESTINATION: "destination.yaml"}


# Placeholders for a dry run of destination stacks whose main stack does not exist yet.
PENDING_ROLE = "arn:{partition}:iam::{account}:role/pending-main-stack"


PENDING_STREAM = "arn:{partition}:kinesis:{region}:{account}:stream/pending-main-stack"


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
    current = parameters_map(deployed).get("SendingAccounts", "") if deployed else ""
    kept = [a for a in validate.account_list(current, "SendingAccounts") if a not in accounts]
    if kept:
        log.info("keeping deployed accounts not in the config: %s", ", ".join(kept))
    # Sorted and de-duplicated: the order accounts were added in is never a change.
    listed = normalise_accounts([*accounts, *kept])
    # Past the destination policy's 5,120 bytes only organization trust fits: insist on it here,
    # before any stack changes, rather than fail in CloudFormation or widen the trust unasked.
    trust.check_account_list_fits(
        listed,
        partition=fleet.config.partition,
        regions=sorted({fleet.landing_region, *fleet.regions}),
        landing=fleet.landing_account,
        name_prefix=fleet.config.landing.stack_name,
        organization_id=lambda: _organization_id(fleet),
    )
    return {"SendingAccounts": ",".join(listed), "OrganizationId": ""}


def _organization_id(fleet: Any) -> str | None:
    """The landing account's organization id for a message, or None when it cannot be read."""
    try:
        org = fleet.landing_client("organizations").describe_organization()["Organization"]
    except Exception:  # no organization, or no permission: the message just names none
        return None
    return str(org["Id"])


# Parameters holding a list of accounts: a different order of the same accounts is no change.
ACCOUNT_LISTS = ("SendingAccounts", "AccountsArns")


def keep_deployed_order(values: dict[str, str], existing: dict[str, Any] | None) -> dict[str, str]:
    """``values`` with each account list as deployed when it holds the same items.

    A stack deployed before lists were sorted (or edited by hand) would otherwise show, and
    make, a change that only reorders its accounts.
    """
    deployed = parameters_map(existing)
    kept = dict(values)
    for key in ACCOUNT_LISTS:
        if key in kept and key in deployed and _items(kept[key]) == _items(deployed[key]):
            kept[key] = deployed[key]
    return kept


def _items(text: str) -> set[str]:
    return {part.strip().strip('"') for part in text.split(",") if part.strip()}


def parameters_map(stack: dict[str, Any] | None) -> dict[str, str]:
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
        partitions.arn(
            fleet.config.partition,
            "ssm",
            landing.region,
            landing.account_id,
            f"parameter/{r.token.name.lstrip('/')}",
        )
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
        # Always passed: removing the key from the config returns the stack to the default.
        REQUEST_TIMEOUT_PARAMETER: f"{logzio.request_timeout_s:g}",
        "LogzioTYPE": logzio.type,
        "AdditionalFields": ";".join(f"{k}={v}" for k, v in logzio.additional_fields.items()),
        "LogzioTypeMap": json.dumps(dict(logzio.type_map), separators=(",", ":"))
        if logzio.type_map
        else "",
        **(accounts if accounts is not None else accounts_parameters(fleet)),
        **(token if token is not None else token_parameters(fleet)),
        **route_parameters(fleet),
        # [[logzio.redact]]/[[logzio.drop]]/[[logzio.keep]]/[[logzio.multiline]]: "" clears them
        **logzio.rules_parameters(),
    }
    values = _with_overrides(values, MAIN, cfg.stack.parameters)
    # The template's failure store and (by default) on-demand stream, checked for the partition:
    # refused when it lacks them, logged when nobody checked (partitions.FEATURES).
    needed = ["s3_failure_destination"]
    if values.get("KinesisStreamMode", "ON_DEMAND") == "ON_DEMAND":
        needed.append("kinesis_on_demand")
    partitions.require(needed, cfg.partition, "stack.parameters")
    return values


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


def cfn_parameters(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]
