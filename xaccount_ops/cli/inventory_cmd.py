"""``xaccount-ops inventory`` and ``xaccount-ops audit``: what is there, and what is wrong with it.

``inventory`` saves what it found to the cache beside the config file, so ``--cached`` (and
notebooks, through ``inventory.load_cache``) can reload it without querying every account again.
``audit`` exits 1 when a finding is at or above ``--fail-on`` (default: error), for scheduled runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from xaccount_ops.cli.context import Context, add_output_arguments

if TYPE_CHECKING:
    from xaccount_ops.fleet import inventory

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
# fleet.audit.SEVERITIES, here so that --help needs no pandas (a test keeps them equal).
SEVERITIES = ("error", "warning", "info")
# Columns too wide for a terminal table; csv/json/parquet keep them.
TABLE_HIDDEN = ("filters", "tags", "arn", "kms_key_id")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inventory", help="list every log group in every sending account/region, with its filters"
    )
    parser.add_argument(
        "--tags", action="store_true", help="include tags (one more API call per log group)"
    )
    parser.add_argument(
        "--cached",
        action="store_true",
        help="print the last saved inventory instead of querying (see .xaccount-ops-cache/)",
    )
    add_output_arguments(parser)
    parser.set_defaults(func=run_inventory)

    parser = subparsers.add_parser(
        "audit", help="report problems: unshipped groups, full slots, missing destinations, ..."
    )
    parser.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        default="error",
        help="exit 1 when a finding is at least this severe (default: error)",
    )
    parser.add_argument(
        "--cached", action="store_true", help="audit the last saved inventory instead of querying"
    )
    add_output_arguments(parser)
    parser.set_defaults(func=run_audit)


def read_inventory(args: argparse.Namespace, ctx: Context) -> inventory.InventoryResult | None:
    """A fresh inventory (saved to the cache), or the cached one with --cached; None if no cache."""
    from xaccount_ops.fleet import inventory
    from xaccount_ops.fleet.accounts import errors_frame

    if args.cached:
        try:
            frame, taken_at = inventory.load_cache(ctx.config)
        except FileNotFoundError as err:
            print(f"xaccount-ops: {err}", file=sys.stderr)
            return None
        print(
            f"xaccount-ops: inventory from the cache, taken {taken_at:%Y-%m-%d %H:%M:%S} UTC",
            file=sys.stderr,
        )
        return inventory.InventoryResult(frame=frame, errors=errors_frame())
    result = inventory.log_groups(ctx.fleet(), tags=getattr(args, "tags", False))
    path = inventory.save_cache(result.frame, ctx.config)
    log.info("inventory saved to %s", path)
    for error in result.errors.itertuples():
        print(
            f"xaccount-ops: {error.account_id}/{error.region}: {error.error_code}"
            + (f" ({error.hint})" if error.hint else ""),
            file=sys.stderr,
        )
    return result


def run_inventory(args: argparse.Namespace, ctx: Context) -> int:
    """Exit 1 when some target could not be inventoried (the rest is still printed)."""
    result = read_inventory(args, ctx)
    if result is None:
        return EXIT_USAGE
    frame = result.frame
    if args.format == "table":
        frame = frame.drop(columns=[c for c in TABLE_HIDDEN if c in frame])
    ctx.emit(frame, args)
    return EXIT_FINDINGS if not result.errors.empty else EXIT_OK


def run_audit(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.fleet import audit

    result = read_inventory(args, ctx)
    if result is None:
        return EXIT_USAGE
    from xaccount_ops.lab.views import FINDINGS_VIEW

    findings = audit.audit(ctx.fleet(), result)
    ctx.emit_view(findings, FINDINGS_VIEW, args)
    failing = audit.at_or_above(findings, args.fail_on)
    counts = findings["severity"].value_counts()
    print(
        "xaccount-ops: "
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in audit.SEVERITIES)
        + f"; failing on {args.fail_on}: {len(failing)}",
        file=sys.stderr,
    )
    return EXIT_FINDINGS if not failing.empty else EXIT_OK
