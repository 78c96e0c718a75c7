"""Backfill benchmark: ``backfill.backfill`` over 2 accounts x 2 regions x 8 log groups x 5,000
events of 300 bytes (160,000 events, 48 MB of messages) on the in-process local cloud with 40 ms
emulated latency and API rate limits on (``LocalCloud(latency_ms=40, rate_limit=True)``), shipping
into its Logz.io emulator.

Run ``.venv/bin/python bench/backfill_bench.py [--accounts 2] [--groups 8] [--events 5000]``.

What bounds it: FilterLogEvents is paced per account and region (``FILTER_TPS``, 10: the quota
``xaccount_ops/local/pace.py`` emulates) and a page holds up to 1 MB of events (AWS; the emulator
does the same), so reading one target is at most ~1 MB x 10 per second; targets read in
parallel. Shipping goes through ``shipper_lambda.handler.process`` one call at a time (its
connection pool is per module) into the emulator, which indexes every line in SQLite.

Set-up fast path (as bench/subscriptions_bench.py): groups, events and our filter are created in
the in-process moto backend, the events marked as ingested an hour before the filter (history),
so no event is near the boundary and none needs an id lookup. The landing side (a destination per
region whose policy lists the senders) comes from bench/subscriptions_bench.py.

Measured (2-core machine shared with other work, 2026-12-02, defaults: 160,000 events, 48 MB):
finding the groups 7.5 s (the inventory, DescribeSubscriptionFilters at 5 TPS); reading and
shipping 23.2 s = 6,900 events/s (2.1 MB/s). The dry run reads the same pages in 5.3 s (30,000
events/s; the quota-bound limit is 1.6 s: 16 pages per target at 10 TPS, 100,000 events/s), so
the run is bound by shipping (one process() call at a time, into the in-process emulator that
indexes every line in SQLite), not by the quota. 160,000 documents in the emulator (none lost,
none twice); the second run ships 0 in 8.1 s (finding the groups, no FilterLogEvents call).

Prints: the dry run (events, bytes, FilterLogEvents calls, its time estimate at the quota) and
its wall time; the real run's wall time, events/s and MB/s; the quota-bound reading limit; a
check that every event of a sample group is in the emulator exactly once; and a second run
(must ship nothing). Exits non-zero if anything failed or was duplicated.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import subscriptions_bench  # noqa: E402

from xaccount_ops.config import filter_name, load_config  # noqa: E402
from xaccount_ops.delivery import backfill  # noqa: E402
from xaccount_ops.fleet.accounts import Fleet  # noqa: E402

HOUR_MS = 3_600_000


def admin_stats(config: Any) -> dict[str, Any]:
    with urllib.request.urlopen(f"{config.logzio.listener_url}/__admin/stats", timeout=30) as r:
        return json.loads(r.read())


def create_history(cloud: Any, fleet: Fleet, groups: int, events: int, size: int) -> int:
    """``groups`` groups per target with ``events`` events each (two streams), ingested an hour
    ago, then our filter on each. Returns the number of events."""
    from moto.core.utils import unix_time_millis, utcnow
    from moto.logs.models import logs_backends

    now = int(unix_time_millis(utcnow()))
    total = 0
    for account in cloud.sending_accounts:
        for region in cloud.regions:
            backend = logs_backends[account][region]
            destination = (
                f"arn:aws:logs:{region}:{fleet.landing_account}:destination:"
                f"{subscriptions_bench.STACK}-destination"
            )
            for index in range(groups):
                name = f"/bench/backfill-{index:03d}"
                backend.create_log_group(name, tags={})
                for stream in ("a", "b"):
                    backend.create_log_stream(name, stream)
                    n = events // 2
                    start = now - 2 * HOUR_MS
                    batch = [
                        {"timestamp": start + i, "message": f"{stream}{i:07d} " + "x" * size}
                        for i in range(n)
                    ]
                    backend.groups[name].streams[stream].put_log_events(batch)
                    for event in backend.groups[name].streams[stream].events:
                        event.ingestion_time = now - HOUR_MS  # history: before the filter
                    total += n
                backend.groups[name].put_subscription_filter(
                    filter_name=filter_name(region),
                    filter_pattern="",
                    destination_arn=destination,
                    role_arn="",
                )
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=2)
    parser.add_argument("--groups", type=int, default=8, help="log groups per account/region")
    parser.add_argument("--events", type=int, default=5000, help="events per group")
    parser.add_argument("--message-bytes", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, default=40)
    args = parser.parse_args(argv)

    from xaccount_ops.local.cloud import LocalCloud

    cloud_cm = LocalCloud(
        accounts=args.accounts, latency_ms=args.latency_ms, rate_limit=True, seed_data=False
    )
    print(f"cloud: LocalCloud(latency_ms={args.latency_ms}, rate_limit=True)")
    with cloud_cm as cloud:
        config = load_config(cloud.config_path)
        targets_n = len(cloud.sending_accounts) * len(cloud.regions)
        config = dataclasses.replace(
            config,
            landing=dataclasses.replace(config.landing, stack_name=subscriptions_bench.STACK),
            aws=dataclasses.replace(config.aws, max_workers=targets_n),
        )
        fleet = Fleet.from_config(config)
        subscriptions_bench.build_landing(fleet, cloud)
        t0 = time.perf_counter()
        total = create_history(cloud, fleet, args.groups, args.events, args.message_bytes)
        print(
            f"set-up: {total} events in {targets_n * args.groups} groups ({targets_n} targets) "
            f"in moto's backend in {time.perf_counter() - t0:.1f} s"
        )
        since = timedelta(hours=3)

        cloud.pace.reset()
        t0 = time.perf_counter()
        dry = backfill.backfill(
            Fleet.from_config(config), since=since, dry_run=True, progress=False
        )
        dry_s = time.perf_counter() - t0
        calls = int(dry.frame["calls"].sum())
        print(
            f"dry run: {dry.summary()}; wall {dry_s:.1f} s (finding the groups {dry.select_s:.1f} "
            f"s, reading {dry.run_s:.1f} s), {calls} FilterLogEvents pages"
        )

        cloud.pace.reset()
        t0, cpu0 = time.perf_counter(), time.process_time()
        result = backfill.backfill(Fleet.from_config(config), since=since, progress=False)
        run_s = time.perf_counter() - t0
        cpu_s = time.process_time() - cpu0
        stats = cloud.pace.stats()
        shipped = int(result.frame["shipped"].sum())
        size = int(result.frame["bytes"].sum())
        print(f"backfill: {result.summary()}")
        print(
            f"backfill wall {run_s:.1f} s (finding the groups {result.select_s:.1f} s, reading "
            f"and shipping {result.run_s:.1f} s): {shipped / result.run_s:,.0f} events/s, "
            f"{size / result.run_s / 1e6:.1f} MB/s of messages while shipping; CPU of this process (client, in-process "
            f"server and emulator) {cpu_s:.1f} s; throttled {stats['throttled']} requests "
            f"({stats['throttled_by_operation']}), absorbed by pacing/retries"
        )
        per_target = backfill.per_target(result.frame)
        bound = float(per_target["calls"].max()) / backfill.FILTER_TPS
        print(
            f"quota-bound reading limit: {int(per_target['calls'].max())} pages per target @ "
            f"{backfill.FILTER_TPS:g} TPS = {bound:.1f} s ({shipped / max(bound, 1e-9):,.0f} "
            f"events/s); reading and shipping took {result.run_s / max(bound, 1e-9):.1f}x of it"
        )

        # Nothing else ships into this emulator (no event source mapping here): its document
        # count is the backfill's lines, so equal counts mean none lost and none duplicated.
        documents = admin_stats(config)["documents"]
        print(f"Logz.io emulator: {documents} documents for {total} events")

        again = backfill.backfill(Fleet.from_config(config), since=since, progress=False)
        print(f"second run: {again.summary()} (wall {again.select_s + again.run_s:.1f} s)")
        after = admin_stats(config)["documents"]
        bad = (
            not result.ok
            or shipped != total
            or documents != total
            or after != total
            or int(again.frame["shipped"].sum()) != 0
        )
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
