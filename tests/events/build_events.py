"""Rebuild the Kinesis events in this folder from the readable CloudWatch Logs payloads below.

Run ``python tests/events/build_events.py``. The payloads follow AWS's documented examples (the
CloudTrail DATA_MESSAGE and the CONTROL_MESSAGE from the CloudWatch Logs subscription docs, whose
sample messages are truncated JSON) plus Lambda and emitSystemFields payloads as CloudWatch sends
them through a cross-account destination into Kinesis: gzip, then base64. gzip's mtime is fixed so
the files are reproducible.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

CLOUDTRAIL = {
    "owner": "123456789012",
    "logGroup": "CloudTrail",
    "logStream": "123456789012_CloudTrail_us-east-1",
    "subscriptionFilters": ["Destination"],
    "messageType": "DATA_MESSAGE",
    "logEvents": [
        {
            "id": "31953106606966983378809025079804211143289615424298221568",
            "timestamp": 1432826855000,
            "message": '{"eventVersion":"1.03","userIdentity":{"type":"Root"}',
        },
        {
            "id": "31953106606966983378809025079804211143289615424298221569",
            "timestamp": 1432826855000,
            "message": '{"eventVersion":"1.03","userIdentity":{"type":"Root"}',
        },
        {
            "id": "31953106606966983378809025079804211143289615424298221570",
            "timestamp": 1432826855000,
            "message": '{"eventVersion":"1.03","userIdentity":{"type":"Root"}',
        },
    ],
}

CONTROL = {
    "messageType": "CONTROL_MESSAGE",
    "owner": "CloudwatchLogs",
    "logGroup": "",
    "logStream": "",
    "subscriptionFilters": [],
    "logEvents": [
        {
            "id": "",
            "timestamp": 1432826855000,
            "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.",
        }
    ],
}

LAMBDA = {
    "messageType": "DATA_MESSAGE",
    "owner": "210987654321",
    "logGroup": "/aws/lambda/orders-api",
    "logStream": "2024/05/14/[$LATEST]4f3a1c2b9d8e4f6a8b7c6d5e4f3a2b1c",
    "subscriptionFilters": ["logzio-xacct-eu-west-1"],
    "logEvents": [
        {
            "id": "38262312011450551806468339582118427880135633012389511168",
            "timestamp": 1715688000123,
            "message": "START RequestId: 6f1a2b3c-4d5e-6f7a-8b9c-0d1e2f3a4b5c Version: $LATEST\n",
        },
        {
            "id": "38262312011450551806468339582118427880135633012389511169",
            "timestamp": 1715688000187,
            "message": '{"level":"INFO","msg":"order accepted","orderId":"A-1042","amount":12.5,'
            '"type":"app-supplied","owner":"spoofed"}',
        },
        {
            "id": "38262312011450551806468339582118427880135633012389511170",
            "timestamp": 1715688000201,
            "message": "2024-05-14T12:00:00.201Z\t6f1a2b3c\tINFO\tZahlung bestätigt für Bestellung"
            " A-1042 — 支払い完了\n",
        },
        {
            "id": "38262312011450551806468339582118427880135633012389511171",
            "timestamp": 1715688000250,
            "message": "END RequestId: 6f1a2b3c-4d5e-6f7a-8b9c-0d1e2f3a4b5c\n",
        },
        {
            "id": "38262312011450551806468339582118427880135633012389511172",
            "timestamp": 1715688000250,
            "message": "REPORT RequestId: 6f1a2b3c-4d5e-6f7a-8b9c-0d1e2f3a4b5c\tDuration: 62.88 ms"
            "\tBilled Duration: 63 ms\tMemory Size: 512 MB\tMax Memory Used: 81 MB\t\n",
        },
    ],
}

# A filter with emitSystemFields: each event carries its source account and region.
SYSTEM_FIELDS = {
    "messageType": "DATA_MESSAGE",
    "owner": "345678901234",
    "logGroup": "/aws/events/scheduler/nightly",
    "logStream": "events-stream",
    "subscriptionFilters": ["other-team-filter"],
    "logEvents": [
        {
            "id": "38262312011450551806468339582118427880135633012389600001",
            "timestamp": 1715688100000,
            "message": "nightly job started",
            "@aws.account": "345678901234",
            "@aws.region": "ap-southeast-2",
        }
    ],
}


def record(payload: dict, sequence: str, partition: str) -> dict:
    data = gzip.compress(json.dumps(payload).encode(), mtime=0)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition,
            "sequenceNumber": sequence,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1715688001.123,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::111111111111:role/logzio-xacct-shipper",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:111111111111:stream/logzio-xacct",
    }


def main() -> None:
    events = {
        "kinesis_cloudtrail.json": [CLOUDTRAIL],
        "kinesis_control_message.json": [CONTROL],
        "kinesis_lambda.json": [LAMBDA],
        "kinesis_mixed.json": [CONTROL, LAMBDA, CLOUDTRAIL, SYSTEM_FIELDS],
    }
    for name, payloads in events.items():
        records = [
            record(p, f"4959013298764587254789012345678901234567890123456{i:07d}", f"pk-{i}")
            for i, p in enumerate(payloads)
        ]
        (HERE / name).write_text(json.dumps({"Records": records}, indent=2) + "\n")


if __name__ == "__main__":
    main()
