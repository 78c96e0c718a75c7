"""``xaccount-ops local up|down|status``: the embedded local cloud.

``up`` runs it in the foreground and prints one JSON line; when one already runs in the data
directory it prints that one's line and exits 0 (one cloud per directory). ``down`` stops the one
running in the data directory, ``status`` prints its line. ``fault 401|503|slow --for 2m`` makes
its Logz.io listener fail that way for a while (an outage rehearsal), ``fault clear`` ends it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from xaccount_ops.cli.context import Context

log = logging.getLogger(__name__)

STOP_POLL_S = 0.2


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
    up.add_argument(
        "--schedule-minute",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long one minute of EventBridge schedules and alarm evaluation lasts here "
        "(default 60; e.g. 1 makes rate(5 minutes) heartbeats come every 5 s)",
    )
    up.set_defaults(func=run_up)
    down = commands.add_parser(
        "down",
        help="stop the local cloud running in the data directory",
        description="Stops the local cloud that `local up` (or a notebook) started in DIR.",
    )
    status = commands.add_parser(
        "status",
        help="print the running local cloud's JSON line and pid (exit 1 when none runs)",
        description="Prints the JSON line of the local cloud running in DIR; exit 1 if none.",
    )
    for sub in (down, status):
        sub.add_argument("--data", metavar="DIR", default=".local-cloud", help=_DATA_HELP)
    down.set_defaults(func=run_down)
    status.set_defaults(func=run_status)
    register_fault(commands)


_DATA_HELP = "the local cloud's data directory (default .local-cloud)"


def _print_line(info: dict) -> None:
    sys.stdout.write(json.dumps({k: v for k, v in info.items() if k != "pid"}) + "\n")
    sys.stdout.flush()


class _Stopped(BaseException):
    """A stop signal came while the cloud was still starting (a BaseException, like
    KeyboardInterrupt, so no ``except Exception`` on the way swallows it)."""


def _on_stop_signals(stop: threading.Event, starting: threading.Event, limit_s: float) -> None:
    """SIGINT, SIGTERM and SIGHUP (the terminal closed) set ``stop``; while the cloud starts they
    abort the start instead (its ``except BaseException`` cleans up what had started, within
    ``limit_s``)."""

    def handler(signum: int, _frame: object) -> None:
        stop.set()
        if starting.is_set():
            starting.clear()
            _exit_unless_done(limit_s)
            raise _Stopped(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handler)


def _stop_within(cloud: Any, limit_s: float) -> None:
    """``cloud.stop()``, then kill any process it left; if stopping takes over ``limit_s``, kill
    every process this one started and exit at once (the kernel drops the data directory's
    lock with us). Either way nothing outlives the cloud."""
    from xaccount_ops.local import proctree

    done = _exit_unless_done(limit_s)
    try:
        cloud.stop()
    finally:
        done.set()
        left = [p.pid for p in proctree.descendants(os.getpid()) if p.state != "Z"]
        if left:
            log.warning("killing %d processes the local cloud left: %s", len(left), left)
            proctree.kill(left)


def _exit_unless_done(limit_s: float) -> threading.Event:
    """A watchdog: unless the returned event is set within ``limit_s``, kill every process this
    one started and exit at once."""
    from xaccount_ops.local import proctree

    done = threading.Event()

    def watchdog() -> None:
        if done.wait(limit_s):
            return
        left = proctree.descendants(os.getpid())
        log.error(
            "the local cloud did not stop within %.1f s; killing %d processes", limit_s, len(left)
        )
        proctree.kill([p.pid for p in left])
        os._exit(1)  # not even logging.shutdown(): a stuck thread may hold a handler's lock

    threading.Thread(target=watchdog, name="stop-watchdog", daemon=True).start()
    return done


def _exit_now(code: int) -> None:
    """Exit without the interpreter's finalization: collecting moto's object graph took 6 s of
    a 6.3 s exit on a loaded machine, after the cloud itself had stopped in 0.3 s. Everything
    that matters is done by then (stores closed, children ended) and the kernel releases the
    lock and the ports."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def run_up(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.local.cloud import LocalCloud
    from xaccount_ops.local.lock import CLOUD_STOP_S, AlreadyRunning

    stop, starting = threading.Event(), threading.Event()
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
        echo_access_log=getattr(args, "verbose", 0) > 0,
        schedule_minute_s=args.schedule_minute,
    )
    starting.set()
    _on_stop_signals(stop, starting, CLOUD_STOP_S)
    try:
        try:
            cloud.start()
        finally:
            starting.clear()
    except AlreadyRunning as running:
        if not running.info:
            raise
        # One cloud per data directory: use the running one (its accounts and regions).
        _print_line(running.info)
        print(f"xaccount-ops: {running}; using it", file=sys.stderr)
        return 0
    except _Stopped as signalled:
        _stop_within(cloud, CLOUD_STOP_S)  # it may have got up just before the signal
        print(f"xaccount-ops: {signalled} while starting; stopped", file=sys.stderr)
        _exit_now(0)
    try:
        _print_line(cloud.info())
        print(
            f"xaccount-ops: local cloud up in {cloud.data_dir} (access log: "
            f"{cloud.data_dir / 'access.log'}); Ctrl-C or `xaccount-ops local down` stops it",
            file=sys.stderr,
            flush=True,
        )
        # Never a wait without a timeout: Python runs signal handlers in the main thread only,
        # and a main thread blocked in an untimed lock wait may sleep through a SIGTERM that the
        # kernel delivered to another thread (issue 25). Waking every STOP_POLL_S runs them.
        while not stop.wait(STOP_POLL_S):
            pass
    finally:
        starting.clear()
        _stop_within(cloud, CLOUD_STOP_S)
    _exit_now(0)
    return 0  # not reached


