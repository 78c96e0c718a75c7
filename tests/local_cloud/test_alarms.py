"""local/alarms.py: CloudWatch alarms evaluated from the metrics moto stores (AWS's "Evaluating an
alarm" and missing-data rules). Plain moto never changes an alarm's state, so every state read
back here is the evaluator's."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support import local_client
from xaccount_ops.local import alarms

REGION = "eu-west-1"


def client(endpoint: str, service: str) -> Any:
    return local_client(endpoint, service, REGION)


@pytest.mark.parametrize(
    ("values", "treat", "current", "state"),
    [
        ([1.0], "notBreaching", "OK", "ALARM"),
        ([0.0], "notBreaching", "ALARM", "OK"),
        ([], "notBreaching", "ALARM", "OK"),
        ([], "missing", "OK", "INSUFFICIENT_DATA"),
        ([], "ignore", "ALARM", "ALARM"),
        ([], "breaching", "OK", "ALARM"),
    ],
)
def test_decide_follows_the_missing_data_rules(
    values: list[float], treat: str, current: str, state: str
) -> None:
    decided, _ = alarms.decide(
        values,
        periods=1,
        to_alarm=1,
        threshold=0,
        comparison="GreaterThanThreshold",
        treat_missing=treat,
        current=current,
    )

    assert decided == state


def test_datapoints_to_alarm_m_out_of_n() -> None:
    common = {"periods": 3, "threshold": 5, "comparison": "GreaterThanOrEqualToThreshold"}

    two_of_three = alarms.decide(
        [5, 1, 9], to_alarm=2, treat_missing="missing", current="OK", **common
    )
    one_of_three = alarms.decide(
        [5, 1, 1], to_alarm=2, treat_missing="missing", current="OK", **common
    )

    assert two_of_three == ("ALARM", 2)
    assert one_of_three == ("OK", 1)


def test_a_breaching_metric_moves_the_alarm_and_says_why(ext_endpoint: str) -> None:
    cloudwatch = client(ext_endpoint, "cloudwatch")
    name = f"auth-{time.monotonic_ns()}"
    dims = [{"Name": "FunctionName", "Value": name}]
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="XaccountOps/Shipper",
        MetricName="auth_failures",
        Dimensions=dims,
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    alarms.evaluate_all()
    assert cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "OK"

    cloudwatch.put_metric_data(
        Namespace="XaccountOps/Shipper",
        MetricData=[
            {
                "MetricName": "auth_failures",
                "Dimensions": dims,
                "Value": 2,
                "Timestamp": datetime.now(UTC),
            }
        ],
    )
    changed = alarms.evaluate_all()

    assert [state for key, state in changed.items() if key[2] == name] == ["ALARM"]
    alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    assert "greater than the threshold (0)" in alarm["StateReason"]
    assert alarms.evaluate_all().get(("123456789012", REGION, name)) is None  # no change twice
    cloudwatch.delete_alarms(AlarmNames=[name])
