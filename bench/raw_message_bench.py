"""What keeping each log event's ``message`` as its raw JSON token would save (measured, dropped).

The shipper decodes a CloudWatch payload with ``orjson.loads`` (every message becomes a ``str``)
and writes each plain message back with ``orjson.dumps``. The idea measured here: decode the
payload with msgspec, each ``message`` a ``msgspec.Raw`` (its string token as written), and put
the token on the line as it is. The variants, each one pass over the bench workload's payloads
(``shipper_workload.payloads()``, JSON as the bench gzips it):

- ``today``: ``orjson.loads`` of each payload, ``orjson.dumps`` of each plain message;
- ``raw``: the Raw decode, nothing per message (the lower bound: neither exact nor complete);
- ``raw+json``: and each JSON-object message's token decoded to the ``str`` the merge needs;
- ``raw+check``: and each plain token searched for an escape orjson does not write (``\\u``,
  ``\\/``): only a token without one is byte for byte ``orjson.dumps`` of its text;
- ``raw exact``: both, and a token that fails the check decoded and re-encoded.

Run ``.venv/bin/python bench/raw_message_bench.py`` for the best of 20 passes per variant in
milliseconds. For instruction counts (load-independent), run one variant under callgrind with
``--variant NAME --passes 1`` and ``--passes 2`` and take the difference (README, Performance:
today 113.7 M, raw 80.2 M, raw+json 152.6 M, raw+check 132.7 M, raw exact 185.4 M).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import msgspec
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shipper_workload


class RawEvent(TypedDict, total=False):
    id: Any
    timestamp: Any
    message: msgspec.Raw
    extractedFields: Any


class RawPayload(TypedDict, total=False):
    messageType: Any
    owner: Any
    logGroup: Any
    logStream: Any
    subscriptionFilters: Any
    logEvents: list[RawEvent]


_raw_payload = msgspec.json.Decoder(RawPayload).decode


def _today(datas: list[bytes]) -> None:
    dumps = orjson.dumps
    for data in datas:
        for event in orjson.loads(data)["logEvents"]:
            message = event["message"]
            if message[:1] != "{":
                dumps(message)


def _raw(datas: list[bytes]) -> None:
    for data in datas:
        for event in _raw_payload(data)["logEvents"]:
            event["message"]


def _raw_json(datas: list[bytes]) -> None:
    loads = orjson.loads
    for data in datas:
        for event in _raw_payload(data)["logEvents"]:
            token = bytes(event["message"])
            if token[1:2] == b"{":
                loads(token)


def _raw_check(datas: list[bytes]) -> None:
    for data in datas:
        for event in _raw_payload(data)["logEvents"]:
            token = bytes(event["message"])
            if token[1:2] != b"{" and (token.find(b"\\u") >= 0 or token.find(b"\\/") >= 0):
                pass


def _raw_exact(datas: list[bytes]) -> None:
    loads, dumps = orjson.loads, orjson.dumps
    for data in datas:
        for event in _raw_payload(data)["logEvents"]:
            token = bytes(event["message"])
            if token[1:2] == b"{":
                loads(token)
            elif token.find(b"\\u") >= 0 or token.find(b"\\/") >= 0:
                dumps(loads(token))


VARIANTS: dict[str, Callable[[list[bytes]], None]] = {
    "today": _today,
    "raw": _raw,
    "raw+json": _raw_json,
    "raw+check": _raw_check,
    "raw exact": _raw_exact,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), help="run only this one")
    parser.add_argument("--passes", type=int, default=20, help="passes per variant")
    args = parser.parse_args()
    datas = [json.dumps(p, ensure_ascii=False).encode() for p in shipper_workload.payloads()]
    chosen = {args.variant: VARIANTS[args.variant]} if args.variant else VARIANTS
    for name, run in chosen.items():
        run(datas)  # warm: every type and cache built before counting or timing
        best = float("inf")
        for _ in range(args.passes):
            started = time.perf_counter()
            run(datas)
            best = min(best, time.perf_counter() - started)
        print(f"{name:<10} {best * 1000:7.2f} ms a batch (best of {args.passes})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
