"""CloudWatch Logs behaviour moto 5.2.5 lacks: cross-account destinations, end to end.

- ``put_subscription_filter`` to ``arn:aws:logs:<region>:<acct>:destination:<name>``: moto reads
  such an ARN as a log group and fails. Here the destination must exist in that account and the
  log group's region, and when it belongs to another account its access policy must allow the
  caller (by account id, or ``*`` with ``aws:PrincipalOrgID`` = the caller's organization).
- Delivery: every ``PutLogEvents`` on a subscribed group sends one gzip'd ``DATA_MESSAGE`` record
  per filter to the destination's Kinesis stream, in the landing account, shaped as AWS does
  (56-digit string ids); the first put of a filter sends AWS's ``CONTROL_MESSAGE``. Filter
  patterns (``filter_pattern.matches``) are applied to every subscription filter, as AWS does.
- A log group holds at most as many filters as the "Subscription filters per log group" quota
  the ``servicequotas`` extension serves for its account and region (2 unless raised), and
  re-putting an existing one is an update (moto raises ``LimitExceededException`` when two exist).
- The destination's access policy is checked on every delivery too, not only at put time: AWS
  "Modifying destination membership at runtime" says an account removed from the policy "is
  stopped from sending any more log data". Such events are dropped here (and logged).
- ``logGroupClass`` (``STANDARD``, ``INFREQUENT_ACCESS``, ``DELIVERY``) is kept and described;
  only Standard groups take subscription filters (Infrequent Access supports a subset of
  features without subscriptions; Delivery is for Lambda logs to S3/Firehose only), so a put on
  another class is refused with ``InvalidParameterException``.
- ``emitSystemFields`` is kept on the filter, described, and puts ``@aws.account`` /
  ``@aws.region`` / ``@source.log`` into every delivered event's ``extractedFields``, where AWS
  puts them (moto ignores the parameter; fixture ``logs/delivered_event_system_fields.json``).
- A destination whose access policy grants an organization (``aws:PrincipalOrgID``) refuses a
  cross-account filter or account policy without a role in the sender, with AWS's
  ``InvalidParameterException`` (fixture ``logs/org_destination_requires_role.json``); a Kinesis
  or Firehose ARN as destination needs ``roleArn`` too.
- DescribeSubscriptionFilters lists ``applyOnTransformedLogs`` (false) and no ``roleArn`` key
  when none was given, as AWS does (moto: ``null``).
- Account-level ``SUBSCRIPTION_FILTER_POLICY`` (put/describe/delete, which moto lacks), honoured
  at delivery for every log group its selection criteria do not exclude.
- Data protection policies (``moto_ext.data_protection``): events leave masked through
  subscriptions and FilterLogEvents, as AWS masks at every egress; account policies of type
  ``DATA_PROTECTION_POLICY`` are routed there.
- ``FilterLogEvents`` returns the same 56-digit ``eventId`` that delivery puts in ``id`` (AWS has
  one id per event; moto returns its counter), applies filter patterns as delivery does, and
  pages at "as many log events as can fit in 1 MB (up to 10,000)" as AWS does (moto: 10,000),
  and refuses a ``nextToken`` it never issued and a ``limit`` above 10,000 with AWS's errors
  (moto: an empty page; fixtures ``logs/filter_log_events_*.json``).

Fixtures under ``tests/fidelity/fixtures/logs/`` hold the recorded AWS answers; the assumptions
where AWS's behaviour is not recorded are listed in ``xaccount_ops/local/README.md``.

- A destination's access policy is at most 5,120 bytes (PutDestinationPolicy: "This can be up to
  5120 bytes"); a longer one is refused with ``InvalidParameterException`` (assumption: AWS's
  error code for it is not recorded anywhere we found; a call against AWS would settle it).

``install()`` patches moto's classes in place, once per process.
"""

from __future__ import annotations

