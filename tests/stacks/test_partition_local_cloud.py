"""A China (aws-cn) landing end to end on the local cloud: deploy the real templates, subscribe,
verify. The cloud runs in its own process with cn-north-1 and cn-northwest-1 (moto keys its
backends by partition), so every ARN the toolkit, the templates and the emulators build must
carry ``aws-cn`` for the canaries to arrive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xaccount_ops import landing, partitions, subscriptions
from xaccount_ops.config import load_config
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.landing.package import build_artifact
from xaccount_ops.local.process import LocalCloudProcess
from xaccount_ops.verify import verify

REGIONS = ("cn-north-1", "cn-northwest-1")


@pytest.fixture(scope="module")
def china(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("china-cloud")
    with LocalCloudProcess(data, accounts=2, regions=REGIONS) as cloud:
        yield cloud.info


def test_a_cn_north_1_landing_ships_end_to_end(china: dict[str, Any], tmp_path: Path) -> None:
    cfg = load_config(china["config"])
    assert cfg.partition == "aws-cn"
    fleet = Fleet.from_config(cfg)

    deployed = landing.deploy(
        artifact=build_artifact(tmp_path / "dist", include_speedups=False), fleet=fleet
    )
    assert deployed.ok, deployed
    planned = subscriptions.plan(fleet, progress=False)
    applied = subscriptions.apply(fleet, planned, progress=False)
    assert applied.frame[applied.frame["status"] == "failed"].empty, applied.summary()
    result = verify(fleet, timeout_s=120, progress=False)

    assert set(result.frame["status"]) == {"delivered"}, result.frame.to_string()
    assert sorted(result.frame["region"].unique()) == sorted(REGIONS)
    # The ARNs are the partition's: outputs, destinations, and the role's trust list.
    landing_id = china["landing_account"]
    for region in REGIONS:
        (destination,) = fleet.landing_client("logs", region).describe_destinations()[
            "destinations"
        ]
        assert destination["arn"].startswith(f"arn:aws-cn:logs:{region}:{landing_id}:destination:")
        assert (
            json.loads(destination["accessPolicy"])["Statement"][0]["Resource"]
            == (destination["arn"])
        )
    iam = fleet.landing_client("iam")
    role = next(r for r in iam.list_roles()["Roles"] if "LogzioCrossAccountRole" in r["RoleName"])
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    sources = trust["Statement"][0]["Condition"]["StringLike"]["aws:SourceArn"]
    assert f"arn:{partitions.partition_of(REGIONS[0])}:logs:*:{landing_id}:*" in sources
