"""Logz.io's log alerts API (v2) for the emulator: ``/v2/alerts`` create, list, get, update, delete.

Grounded in Logz.io's own API client, ``logzio/logzio_terraform_client`` (``alerts_v2/``, the
library the official Terraform provider uses against the real API):

- ``POST /v2/alerts`` with an alert definition answers 200 with the stored alert: the definition
  plus ``id`` (an integer), ``createdAt``/``updatedAt`` (``2021-04-06T19:56:57.000Z``),
  ``createdBy``/``updatedBy`` and ``enabled`` (fixture ``get_alert.json``).
- ``GET /v2/alerts`` answers a JSON array of alerts (fixture ``list_alerts.json``).
- ``GET|PUT|DELETE /v2/alerts/{id}``: 200, or 404 with the JSON string
  ``"alert id 1234567 not found"`` (fixture ``get_alert_not_exist.txt``).
- A definition needs a ``title`` and at least one ``subComponents`` entry, each with a
  ``queryDefinition.query``, an ``aggregation.aggregationType`` in :data:`AGGREGATIONS`, a
  ``trigger.operator`` in :data:`OPERATORS` and severities in :data:`SEVERITIES` (the client's
  ``validateCreateAlertRequest``). The API's own 400 body is not recorded there: the emulator's
  400 names the bad field (assumption, ``xaccount_ops/local/README.md``).

Alerts belong to the account whose API token made the request, as every Logz.io API call does.
They are kept in a JSON file beside the account's document store, so they survive restarts.
The emulator stores alerts; it does not evaluate them.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

AGGREGATIONS = ("SUM", "MIN", "MAX", "AVG", "COUNT", "UNIQUE_COUNT", "NONE")
OPERATORS = (
    "LESS_THAN",
    "GREATER_THAN",
    "LESS_THAN_OR_EQUALS",
    "GREATER_THAN_OR_EQUALS",
    "EQUALS",
    "NOT_EQUALS",
)
SEVERITIES = ("INFO", "LOW", "MEDIUM", "HIGH", "SEVERE")
FIRST_ID = 1_234_567  # ids look like the recorded ones; any integer would do
CREATED_BY = "api-token@logzio-emulator"  # the real API names the token's user
SERVER_KEYS = ("id", "createdAt", "createdBy", "updatedAt", "updatedBy")  # never from the body


class AlertError(ValueError):
    """A definition the API refuses (400): the message names the field and what is accepted."""


def not_found(alert_id: int | str) -> str:
    """The body of a 404, as the real API words it."""
    return f"alert id {alert_id} not found"


def validate(definition: Any) -> dict[str, Any]:
    """``definition`` if it is one the API accepts; :class:`AlertError` naming what is wrong."""
    if not isinstance(definition, dict):
        raise AlertError("the body must be a JSON object (an alert definition)")
    title = definition.get("title")
    if not isinstance(title, str) or not title.strip():
        raise AlertError("title must be set (a non-empty string)")
    subs = definition.get("subComponents")
    if not isinstance(subs, list) or not subs:
        raise AlertError("subComponents must be a non-empty list")
    for index, sub in enumerate(subs):
        where = f"subComponents[{index}]"
        if not isinstance(sub, dict):
            raise AlertError(f"{where} must be an object")
        query = sub.get("queryDefinition") or {}
        if not isinstance(query, dict) or not isinstance(query.get("query"), str):
            raise AlertError(f"{where}.queryDefinition.query must be set")
        if not query["query"]:
            raise AlertError(f"{where}.queryDefinition.query must be set")
        aggregation = (query.get("aggregation") or {}).get("aggregationType")
        if aggregation not in AGGREGATIONS:
            raise AlertError(
                f"{where}.queryDefinition.aggregation.aggregationType is {aggregation!r}; "
                f"must be one of {list(AGGREGATIONS)}"
            )
        trigger = sub.get("trigger") or {}
        if trigger.get("operator") not in OPERATORS:
            raise AlertError(
                f"{where}.trigger.operator is {trigger.get('operator')!r}; "
                f"must be one of {list(OPERATORS)}"
            )
        tiers = trigger.get("severityThresholdTiers") or {}
        if not isinstance(tiers, dict) or not tiers:
            raise AlertError(f"{where}.trigger.severityThresholdTiers must name a severity")
        for severity, threshold in tiers.items():
            if severity not in SEVERITIES:
                raise AlertError(
                    f"{where}.trigger.severityThresholdTiers has {severity!r}; "
                    f"severities are {list(SEVERITIES)}"
                )
            if not isinstance(threshold, int | float) or isinstance(threshold, bool):
                raise AlertError(f"{where}: threshold of {severity} must be a number")
    return definition


def _stamp(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


class AlertBook:
    """One account's alerts, in memory and in a JSON file (``path``; None keeps them in memory)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._alerts: dict[int, dict[str, Any]] = {}
        if path is not None and path.exists():
            for alert in json.loads(path.read_text() or "[]"):
                self._alerts[int(alert["id"])] = alert

    def _save(self) -> None:
        if self._path is not None:
            tmp = self._path.with_suffix(".tmp")
            tmp.write_text(json.dumps(list(self._alerts.values()), indent=1))
            tmp.replace(self._path)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(alert) for alert in self._alerts.values()]

    def get(self, alert_id: int) -> dict[str, Any] | None:
        with self._lock:
            alert = self._alerts.get(alert_id)
            return dict(alert) if alert is not None else None

    def create(self, definition: Any, now: datetime) -> dict[str, Any]:
        validate(definition)
        with self._lock:
            alert_id = max(self._alerts, default=FIRST_ID - 1) + 1
            stamp = _stamp(now)
            alert = {
                "id": alert_id,
                "updatedAt": stamp,
                "updatedBy": CREATED_BY,
                "createdAt": stamp,
                "createdBy": CREATED_BY,
                "enabled": True,  # a definition without "enabled" is armed (omitempty in the client)
                **{k: v for k, v in definition.items() if k not in SERVER_KEYS},
            }
            self._alerts[alert_id] = alert
            self._save()
            return dict(alert)

    def update(self, alert_id: int, definition: Any, now: datetime) -> dict[str, Any] | None:
        """Replace the definition of ``alert_id`` (PUT replaces, it does not merge); None if none."""
        validate(definition)
        with self._lock:
            current = self._alerts.get(alert_id)
            if current is None:
                return None
            alert = {
                "id": alert_id,
                "updatedAt": _stamp(now),
                "updatedBy": CREATED_BY,
                "createdAt": current["createdAt"],
                "createdBy": current["createdBy"],
                "enabled": True,
                **{k: v for k, v in definition.items() if k not in SERVER_KEYS},
            }
            self._alerts[alert_id] = alert
            self._save()
            return dict(alert)

    def delete(self, alert_id: int) -> bool:
        with self._lock:
            if self._alerts.pop(alert_id, None) is None:
                return False
            self._save()
            return True

    def clear(self) -> None:
        with self._lock:
            self._alerts.clear()
            self._save()
