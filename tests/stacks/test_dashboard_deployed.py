"""The deployed dashboard, read back from CloudWatch (moto over HTTP) and drawn: its widgets
name this stack's own stream, function, queue and mapping, and a datapoint the shipper's EMF
line would publish shows up under its widget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.lab import plots
from xaccount_ops.landing import stacks
from xaccount_ops.verify.dashboard import dashboard_data, dashboard_name


def test_deployed_dashboard_reads_back_with_its_data(fleet: Fleet, artifact) -> None:
    assert stacks.deploy(artifact=artifact, fleet=fleet).ok
    prefix = fleet.config.landing.stack_name
    function = f"{prefix}-shipper"
    cloudwatch = fleet.landing_client("cloudwatch")
    cloudwatch.put_metric_data(
        Namespace="XaccountOps/Shipper",
        MetricData=[
            {
                "MetricName": "lines",
                "Dimensions": [{"Name": "FunctionName", "Value": function}],
                "Value": 42,
                "Timestamp": datetime.now(UTC) - timedelta(minutes=2),
            }
        ],
    )

    data = dashboard_data(fleet, window=timedelta(minutes=30))

    assert data.name == dashboard_name(fleet) == f"{prefix}-pipeline"
    assert len(data.widgets) == 9
    (mapping,) = fleet.landing_client("lambda").list_event_source_mappings(FunctionName=function)[
        "EventSourceMappings"
    ]
    names = {
        v
        for w in data.widgets
        for row in w["properties"]["metrics"]
        for v in row
        if isinstance(v, str)
    }
    assert {f"{prefix}-stream", function, f"{prefix}-shipper-failures", mapping["UUID"]} <= names
    shipped = data.frame[data.frame["metric"] == "lines"]
    assert shipped["value"].sum() == 42
    assert set(shipped["title"]) == {"Shipped: lines and bytes out"}
    outputs = fleet.landing_client("cloudformation").describe_stacks(StackName=prefix)
    url = {o["OutputKey"]: o["OutputValue"] for o in outputs["Stacks"][0]["Outputs"]}[
        "PipelineDashboardUrl"
    ]
    assert url.endswith(f"#dashboards/dashboard/{prefix}-pipeline")
    assert plots.dashboard(data).png().startswith(b"\x89PNG")
