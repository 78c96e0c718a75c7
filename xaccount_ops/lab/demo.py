"""``make demo`` and ``make lab``: the notebooks on the embedded local cloud.

``python -m xaccount_ops.lab.demo --out out`` starts the local cloud, executes the notebooks headless
against it (deploy, attach, audit, verify), writes the executed notebooks and their HTML reports
to ``out/``, prints a short summary (with ``verify --reconcile`` over the whole run) and exits 0
only if every notebook ran, every canary was delivered and no shipping log group is short.
``--lab`` starts the local cloud (or uses the one running in ``--data``) and JupyterLab on
``notebooks/`` with ``XACCOUNT_OPS_CONFIG`` pointing at it, until Ctrl-C, which stops both (a
cloud it did not start keeps running). Arguments it does not know go to ``jupyter lab``.

This is a command-line front end: it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from xaccount_ops.config import CONFIG_ENV

log = logging.getLogger("xaccount_ops.lab.demo")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
KERNEL = "python3"
CELL_TIMEOUT_S = 240
DEMO_MINUTE_S = 1  # how long a schedule minute lasts on the demo's local cloud
SAVE_HOOK = "xaccount_ops.lab.nbsave.strip_outputs"
DEMO_CLOUD = Path("out") / "local-cloud"  # where `make demo` leaves its cloud running


@dataclass(frozen=True)
class Step:
    notebook: str
    parameters: dict[str, Any]


def steps(config: Path, out: Path) -> list[Step]:
    """The notebooks the demo runs, with their parameters (the config of the local cloud).
    05's reconcile window is set when it runs (:func:`reconcile_parameters`)."""
    common = {"config": str(config)}
    return [
        Step("01-deploy-landing", {**common, "deploy": True, "include_speedups": False}),
        Step("02-attach-senders", {**common, "apply": True}),
        Step("04-audit-log-groups", {**common, "export_dir": str(out)}),
        Step(
            "05-verify-delivery",
            {**common, "export_dir": str(out), "timeout_s": 120, "heartbeat_wait_s": 90},
        ),
    ]


def reconcile_parameters(since: datetime, now: datetime | None = None) -> dict[str, str]:
    """05's reconcile over the demo's own traffic: whole minutes from the seed to now, nothing
    held back for flight (05 reconciles after its canaries were found). Without this, 05 looks
    at the hour ending 5 minutes ago, before the demo's cloud existed: "0 with events"."""
    minutes = math.ceil(((now or datetime.now(UTC)) - since).total_seconds() / 60) + 1
    return {"reconcile_window": f"{minutes}m", "reconcile_lag": "0"}


