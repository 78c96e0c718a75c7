"""``make demo`` and ``make lab``: the main job on the embedded local cloud.

Until the notebooks land, the demo starts the local cloud, lists the fleet and stops it.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from xaccount_ops.accounts import Fleet
from xaccount_ops.config import load_config
from xaccount_ops.local.process import LocalCloudProcess

log = logging.getLogger("xaccount_ops.demo")


def run_demo(out: Path) -> int:
    cloud_dir = out / "local-cloud"
    shutil.rmtree(cloud_dir, ignore_errors=True)
    with LocalCloudProcess(cloud_dir) as cloud:
        fleet = Fleet.from_config(load_config(cloud.config_path))
        log.info("local cloud at %s", cloud.info["aws_endpoint"])
        print(f"landing account {fleet.landing_account} in {fleet.landing_region}")
        print(
            f"{len(fleet.accounts)} sending accounts x {len(fleet.regions)} regions = {len(fleet.targets)} targets"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xaccount_ops.demo")
    parser.add_argument("--out", type=Path, default=Path("out"))
    parser.add_argument("--lab", action="store_true", help="start JupyterLab instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    return run_demo(args.out)


if __name__ == "__main__":
    sys.exit(main())
