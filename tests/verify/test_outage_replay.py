"""Outages end to end on the local cloud: the listener fails longer than the mapping retries, the
batches land with their payload in the S3 failure store, and ``xaccount-ops replay`` ships them
exactly once.

Real parts throughout: log events go into a sending account's log group, through its
``logzio-xacct-<region>`` filter, the cross-account destination and Kinesis, to the shipper run by
the event source mapping emulator, into the Logz.io emulator, whose faults (``/__admin/faults``,
matched on this module's log group names so nothing else is hit) play the outage. The mapping
has test-sized retries (1 retry) and the shipper test-sized backoff (env), so a batch reaches the
store within seconds. Counts are printed for the report (``-s``).
"""

from __future__ import annotations

import json
import time
import types
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.logzio_faults import faults
from tests.support import wait_for
from xaccount_ops.cli import main
from xaccount_ops.config import load_config
from xaccount_ops.delivery import replay as replay_job
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.logzio import SearchClient


@pytest.fixture(scope="module")
def world(
    local_cloud: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, helpers: Any
) -> Iterator[Any]:
    world = helpers.failure_store_world(
        local_cloud,
        tmp_path_factory.mktemp("rpl"),
        "rpl",
        notify=True,
    )
    yield world
    world.search.close()
    faults(local_cloud["listener_url"], "DELETE")


def log_group(world: Any, name: str) -> tuple[Any, str]:
    """A log group of the sending account, subscribed the toolkit's way."""
    group = f"/replay/{world.stack}/{name}"
    return world.subscribed_group(group), group


def put_events(logs: Any, group: str, label: str, count: int, calls: int = 1) -> None:
    """``calls`` PutLogEvents of ``count`` events each (each call is one Kinesis record)."""
    for call in range(calls):
        now = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[
                {"timestamp": now + i, "message": json.dumps({"label": label, "n": call * 100 + i})}
                for i in range(count)
            ],
        )


def lines(world: Any, group: str) -> list[dict[str, Any]]:
    """The lines of ``group`` in the Logz.io emulator (id, part, label)."""
    body = {
        "query": {"bool": {"filter": [{"term": {"logGroup.keyword": group}}]}},
        "size": 10_000,
        "_source": ["id", "part", "label"],
    }
    return world.search.hits(body)


def per_id(found: list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(str(line["id"]) for line in found))


def stored_ids(world: Any, group: str) -> list[str]:
    batches = replay_job.load_store(world.fleet, bucket=world.bucket)
    return [
        str(e["id"]) for b in batches for r in b.records if r.log_group == group for e in r.events
    ]


