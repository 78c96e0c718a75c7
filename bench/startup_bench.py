"""Start-up benchmark: how long a user waits before the CLI does anything, and for `local up`.

Run ``.venv/bin/python bench/startup_bench.py [--runs 5] [--up-runs 3] [--skip-up]``.

Prints, each the median of ``--runs`` fresh processes (and their min/max):

- ``python -c pass``: the interpreter alone, the floor every command pays;
- ``xaccount-ops --help`` and ``xaccount-ops verify --help`` (target: under 0.5 s);
- a command's own start before its first AWS call: ``verify --reconcile`` against a config whose
  endpoint refuses connections, which fails at its first call (target: under 1 s);
- ``python -X importtime`` of the CLI package: the modules it loads (pandas, boto3, moto must not
  be among them), and the slowest imports of a command's start;
- ``local up``: from the process's start to its JSON line on stdout, i.e. ready for requests
  (target: under 8 s), over ``--up-runs`` fresh data directories.

The numbers depend on the machine and its load (the development machine is a loaded 2-core VM):
the ratios to ``python -c pass`` travel better than the seconds. Each command runs once first
(not counted) so Python's bytecode cache is warm, as on a user's second run; the runs drop
``PYTHONDONTWRITEBYTECODE`` (set in some CI shells), which would make every start compile
moto, pandas and botocore from source again.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
CONFIG = """
[landing]
account_id = "111111111111"
region = "us-east-1"

[senders]
accounts = ["222222222222"]
regions = ["us-east-1"]

[logzio]
shipping_token = {{ env = "UNUSED" }}
api_token = {{ env = "UNUSED" }}

[aws]
endpoint_url = "http://127.0.0.1:{port}"
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], runs: int, env: dict[str, str] | None = None) -> list[float]:
    env = env or BASE_ENV
    subprocess.run(argv, capture_output=True, env=env, check=False, cwd=REPO)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=env, check=False, cwd=REPO)
        times.append(time.perf_counter() - start)
    return times


def show(label: str, times: list[float], floor: float | None = None) -> None:
    median = statistics.median(times)
    ratio = f"  ({median / floor:.1f}x python -c pass)" if floor else ""
    print(
        f"{label:<44} median {median:6.2f} s  min {min(times):6.2f}  max {max(times):6.2f}{ratio}"
    )


def loaded_modules(code: str) -> set[str]:
    done = subprocess.run(
        [PY, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        env=BASE_ENV,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return set(done.stdout.split())


def slowest_imports(argv: list[str], env: dict[str, str], count: int = 8) -> list[str]:
    """The ``count`` slowest imports made directly by the program (not by other imports)."""
    done = subprocess.run(
        [PY, "-X", "importtime", *argv], capture_output=True, text=True, env=env, cwd=REPO
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2]
        if name.startswith(" ") and not name.startswith("  "):  # one space: a top-level import
            rows.append((int(parts[1]), name.strip()))
    return [f"{us / 1e6:6.2f} s  {name}" for us, name in sorted(rows, reverse=True)[:count]]


def local_up(runs: int) -> list[float]:
    times = []
    for _ in range(runs + 1):  # the first run warms the bytecode cache and is not counted
        data = tempfile.mkdtemp(prefix="xacct-up-bench-")
        start = time.perf_counter()
        process = subprocess.Popen(
            [PY, "-m", "xaccount_ops", "local", "up", "--data", data],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=REPO,
            env=BASE_ENV,
        )
        line = process.stdout.readline() if process.stdout else ""
        times.append(time.perf_counter() - start)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)
        if not line.strip():
            raise SystemExit(f"local up printed no JSON line (exit {process.returncode})")
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--up-runs", type=int, default=3)
    parser.add_argument("--skip-up", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "xaccount-ops.toml"
        config.write_text(CONFIG.format(port=closed_port()))
        env = {**BASE_ENV, "UNUSED": "x", "XACCOUNT_OPS_CACHE": tmp}
        floor = statistics.median(timed([PY, "-c", "pass"], args.runs))
        show("python -c pass", [floor])
        show("xaccount-ops --help", timed([PY, "-m", "xaccount_ops", "--help"], args.runs), floor)
        show(
            "xaccount-ops verify --help",
            timed([PY, "-m", "xaccount_ops", "verify", "--help"], args.runs),
            floor,
        )
        command = ["-m", "xaccount_ops", "--config", str(config), "verify", "--reconcile"]
        show(
            "verify --reconcile up to its first AWS call",
            timed([PY, *command], args.runs, env),
            floor,
        )
        heavy = {"pandas", "numpy", "boto3", "botocore", "moto", "requests"}
        loaded = loaded_modules("import xaccount_ops.cli as c; c.build_parser()")
        print(f"heavy modules loaded by building the parser: {sorted(heavy & loaded) or 'none'}")
        print("slowest top-level imports of verify --reconcile's start:")
        for line in slowest_imports(command, env):
            print(f"  {line}")
    if not args.skip_up:
        show("local up: ready (JSON line printed)", local_up(args.up_runs), floor)


if __name__ == "__main__":
    main()
