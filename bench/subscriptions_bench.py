"""Subscriptions benchmark: ``subscriptions.plan`` + ``apply`` over 15 accounts x 2 regions x 70
log groups (2,100) on the in-process local cloud with 40 ms emulated latency and API rate limits
on (``LocalCloud(latency_ms=40, rate_limit=True)``).

Run ``.venv/bin/python bench/subscriptions_bench.py [--accounts 15] [--groups 70]``.

Why 15 accounts: every API involved is quota-bound *per account and region* (5 TPS for
DescribeSubscriptionFilters and PutSubscriptionFilter), and a one-thread loop already runs one
target at about its quota (it alternates the two operations, each at 5 TPS). So the speed-up over
the sequential loop is at most (targets) x (per-target loop time) / (plan bound + apply bound),
about targets / 2: 20 targets (10 accounts) cannot reach 10x even at the quota bound (measured
8.5x at 1.16x the bound, 10 x 100 groups); 30 targets can.

Measured (2-core machine, 2026-12-02, the full LocalCloud, 2,100 groups, 0 failed rows):
plan 22.1 s + apply 14.9 s = 36.9 s; sequential 414 s (extrapolated from 2 targets): 11.2x;
quota-bound 27.8 s: 1.33x (plan 1.58x: the inventory's own retries, 237 throttled
DescribeSubscriptionFilters; apply 1.08x).

Set-up fast path (as bench/inventory_bench.py): the groups are created straight in the in-process
moto backend, bypassing the paced HTTP front. Every 10th group gets one foreign filter (ours is
added beside it), every 50th two (slot-full: skipped). The landing side (a Kinesis stream, a
destination per region, a policy listing the senders) is created through the API.

Prints: the parallel plan and apply times; a sequential loop of the same calls (list the groups,
read each group's filters, put ours), measured on a subset of targets and extrapolated (the
output says so); and the quota-bound limit from ``xaccount_ops/local/pace.py``'s TPS quotas: per
target, for each phase, the calls of the slowest API divided by its quota, plan then apply
(apply needs the plan), all targets in parallel. Targets: >= 10x the sequential loop, within 1.5x
of the quota-bound limit, zero rows failed by throttling. A failed row exits non-zero.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xaccount_ops import subscriptions  # noqa: E402
from xaccount_ops.config import filter_name, load_config  # noqa: E402
from xaccount_ops.fleet.accounts import Fleet, Target  # noqa: E402

PAGE_SIZE = 50  # describe_log_groups' default page size
STACK = "benchsub"


def create_groups(cloud: Any, groups: int) -> Counter[str]:
    """``groups`` log groups per sending account/region, in moto's backend."""
    from moto.logs.models import logs_backends

    made: Counter[str] = Counter()
    for account in cloud.sending_accounts:
        for region in cloud.regions:
            backend = logs_backends[account][region]
            for index in range(groups):
                name = f"/bench/app-{index:04d}"
                backend.create_log_group(name, tags={"bench": "1"})
                foreign = 2 if index % 50 == 49 else 1 if index % 10 == 0 else 0
                for n in range(foreign):
                    backend.groups[name].put_subscription_filter(
                        filter_name=f"other-team-{n}",
                        filter_pattern="",
                        destination_arn=f"arn:aws:lambda:{region}:{account}:function:other-{n}",
                        role_arn="",
                    )
                made["slot-full" if foreign == 2 else "free"] += 1
    return made


def build_landing(fleet: Fleet, cloud: Any) -> None:
    """A stream, and a destination per region whose policy lists every sender."""
    region0 = cloud.regions[0]
    kinesis = fleet.landing_client("kinesis", region0)
    kinesis.create_stream(
        StreamName=f"{STACK}-stream", StreamModeDetails={"StreamMode": "ON_DEMAND"}
    )
    stream_arn = f"arn:aws:kinesis:{region0}:{fleet.landing_account}:stream/{STACK}-stream"
    for region in cloud.regions:
        logs = fleet.landing_client("logs", region)
        name = f"{STACK}-destination"
        arn = logs.put_destination(
            destinationName=name,
            targetArn=stream_arn,
            roleArn=f"arn:aws:iam::{fleet.landing_account}:role/{STACK}-logs",
        )["destination"]["arn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": list(cloud.sending_accounts)},
                    "Action": "logs:PutSubscriptionFilter",
                    "Resource": arn,
                }
            ],
        }
        logs.put_destination_policy(destinationName=name, accessPolicy=json.dumps(policy))


def sequential(fleet: Fleet, targets: list[Target], destinations: dict[str, str]) -> float:
    """The same calls in one thread, one after another. Returns seconds."""
    started = time.perf_counter()
    for target in targets:
        logs = fleet.client("logs", target.account_id, target.region)
        name = filter_name(target.region)
        for page in logs.get_paginator("describe_log_groups").paginate():
            for group in page["logGroups"]:
                current = logs.describe_subscription_filters(logGroupName=group["logGroupName"])
                current = current["subscriptionFilters"]
                if len(current) < 2 and all(f["filterName"] != name for f in current):
                    logs.put_subscription_filter(
                        logGroupName=group["logGroupName"],
                        filterName=name,
                        filterPattern="",
                        destinationArn=destinations[target.region],
                    )
    return time.perf_counter() - started