import base64
import fnmatch
import gzip
import json
import logging
import random
import re
import threading
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.utils import unix_time_millis, utcnow
from moto.logs.exceptions import (
    InvalidParameterException,
    LimitExceededException,
    ResourceNotFoundException,
)
from moto.utilities.arns import parse_arn
from moto.utilities.utils import get_partition

from xaccount_ops.local.moto_ext import data_protection, servicequotas
from xaccount_ops.local.moto_ext.filter_pattern import matches

log = logging.getLogger(__name__)

_MARK = "_moto_ext_logs"
MAX_DESTINATION_POLICY_BYTES = 5120
_ACTION = "logs:PutSubscriptionFilter"
POLICY_TYPE = "SUBSCRIPTION_FILTER_POLICY"
CONTROL_TEXT = "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."
LOG_CLASSES = ("STANDARD", "INFREQUENT_ACCESS", "DELIVERY")
SUBSCRIBABLE_CLASSES = ("STANDARD",)
# moto's event ids restart at 0 in every process; a per-process salt keeps the ids of a restarted
# local cloud from colliding with those a Logz.io emulator already holds (they are dedupe keys).
_SALT = random.SystemRandom().randrange(10**12)
# moto's stores are not thread safe and the server is threaded: one put at a time. Guards the
# logs backend's groups, streams and events; re-entrant, and shared with moto_ext.metrics.
LOCK = threading.RLock()
# FilterLogEvents' page: events up to 1 MB. An event counts its UTF-8 message plus 26 bytes (the
# per-event overhead PutLogEvents counts; AWS does not say how it measures the MB).
FILTER_PAGE_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
FILTER_LIMIT_MAX = 10_000
SYSTEM_FIELDS = ("@aws.account", "@aws.region", "@source.log")
ORG_ROLE_REQUIRED = (
    "Role ARN is required when creating subscription filter against destination with "
    "Organization access policy"
)
_ROLE_VENDORS = ("kinesis", "firehose")


class AccessDeniedException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("AccessDeniedException", message)
        self.code = 400


def _logs_backend(account_id: str, region: str) -> Any:
    from moto.logs.models import logs_backends

    return logs_backends[account_id][region]


def is_destination_arn(arn: str) -> bool:
    """``arn:<partition>:logs:<region>:<account>:destination:<name>``."""
    parts = arn.split(":")
    return len(parts) == 7 and parts[2] == "logs" and parts[5] == "destination"


def find_destination(arn: str) -> Any | None:
    """The destination an ARN names, from its owner's backend in its region, or None."""
    parsed = parse_arn(arn)
    backend = _logs_backend(parsed.account, parsed.region)
    return next(
        (d for d in backend.destinations.values() if d.destination_name == parsed.resource_id),
        None,
    )


def validate_pattern(pattern: str | None) -> None:
    """A malformed pattern is refused at put time, as AWS does, never at delivery."""
    try:
        matches(pattern or "", "")
    except ValueError as err:
        raise InvalidParameterException(f"Invalid subscription filter pattern: {err}") from err


def check_log_class(group: Any) -> None:
    """Only Standard-class groups take subscription filters (see the module doc)."""
    log_class = getattr(group, "log_group_class", "STANDARD")
    if log_class not in SUBSCRIBABLE_CLASSES:
        raise InvalidParameterException(
            f"Log group {group.name} is of class {log_class}, which does not support "
            "subscription filters"
        )


def event_id(timestamp: float, counter: int) -> str:
    """A 56-digit decimal id, unique per event: timestamp, process salt, moto's event counter.

    ``timestamp`` is milliseconds; moto writes its own lines (a Lambda's log after a failed
    Docker invocation) with float milliseconds, so it is truncated to whole ones as AWS keeps them.
    """
    return f"{int(timestamp):020d}{_SALT:012d}{counter:024d}"[-56:]


# --- organization and access policy -------------------------------------------------------------


