"""The pipeline dashboard's data: the widgets of the deployed CloudWatch dashboard
(``<NamePrefix>-pipeline``, from ``cfn/main.yaml``) with the values CloudWatch holds for each of
their metrics. ``lab.plots.plot_dashboard`` draws them as the console does, so the README's
picture is the dashboard as the local cloud fills it.

>>> data = dashboard_data(fleet, window=timedelta(hours=1))  # doctest: +SKIP
>>> data.frame.groupby("title").value.sum()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.frames import dtypes

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SCHEMA: dict[str, Any] = {
    "widget": "Int64",
    "title": "string",
    "namespace": "string",
    "metric": "string",
    "stat": "string",
    "label": "string",
    "timestamp": "datetime64[ns, UTC]",
    "value": "Float64",
}
MAX_QUERIES = 500  # GetMetricData's limit per request


@dataclass
class DashboardData:
    """The dashboard's body (``widgets`` with their layout) and one row per datapoint."""

    name: str
    widgets: list[dict[str, Any]]
    frame: pd.DataFrame


def dashboard_name(fleet: Fleet) -> str:
    """The name ``cfn/main.yaml`` gives the dashboard (its ``NamePrefix`` is the stack name's
    default prefix unless overridden in ``[stack] parameters``)."""
    prefix = fleet.config.stack.parameters.get("NamePrefix") or fleet.config.landing.stack_name
    return f"{prefix}-pipeline"


def _queries(
    widgets: list[dict[str, Any]], period: int | None
) -> list[tuple[dict[str, Any], dict]]:
    out = []
    for index, widget in enumerate(widgets):
        props = widget.get("properties", {})
        for row in props.get("metrics", []):
            options = row[-1] if row and isinstance(row[-1], dict) else {}
            fields = [f for f in row if not isinstance(f, dict)]
            namespace, metric, *pairs = fields
            stat = options.get("stat") or props.get("stat") or "Average"
            dims = [{"Name": pairs[i], "Value": pairs[i + 1]} for i in range(0, len(pairs) - 1, 2)]
            query = {
                "Id": f"m{len(out)}",
                "MetricStat": {
                    "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dims},
                    "Period": int(period or options.get("period") or props.get("period") or 300),
                    "Stat": stat,
                },
                "ReturnData": True,
            }
            meta = {
                "widget": index,
                "title": props.get("title", ""),
                "namespace": namespace,
                "metric": metric,
                "stat": stat,
                "label": options.get("label") or f"{metric} ({stat})",
            }
            out.append((query, meta))
    return out


def dashboard_data(
    fleet: Fleet,
    *,
    window: timedelta = timedelta(hours=1),
    period: int | None = None,
    name: str | None = None,
    now: datetime | None = None,
) -> DashboardData:
    """Read the deployed dashboard and its metrics over the last ``window``, at each widget's
    period (``period`` seconds instead, e.g. 60 for a short window)."""
    name = name or dashboard_name(fleet)
    cloudwatch = fleet.landing_client("cloudwatch")
    body = json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
    widgets = [w for w in body.get("widgets", []) if w.get("type") == "metric"]
    end = now or datetime.now(UTC)
    start = end - window
    rows: list[dict[str, Any]] = []
    queries = _queries(widgets, period)
    for offset in range(0, len(queries), MAX_QUERIES):
        chunk = queries[offset : offset + MAX_QUERIES]
        by_id = {q["Id"]: meta for q, meta in chunk}
        for page in cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=[q for q, _ in chunk], StartTime=start, EndTime=end
        ):
            for result in page.get("MetricDataResults", []):
                meta = by_id[result["Id"]]
                for stamp, value in zip(result["Timestamps"], result["Values"], strict=True):
                    rows.append({**meta, "timestamp": stamp, "value": value})
    import pandas as pd  # after the calls (xaccount_ops.frames)

    frame = pd.DataFrame(rows, columns=list(SCHEMA))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    frame = frame.astype(dtypes(SCHEMA)).sort_values(
        ["widget", "label", "timestamp"], ignore_index=True
    )
    return DashboardData(name=name, widgets=widgets, frame=frame)
