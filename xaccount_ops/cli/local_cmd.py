"""``xaccount-ops local up``: run the embedded local cloud in the foreground."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from xaccount_ops.cli.context import Context


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("local", help="the embedded local cloud (no AWS account needed)")
    commands = parser.add_subparsers(dest="local_command", metavar="ACTION")
    up = commands.add_parser(
        "up",
        help="start moto + extensions + Logz.io emulator on loopback; Ctrl-C stops",
        description="Prints one JSON line with the endpoints, tokens, accounts and config path.",
    )
    up.add_argument(
        "--accounts", type=int, default=3, help="sending accounts to create (default 3)"
    )
    up.add_argument("--regions", default="us-east-1,eu-west-1", help="comma list of regions")
    up.add_argument(
        "--aws-port", type=int, default=0, help="moto server port (default: a free one)"
    )
    up.add_argument("--listener-port", type=int, default=0, help="Logz.io emulator port")
    up.add_argument(
        "--data",
        metavar="DIR",
        default=".local-cloud",
        help="state and tokens (default .local-cloud)",
    )
    up.add_argument(
        "--config-out", metavar="FILE", help="config file to write (default DIR/xaccount-ops.toml)"
    )
    up.add_argument("--latency-ms", type=int, default=0, help="add this delay to every AWS call")
    up.add_argument(
        "--rate-limit", action="store_true", help="enforce AWS's per-account TPS quotas"
    )
    up.add_argument(
        "--no-seed", action="store_true", help="create the organization only, no log groups"
    )
    up.set_defaults(func=run_up)


def run_up(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.local.cloud import LocalCloud

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    cloud = LocalCloud(
        accounts=args.accounts,
        regions=[r for r in args.regions.split(",") if r.strip()],
        aws_port=args.aws_port,
        listener_port=args.listener_port,
        data_dir=args.data,
        config_out=args.config_out,
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        seed_data=not args.no_seed,
    )
    with cloud:
        sys.stdout.write(json.dumps(cloud.info()) + "\n")
        sys.stdout.flush()
        stop.wait()
    return 0
