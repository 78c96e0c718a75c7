"""Inventory benchmark: a full inventory of 10 accounts x 2 regions x 200 log groups on the local
cloud with 40 ms emulated latency and API rate limits on.

Run ``.venv/bin/python bench/inventory_bench.py [--accounts 10] [--groups 200]``.

Set-up fast path: the groups are created straight in the in-process moto backend
(``moto.logs.models.logs_backends``), bypassing the HTTP front and therefore the emulated latency
and rate limits; a creation through the API would cost 4,000 paced calls. Every 10th group gets a
foreign subscription filter (in the same backend) so the filters path carries data.

Prints three times: the parallel inventory (``inventory.log_groups``), a sequential loop of the
same calls (measured on a subset of targets and extrapolated, which the output says), and the
quota-bound limit: for each target, its calls to each API divided by that API's TPS quota from
``xaccount_ops/local/pace.py`` (the slowest API bounds the target), all targets in parallel.
Targets: >= 10x the sequential loop, within 1.5x of the quota-bound limit, no target lost to
throttling. Numbers, not assertions: a lost target or a missing group exits non-zero.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xaccount_ops.config import load_config  # noqa: E402
from xaccount_ops.fleet import inventory  # noqa: E402
from xaccount_ops.fleet.accounts import Fleet, Target  # noqa: E402
from xaccount_ops.local import pace  # noqa: E402

PAGE_SIZE = 50  # describe_log_groups' default (and maximum) page size


def create_groups(cloud: Any, groups: int) -> int:
    """Create ``groups`` log groups per sending account/region directly in moto's backend."""
    from moto.logs.models import logs_backends

    created = 0
    for account in cloud.sending_accounts:
        for region in cloud.regions:
            backend = logs_backends[account][region]
            for index in range(groups):
                name = f"/bench/app-{index:04d}"
                backend.create_log_group(name, tags={"bench": "1"})
                if index % 10 == 0:
                    backend.groups[name].put_subscription_filter(
                        filter_name="other-team",
                        filter_pattern="",
                        destination_arn=f"arn:aws:lambda:{region}:{account}:function:other-team",
                        role_arn="",
                    )
                created += 1
    return created


def expected_calls(groups: int) -> Counter[str]:
    """The calls one target's inventory makes: list pages, then one filters call per group."""
    return Counter(
        {
            "DescribeLogGroups": max(1, math.ceil(groups / PAGE_SIZE)),
            "DescribeSubscriptionFilters": groups,
        }
    )


def quota_bound_s(calls: Counter[str], quotas: dict[str, float]) -> float:
    """Lower bound for one target: the API whose calls take longest at its TPS quota."""
    return max(count / quotas[op] for op, count in calls.items())


def sequential(fleet: Fleet, targets: list[Target]) -> float:
    """The same calls in one thread, one after another. Returns seconds."""
    started = time.perf_counter()
    for target in targets:
        logs = fleet.client("logs", target.account_id, target.region)
        for page in logs.get_paginator("describe_log_groups").paginate():
            for group in page["logGroups"]:
                logs.describe_subscription_filters(logGroupName=group["logGroupName"])
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--groups", type=int, default=200, help="log groups per account/region")
    parser.add_argument("--latency-ms", type=int, default=40)
    parser.add_argument(
        "--sequential-targets",
        type=int,
        default=2,
        help="targets the sequential loop is measured on (then extrapolated)",
    )
    args = parser.parse_args(argv)

    from xaccount_ops.local.cloud import LocalCloud

    cloud_cm = LocalCloud(
        accounts=args.accounts, latency_ms=args.latency_ms, rate_limit=True, seed_data=False
    )
    print(f"cloud: LocalCloud, {args.latency_ms} ms per call, rate limits on (local/pace.py)")
    with cloud_cm as cloud:
        t0 = time.perf_counter()
        total = create_groups(cloud, args.groups)
        print(
            f"set-up: {total} log groups created in moto's backend in {time.perf_counter() - t0:.1f} s"
        )
        config = load_config(cloud.config_path)
        targets_n = len(cloud.sending_accounts) * len(cloud.regions)
        # Every target in flight at once: the quota-bound limit assumes it.
        config = dataclasses.replace(
            config, aws=dataclasses.replace(config.aws, max_workers=targets_n)
        )
        fleet = Fleet.from_config(config)

        t0, cpu0 = time.perf_counter(), time.process_time()
        result = inventory.log_groups(fleet, progress=False)
        parallel_s = time.perf_counter() - t0
        cpu_s = time.process_time() - cpu0

        lost = len(result.errors)
        listed = len(result.frame)
        print(
            f"parallel inventory: {listed} groups, {targets_n} targets "
            f"(max_workers={config.aws.max_workers}, "
            f"{inventory.FILTER_WORKERS_PER_TARGET} filter calls in flight per target) "
            f"in {parallel_s:.2f} s; targets lost: {lost}"
        )
        # Client and server share this process (and its GIL): their CPU time is a floor too.
        print(
            f"CPU time of this process during it (client + in-process server): {cpu_s:.1f} s "
            f"on {os.cpu_count()} cores, i.e. {1000 * cpu_s / max(1, listed):.1f} ms per group"
        )
        if lost:
            print(result.errors.to_string(), file=sys.stderr)

        subset = fleet.targets[: args.sequential_targets]
        seq_fleet = Fleet.from_config(config)  # fresh clients: no warmed-up rate limiter
        seq_subset_s = sequential(seq_fleet, subset)
        seq_s = seq_subset_s * targets_n / len(subset)
        print(
            f"sequential loop: {seq_subset_s:.2f} s on {len(subset)} targets, "
            f"extrapolated to {targets_n} targets: {seq_s:.1f} s"
        )

        quotas = pace.QUOTAS
        throttled = cloud.pace.stats()["throttled"]
        print(f"quotas from xaccount_ops.local.pace.QUOTAS; server throttled {throttled} calls")
        calls = expected_calls(args.groups)
        bound_s = quota_bound_s(calls, quotas)
        print(
            "quota-bound limit: "
            + ", ".join(f"{op} {n} calls @ {quotas[op]:g} TPS" for op, n in calls.items())
            + f" per target, all in parallel: {bound_s:.2f} s"
        )
        speedup = seq_s / parallel_s
        vs_bound = parallel_s / bound_s
        print(
            f"speed-up vs sequential: {speedup:.1f}x (target >= 10x); "
            f"vs quota-bound limit: {vs_bound:.2f}x (target <= 1.5x)"
        )
        expected = len(cloud.sending_accounts) * len(cloud.regions) * args.groups
        return 1 if lost or listed < expected else 0


if __name__ == "__main__":
    sys.exit(main())