def cli(capsys: pytest.CaptureFixture[str], world: Any, *args: str) -> tuple[int, list[dict], str]:
    code = main(["--config", str(world.path), "replay", "--format", "json", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def queue_depth(world: Any) -> int:
    attributes = world.fleet.landing_client("sqs").get_queue_attributes(
        QueueUrl=world.landing.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def tags(world: Any) -> dict[str, dict[str, str]]:
    s3 = world.fleet.landing_client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=world.bucket).get("Contents", [])]
    return {
        k: {
            t["Key"]: t["Value"]
            for t in s3.get_object_tagging(Bucket=world.bucket, Key=k)["TagSet"]
        }
        for k in keys
    }


@pytest.mark.parametrize(
    ("status", "partial"),
    [(401, False), (503, True)],
    ids=["token-rejected", "listener-down-partial"],
)
def test_outage_then_replay_delivers_every_event_exactly_once(
    world: Any, capsys: pytest.CaptureFixture[str], status: int, partial: bool
) -> None:
    logs, group = log_group(world, f"outage-{status}")
    # GIVEN the listener fails every request for this group, longer than the retry budget
    faults(world.listener, "POST", {"status": status, "count": 10_000, "match": group})
    try:
        put_events(logs, group, "outage", count=20, calls=3)
        # THEN Lambda gives up and the batches land in the store, with their payload
        wait_for(lambda: len(stored_ids(world, group)) == 60, 90, "60 events in the failure store")
        assert lines(world, group) == []
    finally:
        faults(world.listener, "DELETE")
    ids = stored_ids(world, group)
    assert len(set(ids)) == 60
    in_store = len(ids)

    # Live events flow again right after the outage: the shard is not blocked.
    put_events(logs, group, "live", count=5)
    wait_for(
        lambda: sum(1 for line in lines(world, group) if line.get("label") == "live") == 5,
        60,
        "live events in Logz.io",
    )
    live = [str(line["id"]) for line in lines(world, group) if line.get("label") == "live"]

    already = 0
    if partial:
        # An earlier attempt delivered part of a batch before the listener went down: ship one
        # stored record through the shipper's own code, as that attempt would have.
        from xaccount_ops.delivery import reship

        batch = next(
            b
            for b in replay_job.load_store(world.fleet, bucket=world.bucket)
            if any(r.log_group == group for r in b.records)
        )
        record = next(r for r in batch.records if r.log_group == group)
        assert reship.from_fleet(world.fleet).ship([record.kinesis], 30).failed is None
        already = len(record.events)

    assert queue_depth(world) >= 1  # the stack's alarm sees stored batches
    before = per_id(lines(world, group))
    assert sum(before.values()) == already + 5
    tags_before = tags(world)

    # --dry-run changes nothing and exits 1 (the store is not delivered yet)
    code, rows, err = cli(capsys, world, "--dry-run")
    assert code == 1, err
    assert "would send" in {r["status"] for r in rows}
    assert per_id(lines(world, group)) == before
    assert tags(world) == tags_before

    # replay ships what is missing, skips what is there, exits 0
    code, rows, err = cli(capsys, world)
    assert code == 0, err
    mine = [r for r in rows if r["status"] != "already replayed"]
    sent = sum(r["sent"] for r in mine)
    skipped = sum(r["skipped_present"] for r in mine)
    assert sent == 60 - already
    assert skipped == already
    assert "skipped as already in Logz.io" in err
    after = per_id(lines(world, group))
    assert sorted(after) == sorted(ids + live), "lost events"
    assert set(after.values()) == {1}, "duplicates"
    assert all(replay_job.REPLAYED_TAG in t for t in tags(world).values())
    assert queue_depth(world) == 0  # replayed batches no longer count as waiting

    # a second replay ships nothing
    code, rows, err = cli(capsys, world)
    assert code == 0, err
    assert sum(r["sent"] for r in rows) == 0
    assert {r["status"] for r in rows} == {"already replayed"}
    assert per_id(lines(world, group)) == after
    print(
        f"\n[{status}] sent={60 + 5} in_store={in_store} replayed={sent} "
        f"skipped_present={skipped} duplicates={sum(n - 1 for n in after.values())} "
        f"lost={len(set(ids) - set(after))} live_after_outage=5"
    )


def test_delete_removes_only_delivered_objects(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """--delete (opt-in) removes objects whose events are all in Logz.io; the store is then empty."""
    code, rows, err = cli(capsys, world, "--delete", "--dry-run")
    assert code == 0, err
    assert rows and all(r["deleted"] for r in rows)
    assert tags(world), "a dry run deleted objects"
    code, rows, err = cli(capsys, world, "--delete")
    assert code == 0, err
    assert tags(world) == {}


def test_template_stack_outage_lands_in_its_store_and_replays_once(
    local_cloud: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
    helpers: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same outage on the stack cfn/main.yaml deploys: its S3 store (KMS, TLS-only policy)
    receives the batches, its queue one message per batch, and replay empties the queue."""
    from xaccount_ops import landing

    stack = helpers.unique("rpt")
    region = local_cloud["regions"][0]
    sender = local_cloud["sending_accounts"][1]
    path = helpers.local_config(
        tmp_path_factory.mktemp("replay-template"),
        local_cloud,
        stack,
        accounts=[sender],
        regions=[region],
    )
    with path.open("a") as config:  # test-sized retries, through the template's parameters
        config.write(
            '\n[stack]\nparameters = { MaximumRetryAttempts = "1", '
            'MaximumBatchingWindowInSeconds = "0" }\n'
        )
    fleet = Fleet.from_config(load_config(path))
    deployed = landing.deploy(include_speedups=False, destinations=False, fleet=fleet)
    assert deployed.ok, deployed.frame().to_string()
    outputs = landing.describe_stack(fleet.landing_client("cloudformation"), stack)["Outputs"]
    out = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    awslambda = fleet.landing_client("lambda")
    function = out["ShipperFunctionName"]
    env = awslambda.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    awslambda.update_function_configuration(
        FunctionName=function, Environment={"Variables": {**env, **helpers.SHIPPER_TEST_ENV}}
    )
    world = types.SimpleNamespace(
        fleet=fleet,
        path=path,
        stack=stack,
        region=region,
        sender=sender,
        bucket=out["FailureStoreBucket"],
        landing=types.SimpleNamespace(
            destinations={region: out["LogzioCrossAccountDestinationARN"]},
            queue_url=out["FailureQueueUrl"],
        ),
        listener=local_cloud["listener_url"],
        search=SearchClient.from_config(fleet.config),
    )
    world.subscribed_group = lambda group: helpers.subscribed_group(world, group)
    logs, group = log_group(world, "template-401")
    faults(world.listener, "POST", {"status": 401, "count": 10_000, "match": group})
    try:
        put_events(logs, group, "outage", count=10, calls=2)
        wait_for(lambda: len(stored_ids(world, group)) == 20, 90, "20 events in the stack's store")
    finally:
        faults(world.listener, "DELETE")
    wait_for(lambda: queue_depth(world) >= 1, 30, "the store's notification in the queue")
    ids = stored_ids(world, group)

    code, rows, err = cli(capsys, world)
    assert code == 0, err
    assert sum(r["sent"] for r in rows) == 20
    found = per_id(lines(world, group))
    assert sorted(found) == sorted(ids) and set(found.values()) == {1}
    assert queue_depth(world) == 0
    world.search.close()
    print("\n[template 401] sent=20 in_store=20 replayed=20 skipped_present=0 duplicates=0 lost=0")
