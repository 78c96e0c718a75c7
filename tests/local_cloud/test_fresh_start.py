"""A new local cloud in a used data directory starts empty on both sides (issue 26, item 7):
moto keeps AWS in memory, so the Logz.io emulator must not bring back lines of the last run."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from xaccount_ops.local.cloud import LocalCloud


def _count(info: dict) -> int:
    request = urllib.request.Request(
        f"{info['api_url']}/v1/search",
        data=json.dumps({"query": {"match_all": {}}, "size": 0}).encode(),
        headers={"X-API-TOKEN": info["api_token"], "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(json.load(response)["hits"]["total"])


def test_a_restarted_cloud_has_no_lines_of_the_last_one(tmp_path: Path) -> None:
    data = tmp_path / "cloud"
    with LocalCloud(accounts=1, regions=("us-east-1",), data_dir=data, seed_data=False) as cloud:
        info = cloud.info()
        body = json.dumps({"message": "from the first run"}).encode() + b"\n"
        url = f"{info['listener_url']}/?token={info['shipping_token']}&type=t"
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as r:
            assert r.status == 200
        assert _count(info) == 1
    with LocalCloud(accounts=1, regions=("us-east-1",), data_dir=data, seed_data=False) as cloud:
        assert _count(cloud.info()) == 0


def test_deferred_areas_install_in_order_on_their_service_s_first_app(monkeypatch) -> None:
    """`local up` defers moto's CloudFormation: every area it needs is installed, in install
    order, before the first CloudFormation app is made, and no other service triggers them."""
    from xaccount_ops.local import moto_ext

    installed: list[str] = []
    monkeypatch.setattr(moto_ext, "install_area", installed.append)
    create = moto_ext.backend_app_factory(
        lambda service: f"app:{service}", ("cfn", "cfn_changesets")
    )

    assert create("logs") == "app:logs" and installed == []
    assert create("cloudformation") == "app:cloudformation"
    assert installed == ["cfn", "cfn_changesets"]
