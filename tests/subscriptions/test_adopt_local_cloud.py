"""End to end on the local cloud, counted in the Logz.io emulator: a hand-made filter to our
destination ships each event once and is not doubled by ``subscribe``; ``subscribe apply --adopt``
takes it over with no gap and no double (events keep arriving exactly once while it runs, and
carry ``region`` from then on); a second ``--adopt`` changes nothing. An account removed from the
destination policy stops arriving although its filters stay, ``verify`` says so at the policy
hop, and the ``accounts remove`` warning counts the filters left behind.

The landing pipeline (stream, destination, shipper and its event source mapping) is built with
tests/verify's ``build_landing`` under a stack name of this module's own; ``subscribe`` only
selects this module's log groups (``/adopt/<stack>/*``). Tests run in file order.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xaccount_ops import subscriptions
from xaccount_ops.cli import accounts_cmd, main
from xaccount_ops.cli.context import Context
from xaccount_ops.config import filter_name, load_config
from xaccount_ops.fleet.accounts import Fleet, Target
from xaccount_ops.logzio import SearchClient, marker_query
from xaccount_ops.verify import verify

MARKER = "adopt_marker"


@pytest.fixture(scope="module")
def e2e(
    local_cloud: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
    verify_helpers: Any,
    subs_helpers: Any,
) -> Iterator[Any]:
    from xaccount_ops.local import seed

    local = load_config(local_cloud["config"])
    stack = subs_helpers.unique("adp")
    region = local_cloud["regions"][0]
    senders = list(local_cloud["sending_accounts"])
    path = subs_helpers.write_config(
        tmp_path_factory.mktemp("adopt"),
        local_cloud["aws_endpoint"],
        landing=local_cloud["landing_account"],
        accounts=senders,
        regions=[region],
        stack=stack,
        subscriptions=f'include = ["/adopt/{stack}/*"]',
        role_name=seed.ROLE_NAME,
        token_file=local.logzio.shipping_token.name,
        max_attempts=10,
    )
    fleet = Fleet.from_config(load_config(path))
    landing = verify_helpers.local_landing(
        fleet,
        local_cloud,
    )
    verify_path = verify_helpers.write_config(
        tmp_path_factory.mktemp("adopt-verify"),
        endpoint=local_cloud["aws_endpoint"],
        landing=local_cloud["landing_account"],
        accounts=senders,
        regions=[region],
        stack=stack,
        canary_group=f"/adopt/{stack}/canary",
        api_url=local_cloud["api_url"],
        listener_url=local_cloud["listener_url"],
        api_token_file=local.logzio.api_token.name,
        shipping_token_file=local.logzio.shipping_token.name,
        role_name=seed.ROLE_NAME,
        timeout_s=60,
    )
    api_token = Path(local.logzio.api_token.name).read_text().strip()
    yield types.SimpleNamespace(
        path=path,
        verify_path=verify_path,
        fleet=fleet,
        region=region,
        senders=senders,
        stack=stack,
        destination=landing.destinations[region],
        search=SearchClient(local_cloud["api_url"], api_token),
        put_policy=verify_helpers.put_policy,
    )


def cli(e2e: Any, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(["--config", str(e2e.path), "subscribe", *args, "--no-progress"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def group_with_stream(e2e: Any, account: str, name: str) -> tuple[Any, str, str]:
    logs = e2e.fleet.client("logs", account, e2e.region)
    group = f"/adopt/{e2e.stack}/{name}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    return logs, group, "s"


def put(logs: Any, group: str, stream: str, marker: str, count: int, start: int = 0) -> None:
    now = int(time.time() * 1000)
    events = [
        {"timestamp": now + i, "message": json.dumps({MARKER: marker, "n": start + i})}
        for i in range(count)
    ]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def lines(e2e: Any, marker: str, expected: int, deadline_s: float = 90) -> list[dict[str, Any]]:
    """The lines carrying ``marker``, once at least ``expected`` arrived (or the deadline)."""
    body = marker_query([marker], field=MARKER, size=1000)
    deadline = time.monotonic() + deadline_s
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = [h for h in e2e.search.hits(body) if h.get(MARKER) == marker]
        if len(found) >= expected:
            break
        time.sleep(0.5)
    return found


def exactly_once(e2e: Any, found: list[dict[str, Any]], expected: int) -> None:
    ids = [str(h["id"]) for h in found]
    assert len(set(ids)) == expected, f"{len(set(ids))} distinct of {expected}"
    now = int(time.time() * 1000)
    counts = e2e.search.delivered_keys(ids, since_ms=now - 3_600_000, until_ms=now + 60_000)
    assert sorted(counts.values()) == [1] * expected, counts


def test_hand_made_filter_is_not_doubled_then_adopted_without_gap_or_double(
    e2e: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sender = e2e.senders[0]
    logs, group, stream = group_with_stream(e2e, sender, "orders")
    # The seed's way: aws logs put-subscription-filter --filter-name whatever --destination-arn ..
    logs.put_subscription_filter(
        logGroupName=group, filterName="whatever", filterPattern="", destinationArn=e2e.destination
    )

    code, plan_rows, err = cli(e2e, capsys, "plan", "--format", "json")
    assert code == 0, err
    (row,) = [r for r in plan_rows if r["log_group"] == group]
    assert row["action"] == "unchanged"
    assert "shipping through whatever; its events carry no region" in row["reason"]
    code, _, err = cli(e2e, capsys, "apply", "--format", "json")
    assert code == 0 and "0 changes" in err, err
    assert [f["filterName"] for f in subscriptions_filters(logs, group)] == ["whatever"]

    before = f"before-{uuid.uuid4().hex}"
    put(logs, group, stream, before, 5)
    found = lines(e2e, before, 5)
    exactly_once(e2e, found, 5)
    assert all(h.get("region") is None for h in found), found

    # Adopt while events keep arriving: none may be lost or doubled across the switch.
    during = f"during-{uuid.uuid4().hex}"
    stop = threading.Event()
    sent = [0]

    def keep_putting() -> None:
        while not stop.is_set():
            put(logs, group, stream, during, 1, start=sent[0])
            sent[0] += 1
            time.sleep(0.05)

    writer = threading.Thread(target=keep_putting, daemon=True)
    writer.start()
    try:
        code, applied, err = cli(e2e, capsys, "apply", "--adopt", "--format", "json")
    finally:
        time.sleep(0.3)  # a few more events after the switch
        stop.set()
        writer.join(timeout=10)
    assert code == 0, err
    (row,) = [r for r in applied if r["log_group"] == group]
    assert (row["action"], row["status"], row["filter_name"]) == ("adopt", "ok", "whatever")
    (adopted,) = subscriptions_filters(logs, group)
    assert adopted["filterName"] == "whatever"
    assert adopted["emitSystemFields"] == ["@aws.account", "@aws.region"]

    after = f"after-{uuid.uuid4().hex}"
    put(logs, group, stream, after, 5)
    found_after = lines(e2e, after, 5)
    exactly_once(e2e, found_after, 5)
    assert {h.get("region") for h in found_after} == {e2e.region}
    assert {h.get("owner") for h in found_after} == {sender}
    found_during = lines(e2e, during, sent[0])
    exactly_once(e2e, found_during, sent[0])
    assert sent[0] >= 3
    exactly_once(e2e, lines(e2e, before, 5), 5)  # still once: nothing re-sent

    code, applied, err = cli(e2e, capsys, "apply", "--adopt", "--format", "json")
    assert code == 0 and "0 changes" in err, err
    (row,) = [r for r in applied if r["log_group"] == group]
    assert row["action"] == "unchanged" and "adopted filter whatever" in row["reason"]


def subscriptions_filters(logs: Any, group: str) -> list[dict[str, Any]]:
    return logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]


def test_removed_account_stops_arriving_and_is_reported(
    e2e: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    gone, staying = e2e.senders[1], e2e.senders[0]
    logs, group, stream = group_with_stream(e2e, gone, "leaving")
    logs.put_subscription_filter(
        logGroupName=group,
        filterName=filter_name(e2e.region),
        filterPattern="",
        destinationArn=e2e.destination,
    )
    verify_fleet = Fleet.from_config(load_config(e2e.verify_path))
    target = Target(gone, e2e.region)
    first = verify(verify_fleet, timeout_s=60, targets=[target], progress=False)
    assert list(first.frame["status"].astype(str)) == ["delivered"]

    landing_logs = e2e.fleet.landing_client("logs", e2e.region)
    e2e.put_policy(landing_logs, e2e.destination, [a for a in e2e.senders if a != gone])
    try:
        dropped = f"dropped-{uuid.uuid4().hex}"
        put(logs, group, stream, dropped, 3)
        # The staying account's adopted group still ships: once its event is in, the dropped
        # ones (written earlier, same stream) would be too.
        staying_logs = e2e.fleet.client("logs", staying, e2e.region)
        control = f"control-{uuid.uuid4().hex}"
        put(staying_logs, f"/adopt/{e2e.stack}/orders", "s", control, 1)
        assert len(lines(e2e, control, 1)) == 1
        assert lines(e2e, dropped, 1, deadline_s=2) == []
        assert [f["filterName"] for f in subscriptions_filters(logs, group)] == [
            filter_name(e2e.region)
        ]

        result = verify(verify_fleet, timeout_s=10, prepare=False, targets=[target], progress=False)
        assert list(result.frame["status"].astype(str)) == ["missing"]
        assert [str(h) for h in result.diagnosis["hop"]] == ["destination policy"]

        ctx = Context(argparse.Namespace(config=str(e2e.path)))
        accounts_cmd.warn_active_filters(ctx, (gone,))
        err = capsys.readouterr().err
        # Our filter on the leaving group and verify's canary filter.
        assert f"account {gone} still has 2 active subscription filter(s)" in err
        assert f"`xaccount-ops subscribe remove --account {gone} --yes`" in err

        remove = ["subscribe", "remove", "--account", gone, "--yes", "--no-progress"]
        code = main(["--config", str(e2e.path), *remove, "--format", "json"])
        removed = json.loads(capsys.readouterr().out)
        assert code == 0
        assert {r["account"] for r in removed} == {gone}
        left, _ = subscriptions.active_filters(e2e.fleet, [gone], progress=False)
        assert left.empty, left
    finally:
        e2e.put_policy(landing_logs, e2e.destination, e2e.senders)


def test_accounts_remove_is_wired_to_the_warning() -> None:
    from xaccount_ops.cli import build_parser

    args = build_parser().parse_args(["accounts", "remove", "111111111111"])
    assert args.func is accounts_cmd.run_remove
