"""Reconcile and the shipper's event rules (issue #22): a joined line counts as the events it
holds, and a group the shipper filters is an upper bound. The Logz.io emulator over HTTP, lines
shipped by the shipper's own code with a multiline rule."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from shipper_lambda.config import load
from shipper_lambda.routes import Table
from xaccount_ops.delivery import reship
from xaccount_ops.local.logzio import LogzioEmulator
from xaccount_ops.logzio import SearchClient
from xaccount_ops.verify.reconcile import Shipping, Window, event_filters, logzio_counts

SHIPPING, API = "rec-ship-token", "rec-api-token"
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
STAMP = int(START.timestamp() * 1000) + 5_000


def record(group: str, messages: list[str]) -> dict:
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": "111111111111",
        "logGroup": group,
        "logStream": "s",
        "subscriptionFilters": ["logzio-xacct-eu-west-1"],
        "logEvents": [
            {"id": f"{abs(hash((group, i))) % 10**20:056d}", "timestamp": STAMP + i, "message": m}
            for i, m in enumerate(messages)
        ],
    }
    data = base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()
    return {"kinesis": {"sequenceNumber": "1", "data": data, "partitionKey": "p"}}


def test_a_joined_line_counts_as_the_events_it_holds() -> None:
    trace = ["2026-12-01 ERROR boom", "\tat a", "\tat b", "2026-12-01 INFO ok", "\tat c"]
    big = ["2026-12-01 big " + "x" * 600_000, "\tat big"]  # joined, then split in two parts
    with LogzioEmulator(shipping_token=SHIPPING, api_token=API) as emulator:
        env = {
            "LOGZIO_TOKEN": SHIPPING,
            "LOGZIO_LISTENER_URL": emulator.listener_url,
            "LOGZIO_MULTILINE": json.dumps([{"start": r"^\d{4}-", "max_bytes": 1_000_000}]),
        }
        shipper = reship.Reshipper(load(env), SHIPPING, Table())
        records = [record("/app/java", trace), record("/app/big", big), record("/app/plain", ["a"])]
        result = shipper.ship(records, 30)
        assert result.failed is None and result.stats.joined == 4
        search = SearchClient(emulator.api_url, API)
        shipping = [
            Shipping("111111111111", "eu-west-1", group, "")
            for group in ("/app/java", "/app/big", "/app/plain")
        ]
        window = Window(START, START + timedelta(minutes=1))
        counts = logzio_counts(search, shipping, window)
        search.close()
    assert counts == {
        ("111111111111", "eu-west-1", "/app/java"): 5,  # 2 lines holding 3 + 2 events
        ("111111111111", "eu-west-1", "/app/big"): 2,  # 2 parts of one line holding 2
        ("111111111111", "eu-west-1", "/app/plain"): 1,
    }


def test_event_filters_that_apply_to_a_group_make_its_count_an_upper_bound() -> None:
    logzio = SimpleNamespace(
        drop=({"pattern": "DEBUG", "log_groups": ["^/aws/lambda/"]},),
        keep=({"name": "errors", "pattern": "ERROR", "log_groups": "^/ecs/"},),
    )
    assert event_filters(logzio, "/aws/lambda/x") == ["drop:pattern1"]
    assert event_filters(logzio, "/ecs/web") == ["keep:errors"]
    assert event_filters(logzio, "/vpc/flow") == []
