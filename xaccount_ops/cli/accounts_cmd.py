"""``xaccount-ops accounts``: the sending accounts, as the config lists them and as the deployed
stacks let them send.

The name is the seed's ("Update" tab: add or remove accounts). ``accounts list`` reads only the
config; ``accounts add`` / ``accounts remove`` change the *landing stacks* (their
``SendingAccounts``, hence the destination policy: who may send), not the config, through
:mod:`xaccount_ops.landing.senders` (registered from ``stacks_cmd``). Nothing in a sending
account changes: ``subscribe`` does that.

``accounts remove`` also says, per removed account, how many subscription filters still point at
our destinations: AWS stops their deliveries at once (the destination policy is checked on every
delivery), but the filters stay, keep a slot taken, and ship again if the account is re-added.
"""

from __future__ import annotations

import argparse
import sys

from xaccount_ops.cli.context import Context, add_output_arguments
from xaccount_ops.cli.stacks_cmd import register_accounts_subcommands


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "accounts",
        help="the sending accounts and regions; add/remove them on the deployed stacks",
    )
    commands = parser.add_subparsers(dest="accounts_command", metavar="ACTION")
    listing = commands.add_parser("list", help="print every (account, region) target")
    add_output_arguments(listing)
    listing.set_defaults(func=run_list)
    # add/remove edit the landing stacks: their parsers live beside deploy's
    register_accounts_subcommands(commands)
    commands.choices["remove"].set_defaults(func=run_remove)


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.fleet.inventory import account_names

    fleet = ctx.fleet()
    # Names as inventory shows them: from Organizations when the hub may read it, else blank.
    fleet.account_names = account_names(fleet)
    ctx.emit(fleet.targets_frame(), args)
    return 0


def run_remove(args: argparse.Namespace, ctx: Context) -> int:
    """The stacks' ``accounts remove``, then the warning about filters left behind."""
    from xaccount_ops.cli import stacks_cmd

    code = stacks_cmd.run_remove(args, ctx)
    if code == 0:  # the policy no longer lists them: say what they left behind
        warn_active_filters(ctx, tuple(stacks_cmd.flat_ids(args)))
    return code


def warn_active_filters(ctx: Context, account_ids: tuple[str, ...]) -> None:
    from xaccount_ops import subscriptions

    try:
        found, errors = subscriptions.active_filters(ctx.fleet(), account_ids, progress=False)
    except Exception as err:  # the removal itself is done; the count is advice
        _say(f"could not count the removed accounts' subscription filters: {err}")
        return
    for account in account_ids:
        mine = found[found["account"] == account]
        if not mine.empty:
            ours = int(mine["owned"].sum())
            hand_made = len(mine) - ours
            regions = ", ".join(sorted(set(mine["region"])))
            text = (
                f"account {account} still has {len(mine)} active subscription filter(s) to our "
                f"destinations ({regions}): their events are no longer delivered. "
            )
            if ours:
                text += (
                    f"Remove the toolkit's {ours}: `xaccount-ops subscribe remove --account "
                    f"{account} --yes`. "
                )
            if hand_made:
                names = ", ".join(sorted(set(mine[~mine["owned"]]["filter_name"])))
                text += (
                    f"{hand_made} were not created by the toolkit ({names}): delete them in that "
                    "account with `aws logs delete-subscription-filter`."
                )
            _say(text.strip())
        failed = errors[errors["account_id"] == account]
        if mine.empty and failed.empty:
            _say(f"account {account} has no subscription filters to our destinations left")
        for error in failed.itertuples():
            _say(
                f"account {account} {error.region}: could not count its filters: "
                f"{error.error_code}: {error.message}"
            )


def _say(text: str) -> None:
    print(f"xaccount-ops: {text}", file=sys.stderr, flush=True)
