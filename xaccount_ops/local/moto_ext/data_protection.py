"""CloudWatch Logs data protection policies, which moto 5.2.5 lacks entirely.

- ``PutDataProtectionPolicy`` / ``GetDataProtectionPolicy`` / ``DeleteDataProtectionPolicy`` on a
  log group (by name or ARN), answered in the shapes the AWS CLI's recorded examples show
  (fixture ``logs/data_protection_policy``).
- ``PutAccountPolicy`` / ``DescribeAccountPolicies`` / ``DeleteAccountPolicy`` with
  ``policyType=DATA_PROTECTION_POLICY`` (scope ``ALL``, one per account and region); the put's
  answer has no ``accountId``, the describe's has (fixture ``logs/data_protection_account_policy``).
  ``moto_ext.logs`` routes the account-policy calls here by type.
- DescribeLogGroups lists ``dataProtectionStatus`` (``ACTIVATED``, ``DELETED`` once its policy is
  deleted) on a group that has or had its own policy, and ``inheritedProperties:
  ["ACCOUNT_DATA_PROTECTION"]`` while the account has one (AWS API reference, ``LogGroup``).
- Masking: AWS decides at ingestion ("log events ingested into the log group before that time are
  not masked") and masks at every egress, subscription filters included, unless the caller asks
  ``unmask`` (and holds ``logs:Unmask``, which the local cloud does not check). An event put while
  the group's or the account's policy names an identifier keeps its masked text; deliveries to
  subscriptions, GetLogEvents and FilterLogEvents (without ``unmask``) answer it. Each character
  of a match becomes ``*`` (fixture ``logs/data_protection_masking``: AWS's console showing the
  lines a sample logged, length kept).

Identifiers masked here: the managed ``EmailAddress``, ``IpAddress`` (IPv4 and IPv6),
``AwsSecretKey`` and ``CreditCardNumber`` (the last two only with one of their documented
keywords within 30 characters, the card number Luhn-valid with a card network's prefix), and
custom identifiers (``Configuration.CustomDataIdentifier``: a name and a regex). Other managed
identifiers are accepted and not masked (logged). The assumptions are listed in
``xaccount_ops/local/README.md``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from moto.core.utils import unix_time_millis, utcnow
from moto.logs.exceptions import (
    InvalidParameterException,
    LimitExceededException,
    ResourceNotFoundException,
)

log = logging.getLogger(__name__)

_MARK = "_moto_ext_data_protection"
POLICY_TYPE = "DATA_PROTECTION_POLICY"
INHERITED = "ACCOUNT_DATA_PROTECTION"
MASK_CHAR = "*"
# "The limit for a data protection policy is 30,720 characters" (AWS guide, masking).
MAX_POLICY_CHARS = 30_720
MANAGED_ARN = re.compile(r"^arn:aws[a-z-]*:dataprotection::aws:data-identifier/([A-Za-z0-9-]+)$")
# AWS guide, "CloudWatch Logs managed data identifiers": a keyword "typically has to be within 30
# characters (inclusively) of the data"; a keyword with a space also matches it without the
# space, or with ``_`` or ``-`` instead.
KEYWORD_DISTANCE = 30
_UNMASK = threading.local()


def _keywords(*words: str) -> re.Pattern[str]:
    variants = [re.escape(w).replace(r"\ ", "[ _-]?") for w in words]
    return re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(variants) + r")(?![A-Za-z0-9])", re.I)


# The guide's keyword lists ("Credentials", "Financial information").
SECRET_KEY_WORDS = _keywords(
    "aws_secret_access_key", "credentials", "secret access key", "secret key", "set-awscredential"
)
CARD_WORDS = _keywords(
    "account number", "american express", "amex", "bank card", "card", "card number", "card num",
    "cc #", "ccn", "check card", "credit", "credit card#", "dankort", "debit", "debit card",
    "diners club", "discover", "electron", "japanese card bureau", "jcb", "mastercard", "mc",
    "pan", "payment account number", "payment card number", "pcn", "union pay", "visa",
)  # fmt: skip
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")
# Card networks' number prefixes (the guide names Amex, Dankort, Diners Club, Discover, Electron,
# JCB, Mastercard, Visa and UnionPay).
_CARD_PREFIX = re.compile(
    r"^(?:4|3[47]|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|6011|64[4-9]|65|62|35(?:2[89]|[3-8]\d)"
    r"|30[0-5]|36|38|5019)"
)

Span = tuple[int, int]


def _valid_ipv4(text: str) -> bool:
    return all(int(part) <= 255 for part in text.split("."))


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _near(words: re.Pattern[str], text: str, start: int, end: int) -> bool:
    lo, hi = max(0, start - KEYWORD_DISTANCE), min(len(text), end + KEYWORD_DISTANCE)
    return bool(words.search(text[lo:start]) or words.search(text[end:hi]))


def _emails(text: str) -> Iterable[Span]:
    return (m.span() for m in _EMAIL.finditer(text))


def _ips(text: str) -> Iterable[Span]:
    yield from (m.span() for m in _IPV4.finditer(text) if _valid_ipv4(m.group()))
    yield from (m.span() for m in _IPV6.finditer(text) if _valid_ip(m.group()))


def _secret_keys(text: str) -> Iterable[Span]:
    return (m.span() for m in _SECRET.finditer(text) if _near(SECRET_KEY_WORDS, text, *m.span()))


def _card_numbers(text: str) -> Iterable[Span]:
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if _CARD_PREFIX.match(digits) and _luhn(digits) and _near(CARD_WORDS, text, *m.span()):
            yield m.span()


MANAGED = {
    "EmailAddress": _emails,
    "IpAddress": _ips,
    "AwsSecretKey": _secret_keys,
    "CreditCardNumber": _card_numbers,
}


@dataclass
class Masking:
    """What one policy masks: managed identifier names and custom identifiers' regexes."""

    managed: set[str] = field(default_factory=set)
    custom: dict[str, re.Pattern[str]] = field(default_factory=dict)

    def merged(self, other: Masking) -> Masking:
        return Masking(self.managed | other.managed, {**self.custom, **other.custom})

    def __bool__(self) -> bool:
        return bool(self.managed or self.custom)


