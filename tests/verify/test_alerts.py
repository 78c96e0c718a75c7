"""``alerts plan/apply`` against the Logz.io emulator's /v2/alerts: one heartbeat alert per pair,
in the (sub-)account its heartbeats land in; only ``xaccount-ops-*`` alerts are touched; a second
apply changes nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from xaccount_ops import cli
from xaccount_ops.config import load_config
from xaccount_ops.fleet.accounts import Fleet, Target
from xaccount_ops.local.logzio import LogzioEmulator
from xaccount_ops.verify import alerts

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
API_TOKEN = "test-api-token"  # what helpers.write_config puts in the token file
FOREIGN = {
    "title": "team-payments-errors",
    "searchTimeFrameMinutes": 5,
    "subComponents": [
        {
            "queryDefinition": {
                "query": "level:ERROR",
                "aggregation": {"aggregationType": "COUNT"},
            },
            "trigger": {"operator": "GREATER_THAN", "severityThresholdTiers": {"HIGH": 10}},
        }
    ],
}


@pytest.fixture
def logzio() -> Iterator[LogzioEmulator]:
    with LogzioEmulator(shipping_token="ship", api_token=API_TOKEN) as emulator:
        yield emulator


def listed(emulator: LogzioEmulator, token: str = API_TOKEN) -> list[dict[str, Any]]:
    response = requests.get(
        f"{emulator.api_url}/v2/alerts", headers={"X-API-TOKEN": token}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def post(emulator: LogzioEmulator, definition: dict[str, Any], token: str = API_TOKEN) -> dict:
    return requests.post(
        f"{emulator.api_url}/v2/alerts",
        json=definition,
        headers={"X-API-TOKEN": token},
        timeout=10,
    ).json()


def config_for(
    tmp_path: Path,
    helpers: Any,
    emulator: LogzioEmulator,
    accounts: tuple[str, ...] = ACCOUNTS,
    extra: str = "",
) -> Path:
    return helpers.write_config(
        tmp_path,
        endpoint="http://127.0.0.1:9",
        landing="999999999999",
        accounts=list(accounts),
        regions=REGIONS,
        stack="alerts",
        canary_group="/xaccount-ops/canary",
        api_url=emulator.api_url,
        extra=extra,
    )


def fleet_of(path: Path) -> Fleet:
    return Fleet.from_config(load_config(path))


def test_apply_creates_one_alert_per_pair_and_a_second_apply_changes_nothing(
    tmp_path: Path, helpers: Any, logzio: LogzioEmulator
) -> None:
    fleet = fleet_of(config_for(tmp_path, helpers, logzio))

    plan = alerts.plan_alerts(fleet)
    assert list(plan.frame["action"]) == ["create"] * 4
    applied = alerts.apply_alerts(fleet, plan)
    assert list(applied["result"]) == ["done"] * 4

    stored = {a["title"]: a for a in listed(logzio)}
    assert set(stored) == {f"xaccount-ops-heartbeat-{a}-{r}" for a in ACCOUNTS for r in REGIONS}
    one = stored["xaccount-ops-heartbeat-111111111111-eu-west-1"]
    (sub,) = one["subComponents"]
    group = fleet.config.verify.heartbeat_log_group
    assert sub["queryDefinition"]["query"] == (
        f'logGroup:"{group}" AND owner:"111111111111" AND region:"eu-west-1"'
    )
    assert sub["trigger"] == {"operator": "LESS_THAN", "severityThresholdTiers": {"HIGH": 1.0}}
    assert one["searchTimeFrameMinutes"] == 15
    assert "111111111111/eu-west-1 in 15 min" in one["description"]

    again = alerts.plan_alerts(fleet)
    assert list(again.frame["action"]) == ["unchanged"] * 4
    assert alerts.apply_alerts(fleet, again)["result"].eq("").all()
    assert listed(logzio) == list(stored.values())  # not even updatedAt moved


def test_others_alerts_are_never_touched_ours_are_repaired_and_pruned(
    tmp_path: Path, helpers: Any, logzio: LogzioEmulator
) -> None:
    foreign = post(logzio, FOREIGN)
    lookalike = post(logzio, {**FOREIGN, "title": "xaccount-opsheartbeat-not-ours"})
    fleet = fleet_of(config_for(tmp_path, helpers, logzio))
    alerts.apply_alerts(fleet, alerts.plan_alerts(fleet))
    mine = {a["title"]: a for a in listed(logzio)}["xaccount-ops-heartbeat-222222222222-us-east-1"]
    edited = {k: v for k, v in mine.items() if k not in ("id", "createdAt", "updatedAt")}
    edited["searchTimeFrameMinutes"] = 60
    requests.put(
        f"{logzio.api_url}/v2/alerts/{mine['id']}",
        json=edited,
        headers={"X-API-TOKEN": API_TOKEN},
        timeout=10,
    ).raise_for_status()
    smaller = fleet_of(
        config_for(tmp_path / "smaller", helpers, logzio, accounts=("222222222222",))
    )

    plan = alerts.plan_alerts(smaller)
    actions = dict(zip(plan.frame["title"], plan.frame["action"], strict=True))
    assert actions == {
        "xaccount-ops-heartbeat-222222222222-eu-west-1": "unchanged",
        "xaccount-ops-heartbeat-222222222222-us-east-1": "update",
        "xaccount-ops-heartbeat-111111111111-eu-west-1": "delete",
        "xaccount-ops-heartbeat-111111111111-us-east-1": "delete",
    }
    alerts.apply_alerts(smaller, plan)

    after = {a["title"]: a for a in listed(logzio)}
    assert after["team-payments-errors"] == foreign
    assert after["xaccount-opsheartbeat-not-ours"] == lookalike
    assert after["xaccount-ops-heartbeat-222222222222-us-east-1"]["searchTimeFrameMinutes"] == 15
    assert not any(t.startswith("xaccount-ops-heartbeat-1111") for t in after)


def test_routed_pairs_get_their_alert_in_the_sub_account(
    tmp_path: Path, helpers: Any, logzio: LogzioEmulator
) -> None:
    sub = {"name": "security", "shipping_token": "sub-ship", "api_token": "sub-api"}
    requests.post(f"{logzio.url}/__admin/accounts", json=sub, timeout=10).raise_for_status()
    token_file = tmp_path / "sub-api"
    token_file.write_text("sub-api\n")
    os.chmod(token_file, 0o600)
    extra = f"""
