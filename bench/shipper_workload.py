"""The shipper benchmark's deterministic workload: one Kinesis event as Lambda receives it.

100 records carrying about 13,000 CloudWatch log events (about 8.5 MB of payload JSON before
gzip): Lambda START/END/REPORT and application lines, JSON application logs, CloudTrail events of
1.5–4 KB, nginx access lines and VPC flow log lines; about 3% of messages carry non-ASCII text.
Same seed, same bytes.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
from typing import Any

SEED = 20240514
RECORDS = 100
BASE_TS = 1715688000000
ACCOUNTS = ["210987654321", "345678901234", "456789012345", "567890123456"]
REGIONS = ["eu-west-1", "us-east-1", "ap-southeast-2"]
NON_ASCII = [
    "Zahlung bestätigt",
    "paiement reçu — merci",
    "支払い完了",
    "заказ отправлен",
    "✓ ok 🚀",
]
CLOUDTRAIL_EVENTS = ["AssumeRole", "GetObject", "PutObject", "DescribeInstances", "Decrypt"]
SERVICES = ["s3.amazonaws.com", "sts.amazonaws.com", "ec2.amazonaws.com", "kms.amazonaws.com"]


def _words(rng: random.Random, n: int) -> str:
    return " ".join(
        rng.choice(("order", "cart", "user", "retry", "cache", "db", "ok")) for _ in range(n)
    )


def _maybe_non_ascii(rng: random.Random, text: str) -> str:
    return f"{text} {rng.choice(NON_ASCII)}" if rng.random() < 0.055 else text


def _lambda_messages(rng: random.Random, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        req = f"{rng.getrandbits(64):016x}-{rng.getrandbits(32):08x}"
        out.append(f"START RequestId: {req} Version: $LATEST\n")
        for _ in range(rng.randint(2, 8)):
            if rng.random() < 0.5:
                doc = {
                    "level": rng.choice(("INFO", "WARN", "ERROR", "DEBUG")),
                    "msg": _maybe_non_ascii(rng, _words(rng, rng.randint(4, 12))),
                    "requestId": req,
                    "orderId": f"A-{rng.randint(1, 99999)}",
                    "latencyMs": round(rng.uniform(1, 900), 2),
                    "path": rng.choice(("/orders", "/cart", "/users/me", "/health")),
                    "tags": [rng.choice(("a", "b", "c")) for _ in range(3)],
                }
                out.append(json.dumps(doc, ensure_ascii=False))
            else:
                text = _maybe_non_ascii(rng, _words(rng, rng.randint(6, 20)))
                out.append(f"2024-05-14T12:00:00.000Z\t{req}\tINFO\t{text}\n")
        out.append(f"END RequestId: {req}\n")
        out.append(
            f"REPORT RequestId: {req}\tDuration: {rng.uniform(1, 900):.2f} ms\tBilled Duration: "
            f"{rng.randint(1, 900)} ms\tMemory Size: 512 MB\tMax Memory Used: {rng.randint(60, 200)} MB\t\n"
        )
    return out[:n]


def _cloudtrail_message(rng: random.Random, account: str, region: str) -> str:
    target = rng.randint(1500, 4000)
    doc: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROA{rng.getrandbits(64):016X}:session",
            "arn": f"arn:aws:sts::{account}:assumed-role/app-role/session",
            "accountId": account,
            "sessionContext": {"attributes": {"mfaAuthenticated": "false"}},
        },
        "eventTime": "2024-05-14T12:00:00Z",
        "eventSource": rng.choice(SERVICES),
        "eventName": rng.choice(CLOUDTRAIL_EVENTS),
        "awsRegion": region,
        "sourceIPAddress": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
        "userAgent": "aws-sdk-python/1.34 Python/3.12 Linux botocore/1.34",
        "requestParameters": {
            "bucketName": "orders-archive",
            "key": f"2024/05/14/{rng.getrandbits(40):x}",
        },
        "responseElements": None,
        "requestID": f"{rng.getrandbits(64):016X}",
        "eventID": f"{rng.getrandbits(128):032x}",
        "readOnly": rng.random() < 0.7,
        "resources": [],
        "eventType": "AwsApiCall",
        "recipientAccountId": account,
    }
    while len(json.dumps(doc)) < target:
        doc["resources"].append(
            {
                "accountId": account,
                "type": "AWS::S3::Object",
                "ARN": f"arn:aws:s3:::orders-archive/{rng.getrandbits(96):x}",
            }
        )
    return json.dumps(doc)


def _nginx(rng: random.Random) -> str:
    ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"
    path = rng.choice(("/", "/api/orders", "/static/app.js", "/login", "/api/cart?id=42"))
    agent = _maybe_non_ascii(rng, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0")
    return (
        f'{ip} - - [14/May/2024:12:00:00 +0000] "GET {path} HTTP/1.1" {rng.choice((200, 200, 304, 404, 500))} '
        f'{rng.randint(100, 90000)} "-" "{agent}"'
    )


def _vpc(rng: random.Random, account: str) -> str:
    return (
        f"2 {account} eni-{rng.getrandbits(68):017x} 10.0.{rng.randint(0, 255)}.{rng.randint(0, 255)} "
        f"10.1.{rng.randint(0, 255)}.{rng.randint(0, 255)} {rng.randint(1024, 65535)} 443 6 "
        f"{rng.randint(1, 40)} {rng.randint(40, 90000)} 1715688000 1715688060 "
        f"{rng.choice(('ACCEPT', 'ACCEPT', 'REJECT'))} OK"
    )


def payloads() -> list[dict[str, Any]]:
    """The 100 CloudWatch Logs payloads (decoded), deterministic."""
    rng = random.Random(SEED)
    out = []
    for index in range(RECORDS):
        account = ACCOUNTS[index % len(ACCOUNTS)]
        region = REGIONS[index % len(REGIONS)]
        kind = index % 20
        if kind < 3:  # 15 CloudTrail records
            group, stream = "aws-cloudtrail-logs-org", f"{account}_CloudTrail_{region}"
            messages = [
                _cloudtrail_message(rng, account, region) for _ in range(rng.randint(100, 130))
            ]
        elif kind < 13:  # 50 Lambda records
            group, stream = (
                f"/aws/lambda/orders-{index % 7}",
                f"2024/05/14/[$LATEST]{rng.getrandbits(128):032x}",
            )
            messages = _lambda_messages(rng, rng.randint(120, 155))
        elif kind < 17:  # 20 nginx records
            group, stream = "/ecs/nginx", f"nginx/web/{rng.getrandbits(64):016x}"
            messages = [_nginx(rng) for _ in range(rng.randint(110, 145))]
        else:  # 15 VPC flow log records
            group, stream = "/vpc/flow-logs", f"eni-{rng.getrandbits(68):017x}-all"
            messages = [_vpc(rng, account) for _ in range(rng.randint(130, 170))]
        events = [
            {
                "id": f"{38262312011450551806468339582118427880135633012389 + index * 1000 + i:056d}",
                "timestamp": BASE_TS + index * 1000 + i * 7,
                "message": message,
            }
            for i, message in enumerate(messages)
        ]
        out.append(
            {
                "messageType": "DATA_MESSAGE",
                "owner": account,
                "logGroup": group,
                "logStream": stream,
                "subscriptionFilters": [f"logzio-xacct-{region}"],
                "logEvents": events,
            }
        )
    return out


def kinesis_event(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The payloads as a Kinesis event (gzip with a fixed mtime, base64)."""
    records = []
    for index, payload in enumerate(items):
        data = gzip.compress(json.dumps(payload, ensure_ascii=False).encode(), mtime=0)
        records.append(
            {
                "eventSource": "aws:kinesis",
                "eventID": f"shardId-000000000000:{index}",
                "kinesis": {
                    "sequenceNumber": f"{49590132987645872547890123456789012345678901234567000000 + index}",
                    "partitionKey": f"pk-{index}",
                    "data": base64.b64encode(data).decode(),
                },
            }
        )
    return {"Records": records}