def undo(targets: list[Target]) -> None:
    """Take the sequential loop's filters off again (in the backend), so the real run starts clean."""
    from moto.logs.models import logs_backends

    for target in targets:
        backend = logs_backends[target.account_id][target.region]
        for group in backend.groups.values():
            group.subscription_filters.pop(filter_name(target.region), None)


def phase_bound_s(calls: Counter[str], quotas: dict[str, float]) -> float:
    return max((n / quotas[op] for op, n in calls.items() if n), default=0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=15)
    parser.add_argument("--groups", type=int, default=70, help="log groups per account/region")
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
    print(f"cloud: LocalCloud(latency_ms={args.latency_ms}, rate_limit=True)")
    with cloud_cm as cloud:
        t0 = time.perf_counter()
        made = create_groups(cloud, args.groups)
        total = sum(made.values())
        print(
            f"set-up: {total} log groups ({made['slot-full']} slot-full) in moto's backend in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        config = load_config(cloud.config_path)
        config = dataclasses.replace(
            config, landing=dataclasses.replace(config.landing, stack_name=STACK)
        )
        targets_n = len(cloud.sending_accounts) * len(cloud.regions)
        # Every target in flight at once: the quota-bound limit assumes it.
        config = dataclasses.replace(
            config, aws=dataclasses.replace(config.aws, max_workers=targets_n)
        )
        fleet = Fleet.from_config(config)
        build_landing(fleet, cloud)
        destinations = {
            r: f"arn:aws:logs:{r}:{fleet.landing_account}:destination:{STACK}-destination"
            for r in cloud.regions
        }
        pace = cloud.pace

        subset = fleet.targets[: args.sequential_targets]
        seq_subset_s = sequential(Fleet.from_config(config), subset, destinations)
        seq_s = seq_subset_s * targets_n / len(subset)
        undo(subset)
        print(
            f"sequential loop: {seq_subset_s:.1f} s on {len(subset)} targets, extrapolated to "
            f"{targets_n} targets: {seq_s:.0f} s"
        )

        pace.reset()
        fleet = Fleet.from_config(config)  # fresh clients: no warmed-up rate limiter
        t0, cpu0 = time.perf_counter(), time.process_time()
        planned = subscriptions.plan(fleet, progress=False)
        plan_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        result = subscriptions.apply(fleet, planned, progress=False)
        apply_s = time.perf_counter() - t1
        parallel_s = time.perf_counter() - t0
        cpu_s = time.process_time() - cpu0
        stats = pace.stats()
        print(f"plan: {planned.summary()} in {plan_s:.1f} s")
        print(f"apply: {result.summary()} in {apply_s:.1f} s")
        failed = result.frame[result.frame["status"] == "failed"]
        throttled_failed = int(
            failed["error"].str.contains("Throttl|LimitExceeded|Rate exceeded").sum()
        )
        print(
            f"rows failed: {len(failed)} (by throttling: {throttled_failed}); targets failed: "
            f"{len(planned.errors)}; server throttled {stats['throttled']} requests, absorbed "
            f"by retries ({stats['throttled_by_operation']})"
        )
        print(
            f"CPU time of this process (client + in-process server): {cpu_s:.1f} s on "
            f"{os.cpu_count()} cores"
        )

        quotas = dict(pace.quotas)
        per_target_groups = args.groups
        creates_per_target = (planned.frame["action"] == "create").sum() / targets_n
        plan_calls = Counter(
            {
                "DescribeLogGroups": max(1, math.ceil(per_target_groups / PAGE_SIZE)),
                "DescribeSubscriptionFilters": per_target_groups,
            }
        )
        apply_calls = Counter({"PutSubscriptionFilter": math.ceil(creates_per_target)})
        plan_bound = phase_bound_s(plan_calls, quotas)
        apply_bound = phase_bound_s(apply_calls, quotas)
        bound = plan_bound + apply_bound
        print(
            "quota-bound limit per target, all targets in parallel: plan "
            + ", ".join(f"{op} {n} @ {quotas[op]:g} TPS" for op, n in plan_calls.items())
            + f" = {plan_bound:.1f} s; apply "
            + ", ".join(f"{op} {n} @ {quotas[op]:g} TPS" for op, n in apply_calls.items())
            + f" = {apply_bound:.1f} s; together {bound:.1f} s"
        )
        print(
            f"parallel plan+apply {parallel_s:.1f} s: {seq_s / parallel_s:.1f}x the sequential "
            f"loop (target >= 10x); {parallel_s / bound:.2f}x the quota-bound limit "
            f"(target <= 1.5x); plan {plan_s / plan_bound:.2f}x, apply "
            f"{apply_s / apply_bound:.2f}x of their bounds"
        )
        expected = made["free"]
        return 1 if len(failed) or len(planned.errors) or result.changed < expected else 0


if __name__ == "__main__":
    sys.exit(main())
