"""Fleet scale benchmark: inventory, audit, subscribe plan+apply and verify at 20, 200 and 2,000
targets (account x region) on the local cloud with 40 ms emulated latency and API rate limits on.

Run ``.venv/bin/python bench/fleet_scale_bench.py [--sizes 10x2,40x5,200x10] [--groups 3]``.
Each size runs in its own process (moto's state and the peak RSS are per process) and prints one
JSON line; the parent prints the table, the fitted growth and the extrapolation to 17,000 targets
(1,000 accounts x 17 regions).

Per phase it reports: wall time; the *bound*, the larger of
- the quota bound: for every (account, region, operation) the calls the pace middleware admitted
  divided by that operation's TPS quota (``xaccount_ops/local/pace.py``), the slowest bucket
  bounding the phase (all targets in parallel, as AWS allows), and
- the latency bound: admitted calls x emulated latency / the fan-out's worker count (each worker
  waits out one call at a time; fewer workers when there are fewer targets);
and wall / bound (goal <= 1.3). Peak RSS of the process (toolkit + the in-process moto server
and its state: an upper bound on the toolkit's own memory) after each phase.

Set-up fast path (as the other benches): log groups are created straight in moto's backend; the
landing side (stream, one destination per region, the shipper function with its Kinesis mapping)
through the API. The destination policies use organization trust (``aws:PrincipalOrgID``): an
account list stops fitting the 5,120-byte policy limit at about 325 accounts (see
``xaccount_ops.trust``: deploy insists on organization trust past it), so the 2,000-target size
needs it.

Measured (2-core machine shared with other jobs, 2026-12-07, 3 groups per target, 32 workers;
README "Large organizations"): wall s at 20 / 200 / 2,000 targets: inventory 8.7 / 25.9 / 170,
audit 1.9 / 2.0 / 6.9, plan 3.8 / 22.2 / 224, apply 3.4 / 21.4 / 152, verify 4.2 / 23.7 / 274
(every canary delivered); bound at 2,000 targets 13-17 s a phase, ratio 12-18x, CPU of the
process 108-158 s a phase (client and in-process moto); peak RSS 402 / 526 / 1,696 MB, 684 KB per
target; growth exponent 200 -> 2,000: 0.82-1.06 (linear).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import resource
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-central-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ca-central-1",
    "sa-east-1",
    "eu-north-1",
    "ap-south-1",
    "eu-west-3",
    "ap-northeast-2",
    "eu-south-1",
)
STACK = "benchscale"
DEFAULT_SIZES = "10x2,40x5,200x10"
EXTRAPOLATE_TO = 17_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def shipper_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((REPO / "shipper_lambda").rglob("*.py")):
            archive.write(path, path.relative_to(REPO).as_posix())
    return buffer.getvalue()


def create_groups(cloud: Any, groups: int) -> int:
    from moto.logs.models import logs_backends

    made = 0
    for account in cloud.sending_accounts:
        for region in cloud.regions:
            backend = logs_backends[account][region]
            for index in range(groups):
                backend.create_log_group(f"/bench/app-{index:03d}", tags={"bench": "1"})
                made += 1
    return made


def build_landing(fleet: Any, cloud: Any) -> None:
    """Stream, destinations with organization trust, the shipper and its mapping."""
    region0 = fleet.landing_region
    kinesis = fleet.landing_client("kinesis", region0)
    kinesis.create_stream(StreamName=f"{STACK}-stream", ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=f"{STACK}-stream", WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    stream_arn = kinesis.describe_stream_summary(StreamName=f"{STACK}-stream")[
        "StreamDescriptionSummary"
    ]["StreamARN"]
    partition = stream_arn.split(":")[1]
    iam = fleet.landing_client("iam", region0)

    def role(name: str, service: str) -> str:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]

    logs_role = role(f"{STACK}-logs", "logs.amazonaws.com")
    for region in cloud.regions:
        logs = fleet.landing_client("logs", region)
        name = f"{STACK}-destination"
        arn = logs.put_destination(destinationName=name, targetArn=stream_arn, roleArn=logs_role)[
            "destination"
        ]["arn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowOrganization",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "logs:PutSubscriptionFilter",
                    "Resource": arn,
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": cloud.organization_id}},
                }
            ],
        }
        logs.put_destination_policy(destinationName=name, accessPolicy=json.dumps(policy))
    function = f"{STACK}-shipper"
    fleet.landing_client("logs", region0).create_log_group(logGroupName=f"/aws/lambda/{function}")
    awslambda = fleet.landing_client("lambda", region0)
    awslambda.create_function(
        FunctionName=function,
        Runtime="python3.12",
        Role=role(f"{STACK}-shipper", "lambda.amazonaws.com"),
        Handler="shipper_lambda.handler.lambda_handler",
        Code={"ZipFile": shipper_zip()},
        Timeout=60,
        Environment={
            "Variables": {
                "LOGZIO_LISTENER_URL": cloud.listener_url,
                "LOGZIO_TOKEN": cloud.shipping_token,
            }
        },
    )
    awslambda.create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName=function,
        StartingPosition="TRIM_HORIZON",
        BatchSize=500,
        MaximumBatchingWindowInSeconds=0,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    del partition


def bound_s(
    admitted: dict[tuple[str, str, str, str], int],
    quotas: dict[str, float],
    latency_ms: int,
    workers: int,
    targets: int,
) -> dict[str, float]:
    """The quota bound (slowest bucket), the latency bound and their max, in seconds."""
    quota = 0.0
    slowest = ""
    total = 0
    for (account, region, service, operation), count in admitted.items():
        total += count
        rate = (
            quotas.get(operation, 0.0)
            if service in ("logs", "cloudformation", "organizations")
            else 0.0
        )
        if rate > 0 and count / rate > quota:
            quota = count / rate
            slowest = f"{operation} x{count} in {account}/{region} @ {rate:g} TPS"
    latency = total * latency_ms / 1000 / max(1, min(workers, targets))
    return {
        "quota_s": quota,
        "latency_s": latency,
        "bound_s": max(quota, latency),
        "calls": total,
        "slowest": slowest,
    }


def run_size(
    accounts: int, regions: int, groups: int, latency_ms: int, workers: int, verify_timeout: float
) -> dict[str, Any]:
    from xaccount_ops import subscriptions
    from xaccount_ops.config import load_config
    from xaccount_ops.fleet import audit, inventory
    from xaccount_ops.fleet.accounts import Fleet
    from xaccount_ops.local.cloud import LocalCloud
    from xaccount_ops.verify import verify

    out: dict[str, Any] = {
        "accounts": accounts,
        "regions": regions,
        "targets": accounts * regions,
        "groups_per_target": groups,
        "workers": workers,
        "phases": {},
    }
    with LocalCloud(
        accounts=accounts,
        regions=REGIONS[:regions],
        latency_ms=latency_ms,
        rate_limit=True,
        seed_data=False,
    ) as cloud:
        t0 = time.perf_counter()
        create_groups(cloud, groups)
        cfg = load_config(cloud.config_path)
        cfg = dataclasses.replace(
            cfg,
            landing=dataclasses.replace(cfg.landing, stack_name=STACK),
            aws=dataclasses.replace(cfg.aws, max_workers=workers),
            verify=dataclasses.replace(cfg.verify, canary_log_group="/xaccount-ops/bench-canary"),
        )
        build_landing(Fleet.from_config(cfg), cloud)
        out["setup_s"] = round(time.perf_counter() - t0, 1)
        out["rss_after_setup_mb"] = round(peak_rss_mb(), 1)
        pace = cloud.pace
        quotas = dict(pace.quotas)

        def phase(name: str, fn: Any) -> Any:
            pace.reset()
            fleet = Fleet.from_config(cfg)
            start, cpu = time.perf_counter(), time.process_time()
            result = fn(fleet)
            wall = time.perf_counter() - start
            cpu = time.process_time() - cpu
            bounds = bound_s(pace.admitted(), quotas, latency_ms, workers, accounts * regions)
            stats = pace.stats()
            out["phases"][name] = {
                "wall_s": round(wall, 2),
                **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in bounds.items()},
                "ratio": round(wall / bounds["bound_s"], 2) if bounds["bound_s"] else None,
                # client and in-process server share one GIL: wall >= cpu on any machine
                "cpu_s": round(cpu, 2),
                "throttled": stats["throttled"],
                "peak_rss_mb": round(peak_rss_mb(), 1),
            }
            return result

        inv = phase("inventory", lambda f: inventory.log_groups(f, progress=False))
        out["inventory_rows"] = len(inv.frame)
        # audit's own checks on that inventory (the CLI's `audit` is the inventory plus these)
        findings = phase("audit", lambda f: audit.audit(f, inv))
        out["findings"] = len(findings)
        planned = phase("plan", lambda f: subscriptions.plan(f, progress=False))
        applied = phase("apply", lambda f: subscriptions.apply(f, planned, progress=False))
        out["apply"] = applied.summary()
        result = phase("verify", lambda f: verify(f, timeout_s=verify_timeout, progress=False))
        out["verify_statuses"] = dict(Counter(result.frame["status"]))
    return out


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares line y = a + b x."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - b * mx, b


def report(results: list[dict[str, Any]]) -> None:
    print()
    print(
        f"{'targets':>8} {'phase':<10} {'wall s':>8} {'bound s':>8} {'ratio':>6} {'quota s':>8} {'lat s':>7} {'calls':>7} {'thr':>5} {'cpu s':>6} {'RSS MB':>7}"
    )
    for r in results:
        for name, p in r["phases"].items():
            print(
                f"{r['targets']:>8} {name:<10} {p['wall_s']:>8.1f} {p['bound_s']:>8.1f} {p['ratio'] or 0:>6.2f} "
                f"{p['quota_s']:>8.1f} {p['latency_s']:>7.1f} {p['calls']:>7} {p['throttled']:>5} {p['cpu_s']:>6.1f} {p['peak_rss_mb']:>7.0f}"
            )
    if len(results) < 2:
        return
    xs = [float(r["targets"]) for r in results]
    print()
    print(
        f"fitted growth (least squares over {len(xs)} sizes), extrapolated to {EXTRAPOLATE_TO:,} targets:"
    )
    for name in results[0]["phases"]:
        ys = [r["phases"][name]["wall_s"] for r in results]
        a, b = fit(xs, ys)
        # exponent between the two largest sizes: 1.0 is linear, 2.0 quadratic
        exp = math.log(ys[-1] / ys[-2]) / math.log(xs[-1] / xs[-2]) if ys[-2] > 0 else float("nan")
        print(
            f"  {name:<10} {b * 1000:8.1f} ms/target + {a:6.1f} s; growth exponent {exp:.2f}; {a + b * EXTRAPOLATE_TO:8.0f} s at {EXTRAPOLATE_TO:,}"
        )
    rss = [r["phases"]["verify"]["peak_rss_mb"] for r in results]
    a, b = fit(xs, rss)
    print(
        f"  peak RSS  {b * 1024 * 1024 / 1:8.0f} bytes/target + {a:6.0f} MB; {a + b * EXTRAPOLATE_TO:8.0f} MB at {EXTRAPOLATE_TO:,}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="accounts x regions, comma list")
    parser.add_argument("--groups", type=int, default=3, help="log groups per target")
    parser.add_argument("--latency-ms", type=int, default=40)
    parser.add_argument("--workers", type=int, default=32, help="aws.max_workers")
    parser.add_argument("--verify-timeout", type=float, default=300)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # "AxR": run one size, print JSON
    args = parser.parse_args(argv)
    if args.one:
        a, r = (int(v) for v in args.one.split("x"))
        print(
            json.dumps(
                run_size(a, r, args.groups, args.latency_ms, args.workers, args.verify_timeout)
            )
        )
        return 0
    results = []
    for size in args.sizes.split(","):
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                size,
                "--groups",
                str(args.groups),
                "--latency-ms",
                str(args.latency_ms),
                "--workers",
                str(args.workers),
                "--verify-timeout",
                str(args.verify_timeout),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if done.returncode:
            print(done.stdout[-3000:], done.stderr[-3000:])
            return 1
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(result), f"({time.perf_counter() - started:.0f} s in all)", flush=True)
        results.append(result)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