def parse_policy(document: str | None) -> Masking:
    """The identifiers a policy document masks, or AWS's InvalidParameterException naming what
    is wrong (a missing or second audit statement, no de-identify statement, an identifier that
    is neither a managed ARN nor a custom identifier the policy configures)."""
    if not document:
        raise InvalidParameterException("policyDocument is required")
    if len(document) > MAX_POLICY_CHARS:
        raise InvalidParameterException(
            f"policyDocument is {len(document)} characters; a data protection policy can be up "
            f"to {MAX_POLICY_CHARS}"
        )
    try:
        parsed = json.loads(document)
        statements = parsed["Statement"]
        if not isinstance(statements, list):
            raise TypeError("Statement must be a list")
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidParameterException(f"Invalid data protection policy: {err}") from err
    custom = {}
    for item in (parsed.get("Configuration") or {}).get("CustomDataIdentifier") or []:
        try:
            custom[str(item["Name"])] = re.compile(str(item["Regex"]))
        except (KeyError, TypeError, re.error) as err:
            raise InvalidParameterException(
                f"Invalid custom data identifier {item!r}: {err}"
            ) from err
    audits = [s for s in statements if "Audit" in (s.get("Operation") or {})]
    masks = [s for s in statements if "Deidentify" in (s.get("Operation") or {})]
    if len(audits) != 1 or not masks:
        raise InvalidParameterException(
            "Invalid data protection policy: it needs exactly one statement with an Audit "
            f"operation and one with Deidentify (found {len(audits)} and {len(masks)})"
        )
    masking = Masking()
    for statement in statements:
        for identifier in statement.get("DataIdentifier") or []:
            managed = MANAGED_ARN.match(str(identifier))
            if managed is None and identifier not in custom:
                raise InvalidParameterException(
                    f"Invalid data identifier {identifier!r}: expected "
                    "arn:aws:dataprotection::aws:data-identifier/<Name> or the name of a "
                    "custom data identifier in Configuration.CustomDataIdentifier"
                )
            if statement not in masks:
                continue
            if managed is None:
                masking.custom[identifier] = custom[identifier]
            elif managed.group(1) in MANAGED:
                masking.managed.add(managed.group(1))
            else:
                log.warning("data identifier %s is accepted but not masked locally", identifier)
    return masking


