"""``xaccount-ops subscribe plan|apply|remove``: attach the toolkit's subscription filters.

``plan`` prints what would change and why, changing nothing. ``apply`` prints the plan's summary,
then applies it and prints the per-row result; run again, it says that 0 changes were needed.
``remove`` prints the removal plan (only the toolkit's ``logzio-xacct-*`` filters and account
policies) and deletes them only with ``--yes``. ``--adopt`` (plan/apply, opt-in) takes over, in
place and under their own names, filters the toolkit did not create that already point at our
destination, so their events carry ``@aws.region``/``@aws.account`` from then on.

Exit codes: 0 ok; 1 a change failed or a target could not be read; 2 a configuration error.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from xaccount_ops.cli.context import Context, add_output_arguments

if TYPE_CHECKING:
    import pandas as pd

EXIT_OK, EXIT_FAILURE = 0, 1
# Columns too wide for a terminal table; csv/json/parquet keep them.
TABLE_HIDDEN = ("destination_arn", "selection_criteria")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "subscribe",
        help="plan, apply or remove the logzio-xacct-<region> subscription filters",
        description="Selection, filter pattern and mode come from [subscriptions] in the config. "
        "Filters the toolkit did not create are never changed or removed.",
    )
    actions = parser.add_subparsers(dest="subscribe_action", metavar="ACTION", required=True)
    for name, help_text in (
        ("plan", "show what apply would do, per log group, and why; change nothing"),
        ("apply", "plan from a fresh inventory, then apply it"),
        ("remove", "plan the removal of the toolkit's filters/policies; delete them with --yes"),
    ):
        action = actions.add_parser(name, help=help_text, description=help_text)
        if name == "remove":  # plan changes nothing and apply applies: --yes only means here
            action.add_argument(
                "--yes", action="store_true", help="really delete (without it, only the plan)"
            )
        action.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
        if name == "remove":
            action.add_argument(
                "--account",
                action="append",
                type=_account_ids,  # a bad id is a usage error about --account, said by argparse
                metavar="ID",
                help="only these sending accounts (repeatable; also one already removed from "
                "senders.accounts or from the destination policy)",
            )
        else:
            action.add_argument(
                "--adopt",
                action="store_true",
                help="take over, in place (same name, same pattern), filters we did not create "
                "that point at our destination, adding emitSystemFields (opt-in)",
            )
        add_output_arguments(action)
        action.set_defaults(func=run)


def _account_ids(text: str) -> list[str]:
    from xaccount_ops.cli.stacks_cmd import account_ids

    return account_ids(text)


def _say(text: str) -> None:
    print(f"xaccount-ops: {text}", file=sys.stderr, flush=True)


def _table(frame: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    if args.format == "table":
        return frame.drop(columns=[c for c in TABLE_HIDDEN if c in frame])
    return frame


def _report_errors(errors: pd.DataFrame) -> None:
    for error in errors.itertuples():
        _say(
            f"{error.account}/{error.region}: {error.error}"
            + (f" -- {error.hint}" if error.hint else "")
        )


def run(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops import subscriptions

    progress = False if args.no_progress else None
    fleet = ctx.fleet()
    action = args.subscribe_action
    only = getattr(args, "account", None)
    if only:
        from xaccount_ops import validate

        ids = [account for group in only for account in group]  # each may be a comma list
        fleet.accounts = validate.account_list(ids, "--account")
    adopt = bool(getattr(args, "adopt", False))
    plan = subscriptions.plan(fleet, remove=action == "remove", adopt=adopt, progress=progress)
    _say(f"plan ({plan.mode} mode): {plan.summary()}")
    from xaccount_ops.lab.views import APPLY_VIEW, PLAN_VIEW

    if action == "plan" or (action == "remove" and not getattr(args, "yes", False)):
        ctx.emit_view(_table(plan.frame, args), PLAN_VIEW, args)
        _report_errors(plan.errors)
        if action == "remove" and plan.changes:
            _say(f"nothing deleted: re-run with --yes to delete {plan.changes} of ours")
        return EXIT_FAILURE if not plan.errors.empty else EXIT_OK
    result = subscriptions.apply(fleet, plan, progress=progress)
    ctx.emit_view(_table(result.frame, args), APPLY_VIEW, args)
    _report_errors(result.errors)
    _say(result.summary())
    return EXIT_OK if result.ok else EXIT_FAILURE
