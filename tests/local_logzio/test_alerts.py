"""/v2/alerts over real HTTP: the shapes Logz.io's own API client (logzio_terraform_client
``alerts_v2``) reads, per-account ownership, validation and persistence across restarts."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import requests

from xaccount_ops.local.logzio import LogzioEmulator

# The definition of the client's recorded fixture ``alerts_v2/testdata/fixtures/get_alert.json``.
DEFINITION: dict[str, Any] = {
    "title": "test create alert",
    "description": "this is my description",
    "tags": ["some", "words"],
    "output": {"suppressNotificationsMinutes": 5, "type": "JSON"},
    "searchTimeFrameMinutes": 5,
    "subComponents": [
        {
            "queryDefinition": {
                "query": "loglevel:ERROR",
                "aggregation": {"aggregationType": "COUNT"},
                "shouldQueryOnAllAccounts": True,
            },
            "trigger": {
                "operator": "EQUALS",
                "severityThresholdTiers": {"HIGH": 10.0, "INFO": 5.0},
            },
            "output": {"shouldUseAllFields": True},
        }
    ],
    "correlations": {"correlationOperators": ["AND"]},
}
STORED_KEYS = {"id", "updatedAt", "updatedBy", "createdAt", "createdBy", "enabled"}


def call(logzio: Any, method: str, path: str = "", body: Any = None, token: str | None = "") -> Any:
    headers = {} if token is None else {"X-API-TOKEN": token or logzio.api_token}
    return logzio.http.request(
        method, f"{logzio.url}/v2/alerts{path}", json=body, headers=headers, timeout=10
    )


def test_create_get_list_update_delete(logzio: Any) -> None:
    created = call(logzio, "POST", body=DEFINITION)
    assert created.status_code == 200, created.text
    alert = created.json()
    assert set(alert) == STORED_KEYS | set(DEFINITION)
    assert isinstance(alert["id"], int)
    assert alert["enabled"] is True
    assert alert["createdAt"].endswith("Z") and len(alert["createdAt"]) == 24
    assert {k: alert[k] for k in DEFINITION} == DEFINITION

    got = call(logzio, "GET", f"/{alert['id']}")
    assert got.status_code == 200
    assert got.json() == alert
    assert call(logzio, "GET").json() == [alert]

    changed = copy.deepcopy(DEFINITION)
    changed["searchTimeFrameMinutes"] = 15
    updated = call(logzio, "PUT", f"/{alert['id']}", changed).json()
    assert updated["id"] == alert["id"]
    assert updated["createdAt"] == alert["createdAt"]
    assert updated["searchTimeFrameMinutes"] == 15

    assert call(logzio, "DELETE", f"/{alert['id']}").status_code == 200
    assert call(logzio, "GET").json() == []


def test_missing_alert_is_404_in_the_recorded_words(logzio: Any) -> None:
    for method, body in (("GET", None), ("PUT", DEFINITION), ("DELETE", None)):
        response = call(logzio, method, "/1234567", body)

        assert response.status_code == 404
        assert response.json() == "alert id 1234567 not found"


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("title",), "", "title"),
        (("subComponents",), [], "subComponents"),
        (("subComponents", 0, "queryDefinition", "query"), "", "query"),
        (("subComponents", 0, "queryDefinition", "aggregation", "aggregationType"), "P99", "P99"),
        (("subComponents", 0, "trigger", "operator"), "ABOVE", "ABOVE"),
        (("subComponents", 0, "trigger", "severityThresholdTiers"), {"URGENT": 1}, "URGENT"),
    ],
)
def test_invalid_definition_is_400_naming_the_field(
    logzio: Any, path: tuple[Any, ...], value: Any, words: str
) -> None:
    bad = copy.deepcopy(DEFINITION)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value

    response = call(logzio, "POST", body=bad)

    assert response.status_code == 400
    assert words in response.json()["message"]
    assert call(logzio, "GET").json() == []


def test_alerts_need_the_api_token(logzio: Any) -> None:
    assert call(logzio, "GET", token=None).status_code == 401
    assert call(logzio, "GET", token=logzio.shipping_token).status_code == 401
    assert logzio.api_token not in call(logzio, "GET", token="wrong").text


def test_each_account_sees_its_own_alerts(logzio: Any) -> None:
    sub = {"name": "security", "shipping_token": "sub-ship-1", "api_token": "sub-api-1"}
    assert logzio.http.post(f"{logzio.url}/__admin/accounts", json=sub, timeout=10).ok
    call(logzio, "POST", body=DEFINITION)

    assert call(logzio, "GET", token="sub-api-1").json() == []
    assert len(call(logzio, "GET").json()) == 1


def test_alerts_survive_a_restart(tmp_path: Any) -> None:
    db = tmp_path / "logzio.sqlite3"
    with LogzioEmulator(shipping_token="s", api_token="a", db_path=db) as first:
        made = requests.post(
            f"{first.url}/v2/alerts", json=DEFINITION, headers={"X-API-TOKEN": "a"}, timeout=10
        ).json()
    with LogzioEmulator(shipping_token="s", api_token="a", db_path=db) as second:
        kept = requests.get(
            f"{second.url}/v2/alerts", headers={"X-API-TOKEN": "a"}, timeout=10
        ).json()

    assert kept == [made]