def mask(text: str, masking: Masking) -> str:
    """``text`` with every match of the policy's identifiers replaced, character by character,
    by ``*`` (AWS keeps the length: fixture logs/data_protection_masking)."""
    spans: list[Span] = []
    for name in masking.managed:
        spans.extend(MANAGED[name](text))
    for pattern in masking.custom.values():
        spans.extend(m.span() for m in pattern.finditer(text) if m.end() > m.start())
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        chars[start:end] = MASK_CHAR * (end - start)
    return "".join(chars)


# --- state ---------------------------------------------------------------------------------------


def account_policies(backend: Any) -> dict[str, dict[str, Any]]:
    """The backend's DATA_PROTECTION_POLICY account policies, by name (moto has none)."""
    if not hasattr(backend, "moto_ext_data_protection_policies"):
        backend.moto_ext_data_protection_policies = {}
    return backend.moto_ext_data_protection_policies  # type: ignore[no-any-return]


def _backend_of(group: Any) -> Any:
    from moto.logs.models import logs_backends

    return logs_backends[group.account_id][group.region]


def active_masking(group: Any) -> Masking:
    """What an event put into ``group`` now is masked for: the group's policy and the account's
    ("both policies apply": AWS guide)."""
    masking = getattr(group, "dp_masking", None) or Masking()
    for policy in account_policies(_backend_of(group)).values():
        masking = masking.merged(policy["masking"])
    return masking


def ingest(group: Any, events: Iterable[Any]) -> None:
    """Decide each new event's masked text once, with the policies in force at its put."""
    masking: Masking | None = None
    for event in events:
        if hasattr(event, "dp_masked"):
            continue
        if masking is None:
            masking = active_masking(group)
        masked = mask(event.message, masking) if masking else event.message
        event.dp_masked = masked if masked != event.message else None


def egress(event: Any, unmask: bool = False) -> str:
    """The text an event leaves CloudWatch with: masked unless ``unmask`` was asked for."""
    masked = getattr(event, "dp_masked", None)
    return event.message if unmask or masked is None else str(masked)


def unmask_requested() -> bool:
    """Whether the request being answered asked ``unmask=true`` (GetLogEvents/FilterLogEvents)."""
    return bool(getattr(_UNMASK, "value", False))


def find_group(backend: Any, identifier: str | None) -> Any:
    """A log group by name or ARN (with or without ``:*``), or ResourceNotFoundException."""
    name = identifier or ""
    if name.startswith("arn:"):
        name = name.split(":log-group:", 1)[-1]
        name = name[:-2] if name.endswith(":*") else name
    group = backend.groups.get(name)
    if group is None:
        raise ResourceNotFoundException()
    return group


def put_account_policy(backend: Any, name: str, document: str, scope: str | None) -> dict[str, Any]:
    """Store the account's data protection policy; the put's answer (no ``accountId``)."""
    if scope not in (None, "", "ALL"):
        raise InvalidParameterException(
            f"Invalid scope {scope!r}: the only valid value for a data protection policy is ALL"
        )
    masking = parse_policy(document)
    policies = account_policies(backend)
    if name not in policies and policies:
        # "Each account can have only one account-level policy" (PutAccountPolicy).
        raise LimitExceededException()
    policies[name] = {
        "policyName": name,
        "policyDocument": document,
        "lastUpdatedTime": int(unix_time_millis(utcnow())),
        "policyType": POLICY_TYPE,
        "scope": "ALL",
        "accountId": backend.account_id,
        "masking": masking,
    }
    return {k: v for k, v in policies[name].items() if k not in ("accountId", "masking")}


