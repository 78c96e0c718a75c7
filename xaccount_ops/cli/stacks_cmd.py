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
        "duplicates, so adding an account that is already there changes nothing. Ids are "
        "checked against the organization when the hub may list it. Then senders in the config "
        "(accounts, or exclude in organization mode) should match: --write-config writes it, "
        "an interactive run asks.",
    ),
    "remove": (
        "remove from the deployed SendingAccounts of every stack (others kept as deployed)",
        "Removes the accounts from the SendingAccounts of the main and every destination stack, "
        "keeping every other account and parameter as deployed. Refuses to remove the last "
        "account (the destinations would accept nobody). Then senders in the config should "
        "match (--write-config writes it, an interactive run asks). Subscription filters stay: "
        "the command says how many and the `xaccount-ops subscribe remove` that takes them out.",
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
        parser.add_argument(
            "--write-config",
            action="store_true",
            help="also update [senders] in the config file (accounts, or exclude in "
            "organization mode) so subscribe, audit and health see the same fleet",
        )
        if name == "add":
            parser.add_argument(
                "--allow-outside-org",
                action="store_true",
                help="add ids that are not ACTIVE accounts of the hub's organization",
            )
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


def flat_ids(args: argparse.Namespace) -> list[str]:
    """The ID arguments as one list (each ID may be a comma list), in order, once each."""
    return list(dict.fromkeys(account for group in args.ids for account in group))


def _run_accounts(args: argparse.Namespace, ctx: Context, add: bool) -> int:
    from xaccount_ops import landing

    ids = flat_ids(args)
    if add and not args.allow_outside_org and _outside_organization(ctx, ids):
        return 2  # a typo or a foreign account: said per id, nothing changed
    change = landing.add_accounts if add else landing.remove_accounts
    updates = change(ids, on_event=_progress, fleet=ctx.fleet())
    ctx.emit(landing.accounts_frame(updates), args)
    ok = all(u.status != "failed" for u in updates)
    if ok:
        sync_config(ctx, ids, add=add, write=args.write_config)
    return 0 if ok else 1


def _say(text: str) -> None:
    print(f"xaccount-ops: {text}", file=sys.stderr, flush=True)


def _outside_organization(ctx: Context, ids: list[str]) -> list[str]:
    """Ids that are not ACTIVE accounts of the organization (said on stderr); [] when all are,
    or when the organization cannot be listed (then said, and the ids are taken as given)."""
    from xaccount_ops import aws

    try:
        members = ctx.fleet().organization_accounts()
    except Exception as err:
        aws.raise_if_unreachable(err)
        _say(
            f"could not check the ids against the organization ({aws.error_code(err)}); "
            "adding them as given"
        )
        return []
    outside = [account for account in ids if account not in members]
    for account in outside:
        import difflib

        close = difflib.get_close_matches(account, list(members), n=2, cutoff=0.75)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        _say(
            f"account {account} is not an ACTIVE account of the organization "
            f"({len(members)} accounts){hint}: check the id, or add it anyway with "
            "--allow-outside-org; nothing was changed"
        )
    return outside


def sync_config(ctx: Context, ids: list[str], *, add: bool, write: bool) -> None:
    """Make ``[senders]`` in the config agree with the stacks after an add/remove: write it with
    ``write``, ask in an interactive run, else say exactly what to change."""
    from xaccount_ops.config import write_sender_list
    from xaccount_ops.errors import ConfigError

    senders = ctx.config.senders
    if senders.organization:  # the organization lists them: only exclude can change
        key, current = "exclude", list(senders.exclude)
        wanted = [a for a in current if a not in ids] if add else [*current, *ids]
    else:
        key, current = "accounts", list(senders.accounts)
        wanted = [*current, *ids] if add else [a for a in current if a not in ids]
    wanted = list(dict.fromkeys(wanted))
    if wanted == current:
        return
    path = ctx.config.path
    value = "[" + ", ".join(f'"{a}"' for a in wanted) + "]"
    verb = "add" if add else "remove"
    if path is not None and not write and sys.stdin.isatty() and sys.stderr.isatty():
        print(
            f"xaccount-ops: write senders.{key} = {value} to {path}? [y/N] ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        write = sys.stdin.readline().strip().lower() in ("y", "yes")
    if path is not None and write:
        try:
            write_sender_list(path, key, wanted)
        except (ConfigError, OSError) as err:
            _say(f"could not update {path}: {err}; set senders.{key} = {value} by hand")
            return
        _say(f"wrote senders.{key} = {value} to {path}")
        return
    ids_text = " ".join(ids)
    _say(
        f"the config still says senders.{key} = "
        + "["
        + ", ".join(f'"{a}"' for a in current)
        + f"]: `xaccount-ops accounts {verb} {ids_text} --write-config` sets it to {value} "
        + "(or edit "
        + (str(path) if path else "the config")
        + "), so subscribe, audit and health see the same accounts as the stacks"
    )


def run_add(args: argparse.Namespace, ctx: Context) -> int:
    return _run_accounts(args, ctx, add=True)


def run_remove(args: argparse.Namespace, ctx: Context) -> int:
    return _run_accounts(args, ctx, add=False)