def execute(step: Step, out: Path) -> tuple[Path, str]:
    """Run one notebook with papermill; write it and its HTML report. Returns (path, error)."""
    import papermill

    from xaccount_ops.lab import report

    executed = out / f"{step.notebook}.ipynb"
    error = ""
    try:
        papermill.execute_notebook(
            str(NOTEBOOKS / f"{step.notebook}.ipynb"),
            str(executed),
            parameters=step.parameters,
            kernel_name=KERNEL,
            cwd=str(out),
            progress_bar=False,
            execution_timeout=CELL_TIMEOUT_S,
            # The kernel's own warnings (e.g. "Kernel is running over TCP without encryption",
            # on loopback here) are not the reader's business; cell errors still surface.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except Exception as err:  # papermill has written the notebook with the failing cell
        error = (
            f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
        )
    if executed.is_file():
        report.export_html(executed)  # static: complete offline, no CDN
    return executed, error


def reconcile_line(out: Path) -> tuple[str, bool]:
    """05's own reconcile verdict (``reconcile-summary.txt`` it exported), so the console says
    what the report shows: one run, one window, one verdict."""
    path = out / "reconcile-summary.txt"
    if not path.is_file():
        return "reconcile: none (05-verify-delivery did not get to it)", False
    line, verdict = [*path.read_text().splitlines(), "", ""][:2]
    return line, verdict.strip() == "ok"


def summary(config: Path, out: Path, since: datetime | None = None) -> tuple[list[str], bool]:
    """The closing lines, from the library and the CSV files the notebooks exported."""
    from xaccount_ops import landing
    from xaccount_ops.config import load_config
    from xaccount_ops.fleet.accounts import Fleet

    fleet = Fleet.from_config(load_config(config))
    lines = []
    try:
        outputs = landing.stack_outputs(fleet)
        lines.append(f"stacks: {len(outputs)} ({', '.join(o.stack for o in outputs.values())})")
    except Exception as err:
        lines.append(f"stacks: none ({err})")
    lines.append(
        f"targets: {len(fleet.accounts)} accounts x {len(fleet.regions)} regions = "
        f"{len(fleet.targets)}"
    )
    groups = out / "log-groups-summary.csv"
    if groups.is_file():
        frame = pd.read_csv(groups)
        lines.append(
            f"log groups subscribed: {int(frame['shipping'].sum())}/{int(frame['log_groups'].sum())}"
        )
        lines += unshipped_lines(out, fleet.config)
    canaries = out / "canaries.csv"
    ok = False
    if canaries.is_file():
        frame = pd.read_csv(canaries)
        delivered = frame[frame["status"] == "delivered"]
        ok = len(frame) > 0 and len(delivered) == len(frame)
        median = delivered["latency_s"].median() if len(delivered) else float("nan")
        lines.append(f"canaries delivered: {len(delivered)}/{len(frame)}")
        lines.append(f"median latency: {median:.2f} s")
    else:
        lines.append("canaries delivered: none (05-verify-delivery did not finish)")
    if since is not None and ok:
        line, agreed = reconcile_line(out)
        lines.append(line)
        ok = ok and agreed
    return lines, ok


def unshipped_lines(out: Path, config: Any, limit: int = 5) -> list[str]:
    """One line per log group that does not ship, with the audit's reason (from the 04 CSVs)."""
    from xaccount_ops.fleet.selection import is_pipeline_group

    groups, findings = out / "log-groups.csv", out / "findings.csv"
    if not groups.is_file():
        return []
    inventory = pd.read_csv(groups, dtype={"account_id": str})
    missing = inventory[~inventory["ships"].astype(bool)]
    reasons: dict[tuple[str, str, str], str] = {}
    if findings.is_file():
        found = pd.read_csv(findings, dtype={"account_id": str}).fillna("")
        for row in found.itertuples():
            key = (row.account_id, row.region, row.resource)
            reasons.setdefault(key, f"{row.finding} ({row.check})")

    def why(row: Any) -> str:
        if is_pipeline_group(row.log_group, config):
            return (
                "the pipeline's own log group, never subscribed (every line shipped would log more)"
            )
        return reasons.get(
            (row.account_id, row.region, row.log_group),
            "not selected by [subscriptions] include/exclude/tags in the config",
        )

    lines = [
        f"  not subscribed: {row.account_id}/{row.region} {row.log_group}: {why(row)}"
        for row in missing.head(limit).itertuples()
    ]
    if len(missing) > limit:
        lines.append(f"  ... and {len(missing) - limit} more (out/log-groups.csv, findings.csv)")
    return lines


def run_demo(out: Path) -> int:
    from xaccount_ops.local.process import LocalCloudProcess

    started = time.monotonic()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    cloud_dir = out / "local-cloud"
    from xaccount_ops.local import lock

    if lock.stop(cloud_dir) is not None:  # a fresh cloud each run: never reuse a stale demo's
        print(f"stopped the local cloud left running in {cloud_dir}", flush=True)
    shutil.rmtree(cloud_dir, ignore_errors=True)
    print(f"starting the local cloud in {cloud_dir} ...", flush=True)
    seeded = datetime.now(UTC)
    # One schedule minute lasts a second: the rate(5 minutes) heartbeats come every 5 s.
    # Left running afterwards: `make lab` opens the notebooks on it, stacks and logs and all.
    cloud = LocalCloudProcess(
        cloud_dir, extra_args=["--schedule-minute", str(DEMO_MINUTE_S)]
    ).start()
    try:
        config = cloud.config_path
        failed = []
        for step in steps(config, out):
            if step.notebook == "05-verify-delivery":
                step = Step(step.notebook, {**step.parameters, **reconcile_parameters(seeded)})
            began = time.monotonic()
            path, error = execute(step, out)
            took = time.monotonic() - began
            state = "ok" if not error else f"FAILED: {error}"
            print(
                f"{step.notebook}: {state} ({took:.0f} s) -> {path.with_suffix('.html')}",
                flush=True,
            )
            if error:
                failed.append(step.notebook)
                break  # the next notebooks need this one
        lines, delivered = summary(config, out, since=seeded)
        pictures = watch_pictures(config, out)
    except BaseException:
        cloud.stop()
        raise
    print("\n== summary")
    for line in lines:
        print(line)
    for line in pictures:
        print(line)
    print(f"reports: {out}/*.html; took {time.monotonic() - started:.0f} s")
    if failed:
        print(f"failed: {', '.join(failed)} (see the executed notebook in {out})")
    table, fresh = heartbeat_table(out)
    print("\n== heartbeats (newest per account/region in Logz.io)")
    print(table)
    print(
        f"the local cloud keeps running in {cloud_dir}: `make lab` opens the notebooks on it; "
        f"`xaccount-ops local down --data {cloud_dir}` stops it"
    )
    return 0 if delivered and fresh and not failed else 1


def watch_pictures(config: Path, out: Path) -> list[str]:
    """The dashboard as the local cloud filled it, and the heartbeat heatmap, as PNG files (the
    README's pictures come from here)."""
    from xaccount_ops.config import load_config
    from xaccount_ops.fleet.accounts import Fleet
    from xaccount_ops.lab import plots
    from xaccount_ops.verify.dashboard import dashboard_data

    lines = []
    fleet = Fleet.from_config(load_config(config))
    try:
        data = dashboard_data(fleet, window=timedelta(minutes=15), period=60)
        (out / "dashboard.png").write_bytes(plots.dashboard(data).png())
        lines.append(f"dashboard: {out / 'dashboard.png'} ({len(data.frame)} datapoints)")
    except Exception as err:  # the summary says so; the demo's verdict is the canaries'
        lines.append(f"dashboard: not drawn ({type(err).__name__}: {err})")
    beats = out / "heartbeats.csv"
    if beats.is_file():
        frame = pd.read_csv(beats, dtype={"account_id": str})
        (out / "heartbeats.png").write_bytes(plots.heartbeat_ages(frame).png())
        lines.append(f"heartbeat heatmap: {out / 'heartbeats.png'}")
    return lines


def heartbeat_table(out: Path) -> tuple[str, bool]:
    """The heartbeat table 05-verify-delivery exported, and whether every pair is ok."""
    beats = out / "heartbeats.csv"
    if not beats.is_file():
        return "none (05-verify-delivery did not finish)", False
    frame = pd.read_csv(beats, dtype={"account_id": str})
    shown = frame[["account_id", "region", "last_heartbeat", "age_s", "status"]]
    return shown.to_string(index=False), bool(len(frame)) and bool((frame["status"] == "ok").all())


def lab_command(extra: list[str]) -> list[str]:
    """``jupyter lab`` on the notebooks; ``--allow-root`` only when we are root (containers), as
    JupyterLab refuses to start as root without it and a user needs no such flag."""
    root = ["--allow-root"] if os.geteuid() == 0 else []
    return [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        f"--ServerApp.root_dir={NOTEBOOKS}",
        # Saved without outputs: running a notebook never dirties the tracked file.
        f"--ContentsManager.pre_save_hook={SAVE_HOOK}",
        *root,
        *extra,
    ]


LAB_STOP_S = 15.0  # JupyterLab's own shutdown (its kernels too); then what is left is killed


def run_lab(data_dir: Path, extra: list[str]) -> int:
    """The local cloud and JupyterLab until JupyterLab exits or we get Ctrl-C, SIGTERM or SIGHUP
    (a closed terminal): each stops JupyterLab, its kernels and the cloud if we started it."""
    from xaccount_ops.local import proctree
    from xaccount_ops.local.process import LocalCloudProcess

    # SIGINT too: a shell that starts a command in the background (`make lab &` in a script)
    # leaves SIGINT ignored, and JupyterLab would inherit that and never stop on it.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.default_int_handler)  # as Ctrl-C: KeyboardInterrupt
    proctree.signal_when_parent_exits(signal.SIGTERM)  # `make lab` SIGTERMed alone
    with LocalCloudProcess(data_dir) as cloud:
        env = {**os.environ, CONFIG_ENV: str(cloud.config_path)}
        state = "already running, used" if cloud.reused else "up"
        print(f"local cloud {state} in {data_dir}; {CONFIG_ENV}={cloud.config_path}", flush=True)
        # JupyterLab ignores SIGHUP (it would die on it, leaving its kernels): we stop it.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        lab = subprocess.Popen(lab_command(extra), env=env)
        signal.signal(signal.SIGHUP, signal.default_int_handler)
        try:
            while True:  # never an untimed wait: signal handlers run between the waits
                with contextlib.suppress(subprocess.TimeoutExpired):
                    return lab.wait(timeout=0.5)
        except KeyboardInterrupt:
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)  # stopping already; let it finish
            proctree.terminate(lab.pid, LAB_STOP_S)
            lab.wait(timeout=5)
            return 0


