"""Find the pipeline's pieces in the landing account: destinations, stream, shipper, failure queue.

Verification and health need names the stacks chose (``<stack_name>-shipper`` and friends), but
must also work on an install made by hand: everything is looked up, starting from what is most
authoritative (the shipper's event source mapping names its stream and its on-failure queue), and
falling back to the stack name prefix.

:func:`landing_destinations` is the one destination lookup every job uses (inventory, audit,
subscriptions, verify): per region, ``<stack_name>-destination`` (the templates' name), else the
first destination whose name starts with the stack name.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xaccount_ops import aws

log = logging.getLogger(__name__)

PUT_FILTER_ACTIONS = {"logs:putsubscriptionfilter", "logs:*", "*"}
# The sender role an organization-wide destination needs in each sending account
# (``subscriptions.role`` makes it; cfn/sender.yaml names it the same).
SENDER_ROLE_SUFFIX = "-subscription-role"


def sender_role_arn(account_id: str, stack_name: str, partition: str = "aws") -> str:
    """``arn:<partition>:iam::<account>:role/<stack_name>-subscription-role``: what a filter to
    an organization-wide destination must name (see ``FoundDestination.grants_organization``)."""
    return f"arn:{partition}:iam::{account_id}:role/{stack_name}{SENDER_ROLE_SUFFIX}"


@dataclass(frozen=True)
class FoundDestination:
    """A Logs destination in the landing account, with its access policy."""

    region: str
    name: str
    arn: str
    target_arn: str
    policy: Mapping[str, Any] | None = None

    def allows(self, account_id: str, org_id: str | None = None) -> bool:
        """True if the access policy lets ``account_id`` call PutSubscriptionFilter."""
        return policy_allows(self.policy, account_id, org_id)

    @property
    def grants_organization(self) -> bool:
        """True if the access policy grants by ``aws:PrincipalOrgID`` (AWS's "Organization
        access policy"): then AWS refuses a cross-account filter or account policy without a
        role in the sending account (``subscriptions.role``)."""
        return grants_organization(self.policy)


def grants_organization(policy: Mapping[str, Any] | None) -> bool:
    """Whether any Allow statement of a destination policy has an ``aws:PrincipalOrgID``
    condition."""
    if not policy:
        return False
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    return any(
        statement.get("Effect") == "Allow"
        and _condition_values(statement.get("Condition") or {}, "aws:principalorgid") is not None
        for statement in statements
    )


def policy_allows(policy: Mapping[str, Any] | None, account_id: str, org_id: str | None) -> bool:
    """Whether a destination access policy allows ``account_id`` to subscribe.

    Understands the two shapes the toolkit writes (an account list, or ``"*"`` with an
    ``aws:PrincipalOrgID`` condition) and plain ``"*"``; anything else counts as not allowed.
    """
    if not policy:
        return False
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not PUT_FILTER_ACTIONS & {str(a).lower() for a in actions}:
            continue
        principal = statement.get("Principal")
        condition = statement.get("Condition") or {}
        if principal == "*" or (isinstance(principal, Mapping) and principal.get("AWS") == "*"):
            orgs = _condition_values(condition, "aws:principalorgid")
            if orgs is None or (org_id and org_id in orgs):
                return True
            continue
        if isinstance(principal, Mapping) and account_id in _principal_accounts(principal):
            return True
    return False


def _condition_values(condition: Mapping[str, Any], key: str) -> set[str] | None:
    """Values a condition requires for ``key`` (any operator), or None if it does not mention it."""
    for operator in condition.values():
        if not isinstance(operator, Mapping):
            continue
        for name, values in operator.items():
            if name.lower() == key:
                return {values} if isinstance(values, str) else set(values)
    return None


def _principal_accounts(principal: Mapping[str, Any]) -> set[str]:
    values = principal.get("AWS", [])
    values = [values] if isinstance(values, str) else values
    accounts = set()
    for value in values:
        text = str(value)
        # "111122223333" or "arn:aws:iam::111122223333:root"
        accounts.add(text.split(":")[4] if text.startswith("arn:") else text)
    return accounts


def landing_destinations(fleet: Any) -> dict[str, FoundDestination]:
    """``{region: destination}`` in the landing account, for every configured region that has one."""
    stack = fleet.config.landing.stack_name
    found: dict[str, Any] = {}
    for region in fleet.regions:
        logs = fleet.landing_client("logs", region)
        candidates = [
            d
            for page in logs.get_paginator("describe_destinations").paginate(
                DestinationNamePrefix=stack
            )
            for d in page.get("destinations", [])
        ]
        if not candidates:
            continue
        # Prefer the name the templates use; else the first that matches the prefix.
        preferred = [d for d in candidates if d["destinationName"] == f"{stack}-destination"]
        chosen = (preferred or candidates)[0]
        policy_text = chosen.get("accessPolicy") or ""
        try:
            policy = json.loads(policy_text) if policy_text else None
        except ValueError:
            policy = None
        found[region] = FoundDestination(
            region=region,
            name=chosen["destinationName"],
            arn=chosen["arn"],
            target_arn=chosen.get("targetArn", ""),
            policy=policy,
        )
    return found


@dataclass(frozen=True)
class Pipeline:
    """What is deployed in the landing account, as far as we could see. ``None`` means absent."""

    destinations: Mapping[str, Any]
    function_name: str | None = None
    stream_arn: str | None = None
    queue_url: str | None = None
    mapping: Mapping[str, Any] | None = None
    lookup_errors: tuple[str, ...] = field(default=())

    @property
    def function_log_group(self) -> str | None:
        return f"/aws/lambda/{self.function_name}" if self.function_name else None

    @property
    def stream_name(self) -> str | None:
        return arn_resource(self.stream_arn) if self.stream_arn else None

    @property
    def stream_region(self) -> str | None:
        return self.stream_arn.split(":")[3] if self.stream_arn else None

    @property
    def queue_name(self) -> str | None:
        return self.queue_url.rstrip("/").rsplit("/", 1)[-1] if self.queue_url else None


def arn_resource(arn: str) -> str:
    """The name part of an ARN: ``...:stream/NAME`` -> NAME, ``...:queue-name`` -> queue-name."""
    tail = arn.split(":", 5)[-1]
    return tail.split("/", 1)[-1]


def discover(fleet: Any) -> Pipeline:
    """Look up every landing-side piece; a lookup that fails is noted, never fatal."""
    errors: list[str] = []
    destinations: dict[str, Any] = {}
    try:
        destinations = landing_destinations(fleet)
    except Exception as err:
        aws.raise_if_unreachable(err)
        errors.append(f"destinations: {aws.error_code(err)}: {err}")
    function_name = mapping = stream_arn = queue_url = None
    try:
        function_name = shipper_function(fleet)
    except Exception as err:
        aws.raise_if_unreachable(err)
        errors.append(f"shipper function: {aws.error_code(err)}: {err}")
    if function_name:
        try:
            mapping = event_source_mapping(fleet, function_name)
        except Exception as err:
            aws.raise_if_unreachable(err)
            errors.append(f"event source mapping: {aws.error_code(err)}: {err}")
    if mapping:
        stream_arn = mapping.get("EventSourceArn")
    if not stream_arn:
        landing = destinations.get(fleet.landing_region)
        stream_arn = getattr(landing, "target_arn", None) or None
    try:
        queue_url = failure_queue(fleet, mapping)
    except Exception as err:
        aws.raise_if_unreachable(err)
        errors.append(f"failure queue: {aws.error_code(err)}: {err}")
    for error in errors:
        log.warning("landing lookup failed: %s", error)
    return Pipeline(
        destinations=destinations,
        function_name=function_name,
        stream_arn=stream_arn,
        queue_url=queue_url,
        mapping=mapping,
        lookup_errors=tuple(errors),
    )


def shipper_function(fleet: Any) -> str | None:
    stack = fleet.config.landing.stack_name
    names = [
        f["FunctionName"]
        for page in fleet.landing_client("lambda").get_paginator("list_functions").paginate()
        for f in page.get("Functions", [])
        if f["FunctionName"].startswith(stack)
    ]
    return _prefer(names, f"{stack}-shipper")


def _prefer(names: Iterable[str], wanted: str) -> str | None:
    names = sorted(names)
    if wanted in names:
        return wanted
    return names[0] if names else None


def event_source_mapping(fleet: Any, function_name: str) -> dict[str, Any] | None:
    client = fleet.landing_client("lambda")
    mappings = [
        m
        for page in client.get_paginator("list_event_source_mappings").paginate(
            FunctionName=function_name
        )
        for m in page.get("EventSourceMappings", [])
        if ":kinesis:" in m.get("EventSourceArn", "")
    ]
    return mappings[0] if mappings else None


def failure_queue(fleet: Any, mapping: Mapping[str, Any] | None) -> str | None:
    sqs = fleet.landing_client("sqs")
    arn = ((mapping or {}).get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
    if arn and ":sqs:" in arn:
        parts = arn.split(":")
        return sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
    stack = fleet.config.landing.stack_name
    urls = sqs.list_queues(QueueNamePrefix=stack).get("QueueUrls", [])
    by_name = {u.rstrip("/").rsplit("/", 1)[-1]: u for u in urls}
    chosen = _prefer(by_name, f"{stack}-shipper-failures")
    return by_name[chosen] if chosen else None
