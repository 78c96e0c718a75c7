"""``xaccount-ops estimate``: volume to Logz.io and the AWS cost per month, before enabling.

Reads the inventory (fresh, or ``--cached``) and each group's last 24 h of CloudWatch metrics, then
prints one row per (account, region) plus a ``total`` row, and the recommended stack parameters.
"""

from __future__ import annotations

import argparse
import sys

from xaccount_ops.cli.context import Context, add_output_arguments
from xaccount_ops.cli.inventory_cmd import read_inventory

EXIT_OK, EXIT_USAGE = 0, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "estimate",
        help="GB/day to Logz.io and Kinesis/Lambda/CloudWatch cost per month, before enabling",
    )
    parser.add_argument(
        "--cached", action="store_true", help="use the last saved inventory instead of querying"
    )
    parser.add_argument(
        "--prices",
        metavar="FILE",
        help="a price table to use instead of the packaged one (copy xaccount_ops/data/prices.toml)",
    )
    add_output_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.fleet import estimate, inventory

    prices = estimate.Prices.load(args.prices)
    result = read_inventory(args, ctx)
    if result is None:
        return EXIT_USAGE
    volume = inventory.daily_volume(ctx.fleet(), result.frame)
    found = estimate.estimate(ctx.config, result.frame, volume, prices=prices)
    frame = found.with_total()
    if args.format == "table":  # a terminal: MB a day reads at any fleet size; GB in csv/json
        frame = frame.drop(columns=["incoming_gb_per_day", "gb_per_day"])
    ctx.emit(frame, args)
    print(
        f"xaccount-ops: recommended {found.recommendation.summary()}; "
        f"prices as of {found.prices_as_of}",
        file=sys.stderr,
    )
    return EXIT_OK
