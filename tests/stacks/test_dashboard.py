"""cfn/main.yaml's dashboard and alarms reference only metrics the stack emits.

"Emits" means: AWS publishes the metric for a resource of this stack with exactly these dimensions
(AWS/Kinesis stream-level metrics, "Monitoring the Amazon Kinesis Data Streams service with
CloudWatch"; AWS/Lambda function metrics and, with the mapping's ``MetricsConfig: EventCount``,
event source mapping metrics, "Types of metrics for Lambda functions"; AWS/SQS queue metrics), or
the shipper writes it in its EMF line (``shipper_lambda.metrics.METRIC_UNITS``, read from the
code so a renamed counter fails here).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from shipper_lambda import metrics as shipper_metrics

CFN = Path(__file__).resolve().parents[2] / "cfn"

# namespace -> (dimension name -> the template resource its value must come from, metric names)
EMITTED: dict[str, list[tuple[str, str, set[str]]]] = {
    "AWS/Kinesis": [
        (
            "StreamName",
            "KinesisStream",
            {
                "IncomingRecords",
                "IncomingBytes",
                "WriteProvisionedThroughputExceeded",
                "ReadProvisionedThroughputExceeded",
                "GetRecords.IteratorAgeMilliseconds",
                "PutRecords.ThrottledRecords",
            },
        )
    ],
    "AWS/Lambda": [
        (
            "FunctionName",
            "ShipperFunction",
            {
                "Invocations",
                "Errors",
                "Throttles",
                "Duration",
                "ConcurrentExecutions",
                "IteratorAge",
            },
        ),
        (
            "EventSourceMappingUUID",
            "ShipperEventSourceMapping",
            {
                "PolledEventCount",
                "InvokedEventCount",
                "FilteredOutEventCount",
                "FailedInvokeEventCount",
                "DeletedEventCount",
                "DroppedEventCount",
                "OnFailureDestinationDeliveredEventCount",
            },
        ),
    ],
    "AWS/SQS": [("QueueName", "FailureQueue", {"ApproximateNumberOfMessagesVisible"})],
    shipper_metrics.NAMESPACE: [
        ("FunctionName", "ShipperFunction", set(shipper_metrics.METRIC_UNITS))
    ],
}


def load() -> dict[str, Any]:
    template, errors = decode_str((CFN / "main.yaml").read_text())
    assert not errors, errors
    return template


def resource_of(value: Any) -> str:
    """The resource a ``!Ref X`` / ``!GetAtt X.Attr`` names."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    raise AssertionError(f"dimension value {value!r} is not a reference to a stack resource")


def check(namespace: str, metric: str, dimensions: dict[str, str]) -> None:
    """``dimensions``: name -> the resource its value refers to."""
    known = EMITTED.get(namespace)
    assert known, f"namespace {namespace} is not one the stack emits"
    for dim, resource, names in known:
        if dimensions == {dim: resource} and metric in names:
            return
    raise AssertionError(f"{namespace} {metric} {dimensions} is not a metric the stack emits")


def dashboard_body(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The dashboard JSON with ``${Var}`` replaced by ``<Resource>`` markers, and var -> resource."""
    (dashboard,) = (
        r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    )
    text, variables = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    resources = {name: resource_of(value) for name, value in variables.items()}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in resources:
            return f"<{resources[name]}>"
        assert name.startswith("AWS::"), f"${{{name}}} is neither a variable nor a pseudo parameter"
        return "us-east-1"

    return json.loads(re.sub(r"\$\{([^}]+)\}", substitute, text)), resources


def test_dashboard_body_is_json_of_metric_widgets_the_stack_emits() -> None:
    body, _ = dashboard_body(load())

    widgets = body["widgets"]
    assert len(widgets) >= 8
    seen: set[tuple[str, str]] = set()
    for widget in widgets:
        assert widget["type"] == "metric"
        props = widget["properties"]
        assert props["title"] and props["region"] == "us-east-1"
        for row in props["metrics"]:
            fields = [f for f in row if not isinstance(f, dict)]
            assert "..." not in fields and "." not in fields  # no shorthand: every row complete
            namespace, metric, *pairs = fields
            assert len(pairs) % 2 == 0, row
            dims = dict(zip(pairs[::2], pairs[1::2], strict=True))
            check(namespace, metric, {k: v.strip("<>") for k, v in dims.items()})
            options = row[-1] if isinstance(row[-1], dict) else {}
            assert "stat" in options or "stat" in props, f"{metric}: no statistic"
            seen.add((namespace, metric))
    # What the issue asks the dashboard to show.
    for wanted in (
        ("AWS/Kinesis", "IncomingRecords"),
        ("AWS/Kinesis", "IncomingBytes"),
        ("AWS/Kinesis", "WriteProvisionedThroughputExceeded"),
        ("AWS/Lambda", "IteratorAge"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Duration"),
        ("AWS/Lambda", "ConcurrentExecutions"),
        ("XaccountOps/Shipper", "lines"),
        ("XaccountOps/Shipper", "bytes_out"),
        ("XaccountOps/Shipper", "partial_bodies"),
        ("XaccountOps/Shipper", "request_timeouts"),
        ("XaccountOps/Shipper", "resent_after_timeout"),
        ("XaccountOps/Shipper", "auth_failures"),
        ("XaccountOps/Shipper", "dropped"),
        ("XaccountOps/Shipper", "records_filtered"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    ):
        assert wanted in seen, wanted


def test_every_alarm_watches_a_metric_the_stack_emits() -> None:
    template = load()
    alarms = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) >= 9
    for alarm in alarms:
        props = alarm["Properties"]
        stats = (
            [m["MetricStat"]["Metric"] for m in props["Metrics"] if "MetricStat" in m]
            if "Metrics" in props
            else [props]
        )
        for metric in stats:
            dims = {d["Name"]: resource_of(d["Value"]) for d in metric.get("Dimensions", [])}
            check(metric["Namespace"], metric["MetricName"], dims)
        assert props["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }


def test_mapping_opts_in_to_the_metrics_the_dashboard_reads() -> None:
    template = load()
    mapping = template["Resources"]["ShipperEventSourceMapping"]["Properties"]

    assert mapping["MetricsConfig"] == {"Metrics": ["EventCount"]}


def test_the_silence_alarm_is_records_without_lines() -> None:
    props = load()["Resources"]["ShipperSilenceAlarm"]["Properties"]
    (expression,) = [m for m in props["Metrics"] if m.get("ReturnData")]

    assert expression["Expression"] == "IF(FILL(records, 0) > 0 AND FILL(lines, 0) == 0, 1, 0)"
    assert props["EvaluationPeriods"] == {"Ref": "SilenceAlarmPeriods"}


@pytest.mark.parametrize("bad", ["IncomingRecord", "lines_out"])
def test_check_rejects_a_metric_the_stack_does_not_emit(bad: str) -> None:
    with pytest.raises(AssertionError):
        check("AWS/Kinesis", bad, {"StreamName": "KinesisStream"})
    with pytest.raises(AssertionError):
        check(shipper_metrics.NAMESPACE, bad, {"FunctionName": "ShipperFunction"})


def test_the_stack_outputs_the_dashboard_url() -> None:
    url = load()["Outputs"]["PipelineDashboardUrl"]["Value"]["Fn::Sub"]

    assert url.startswith("https://${AWS::Region}.console.aws.amazon.com/cloudwatch/")
    assert url.endswith("#dashboards/dashboard/${PipelineDashboard}")