def organization_id(account_id: str, region: str) -> str | None:
    """The id of the organization an account belongs to (as management account or member)."""
    from moto.organizations.models import organizations_backends

    partition = get_partition(region)
    own = organizations_backends[account_id][partition].org
    if own is not None:
        return str(own.id)
    master = organizations_backends.master_accounts.get(account_id)
    if master is None:
        return None
    org = organizations_backends[master[0]][master[1]].org
    return str(org.id) if org is not None else None


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def _principal_matches(principal: Any, caller: str) -> bool:
    """A statement's Principal names the caller's account, or everyone (``*``)."""
    if principal == "*":
        return True
    ids = _listed(principal.get("AWS", [])) if isinstance(principal, dict) else []
    return any(i in ("*", caller, f"arn:aws:iam::{caller}:root") for i in ids)


def _conditions_hold(condition: dict[str, Any], caller: str, region: str) -> bool:
    """StringEquals/StringLike on aws:PrincipalOrgID and aws:PrincipalAccount; others fail."""
    facts = {
        "aws:principalorgid": organization_id(caller, region) or "",
        "aws:principalaccount": caller,
    }
    for operator, tests in condition.items():
        for key, wanted in tests.items():
            actual = facts.get(key.lower())
            if actual is None:
                return False
            values = _listed(wanted)
            if operator == "StringEquals" and actual not in values:
                return False
            if operator == "StringLike" and not any(fnmatch.fnmatchcase(actual, v) for v in values):
                return False
            if operator not in ("StringEquals", "StringLike"):
                return False
    return True


def policy_allows(access_policy: str | None, caller: str, resource_arn: str, region: str) -> bool:
    """Whether a destination's access policy lets ``caller`` put a subscription filter on it."""
    if not access_policy:
        return False
    try:
        document = json.loads(access_policy)
    except ValueError:
        return False
    statements = document.get("Statement", [])
    allowed = False
    for statement in [statements] if isinstance(statements, dict) else statements:
        actions = _listed(statement.get("Action"))
        resources = _listed(statement.get("Resource", "*"))
        if not any(fnmatch.fnmatchcase(_ACTION.lower(), a.lower()) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(resource_arn, r) for r in resources):
            continue
        if not _principal_matches(statement.get("Principal"), caller) or not _conditions_hold(
            statement.get("Condition", {}), caller, region
        ):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def check_destination(arn: str, caller: str, region: str) -> Any:
    """The destination a caller in ``region`` may subscribe to, or the AWS error for why not."""
    parsed = parse_arn(arn)
    if parsed.region != region:
        raise InvalidParameterException(
            f"The destination {arn} is in region {parsed.region}; a subscription filter can "
            f"only use a destination in the log group's region ({region})."
        )
    destination = find_destination(arn)
    if destination is None:
        raise ResourceNotFoundException(f"The specified destination does not exist: {arn}")
    if parsed.account != caller and not policy_allows(
        destination.access_policy, caller, destination.arn, region
    ):
        raise AccessDeniedException(
            f"User with accountId: {caller} is not authorized to perform: {_ACTION} "
            f"on resource: {arn}"
        )
    return destination


def grants_organization(access_policy: str | None) -> bool:
    """Whether a destination's access policy grants by ``aws:PrincipalOrgID`` (an "Organization
    access policy" in AWS's error text)."""
    if not access_policy:
        return False
    try:
        document = json.loads(access_policy)
    except ValueError:
        return False
    statements = document.get("Statement", [])
    for statement in [statements] if isinstance(statements, dict) else statements:
        for tests in (statement.get("Condition") or {}).values():
            if any(key.lower() == "aws:principalorgid" for key in tests):
                return True
    return False


def check_sender_role(destination: Any, caller: str, role_arn: str | None) -> None:
    """AWS refuses a cross-account subscription to an organization-wide destination without a
    role in the sender (CloudWatch Logs assumes it to put the events to the destination)."""
    if role_arn or parse_arn(destination.arn).account == caller:
        return
    if grants_organization(destination.access_policy):
        raise InvalidParameterException(ORG_ROLE_REQUIRED)