def lab_data_dir(data: Path, *, explicit: bool = False) -> Path:
    """The cloud ``make lab`` uses: ``data`` (default ``.local-cloud``), unless nothing runs
    there and the one ``make demo`` left running in ``out/local-cloud`` does: that one has the
    demo's stacks, filters and logs, where a new cloud would be empty."""
    from xaccount_ops.local import lock

    data = data.resolve()
    if explicit or lock.running(data) is not None:
        return data
    demo = DEMO_CLOUD.resolve()
    if lock.running(demo) is not None:
        print(f"using the local cloud `make demo` left running in {demo}", flush=True)
        return demo
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xaccount_ops.lab.demo")
    parser.add_argument("--out", type=Path, default=Path("out"))
    parser.add_argument("--lab", action="store_true", help="start JupyterLab instead")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="(--lab) data dir (default .local-cloud, or the cloud make demo left running)",
    )
    args, extra = parser.parse_known_args(argv)
    if extra and not args.lab:
        parser.error(f"unrecognized arguments: {' '.join(extra)} (only --lab passes arguments on)")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("traitlets").setLevel(logging.ERROR)  # nbconvert's alt-text notes
    if args.lab:
        data = args.data or Path(".local-cloud")
        return run_lab(lab_data_dir(data, explicit=args.data is not None), extra)
    args.out.mkdir(parents=True, exist_ok=True)
    return run_demo(args.out)


if __name__ == "__main__":
    sys.exit(main())
