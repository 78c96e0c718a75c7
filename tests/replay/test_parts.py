"""The dedupe key is (id, part): when a split oversize event reached Logz.io only in part, a
replay sends the missing parts and nothing else (Logz.io emulator over HTTP, the shipper's code)."""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter

from shipper_lambda.config import load
from shipper_lambda.routes import Table
from xaccount_ops import logzio
from xaccount_ops.delivery import reship
from xaccount_ops.local.logzio import LogzioEmulator

SHIPPING, API = "parts-ship-token", "parts-api-token"
STAMP = 1_700_000_000_000


def record(events: list[dict]) -> dict:
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": "111111111111",
        "logGroup": "/app/big",
        "logStream": "s",
        "subscriptionFilters": ["logzio-xacct-eu-west-1"],
        "logEvents": events,
    }
    data = base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()
    return {"kinesis": {"sequenceNumber": "1", "data": data, "partitionKey": "p"}}


def test_only_the_missing_part_of_a_split_event_is_sent_again() -> None:
    big = {"id": "9" * 56, "timestamp": STAMP, "message": "é" * 400_000}  # 800 KB: two parts
    small = {"id": "8" * 56, "timestamp": STAMP, "message": "small"}
    with LogzioEmulator(shipping_token=SHIPPING, api_token=API) as emulator:
        env = {"LOGZIO_TOKEN": SHIPPING, "LOGZIO_LISTENER_URL": emulator.listener_url}
        shipper = reship.Reshipper(load(env), SHIPPING, Table())
        # An earlier attempt delivered part 1 and the small event, then failed before part 2.
        assert shipper.ship([record([big, small])], 30, frozenset({(big["id"], 2)})).failed is None
        search = logzio.SearchClient(emulator.api_url, API)
        first = search.delivered_keys([big["id"], small["id"]], since_ms=STAMP, until_ms=STAMP)
        assert first == {(big["id"], 1): 1, (small["id"], 0): 1}

        held = reship.present(first)
        missing = [e for e in (big, small) if e["id"] not in held.whole]
        assert missing == [big]
        assert shipper.ship([record(missing)], 30, held.parts).failed is None

        found = search.delivered_keys([big["id"], small["id"]], since_ms=STAMP, until_ms=STAMP)
        assert found == {(big["id"], 1): 1, (big["id"], 2): 1, (small["id"], 0): 1}
        in_2023 = {"range": {"@timestamp": {"gte": STAMP, "lte": STAMP, "format": "epoch_millis"}}}
        query = {"bool": {"must": [{"match_phrase": {"id": big["id"]}}], "filter": [in_2023]}}
        hits = search.hits({"query": query, "size": 10})
        parts = sorted(hits, key=lambda h: h["part"])
        assert "".join(p["message"] for p in parts) == big["message"]
        assert Counter(h["parts"] for h in hits) == Counter({2: 2})