def check_vendor_role(destination_arn: str, role_arn: str | None) -> None:
    """A Kinesis stream or Firehose stream as the filter's own target needs ``roleArn``."""
    parts = destination_arn.split(":")
    vendor = parts[2] if len(parts) > 2 else ""
    if vendor in _ROLE_VENDORS and not role_arn:
        raise InvalidParameterException(
            f"destinationArn for vendor {vendor} cannot be used without roleArn"
        )


# --- delivery ------------------------------------------------------------------------------------


def _put_record(destination_arn: str, payload: dict[str, Any], partition_key: str) -> None:
    """gzip(JSON) into the destination's Kinesis stream; a missing stream is a warning only."""
    from moto.kinesis.models import kinesis_backends

    destination = find_destination(destination_arn)
    if destination is None:
        log.warning(
            "logs destination %s is gone; %s dropped", destination_arn, payload["messageType"]
        )
        return
    target = parse_arn(destination.target_arn)
    try:
        if target.service != "kinesis":
            raise ValueError(f"only Kinesis targets are emulated, not {target.service}")
        stream = kinesis_backends[target.account][target.region].describe_stream(
            stream_arn=destination.target_arn, stream_name=None
        )
    except Exception as err:  # AWS drops silently; we at least say so
        log.warning(
            "destination %s: target %s unusable: %s", destination_arn, destination.target_arn, err
        )
        return
    data = gzip.compress(json.dumps(payload, separators=(",", ":")).encode())
    # moto stores Kinesis data base64-encoded, as it arrives over the wire.
    key = partition_key or "-"
    stream.put_record(partition_key=key, explicit_hash_key="", data=base64.b64encode(data).decode())
    # The stream's IncomingRecords/IncomingBytes, as moto counts its own PutRecord (data and key).
    kinesis_backends[target.account][target.region]._send_stream_metrics(
        stream.stream_name, incoming_bytes=len(data) + len(key), incoming_records=1
    )


def send_control_message(destination_arn: str) -> None:
    """What AWS puts into the stream when a filter to a destination is first created."""
    payload = {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [
            {"id": "", "timestamp": int(unix_time_millis(utcnow())), "message": CONTROL_TEXT}
        ],
    }
    _put_record(destination_arn, payload, "CloudwatchLogs")


def delivery_refused(destination_arn: str, account_id: str, region: str) -> bool:
    """True when the destination's policy no longer lets ``account_id`` send (checked per delivery,
    as AWS does: an account removed from the policy "is stopped from sending any more log data")."""
    destination = find_destination(destination_arn)
    if destination is None:
        return False  # _put_record says the destination is gone
    if parse_arn(destination_arn).account == account_id:
        return False
    return not policy_allows(destination.access_policy, account_id, destination.arn, region)


def deliver(
    stream: Any,
    destination_arn: str,
    filter_name: str,
    pattern: str,
    events: list[Any],
    system_fields: list[str] | None = None,
) -> None:
    """One DATA_MESSAGE record for the events of one put that match the filter's pattern.

    Events leave masked where a data protection policy says so: AWS masks at every egress,
    subscriptions included, and ``logs:Unmask`` does not apply to them."""
    data_protection.ingest(stream.log_group, events)
    texts = [(e, data_protection.egress(e)) for e in events]
    log_events = [
        {"id": event_id(e.timestamp, e.event_id), "timestamp": e.timestamp, "message": text}
        for e, text in texts
        if matches(pattern or "", text)
    ]
    if not log_events:
        return
    if delivery_refused(destination_arn, stream.account_id, stream.region):
        log.warning(
            "destination %s no longer allows account %s: %d event(s) of %s (filter %s) not sent",
            destination_arn,
            stream.account_id,
            len(log_events),
            stream.log_group.name,
            filter_name,
        )
        return
    # AWS puts the system fields into each event's extractedFields, never at its top level.
    system = {
        "@aws.account": stream.account_id,
        "@aws.region": stream.region,
        "@source.log": stream.log_group.name,  # an assumption: see local/README.md
    }
    wanted = {name: system[name] for name in system_fields or () if name in system}
    if wanted:
        for item in log_events:
            item["extractedFields"] = dict(wanted)
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": stream.account_id,
        "logGroup": stream.log_group.name,
        "logStream": stream.log_stream_name,
        "subscriptionFilters": [filter_name],
        "logEvents": log_events,
    }
    _put_record(destination_arn, payload, stream.log_stream_name)


