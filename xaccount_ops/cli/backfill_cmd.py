"""``xaccount-ops backfill --since DURATION [--until WHEN] [--dry-run]``: ship the history the
subscription filters missed (see :mod:`xaccount_ops.delivery.backfill`).

Prints one row per group (stdout, ``--format``) and a summary on stderr. Exit codes: 0 when
every selected group is shipped (or, with ``--dry-run``, could be read); 1 when a group or a
target failed; 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys

from xaccount_ops.cli.context import Context, add_output_arguments, parse_when

EXIT_OK, EXIT_FAILURE = 0, 1
TABLE_HIDDEN = ("filter_name", "since", "until")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="ship each subscribed group's events from before its logzio-xacct filter existed",
        description="For every group `subscribe` selects that carries our filter, ship the events "
        "ingested before the filter was created (from --since on) through the shipper's own "
        "code. A second run ships nothing (checkpoints beside the inventory cache).",
    )
    parser.add_argument(
        "--since", type=parse_when, required=True, help="how far back: 7d, 6h, or an ISO time"
    )
    parser.add_argument(
        "--until",
        type=parse_when,
        help="stop at this event time (default: where a missed event can end: filter creation + 2 h)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="count events and bytes per group and the time at the quota; ship nothing",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    add_output_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.delivery.backfill import backfill

    try:
        result = backfill(
            ctx.fleet(),
            since=args.since,
            until=args.until,
            dry_run=args.dry_run,
            progress=False if args.no_progress else None,
        )
    except ValueError as err:
        print(f"xaccount-ops: {err}", file=sys.stderr)
        return 2
    frame = result.frame
    if args.format == "table":
        frame = frame.drop(columns=list(TABLE_HIDDEN))
    ctx.emit(frame, args)
    for error in result.errors.itertuples():
        hint = f" -- {error.hint}" if error.hint else ""
        print(
            f"xaccount-ops: {error.account_id}/{error.region}: {error.error}{hint}", file=sys.stderr
        )
    for row in result.frame[result.frame["status"] == "failed"].itertuples():
        print(
            f"xaccount-ops: {row.account_id}/{row.region} {row.log_group}: {row.detail}",
            file=sys.stderr,
        )
    print(f"xaccount-ops: backfill {result.summary()}", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_FAILURE
