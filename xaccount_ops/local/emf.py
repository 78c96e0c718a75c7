"""CloudWatch embedded metric format (EMF): the metrics CloudWatch Logs extracts from a Lambda
function's JSON log lines, so the local cloud's CloudWatch holds the shipper's own metrics
(``XaccountOps/Shipper``: lines, bytes out, auth failures, dropped, ...) as AWS's would.

The rules, from AWS's "Specification: Embedded metric format" (CloudWatch user guide):

- A log event is an EMF document when it is a JSON object with an ``_aws`` member holding
  ``Timestamp`` (epoch milliseconds) and ``CloudWatchMetrics``, a list of directives, each with a
  ``Namespace``, ``Dimensions`` (a list of dimension sets: lists of member names, an empty set
  meaning no dimension) and ``Metrics`` (``Name`` and optional ``Unit``).
- Each metric's value is the document's top-level member of that name: a number, or a list of
  numbers (each a value). Dimension values are the top-level members named in the set, strings.
- One datum per metric per dimension set. A metric whose member is missing or not numeric is
  skipped (AWS does not publish it); so is a directive whose dimension member is missing.
- Lambda needs no header for its function logs: CloudWatch Logs extracts them as they arrive.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def _numbers(value: Any) -> list[float]:
    items = value if isinstance(value, list) else [value]
    return [float(v) for v in items if isinstance(v, int | float) and not isinstance(v, bool)]


def metric_data(message: str) -> list[tuple[str, dict[str, Any]]]:
    """(namespace, PutMetricData datum) for every metric ``message`` embeds; [] for a line that
    is not an EMF document."""
    text = message.strip()
    if not text.startswith("{") or '"_aws"' not in text:
        return []
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    meta = doc.get("_aws") if isinstance(doc, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("CloudWatchMetrics"), list):
        return []
    stamp = meta.get("Timestamp")
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        return []
    when = datetime.fromtimestamp(stamp / 1000, tz=UTC)
    out: list[tuple[str, dict[str, Any]]] = []
    for directive in meta["CloudWatchMetrics"]:
        if not isinstance(directive, dict) or not isinstance(directive.get("Namespace"), str):
            continue
        for dimension_set in directive.get("Dimensions") or [[]]:
            if not isinstance(dimension_set, list) or not all(
                isinstance(doc.get(name), str) for name in dimension_set
            ):
                continue
            dimensions = [{"Name": name, "Value": doc[name]} for name in dimension_set]
            for metric in directive.get("Metrics") or []:
                name = metric.get("Name") if isinstance(metric, dict) else None
                values = _numbers(doc.get(name)) if isinstance(name, str) else []
                if not values:
                    continue
                datum: dict[str, Any] = {
                    "MetricName": name,
                    "Dimensions": dimensions,
                    "Timestamp": when,
                    "Unit": metric.get("Unit") or "None",
                }
                if len(values) == 1:
                    datum["Value"] = values[0]
                else:
                    datum["Values"] = values
                out.append((directive["Namespace"], datum))
    return out