JAVA_GROUP = "/ecs/orders-java"
JAVA_START = r"^\d{4}-\d{2}-\d{2} "  # the multiline rule's start: a line's timestamp
_FRAMES = [
    "com.example.orders.OrderService.pay(OrderService.java:{n})",
    "com.example.orders.OrderController.post(OrderController.java:{n})",
    "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:{n})",
    "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:{n})",
    "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:{n})",
    "java.base/java.lang.Thread.run(Thread.java:{n})",
]


def _java_messages(rng: random.Random, n: int) -> list[str]:
    """A Java service's log as the awslogs driver ships it without a multiline pattern: every
    line of a stack trace is its own event (about 40% of the events are continuation lines)."""
    out: list[str] = []
    while len(out) < n:
        stamp = f"2024-05-14 12:00:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}"
        if rng.random() < 0.15:
            out.append(
                f"{stamp} ERROR [http-nio-8080-exec-{rng.randint(1, 9)}] c.e.o.OrderService - payment failed"
            )
            out.append(
                f"java.lang.IllegalStateException: card declined for order A-{rng.randint(1, 99999)}"
            )
            for _ in range(rng.randint(6, 14)):
                out.append("\tat " + rng.choice(_FRAMES).format(n=rng.randint(10, 900)))
            if rng.random() < 0.5:
                out.append("Caused by: java.net.SocketTimeoutException: Read timed out")
                out.append(f"\t... {rng.randint(5, 40)} more")
        else:
            level = rng.choice(("INFO", "INFO", "INFO", "DEBUG", "WARN"))
            text = _maybe_non_ascii(rng, _words(rng, rng.randint(5, 14)))
            out.append(f"{stamp} {level} [main] c.e.o.OrderService - {text}")
    return out[:n]


def java_payloads() -> list[dict[str, Any]]:
    """100 payloads of a Java service's stack traces, one event per line (deterministic)."""
    rng = random.Random(SEED + 1)
    out = []
    for index in range(RECORDS):
        account = ACCOUNTS[index % len(ACCOUNTS)]
        region = REGIONS[index % len(REGIONS)]
        messages = _java_messages(rng, rng.randint(120, 150))
        events = [
            {
                "id": f"{48262312011450551806468339582118427880135633012389 + index * 1000 + i:056d}",
                "timestamp": BASE_TS + index * 1000 + i * 3,
                "message": message,
            }
            for i, message in enumerate(messages)
        ]
        out.append(
            {
                "messageType": "DATA_MESSAGE",
                "owner": account,
                "logGroup": JAVA_GROUP,
                "logStream": f"orders/app/{rng.getrandbits(64):016x}",
                "subscriptionFilters": [f"logzio-xacct-{region}"],
                "logEvents": events,
            }
        )
    return out


def with_system_fields(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The payloads as a filter with ``emitSystemFields`` delivers them: ``@aws.account`` and
    ``@aws.region`` inside every event's ``extractedFields`` (AWS's shape)."""
    out = []
    for index, payload in enumerate(items):
        region = REGIONS[index % len(REGIONS)]
        system = {"@aws.account": payload["owner"], "@aws.region": region}
        events = [{**e, "extractedFields": dict(system)} for e in payload["logEvents"]]
        out.append({**payload, "logEvents": events})
    return out