# --- account policies ----------------------------------------------------------------------------


def _policies(backend: Any) -> dict[str, dict[str, Any]]:
    """The backend's SUBSCRIPTION_FILTER_POLICY account policies, by name (moto has none)."""
    if not hasattr(backend, "moto_ext_account_policies"):
        backend.moto_ext_account_policies = {}
    return backend.moto_ext_account_policies  # type: ignore[no-any-return]


def excluded_groups(selection_criteria: str | None) -> set[str]:
    """The names a ``LogGroupName NOT IN ["/a","/b"]`` selection criteria leaves out."""
    if not selection_criteria:
        return set()
    found = re.fullmatch(r"\s*LogGroupName\s+NOT\s+IN\s+(\[.*\])\s*", selection_criteria, re.S)
    if found is None:
        raise InvalidParameterException(
            f"Invalid selection criteria: {selection_criteria!r} "
            '(expected LogGroupName NOT IN ["name", ...])'
        )
    try:
        names = json.loads(found.group(1))
    except ValueError as err:
        raise InvalidParameterException(f"Invalid selection criteria: {err}") from err
    return {str(n) for n in names}


def put_account_policy(
    backend: Any,
    name: str,
    document: str,
    policy_type: str,
    scope: str | None,
    selection_criteria: str | None,
) -> dict[str, Any]:
    """Store a subscription filter account policy after the same destination checks as a filter."""
    if policy_type != POLICY_TYPE:
        raise InvalidParameterException(
            f"Only {POLICY_TYPE} and {data_protection.POLICY_TYPE} account policies are emulated"
        )
    try:
        parsed = json.loads(document)
        destination_arn = parsed["DestinationArn"]
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidParameterException(f"Invalid policy document: {err}") from err
    excluded_groups(selection_criteria)
    validate_pattern(parsed.get("FilterPattern"))
    if is_destination_arn(destination_arn):
        destination = check_destination(destination_arn, backend.account_id, backend.region_name)
        check_sender_role(destination, backend.account_id, parsed.get("RoleArn"))
    else:
        check_vendor_role(destination_arn, parsed.get("RoleArn"))
    policies = _policies(backend)
    new = name not in policies
    if new and policies:
        # AWS: one subscription filter account policy per account and region.
        raise LimitExceededException()
    policies[name] = {
        "policyName": name,
        "policyDocument": document,
        "lastUpdatedTime": int(unix_time_millis(utcnow())),
        "policyType": policy_type,
        "scope": scope or "ALL",
        "selectionCriteria": selection_criteria or "",
        "accountId": backend.account_id,
    }
    if new and is_destination_arn(destination_arn):
        with LOCK:
            send_control_message(destination_arn)
    return policies[name]


def deliver_account_policies(stream: Any, events: list[Any]) -> None:
    """Account policies of the stream's account/region, for groups they do not exclude."""
    backend = _logs_backend(stream.account_id, stream.region)
    for policy in list(_policies(backend).values()):
        if stream.log_group.name in excluded_groups(policy["selectionCriteria"]):
            continue
        document = json.loads(policy["policyDocument"])
        destination_arn = document["DestinationArn"]
        if not is_destination_arn(destination_arn):
            log.warning("account policy %s: only destinations are emulated", policy["policyName"])
            continue
        deliver(
            stream,
            destination_arn,
            policy["policyName"],
            document.get("FilterPattern", ""),
            events,
        )