def described_account_policies(backend: Any, name: str | None) -> list[dict[str, Any]]:
    """DescribeAccountPolicies' entries (with ``accountId``)."""
    return [
        {k: v for k, v in p.items() if k != "masking"}
        for p in account_policies(backend).values()
        if not name or p["policyName"] == name
    ]


def delete_account_policy(backend: Any, name: str) -> None:
    if account_policies(backend).pop(name, None) is None:
        raise ResourceNotFoundException(f"Policy with name [{name}] does not exist")


# --- install -------------------------------------------------------------------------------------


def _group_responses() -> dict[str, Any]:
    """``LogsResponse`` methods for Put/Get/DeleteDataProtectionPolicy (JSON protocol)."""

    def put_response(self: Any) -> str:
        group = find_group(self.logs_backend, self._get_param("logGroupIdentifier"))
        document = self._get_param("policyDocument")
        group.dp_masking = parse_policy(document)
        group.dp_policy = {
            "logGroupIdentifier": group.name,
            "policyDocument": document,
            "lastUpdatedTime": int(unix_time_millis(utcnow())),
        }
        group.dp_status = "ACTIVATED"
        return json.dumps(group.dp_policy)

    def get_response(self: Any) -> str:
        group = find_group(self.logs_backend, self._get_param("logGroupIdentifier"))
        policy = getattr(group, "dp_policy", None)
        if policy is None:
            raise ResourceNotFoundException(f"No data protection policy for log group {group.name}")
        return json.dumps(policy)

    def delete_response(self: Any) -> str:
        group = find_group(self.logs_backend, self._get_param("logGroupIdentifier"))
        if getattr(group, "dp_policy", None) is None:
            raise ResourceNotFoundException(f"No data protection policy for log group {group.name}")
        group.dp_policy = None
        group.dp_masking = None
        group.dp_status = "DELETED"
        return ""

    return {
        "put_data_protection_policy": put_response,
        "get_data_protection_policy": get_response,
        "delete_data_protection_policy": delete_response,
    }


def _with_unmask(method: Any) -> Any:
    """A response method that answers with ``unmask`` as the request asked."""

    def answer(self: Any) -> Any:
        _UNMASK.value = bool(self._get_param("unmask", False))
        try:
            return method(self)
        finally:
            _UNMASK.value = False

    return answer


def install() -> None:
    """Patch moto's log group, events and responses (idempotent; after ``moto_ext.logs``)."""
    from moto.logs import models, responses

    if getattr(models.LogsBackend, _MARK, False):
        return
    plain_describe = models.LogGroup.to_describe_dict
    plain_filter_dict = models.LogEvent.to_filter_dict
    plain_response_dict = models.LogEvent.to_response_dict

    def group_describe(self: Any) -> dict[str, Any]:
        described: dict[str, Any] = plain_describe(self)
        status = getattr(self, "dp_status", None)
        if status:
            described["dataProtectionStatus"] = status
        if account_policies(_backend_of(self)):
            described["inheritedProperties"] = [INHERITED]
        return described

    def event_filter_dict(self: Any) -> dict[str, Any]:
        return {**plain_filter_dict(self), "message": egress(self, unmask_requested())}

    def event_response_dict(self: Any) -> dict[str, Any]:
        return {**plain_response_dict(self), "message": egress(self, unmask_requested())}

    models.LogGroup.to_describe_dict = group_describe
    models.LogEvent.to_filter_dict = event_filter_dict
    models.LogEvent.to_response_dict = event_response_dict
    for name in ("get_log_events", "filter_log_events"):
        setattr(responses.LogsResponse, name, _with_unmask(getattr(responses.LogsResponse, name)))
    for name, method in _group_responses().items():
        setattr(responses.LogsResponse, name, method)
    setattr(models.LogsBackend, _MARK, True)