[[logzio.routes]]
name = "security"
accounts = ["111111111111"]
token = {{ env = "SECURITY_SHIPPING_TOKEN" }}
api_token = {{ file = "{token_file}" }}

[[logzio.routes]]
name = "blind"
accounts = ["222222222222"]
token = {{ env = "BLIND_SHIPPING_TOKEN" }}
"""
    fleet = fleet_of(config_for(tmp_path, helpers, logzio, extra=extra))

    plan = alerts.plan_alerts(fleet)
    frame = alerts.apply_alerts(fleet, plan)

    in_sub = {a["title"] for a in listed(logzio, "sub-api")}
    assert in_sub == {f"xaccount-ops-heartbeat-111111111111-{r}" for r in REGIONS}
    assert listed(logzio) == []  # 222222222222's route has no api_token: skipped, not misplaced
    skipped = frame[frame["action"] == "skip"]
    assert set(skipped["account_id"]) == {"222222222222"}
    assert skipped["detail"].str.contains("route blind has no api_token").all()


def test_a_rejected_token_is_a_clear_error_without_the_token(
    tmp_path: Path, helpers: Any, logzio: LogzioEmulator
) -> None:
    with pytest.raises(alerts.AlertsError) as caught:
        alerts.AlertsClient(logzio.api_url, "not-the-token-1234").list()

    assert "rejected the API token (401)" in str(caught.value)
    assert "not-the-token-1234" not in str(caught.value)


def test_max_age_sets_the_alert_window() -> None:
    settings = alerts.AlertSettings(max_age=timedelta(minutes=30), emails=("ops@example.com",))

    definition = alerts.heartbeat_alert(Target("111111111111", "us-east-1"), settings)

    assert definition["searchTimeFrameMinutes"] == 30
    assert definition["output"]["recipients"] == {"emails": ["ops@example.com"]}


def test_cli_apply_twice_second_changes_nothing(
    tmp_path: Path, helpers: Any, logzio: LogzioEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_for(tmp_path, helpers, logzio)

    assert cli.main(["--config", str(path), "alerts", "apply", "--max-age", "20m"]) == 0
    first = capsys.readouterr()
    assert cli.main(["--config", str(path), "alerts", "apply", "--max-age", "20m"]) == 0
    second = capsys.readouterr()

    assert "4 change(s) made" in first.err
    assert "alerts plan: 4 unchanged" in second.err
    assert "0 change(s) made" in second.err
    assert {a["searchTimeFrameMinutes"] for a in listed(logzio)} == {20}
    assert API_TOKEN not in first.out + first.err + second.out + second.err