def _account_policy_responses() -> dict[str, Any]:
    """``LogsResponse`` methods for Put/Describe/DeleteAccountPolicy (JSON protocol)."""

    def put_response(self: Any) -> str:
        if self._get_param("policyType") == data_protection.POLICY_TYPE:
            policy = data_protection.put_account_policy(
                self.logs_backend,
                self._get_param("policyName"),
                self._get_param("policyDocument"),
                self._get_param("scope"),
            )
            return json.dumps({"accountPolicy": policy})
        policy = put_account_policy(
            self.logs_backend,
            self._get_param("policyName"),
            self._get_param("policyDocument"),
            self._get_param("policyType"),
            self._get_param("scope"),
            self._get_param("selectionCriteria"),
        )
        return json.dumps({"accountPolicy": policy})

    def describe_response(self: Any) -> str:
        policy_type = self._get_param("policyType")
        name = self._get_param("policyName")
        if policy_type == data_protection.POLICY_TYPE:
            described = data_protection.described_account_policies(self.logs_backend, name)
            return json.dumps({"accountPolicies": described})
        policies = [
            p
            for p in _policies(self.logs_backend).values()
            if p["policyType"] == policy_type and (not name or p["policyName"] == name)
        ]
        return json.dumps({"accountPolicies": policies})

    def delete_response(self: Any) -> str:
        name = self._get_param("policyName")
        if self._get_param("policyType") == data_protection.POLICY_TYPE:
            data_protection.delete_account_policy(self.logs_backend, name)
            return ""
        if _policies(self.logs_backend).pop(name, None) is None:
            raise ResourceNotFoundException(f"Policy with name [{name}] does not exist")
        return ""

    return {
        "put_account_policy": put_response,
        "describe_account_policies": describe_response,
        "delete_account_policy": delete_response,
    }


def _token_known(group: Any, log_group_name: str, token: str) -> bool:
    """A FilterLogEvents token names this group, one of its streams and an event there."""
    parts = token.split("@")
    if len(parts) != 3 or parts[0] != log_group_name:
        return False
    stream = group.streams.get(parts[1])
    return stream is not None and any(
        event_id(e.timestamp, e.event_id) == parts[2] for e in stream.events
    )


# --- install -------------------------------------------------------------------------------------


