"""``xaccount-ops alerts plan|apply``: the Logz.io alerts that make a silent account/region loud.

One alert per (account, region), ``xaccount-ops-heartbeat-<account>-<region>``, in the Logz.io
(sub-)account its heartbeats land in. ``plan`` prints what would change and changes nothing;
``apply`` carries the plan out (a second apply changes nothing). Only ``xaccount-ops-*`` alerts are
ever touched. Exit 1 when an alert could not be planned or applied.
"""

from __future__ import annotations

import argparse
import sys

from xaccount_ops.cli.context import Context, add_output_arguments, parse_window

EXIT_OK, EXIT_FAILURE = 0, 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "alerts",
        help="plan or apply the Logz.io heartbeat alerts (xaccount-ops-heartbeat-<account>-<region>)",
    )
    actions = parser.add_subparsers(dest="alerts_action", metavar="ACTION", required=True)
    for name, help_text in (
        ("plan", "show which alerts apply would create, update or delete; change nothing"),
        ("apply", "create or update the heartbeat alerts (only xaccount-ops-* alerts are touched)"),
    ):
        action = actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument(
            "--max-age",
            type=parse_window,
            metavar="AGE",
            help="alert when a pair's newest heartbeat is older than this, e.g. 15m "
            "(default: [verify] heartbeat_max_age_minutes, 15)",
        )
        add_output_arguments(action)
        action.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.verify import alerts  # pandas and boto3: only when the command runs

    fleet = ctx.fleet()
    settings = alerts.AlertSettings.from_config(ctx.config, args.max_age)
    plan = alerts.plan_alerts(fleet, settings)
    counts = plan.frame["action"].value_counts()
    summary = ", ".join(f"{counts[a]} {a}" for a in alerts.ACTIONS if counts.get(a, 0))
    print(f"xaccount-ops: alerts plan: {summary or 'nothing to manage'}", file=sys.stderr)
    if args.alerts_action == "plan":
        ctx.emit(plan.frame, args)
        return EXIT_FAILURE if counts.get("skip", 0) else EXIT_OK
    frame = alerts.apply_alerts(fleet, plan)
    ctx.emit(frame, args)
    failed = frame[(frame["result"] != "done") & (frame["result"] != "")]
    for row in failed.itertuples():
        print(f"xaccount-ops: {row.action} {row.title} failed: {row.result}", file=sys.stderr)
    done = int((frame["result"] == "done").sum())
    print(f"xaccount-ops: alerts apply: {done} change(s) made", file=sys.stderr)
    return EXIT_FAILURE if len(failed) or counts.get("skip", 0) else EXIT_OK
