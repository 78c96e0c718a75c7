"""``xaccount-ops verify`` and ``xaccount-ops health``.

``verify`` sends a canary down every (account, region) path and waits for it in Logz.io: exit 0
only if every path delivered, 1 otherwise, with the diagnosis of the misses on stderr (stdout
keeps the one result document, whatever --format). ``verify --reconcile`` compares, per shipping
log group, CloudWatch's IncomingLogEvents with the lines Logz.io holds over a window: the table on
stdout, the short groups and their likely hop on stderr, exit 1 when any group is short or over
(more lines than events: duplicates), or a target could not be counted. ``verify --duplicates``
counts the event ids Logz.io holds more than once per group: exit 1 when there are any. ``health`` grades the pipeline's metrics over
a window: exit 1 when any metric fails.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from xaccount_ops.cli.context import (
    Context,
    add_output_arguments,
    parse_lag,
    parse_window,
    render,
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a ratio in (0, 1], e.g. 0.999")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds > 0")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="send a canary down every account/region path and prove it arrives in Logz.io",
    )
    parser.add_argument(
        "--timeout",
        type=_positive,
        metavar="SECONDS",
        help="how long to wait for the canaries (default: [verify] timeout_s, 300)",
    )
    parser.add_argument(
        "--no-prepare",
        dest="prepare",
        action="store_false",
        help="check the paths as they are: do not create or (re)subscribe the canary log group",
    )
    group = parser.add_argument_group(
        "reconcile", "compare CloudWatch's event counts with Logz.io's instead of sending canaries"
    )
    group.add_argument(
        "--reconcile",
        action="store_true",
        help="per shipping log group: IncomingLogEvents vs lines in Logz.io over --window",
    )
    group.add_argument(
        "--window",
        type=parse_window,
        default=None,
        help="how much to compare: 30m, 6h, 2d (default: 1h); whole minutes",
    )
    group.add_argument(
        "--lag",
        type=parse_lag,
        default=None,
        help="end the window this long ago, so in-flight events are not counted short "
        "(default: 5m; 0 counts up to now)",
    )
    group.add_argument(
        "--threshold",
        type=_ratio,
        default=None,
        help="a group is short below this Logz.io/CloudWatch ratio (default: 0.999)",
    )
    group.add_argument(
        "--duplicates",
        action="store_true",
        help="count event ids Logz.io holds more than once, per account/region/log group, "
        "over --window (default 1h, ending now)",
    )
    beats = parser.add_argument_group(
        "heartbeats", "read the age of each account/region's newest heartbeat in Logz.io"
    )
    beats.add_argument(
        "--heartbeats",
        action="store_true",
        help="one row per account/region: its newest heartbeat, its age, ok/stale/never "
        "(exit 1 when any is not ok, with the hop that explains it)",
    )
    beats.add_argument(
        "--max-age",
        type=parse_window,
        default=None,
        help="a heartbeat older than this is stale: 15m, 1h (default: "
        "[verify] heartbeat_max_age_minutes, 15)",
    )
    add_output_arguments(parser)
    parser.set_defaults(func=run_verify)

    parser = subparsers.add_parser(
        "health",
        help="one verdict per part of the pipeline (sending accounts, destinations, stream, "
        "shipper, listener, failure store), with the fix for each red one",
    )
    parser.add_argument(
        "--window",
        type=parse_window,
        default=timedelta(hours=1),
        help="how far back to look: 30m, 6h, 2d (default: 1h)",
    )
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="one row per metric instead (iterator age, errors, throttles, lines resent after "
        "a timeout, failure queue, policy coverage), without the heartbeats",
    )
    parser.add_argument(
        "--max-age",
        type=parse_window,
        default=None,
        help="a heartbeat older than this is stale (default: [verify] heartbeat_max_age_minutes)",
    )
    add_output_arguments(parser)
    parser.set_defaults(func=run_health)


def run_verify(args: argparse.Namespace, ctx: Context) -> int:
    if args.heartbeats:
        return run_heartbeats(args, ctx)
    if args.max_age is not None:
        print("xaccount-ops: --max-age needs --heartbeats", file=sys.stderr)
        return EXIT_USAGE
    if args.reconcile and args.duplicates:
        print(
            "xaccount-ops: --reconcile and --duplicates are separate runs; pick one",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.reconcile:
        return run_reconcile(args, ctx)
    if args.duplicates:
        return run_duplicates(args, ctx)
    for flag in ("window", "lag", "threshold"):
        if getattr(args, flag) is not None:
            print(f"xaccount-ops: --{flag} needs --reconcile", file=sys.stderr)
            return EXIT_USAGE
    from xaccount_ops.lab.views import CANARY_VIEW
    from xaccount_ops.verify import verify

    result = verify(ctx.fleet(), timeout_s=args.timeout, prepare=args.prepare)
    ctx.emit_view(result.frame.astype({"status": "string"}), CANARY_VIEW, args)
    counts = result.frame["status"].value_counts()
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("delivered", "missing", "error"))
    print(f"xaccount-ops: {summary}", file=sys.stderr)
    if not result.diagnosis.empty:
        print("\nWhere the missing paths break:", file=sys.stderr)
        sys.stderr.write(render(result.diagnosis, "table"))
    return EXIT_OK if result.ok else EXIT_FAILURE


def run_heartbeats(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.verify import heartbeats

    if ctx.config.verify.heartbeat_minutes == 0:
        print(
            "xaccount-ops: heartbeats are off ([verify] heartbeat_minutes = 0); set it to e.g. 5 "
            "and run `xaccount-ops subscribe apply`",
            file=sys.stderr,
        )
        return EXIT_USAGE
    result = heartbeats.check(ctx.fleet(), max_age=args.max_age)
    ctx.emit(result.frame, args)
    counts = result.frame["status"].value_counts()
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in heartbeats.STATUSES)
    print(f"xaccount-ops: heartbeats: {summary} (max age {result.max_age})", file=sys.stderr)
    if not result.diagnosis.empty:
        print("\nWhere the silent pairs break:", file=sys.stderr)
        for row in result.diagnosis.itertuples():
            print(
                f"  {row.account_id}/{row.region}: {row.hop}: {row.problem}\n    fix: {row.fix}",
                file=sys.stderr,
            )
    return EXIT_OK if result.ok else EXIT_FAILURE


def run_reconcile(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.verify import reconcile
    from xaccount_ops.verify.reconcile import DEFAULT_LAG, DEFAULT_THRESHOLD, DEFAULT_WINDOW, align

    window = args.window or DEFAULT_WINDOW
    lag = args.lag if args.lag is not None else DEFAULT_LAG
    try:
        align(window, lag=lag)  # e.g. older than CloudWatch keeps: a usage error, said plainly
    except ValueError as err:
        print(f"xaccount-ops: {err}", file=sys.stderr)
        return EXIT_USAGE
    result = reconcile(
        ctx.fleet(), window=window, lag=lag, threshold=args.threshold or DEFAULT_THRESHOLD
    )
    if args.format == "table" and not args.all_rows and not args.output:
        from xaccount_ops.lab.views import RECONCILE_VIEW, verdicts

        shown = result.frame.assign(verdict=verdicts(result.frame, result.threshold))
        ctx.emit_view(shown, RECONCILE_VIEW, args)
    else:
        ctx.emit(result.frame, args)  # the columns users script against, unchanged
    print(f"xaccount-ops: {result.summary()}", file=sys.stderr)
    if not result.findings.empty:
        print("\nFindings (short or over groups and their likely hop):", file=sys.stderr)
        sys.stderr.write(render(result.findings, "table"))
    if not result.errors.empty:
        print("\nTargets that could not be counted:", file=sys.stderr)
        sys.stderr.write(render(result.errors, "table"))
    return EXIT_OK if result.ok else EXIT_FAILURE


def run_duplicates(args: argparse.Namespace, ctx: Context) -> int:
    """``verify --duplicates``: ids held more than once; exit 1 when there are any."""
    for flag in ("lag", "threshold"):
        if getattr(args, flag) is not None:
            print(f"xaccount-ops: --{flag} is for --reconcile, not --duplicates", file=sys.stderr)
            return EXIT_USAGE
    from xaccount_ops.verify.duplicates import DEFAULT_WINDOW, duplicates

    result = duplicates(ctx.fleet(), window=args.window or DEFAULT_WINDOW)
    ctx.emit(result.frame, args)
    print(f"xaccount-ops: {result.summary()}", file=sys.stderr)
    if not result.ok:
        print(
            "xaccount-ops: an id held twice is an event that arrived twice: see the README's "
            "'Delivery semantics' for when that happens",
            file=sys.stderr,
        )
    return EXIT_OK if result.ok else EXIT_FAILURE


def run_health(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.lab.views import HEALTH_VIEW
    from xaccount_ops.verify import health

    if not args.metrics:
        return run_verdicts(args, ctx)
    frame = health(ctx.fleet(), window=args.window)
    ctx.emit_view(frame.astype({"status": "string"}), HEALTH_VIEW, args)
    failing = frame[frame["status"] == "fail"]
    warning = frame[frame["status"] == "warn"]
    print(
        f"xaccount-ops: {len(frame) - len(failing) - len(warning)} ok, {len(warning)} warn, "
        f"{len(failing)} fail",
        file=sys.stderr,
    )
    return EXIT_FAILURE if not failing.empty else EXIT_OK


def run_verdicts(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.verify.verdicts import verdicts

    frame = verdicts(ctx.fleet(), window=args.window, max_age=args.max_age)
    ctx.emit(frame, args)
    counts = frame["status"].value_counts()
    print(
        f"xaccount-ops: health: {counts.get('ok', 0)} ok, {counts.get('warn', 0)} warn, "
        f"{counts.get('fail', 0)} fail",
        file=sys.stderr,
    )
    for row in frame[frame["status"] != "ok"].itertuples():
        print(f"  {row.part} ({row.status}): {row.fix}", file=sys.stderr)
    return EXIT_FAILURE if (frame["status"] == "fail").any() else EXIT_OK
