"""Who may subscribe to the destinations: a list of accounts while it fits, the organization beyond.

A destination's access policy is at most 5,120 bytes (CloudWatch Logs API reference,
PutDestinationPolicy ``accessPolicy``: "This can be up to 5120 bytes"; botocore's model carries the
same text). The templates write one statement listing every sending account, about 15 bytes an
account, so a list stops fitting at about 325 accounts with the default stack name (fewer with a longer one). Beyond that the
only policy that fits is organization trust (``aws:PrincipalOrgID``), which the templates write
when ``OrganizationId`` is set: ``deploy`` insists on it (``senders.organization = true``) and says
why, rather than failing mid-deploy on AWS's size check or silently widening the trust.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from xaccount_ops import partitions
from xaccount_ops.errors import ConfigError

MAX_POLICY_BYTES = 5120  # PutDestinationPolicy accessPolicy


def account_list_policy(
    accounts: Sequence[str], *, partition: str, region: str, landing: str, name_prefix: str
) -> str:
    """The destination policy the templates write for an account list (byte for byte the shape
    of ``cfn/main.yaml``'s ``AllowSendingAccounts`` statement)."""
    resource = partitions.arn(
        partition, "logs", region, landing, f"destination:{name_prefix}-destination"
    )
    ids = '","'.join(accounts)
    return (
        '{"Version":"2012-10-17","Statement":[{"Sid":"AllowSendingAccounts","Effect":"Allow",'
        f'"Principal":{{"AWS":["{ids}"]}},"Action":"logs:PutSubscriptionFilter",'
        f'"Resource":"{resource}"}}]}}'
    )


def check_account_list_fits(
    accounts: Sequence[str],
    *,
    partition: str,
    regions: Sequence[str],
    landing: str,
    name_prefix: str,
    organization_id: str | Callable[[], str | None] | None = None,
) -> None:
    """Raise a ConfigError when the account-list policy would exceed the limit in any region,
    naming the size, the limit and its source, and what to set instead. ``organization_id`` may
    be a function: it is called only for the message."""
    for region in regions:
        policy = account_list_policy(
            accounts, partition=partition, region=region, landing=landing, name_prefix=name_prefix
        )
        json.loads(policy)  # the shape must stay valid JSON
        size = len(policy.encode())
        if size > MAX_POLICY_BYTES:
            known = organization_id() if callable(organization_id) else organization_id
            org = f" ({known})" if known else ""
            raise ConfigError(
                "senders.accounts",
                f"{len(accounts)} sending accounts make a destination policy of {size:,} bytes "
                f"in {region}, over the {MAX_POLICY_BYTES:,}-byte limit of a destination policy "
                "(CloudWatch Logs PutDestinationPolicy): set senders.organization = true so the "
                f"destinations trust the organization{org} (aws:PrincipalOrgID) instead of "
                "listing accounts",
            )


def max_accounts(*, partition: str, region: str, landing: str, name_prefix: str) -> int:
    """How many 12-digit accounts fit the account-list policy (for messages and the README)."""
    empty = len(
        account_list_policy(
            [], partition=partition, region=region, landing=landing, name_prefix=name_prefix
        ).encode()
    )
    # The first id adds 12 bytes, every further one 15 (12 digits and '","').
    return max(0, (MAX_POLICY_BYTES - empty + 3) // 15)
