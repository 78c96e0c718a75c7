"""local/emf.py: the metrics CloudWatch extracts from an embedded-metric-format log line (AWS's
"Specification: Embedded metric format"), read from the shipper's own EMF line."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shipper_lambda import metrics as shipper_metrics
from xaccount_ops.local import emf


def test_the_shippers_line_gives_one_datum_per_counter() -> None:
    stats = shipper_metrics.Stats(lines=7, bytes_out=1234, auth_failures=1, duration_ms=12.5)
    line = json.dumps(shipper_metrics.emf_document(stats, "shipper-fn"))

    data = dict((d["MetricName"], (ns, d)) for ns, d in emf.metric_data(line))

    assert set(data) == set(shipper_metrics.METRIC_UNITS)
    namespace, lines = data["lines"]
    assert namespace == shipper_metrics.NAMESPACE
    assert lines["Value"] == 7.0
    assert lines["Unit"] == "Count"
    assert lines["Dimensions"] == [{"Name": "FunctionName", "Value": "shipper-fn"}]
    assert data["bytes_out"][1]["Unit"] == "Bytes"
    assert data["auth_failures"][1]["Value"] == 1.0
    assert data["duration_ms"][1]["Value"] == 12.5


def test_timestamp_and_value_lists_and_no_dimension_set() -> None:
    doc = {
        "_aws": {
            "Timestamp": 1_700_000_000_123,
            "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [[]], "Metrics": [{"Name": "t"}]}
            ],
        },
        "t": [1, 2.5],
    }

    ((namespace, datum),) = emf.metric_data(json.dumps(doc))

    assert namespace == "N"
    assert datum["Values"] == [1.0, 2.5]
    assert datum["Dimensions"] == []
    assert datum["Unit"] == "None"
    assert datum["Timestamp"] == datetime.fromtimestamp(1_700_000_000.123, tz=UTC)


def test_lines_that_are_not_emf_give_nothing() -> None:
    assert emf.metric_data("START RequestId: 1 Version: $LATEST") == []
    assert emf.metric_data('{"message": "no _aws here"}') == []
    assert emf.metric_data('{"_aws": "broken"') == []
    assert emf.metric_data(json.dumps({"_aws": {"CloudWatchMetrics": []}})) == []  # no Timestamp


def test_missing_member_or_dimension_skips_only_that() -> None:
    doc = {
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [
                {
                    "Namespace": "N",
                    "Dimensions": [["FunctionName"], ["Missing"]],
                    "Metrics": [{"Name": "a"}, {"Name": "b"}, {"Name": "flag"}],
                }
            ],
        },
        "FunctionName": "f",
        "a": 3,
        "flag": True,  # not a number
    }

    data = emf.metric_data(json.dumps(doc))

    assert [(d["MetricName"], d["Dimensions"]) for _, d in data] == [
        ("a", [{"Name": "FunctionName", "Value": "f"}])
    ]