def install() -> None:
    """Patch moto's logs backend, log group, log stream and responses (idempotent)."""
    from moto.logs import models, responses

    if getattr(models.LogsBackend, _MARK, False):
        return

    plain_backend_put = models.LogsBackend.put_subscription_filter
    plain_send = models.LogStream._send_log_events
    plain_stream_put = models.LogStream.put_log_events
    plain_filter_dict = models.LogEvent.to_filter_dict
    plain_group_filter = models.LogGroup.filter_log_events
    plain_group_describe = models.LogGroup.to_describe_dict
    plain_filter_json = models.SubscriptionFilter.to_json
    plain_create_response = responses.LogsResponse.create_log_group
    plain_put_filter_response = responses.LogsResponse.put_subscription_filter
    plain_put_destination_policy = models.LogsBackend.put_destination_policy

    def put_destination_policy(self: Any, destination_name: str, access_policy: str) -> None:
        """AWS: the access policy "can be up to 5120 bytes" (PutDestinationPolicy); moto takes
        any size. The error code for a longer one is an assumption (see the docstring)."""
        size = len((access_policy or "").encode())
        if size > MAX_DESTINATION_POLICY_BYTES:
            raise InvalidParameterException(
                f"accessPolicy is {size} bytes; a destination policy can be up to "
                f"{MAX_DESTINATION_POLICY_BYTES} bytes"
            )
        return plain_put_destination_policy(self, destination_name, access_policy)

    def create_log_group_response(self: Any) -> str:
        """moto ignores logGroupClass: validate and keep it (it cannot change later, as in AWS)."""
        log_class = self._get_param("logGroupClass") or "STANDARD"
        if log_class not in LOG_CLASSES:
            raise InvalidParameterException(
                f"Invalid logGroupClass {log_class!r}: expected one of {', '.join(LOG_CLASSES)}"
            )
        result: str = plain_create_response(self)
        self.logs_backend.groups[self._get_param("logGroupName")].log_group_class = log_class
        return result

    def group_describe(self: Any) -> dict[str, Any]:
        described: dict[str, Any] = plain_group_describe(self)
        described["logGroupClass"] = getattr(self, "log_group_class", "STANDARD")
        # AWS lists it on every group (fixture logs/describe_log_groups); moto leaves it out.
        described.setdefault("deletionProtectionEnabled", False)
        return described

    def put_filter_response(self: Any) -> str:
        """moto ignores emitSystemFields: a put sets (or, left out, clears) them on the filter."""
        result: str = plain_put_filter_response(self)
        group = self.logs_backend.groups.get(self._get_param("logGroupName"))
        flt = group.subscription_filters.get(self._get_param("filterName")) if group else None
        if flt is not None:
            flt.emit_system_fields = list(self._get_param("emitSystemFields") or [])
        return result

    def filter_json(self: Any) -> dict[str, Any]:
        described: dict[str, Any] = plain_filter_json(self)
        # AWS: applyOnTransformedLogs always listed; roleArn only when the filter has one.
        described["applyOnTransformedLogs"] = False
        if not described.get("roleArn"):
            described.pop("roleArn", None)
        fields = getattr(self, "emit_system_fields", None)
        if fields:
            described["emitSystemFields"] = list(fields)
        return described

    def backend_put_subscription_filter(
        self: Any,
        log_group_name: str,
        filter_name: str,
        filter_pattern: str,
        destination_arn: str,
        role_arn: str,
    ) -> None:
        """Destinations checked here; every other target keeps moto's checks."""
        validate_pattern(filter_pattern)
        if not is_destination_arn(destination_arn or ""):
            if log_group_name in self.groups:
                check_log_class(self.groups[log_group_name])
                check_vendor_role(destination_arn or "", role_arn)
            plain_backend_put(
                self, log_group_name, filter_name, filter_pattern, destination_arn, role_arn
            )
            return
        group = self.groups.get(log_group_name)
        if group is None:
            raise ResourceNotFoundException()
        check_log_class(group)
        destination = check_destination(destination_arn, self.account_id, self.region_name)
        check_sender_role(destination, self.account_id, role_arn)
        existing = group.subscription_filters.get(filter_name)
        first = existing is None or existing.destination_arn != destination_arn
        group.put_subscription_filter(filter_name, filter_pattern, destination_arn, role_arn)
        if first:
            with LOCK:
                send_control_message(destination_arn)

    def group_put_subscription_filter(
        self: Any, filter_name: str, filter_pattern: str, destination_arn: str, role_arn: str
    ) -> None:
        """Re-putting an existing filter is an update, even when the group holds two."""
        existing = self.subscription_filters.get(filter_name)
        if existing is not None:
            existing.update(filter_pattern, destination_arn, role_arn)
            return
        if len(self.subscription_filters) >= servicequotas.filter_slots(
            self.account_id, self.region
        ):
            raise LimitExceededException()
        # Not moto's put: it refuses a third filter whatever the quota says.
        self.subscription_filters[filter_name] = models.SubscriptionFilter(
            name=filter_name,
            log_group_name=self.name,
            filter_pattern=filter_pattern,
            destination_arn=destination_arn,
            role_arn=role_arn,
        )

    def send_log_events(
        self: Any,
        service: str,
        destination_arn: str,
        filter_name: str,
        log_events: list[dict[str, Any]],
    ) -> None:
        """Apply the filter's pattern; destinations deliver here, other targets through moto."""
        subscription = self.log_group.subscription_filters.get(filter_name)
        pattern = subscription.filter_pattern if subscription is not None else ""
        if is_destination_arn(destination_arn):
            # moto passes this put's events, which are the stream's newest.
            events = self.events[len(self.events) - len(log_events) :]
            fields = getattr(subscription, "emit_system_fields", None)
            deliver(self, destination_arn, filter_name, pattern, events, fields)
            return
        # AWS ids are 56-digit strings whatever the target; moto sends its integer counter.
        # Messages leave masked as a data protection policy says (see deliver).
        stored = self.events[len(self.events) - len(log_events) :]
        data_protection.ingest(self.log_group, stored)
        texts = [data_protection.egress(e) for e in stored]
        kept = [
            {**e, "id": event_id(e["timestamp"], e["id"]), "message": text}
            for e, text in zip(log_events, texts, strict=True)
            if matches(pattern or "", text)
        ]
        if kept:
            plain_send(self, service, destination_arn, filter_name, kept)

    def stream_put_log_events(self: Any, log_events: list[dict[str, Any]]) -> str:
        """moto's put (storage, filters), then the account's subscription filter policies."""
        with LOCK:
            before = len(self.events)
            token: str = plain_stream_put(self, log_events)
            new_events = self.events[before:]
            # Masking is decided at ingestion, with the policies in force now.
            data_protection.ingest(self.log_group, new_events)
            if new_events:
                deliver_account_policies(self, new_events)
            return token

    def event_filter_dict(self: Any) -> dict[str, Any]:
        # One id per event in AWS: what FilterLogEvents reads is what a subscription delivered.
        return {**plain_filter_dict(self), "eventId": event_id(self.timestamp, self.event_id)}

    def stream_filter_log_events(
        self: Any, start_time: int, end_time: int, filter_pattern: str
    ) -> list[dict[str, Any]]:
        """moto's stream filter with the delivery's pattern matcher (moto's returns every event
        for a pattern it does not know). startTime and endTime are inclusive, as in AWS."""
        validate_pattern(filter_pattern)  # AWS: InvalidParameterException, not a 500
        events = []
        for event in sorted(self.events, key=lambda e: e.timestamp):
            if start_time and event.timestamp < start_time:
                continue
            if end_time and event.timestamp > end_time:
                continue
            text = data_protection.egress(event, data_protection.unmask_requested())
            if matches(filter_pattern or "", text):
                events.append({**event.to_filter_dict(), "logStreamName": self.log_stream_name})
        return events

    def group_filter_log_events(
        self: Any,
        log_group_name: str,
        log_stream_names: list[str],
        start_time: int,
        end_time: int,
        limit: int | None,
        next_token: str | None,
        *args: Any,
    ) -> Any:
        """moto's page, cut at 1 MB; the next token resumes after the last event kept. AWS
        refuses a token it did not issue and a limit above 10,000 (moto: an empty page)."""
        if limit is not None and int(limit) > FILTER_LIMIT_MAX:
            raise InvalidParameterException(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                f"constraint: Member must have value less than or equal to {FILTER_LIMIT_MAX}"
            )
        if next_token and not _token_known(self, log_group_name, next_token):
            raise InvalidParameterException("The specified nextToken is invalid.")
        events, next_token, searched = plain_group_filter(
            self, log_group_name, log_stream_names, start_time, end_time, limit, next_token, *args
        )
        size = 0
        for index, event in enumerate(events):
            size += len(event["message"].encode()) + EVENT_OVERHEAD_BYTES
            if size > FILTER_PAGE_BYTES and index > 0:
                last = events[index - 1]
                next_token = f"{log_group_name}@{last['logStreamName']}@{last['eventId']}"
                return events[:index], next_token, searched
        return events, next_token, searched

    models.LogsBackend.put_subscription_filter = backend_put_subscription_filter
    models.LogsBackend.put_destination_policy = put_destination_policy
    models.LogGroup.filter_log_events = group_filter_log_events
    models.LogEvent.to_filter_dict = event_filter_dict
    models.LogStream.filter_log_events = stream_filter_log_events
    models.LogGroup.put_subscription_filter = group_put_subscription_filter
    models.LogStream._send_log_events = send_log_events
    models.LogStream.put_log_events = stream_put_log_events
    models.LogGroup.to_describe_dict = group_describe
    models.SubscriptionFilter.to_json = filter_json
    responses.LogsResponse.create_log_group = create_log_group_response
    responses.LogsResponse.put_subscription_filter = put_filter_response
    for name, method in _account_policy_responses().items():
        setattr(responses.LogsResponse, name, method)
    setattr(models.LogsBackend, _MARK, True)
