"""``xaccount-ops accounts list``: the resolved fleet (and, from the stacks module, add/remove)."""

from __future__ import annotations

import argparse

from xaccount_ops.cli.context import Context, add_output_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("accounts", help="the sending accounts and regions")
    commands = parser.add_subparsers(dest="accounts_command", metavar="ACTION")
    listing = commands.add_parser("list", help="print every (account, region) target")
    add_output_arguments(listing)
    listing.set_defaults(func=run_list)
    try:
        from xaccount_ops.cli.stacks_cmd import register_accounts_subcommands
    except ImportError:
        pass
    else:
        register_accounts_subcommands(commands)


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.inventory import account_names

    fleet = ctx.fleet()
    # Names as inventory shows them: from Organizations when the hub may read it, else blank.
    fleet.account_names = account_names(fleet)
    ctx.emit(fleet.targets_frame(), args)
    return 0