def run_down(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.local import lock

    data = Path(args.data).resolve()
    stopped = lock.stop(data)
    if stopped is None:
        print(f"xaccount-ops: no local cloud runs in {data}; nothing to stop", file=sys.stderr)
    else:
        print(f"xaccount-ops: stopped the local cloud in {data} (pid {stopped['pid']})")
    return 0


def run_status(args: argparse.Namespace, ctx: Context) -> int:
    from xaccount_ops.local import lock

    data = Path(args.data).resolve()
    info = lock.running(data, wait_s=0)
    if info is None:
        print(f"xaccount-ops: no local cloud runs in {data}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(info) + "\n")  # with its pid
    return 0


# -- local fault: rehearse a listener outage -----------------------------------------------------

# What each kind of fault makes the emulator's listener do (``/__admin/faults``), and its effect.
FAULT_KINDS = {
    "401": ("reject the shipping token (HTTP 401)", "batches go to the failure store"),
    "503": (
        "answer 503 Service Unavailable",
        "the shipper retries, then batches go to the failure store",
    ),
    "slow": (
        "keep the lines but answer late (--delay, default 20s)",
        "past the shipper's 15 s request timeout: an ambiguous timeout, so resent lines "
        "arrive twice",
    ),
    "clear": ("end every fault now", "the listener accepts every valid request again"),
}
DEFAULT_SLOW_DELAY_S = 20.0


def register_fault(commands: argparse._SubParsersAction) -> None:
    """``local fault KIND [--for DURATION] [--delay DURATION] [--data DIR]``."""
    fault = commands.add_parser(
        "fault",
        help="make the local Logz.io listener fail for a while: 401, 503, slow; or clear",
        description="Rehearse an outage: "
        + "; ".join(f"{kind}: {what} ({effect})" for kind, (what, effect) in FAULT_KINDS.items())
        + ". Then `xaccount-ops health`, `replay` and `verify --reconcile` show and mend it.",
    )
    fault.add_argument("kind", choices=list(FAULT_KINDS), help="what the listener does")
    fault.add_argument(
        "--for",
        dest="duration",
        type=_fault_duration,
        default=None,
        metavar="DURATION",
        help="how long: 90s, 2m, 1h (default 2m; clear takes none)",
    )
    fault.add_argument(
        "--delay",
        type=_fault_duration,
        default=None,
        metavar="DURATION",
        help=f"slow only: how long each answer takes (default {DEFAULT_SLOW_DELAY_S:g}s)",
    )
    fault.add_argument("--data", metavar="DIR", default=".local-cloud", help=_DATA_HELP)
    fault.set_defaults(func=run_fault)


def _fault_duration(text: str) -> float:
    from xaccount_ops.cli.context import parse_window

    return parse_window(text).total_seconds()


def fault_rule(kind: str, duration_s: float, delay_s: float | None = None) -> dict[str, object]:
    """The ``/__admin/faults`` body for ``kind`` (every bulk request for ``duration_s``)."""
    if kind == "slow":
        return {"delay_s": delay_s or DEFAULT_SLOW_DELAY_S, "for_s": duration_s}
    return {"status": int(kind), "for_s": duration_s}


def run_fault(args: argparse.Namespace, ctx: Context) -> int:
    import urllib.error
    import urllib.request

    from xaccount_ops.local import lock

    data = Path(args.data).resolve()
    if args.kind == "clear" and (args.duration is not None or args.delay is not None):
        print("xaccount-ops: local fault clear takes no --for or --delay", file=sys.stderr)
        return 2
    if args.delay is not None and args.kind != "slow":
        print(f"xaccount-ops: --delay is for `local fault slow`, not {args.kind}", file=sys.stderr)
        return 2
    info = lock.running(data, wait_s=0)
    if info is None:
        print(
            f"xaccount-ops: no local cloud runs in {data}; start one with `xaccount-ops local up`",
            file=sys.stderr,
        )
        return 2
    url = f"{info['listener_url'].rstrip('/')}/__admin/faults"
    if args.kind == "clear":
        request = urllib.request.Request(url, method="DELETE")
    else:
        duration = args.duration if args.duration is not None else 120.0
        body = json.dumps(fault_rule(args.kind, duration, args.delay)).encode()
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except (urllib.error.URLError, OSError) as err:
        print(f"xaccount-ops: cannot reach the local listener at {url}: {err}", file=sys.stderr)
        return 2
    if args.kind == "clear":
        print("xaccount-ops: listener faults cleared: it accepts every valid request again")
    else:
        what, effect = FAULT_KINDS[args.kind]
        print(
            f"xaccount-ops: the local listener will {what} for {_seconds_text(duration)} "
            f"({effect}); `xaccount-ops local fault clear` ends it sooner"
        )
    return 0


def _seconds_text(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
