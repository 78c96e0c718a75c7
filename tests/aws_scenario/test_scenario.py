"""The end-to-end scenario (``scenario.py``): on the local cloud in ``make test``, on a real
sandbox with ``make test-aws``. The same code runs both, so the AWS run cannot rot unseen."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.aws_scenario.scenario import Scenario, Timing, cost_estimate, write_toml

AWS_CONFIG_ENV = "XACCOUNT_OPS_AWS_TEST_CONFIG"


def test_cost_estimate_names_its_prices() -> None:
    text = cost_estimate()
    assert text.startswith("about $") and "on-demand Kinesis stream" in text and "as of 20" in text


@pytest.mark.timeout(1200)  # a deadline: ~2 min on an idle 2-core machine, more under load
def test_scenario_on_the_local_cloud(local_cloud: dict[str, Any], tmp_path: Path) -> None:
    """deploy, subscribe (with and without system fields, then organization trust), events,
    verify, a 401 outage through the failure store, replay exactly once, reconcile, teardown."""
    doc = tomllib.loads(Path(local_cloud["config"]).read_text())
    doc["landing"]["stack_name"] = f"scn{os.getpid() % 10000}"
    doc["senders"]["accounts"] = [local_cloud["sending_accounts"][0]]
    doc["senders"]["regions"] = [local_cloud["regions"][0]]
    base = write_toml(tmp_path / "base.toml", doc)
    report = Scenario(
        base, tmp_path / "run", Timing(delivery=120, store=180, verify=120, poll=0.5)
    ).run()
    print(report.text())
    assert report.ok, report.text()
    assert [s.name for s in report.steps][-1].startswith("teardown")


@pytest.mark.skipif(
    not os.environ.get(AWS_CONFIG_ENV),
    reason=f"{AWS_CONFIG_ENV} is not set: it names an xaccount-ops config for a real sandbox "
    "(landing + one sending account, one region; README 'Testing on real AWS')",
)
def test_scenario_on_aws(tmp_path: Path) -> None:
    path = Path(os.environ[AWS_CONFIG_ENV])
    scenario = Scenario(path, tmp_path / "run")
    print(f"xaccount-ops AWS scenario {scenario.run_id}: {scenario.report.cost}", flush=True)
    report = scenario.run()
    print(report.text())
    assert report.ok, report.text()
