"""One botocore client per (service, region) for the whole fleet, each account a view of it
(``xaccount_ops.fleet.clients``): against a moto server over HTTP, every call must be signed as
its own account, page as its own account, retry on its own, and be stubbed on its own."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from tests import configs
from tests.foundation.test_accounts import ACCOUNTS
from xaccount_ops.config import load_config
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.fleet.clients import UnboundClientCall

REGION = "eu-west-1"


@pytest.fixture
def fleet(tmp_path: Path, moto_endpoint: str) -> Fleet:
    tables = configs.base_tables(
        endpoint=moto_endpoint, accounts=ACCOUNTS, regions=("us-east-1", REGION), max_attempts=3
    )
    return Fleet.from_config(load_config(configs.write_config(tmp_path, tables)))


def test_every_account_is_a_view_of_one_client_and_signs_as_itself(fleet: Fleet) -> None:
    views = [fleet.client("sts", account, REGION) for account in ACCOUNTS]
    assert len({id(v.shared) for v in views}) == 1  # one botocore client for the three accounts
    assert fleet.client("sts", ACCOUNTS[0], "us-east-1").shared is not views[0].shared

    def whoami(view: Any) -> str:
        return view.get_caller_identity()["Account"]

    # Interleaved from many threads: each call carries its own account, never a neighbour's.
    with ThreadPoolExecutor(12) as pool:
        seen = list(pool.map(whoami, views * 20))
    assert seen == list(ACCOUNTS) * 20


def test_a_call_outside_a_view_is_refused_not_signed_as_anyone(fleet: Fleet) -> None:
    shared = fleet.client("logs", ACCOUNTS[0], REGION).shared
    with pytest.raises(UnboundClientCall, match="outside an account's view"):
        shared.describe_log_groups()


def test_pages_are_the_accounts_own(fleet: Fleet) -> None:
    for account in ACCOUNTS[:2]:
        logs = fleet.client("logs", account, REGION)
        for i in range(3):
            logs.create_log_group(logGroupName=f"/views/{account}/{i}")
    for account in ACCOUNTS[:2]:
        pages = fleet.client("logs", account, REGION).get_paginator("describe_log_groups")
        names = [
            g["logGroupName"]
            for page in pages.paginate(
                logGroupNamePrefix="/views/", PaginationConfig={"PageSize": 1}
            )
            for g in page["logGroups"]
        ]
        assert names == [f"/views/{account}/{i}" for i in range(3)]


def throttle_always(view: Any) -> list[int]:
    """Answer the view's DescribeLogGroups with a 400 ThrottlingException at botocore's
    ``before-send`` (under the retry loop: the emulator cannot throttle on demand); returns one
    entry per attempt sent."""
    sent: list[int] = []
    lock = threading.Lock()

    class Raw:
        def stream(self, **_: Any) -> Any:
            yield json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()

    def before_send(request: Any, **_: Any) -> AWSResponse:
        with lock:
            sent.append(1)
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "t"}
        return AWSResponse(request.url, 400, headers, Raw())

    view.meta.events.register("before-send.logs.DescribeLogGroups", before_send)
    return sent


def test_a_throttled_account_retries_alone(fleet: Fleet) -> None:
    throttled, other = (fleet.client("logs", a, REGION) for a in ACCOUNTS[:2])
    sent = throttle_always(throttled)
    with pytest.raises(throttled.exceptions.ThrottlingException):
        throttled.describe_log_groups()
    assert len(sent) == 1 + 3  # its whole budget: aws.max_attempts counts retries
    # The other account on the same botocore client: not throttled, not retried, its answer real.
    answer = other.describe_log_groups()
    assert answer["ResponseMetadata"]["RetryAttempts"] == 0
    assert len(sent) == 1 + 3


def test_a_stubber_on_one_view_stubs_that_account_only(fleet: Fleet) -> None:
    """Stubber (AccessDenied is AWS behaviour moto does not produce on demand)."""
    denied, fine = (fleet.client("logs", a, REGION) for a in ACCOUNTS[:2])
    fine.create_log_group(logGroupName="/views/fine")
    with Stubber(denied) as stub:
        stub.add_client_error("describe_log_groups", "AccessDeniedException", http_status_code=400)
        with pytest.raises(denied.exceptions.ClientError, match="AccessDenied"):
            denied.describe_log_groups()
        names = [g["logGroupName"] for g in fine.describe_log_groups()["logGroups"]]
        stub.assert_no_pending_responses()
    assert "/views/fine" in names


def test_views_cost_no_botocore_client(fleet: Fleet) -> None:
    accounts = [f"{n:012d}" for n in range(500000000000, 500000000040)]
    views = [fleet.client("logs", a, r) for a in accounts for r in ("us-east-1", REGION)]
    assert len({id(v.shared) for v in views}) == 2
    assert fleet.client("logs", accounts[0], REGION) is views[1]  # cached per target
