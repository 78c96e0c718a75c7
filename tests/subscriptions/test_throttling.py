"""Throttling and access errors during apply, which the emulator cannot be made to produce on
demand here (its own rate limiter, local/pace.py, is tested elsewhere).

- Throttling is injected at botocore's ``before-send`` event: a canned 400 ThrottlingException /
  LimitExceededException HTTP response in place of the request. botocore's Stubber answers at
  ``before-call``, *above* the retry loop, so it could not show retries; ``before-send`` sits
  under it, so these tests run botocore's real adaptive retry mode against the fake responses.
- AccessDenied uses botocore's Stubber (no retries involved).

Everything else is the plain moto server over HTTP.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from xaccount_ops import subscriptions
from xaccount_ops.config import filter_name, load_config
from xaccount_ops.fleet.accounts import Fleet


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def throttle(client: Any, should: Any, code: str = "ThrottlingException") -> list[str]:
    """Answer PutSubscriptionFilter with ``code`` whenever ``should(log_group, attempt)``; return
    the log group of every request sent (attempts included)."""
    sent: list[str] = []
    lock = threading.Lock()

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        group = json.loads(request.body)["logGroupName"]
        with lock:
            sent.append(group)
            attempt = sent.count(group)
        if not should(group, attempt):
            return None
        body = json.dumps({"__type": code, "message": "Rate exceeded"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "t"}
        return AWSResponse(request.url, 400, headers, _Raw(body))

    client.meta.events.register("before-send.logs.PutSubscriptionFilter", before_send)
    return sent


def fleet_with_attempts(world: Any, directory: Path, attempts: int) -> Fleet:
    path = world.reconfigure(directory, max_attempts=attempts).path
    return Fleet.from_config(load_config(path))


@pytest.fixture
def small(moto_endpoint: str, tmp_path: Path, subs_helpers: Any) -> Any:
    return subs_helpers.make_world(
        moto_endpoint, tmp_path / "w", accounts=1, regions=("us-east-1", "eu-west-1")
    )


@pytest.mark.parametrize("code", ["ThrottlingException", "LimitExceededException"])
def test_apply_completes_through_throttling(small: Any, tmp_path: Path, code: str) -> None:
    fleet = fleet_with_attempts(small, tmp_path / "cfg", attempts=5)
    account, region = small.senders[0], small.regions[1]
    plan = subscriptions.plan(fleet, progress=False)
    # two groups' first two attempts are throttled; their third goes through
    victims = {"/ecs/web-frontend", "/aws/vpc/flow-logs"}
    sent = throttle(
        fleet.client("logs", account, region), lambda g, n: g in victims and n <= 2, code
    )

    result = subscriptions.apply(fleet, plan, progress=False)

    assert result.ok, result.errors
    assert result.changed == plan.changes
    planned = plan.frame[(plan.frame["region"] == region) & (plan.frame["action"] == "create")]
    assert sorted(set(sent)) == sorted(planned["log_group"])
    assert len(sent) == len(planned) + 2 * len(victims)  # victims: two throttled, one that worked
    assert all(sent.count(v) == 3 for v in victims)
    filters = small.filters(account, region, "/ecs/web-frontend")
    assert filter_name(region) in filters


def test_row_fails_after_the_retry_budget(small: Any, tmp_path: Path) -> None:
    fleet = fleet_with_attempts(small, tmp_path / "cfg", attempts=3)
    account, region = small.senders[0], small.regions[1]
    plan = subscriptions.plan(fleet, progress=False)
    victim = "/aws/vpc/flow-logs"
    sent = throttle(fleet.client("logs", account, region), lambda g, n: g == victim)

    result = subscriptions.apply(fleet, plan, progress=False)

    # the whole budget was spent on it: botocore's retries.max_attempts counts retries (1 + 3)
    assert sent.count(victim) == 1 + 3
    failed = result.frame[result.frame["status"] == "failed"]
    assert list(failed["log_group"]) == [victim]
    assert failed.iloc[0]["error"].startswith("ThrottlingException")
    assert "aws.max_workers" in result.errors.iloc[-1]["hint"]
    assert result.changed == plan.changes - 1  # the rest continued
    assert not result.ok
    assert filter_name(region) not in small.filters(account, region, victim)


def test_access_denied_fails_the_target_not_the_run(
    small: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stubber: the destination refuses the first put in one target; its other rows are not
    attempted (they would fail alike), the other region still applies over HTTP."""
    monkeypatch.setattr(subscriptions.execute, "WORKERS_PER_TARGET", 1)
    fleet = small.fleet
    account, refused, fine = small.senders[0], small.regions[1], small.regions[0]
    plan = subscriptions.plan(fleet, progress=False)
    client = fleet.client("logs", account, refused)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "put_subscription_filter",
            service_error_code="AccessDeniedException",
            service_message="User is not authorized to perform: logs:PutSubscriptionFilter",
            http_status_code=400,
        )
        result = subscriptions.apply(fleet, plan, progress=False)
        stubber.assert_no_pending_responses()

    frame = result.frame
    denied = frame[(frame["region"] == refused) & (frame["action"] == "create")]
    assert set(denied["status"]) == {"failed"}
    assert denied["error"].str.startswith("AccessDeniedException").sum() == 1
    assert denied["error"].str.startswith("not attempted: AccessDeniedException").sum() == (
        len(denied) - 1
    )
    assert result.errors["hint"].str.contains("accounts add").any()
    applied = frame[(frame["region"] == fine) & (frame["action"] == "create")]
    assert set(applied["status"]) == {"ok"}
