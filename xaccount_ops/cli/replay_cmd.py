"""``xaccount-ops replay``: ship the failure store's batches that Logz.io does not hold yet.

stdout gets the per-batch result table (--format); stderr what is in the store per account and
region, and the counts. Exit 0 only if every batch in the store is now delivered (for
``--dry-run``: only if nothing would need sending), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from xaccount_ops.cli.context import Context, add_output_arguments, parse_window, render

EXIT_OK, EXIT_FAILURE = 0, 1
SETTLE_S = 120  # below this age, a batch's partial deliveries may not be searchable yet


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="ship the batches Lambda gave up on (the S3 failure store), skipping what arrived",
    )
    parser.add_argument(
        "--since",
        type=parse_window,
        metavar="DURATION",
        help="only batches stored within this window: 30m, 6h, 2d (default: all)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="look everything up and say what would be sent; send, tag and delete nothing",
    )
    parser.add_argument(
        "--delete",
        action="store_true",
        help="delete each stored object once all its events are in Logz.io (default: keep, tagged)",
    )
    add_output_arguments(parser)
    parser.set_defaults(func=run_replay)


def run_replay(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.delivery import replay

    fleet = ctx.fleet()
    batches = replay.load_store(fleet, since=args.since)
    stored = replay.summary(batches)
    print(
        f"xaccount-ops: {len(batches)} batches in the failure store, "
        f"{sum(b.events for b in batches)} events",
        file=sys.stderr,
    )
    if not stored.empty:
        sys.stderr.write(render(stored, "table"))
    newest = max((b.stored_at for b in batches), default=None)
    if newest is not None and not any(b.replayed_at for b in batches if b.stored_at == newest):
        age_s = (datetime.now(UTC) - newest).total_seconds()
        if age_s < SETTLE_S:
            print(
                f"xaccount-ops: note: the newest batch was stored {age_s:.0f} s ago; Logz.io "
                "indexes with a delay, so lines delivered just before the failure may not be "
                "searchable yet (they would be sent again). Waiting a few minutes is safer.",
                file=sys.stderr,
            )
    result = replay.replay(
        fleet, dry_run=args.dry_run, delete=args.delete, progress=None, batches=batches
    )
    ctx.emit(result.frame, args)
    t = result.totals()
    sent, verb = (_would(result), "would be sent") if args.dry_run else (t["sent"], "sent")
    print(
        f"xaccount-ops: {t['batches']} batches, {t['events']} events: {sent} {verb}, "
        f"{t['skipped_present']} skipped as already in Logz.io, "
        + (f"{t['filtered']} left out by drop/keep rules, " if t["filtered"] else "")
        + f"{t['failed']} batches failed"
        + (f", {result.acknowledged} failure notifications cleared" if result.acknowledged else ""),
        file=sys.stderr,
    )
    return EXIT_OK if result.ok else EXIT_FAILURE


def _would(result: Any) -> int:
    frame = result.frame
    pending = frame[frame["status"] == "would send"]
    return int((pending["events"] - pending["skipped_present"]).sum())
