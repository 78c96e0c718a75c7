"""``xaccount-ops deploy``, ``outputs`` and ``accounts add/remove``: the landing account's stacks."""

from __future__ import annotations

import argparse
import sys

from xaccount_ops.cli.context import Context, add_output_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    deploy = subparsers.add_parser(
        "deploy",
        help="create or update the main stack and a destination stack per region",
        description="Builds and uploads the shipper zip, then creates or updates every stack "
        "through a change set. --dry-run shows the change sets and deletes them.",
    )
    deploy.add_argument(
        "--dry-run", action="store_true", help="show what would change; change nothing"
    )
    deploy.add_argument(
        "--stackset",
        action="store_true",
        help="main stack as usual; other regions' destinations (and, in account-policy mode, the senders' policies) as SELF_MANAGED StackSets (roles: cfn/README.md)",
    )
    deploy.add_argument(
        "--no-speedups", action="store_true", help="stdlib-only shipper zip (no speed-up wheels)"
    )
    add_output_arguments(deploy)
    deploy.set_defaults(func=run_deploy)

    outputs = subparsers.add_parser(
        "outputs", help="the deployed destination ARN, stream, role and function per region"
    )
    add_output_arguments(outputs)
    outputs.set_defaults(func=run_outputs)


ACCOUNTS_HELP = {
    "add": (
        "add to the deployed SendingAccounts of every stack (others kept as deployed)",
        "Adds the accounts to the SendingAccounts of the main and every destination stack, "
        "keeping every other parameter as deployed. The list is written sorted and without "
        "duplicates, so adding an account that is already there changes nothing.",
    ),
    "remove": (
        "remove from the deployed SendingAccounts of every stack (others kept as deployed)",
        "Removes the accounts from the SendingAccounts of the main and every destination stack, "
        "keeping every other account and parameter as deployed. Refuses to remove the last "
        "account (the destinations would accept nobody). Subscription filters stay: run "
        "`xaccount-ops subscribe remove` in those accounts to take them out.",
    ),
}
IDS_HELP = (
    "12-digit account id(s), separated by spaces or commas; the seed's quoted form "
    '"111111111111","222222222222" works too'
)


def account_ids(text: str) -> list[str]:
    """argparse type for ID: a bad id is a usage error about this argument, not a config error."""
    from xaccount_ops import validate
    from xaccount_ops.errors import ConfigError

    parts = [part for part in text.split(",") if part.strip()]
    try:
        return list(validate.account_list(parts, "ID"))
    except ConfigError as err:
        message = str(err).split(": ", 1)[-1]  # drop the key: argparse names the argument
        raise argparse.ArgumentTypeError(message) from None


def register_accounts_subcommands(accounts_subparsers: argparse._SubParsersAction) -> None:
    """``accounts add ID...`` / ``accounts remove ID...`` (called by the ``accounts`` group)."""
    for name, (help_text, description) in ACCOUNTS_HELP.items():
        parser = accounts_subparsers.add_parser(name, help=help_text, description=description)
        parser.add_argument("ids", nargs="+", type=account_ids, metavar="ID", help=IDS_HELP)
        add_output_arguments(parser)
        parser.set_defaults(func=run_add if name == "add" else run_remove)


def _progress(row: dict[str, str]) -> None:
    reason = f"  {row['reason']}" if row.get("reason") else ""
    print(
        f"{row['stack']} {row['region']} {row['logical_id'] or '-'} {row['status']}{reason}",
        file=sys.stderr,
        flush=True,
    )


def run_deploy(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops import landing

    fleet = ctx.fleet()
    if args.stackset or ctx.config.stack.stackset:
        return _run_stackset_deploy(args, ctx, fleet)
    if args.dry_run:
        ctx.emit(landing.plan_deploy(include_speedups=not args.no_speedups, fleet=fleet), args)
        return 0
    result = landing.deploy(include_speedups=not args.no_speedups, on_event=_progress, fleet=fleet)
    if result.artifact is not None:
        print(
            f"artifact s3://{result.artifact.bucket}/{result.artifact.key}",
            file=sys.stderr,
        )
    ctx.emit(result.frame(), args)
    if result.ok and not result.changed:
        print("nothing to change: every stack is up to date", file=sys.stderr)
    return 0 if result.ok else 1


def _run_stackset_deploy(args: argparse.Namespace, ctx: Context, fleet: object) -> int:
    from xaccount_ops import landing
    from xaccount_ops.landing import stacksets

    if args.dry_run:
        main = landing.plan_deploy(include_speedups=not args.no_speedups, fleet=fleet)
        ctx.emit(main[main.region == fleet.landing_region], args)  # type: ignore[attr-defined]
        ctx.emit(stacksets.plan(fleet), args)
        return 0
    result = stacksets.deploy(
        fleet=fleet, include_speedups=not args.no_speedups, on_event=_progress
    )
    if result.main is not None:
        ctx.emit(landing.DeployResult([result.main]).frame(), args)
    ctx.emit(result.frame(), args)
    if result.ok and not result.changed:
        print(
            "nothing to change: the main stack and every stack set are up to date", file=sys.stderr
        )
    return 0 if result.ok else 1


def run_outputs(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops import landing

    ctx.emit(landing.outputs_frame(landing.stack_outputs(ctx.fleet())), args)
    return 0


def _run_accounts(args: argparse.Namespace, ctx: Context, add: bool) -> int:
    from xaccount_ops import landing

    change = landing.add_accounts if add else landing.remove_accounts
    ids = [account for group in args.ids for account in group]  # each ID may be a comma list
    updates = change(ids, on_event=_progress, fleet=ctx.fleet())
    ctx.emit(landing.accounts_frame(updates), args)
    if any(u.status == "updated" for u in updates):
        print(
            "remember to update senders.accounts in the config too, so `subscribe` covers them",
            file=sys.stderr,
        )
    return 0 if all(u.status != "failed" for u in updates) else 1


def run_add(args: argparse.Namespace, ctx: Context) -> int:
    return _run_accounts(args, ctx, add=True)


def run_remove(args: argparse.Namespace, ctx: Context) -> int:
    return _run_accounts(args, ctx, add=False)
