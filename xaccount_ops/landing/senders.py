"""The seed's "Update" tab as one call: add or remove sending accounts on every deployed stack.

Account ids are merged into each stack's deployed ``SendingAccounts`` (and ``AccountsArns``);
every other parameter keeps its deployed value (``UsePreviousValue``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from xaccount_ops import partitions, validate
from xaccount_ops.fleet.accounts import normalise_accounts
from xaccount_ops.landing.changesets import EventCallback, StackError, apply_stack, describe_stack
from xaccount_ops.landing.templates import parameters_map, stack_names

if TYPE_CHECKING:
    import pandas as pd


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
        current = parameters_map(stack)
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
    current = parameters_map(stack)
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
                {
                    "ParameterKey": key,
                    "ParameterValue": _merge_arns(
                        current[key], before, after, partitions.partition_of(region)
                    ),
                }
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


def _merge_arns(
    arns: str, before: tuple[str, ...], after: tuple[str, ...], partition: str = "aws"
) -> str:
    """Keep the seed-style AccountsArns list in step with SendingAccounts (new entries in the
    stack's partition)."""
    removed = {a for a in before if a not in after}
    kept = [arn for arn in arns.split(",") if arn.strip() and arn.split(":")[4] not in removed]
    present = {arn.split(":")[4] for arn in kept if arn.count(":") >= 5}
    kept += [f"arn:{partition}:logs:*:{a}:*" for a in after if a not in present]
    return ",".join(sorted(kept, key=lambda arn: arn.split(":")[4] if arn.count(":") >= 5 else arn))


def accounts_frame(updates: Sequence[AccountsUpdate]) -> pd.DataFrame:
    import pandas as pd

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
