"""Where does a missing path break? Walk the pipeline hop by hop and say what to fix.

The hops, in the order a line travels them:

1. ``account``: the canary could not even be written (role, permissions, opt-in region);
2. ``canary group`` / ``filter``: our filter ``logzio-xacct-<region>`` is on the canary group and
   points at this region's destination;
3. ``destination``: the landing account has a destination in that region;
4. ``destination policy``: it allows the sending account (a refused PutSubscriptionFilter, or the
   policy read directly);
5. ``kinesis``: the stream received the canary (its records, read from shortly before the canary
   was sent; the ``IncomingRecords`` metric when the records cannot settle it);
6. ``shipper``: the function exists, its mapping is enabled, no ``Errors``/``Throttles``, the
   on-failure queue is empty, the iterator age is not growing;
7. ``listener``: the shipper's structured log lines (``/aws/lambda/<function>``) show no
   rejected bulk requests;
8. ``search``: everything above looked fine; the line may still be on its way.

A problem on the sending side (2-4) explains the miss on its own: the walk for that path stops
there. Landing-side findings (5-7) are looked up once and attached to every path they explain.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from xaccount_ops import aws, config
from xaccount_ops.fleet.accounts import Fleet, Target, fan_out, organization_id
from xaccount_ops.fleet.pipeline import Pipeline, discover
from xaccount_ops.frames import Categories, frame_with
from xaccount_ops.verify.canary import Canary
from xaccount_ops.verify.metrics import metric_sum, queue_depth

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

HOPS = (
    "account",
    "heartbeat",  # its rule, target and resource policy (verify --heartbeats)
    "canary group",
    "filter",
    "destination",
    "destination policy",
    "kinesis",
    "shipper",
    "failure queue",
    "iterator age",
    "listener",
    "search",
)
DIAGNOSIS_SCHEMA: dict[str, Any] = {
    "account_id": "string",
    "region": "string",
    "hop": Categories(HOPS, ordered=True),
    "problem": "string",
    "fix": "string",
}
# How much of the stream a diagnosis may read (GetRecords calls per shard): enough for the local
# cloud and a quiet stream; on a busy one we fall back to the IncomingRecords metric.
STREAM_SCAN_CALLS = 25
STREAM_SCAN_LOOKBACK = timedelta(seconds=30)
ITERATOR_AGE_WARN_MS = 60_000

Row = dict[str, str]


def row(target: Target, hop: str, problem: str, fix: str) -> Row:
    return {
        "account_id": target.account_id,
        "region": target.region,
        "hop": hop,
        "problem": problem,
        "fix": fix,
    }


def policy_row(target: Target, destination: Any) -> Row:
    """The destination's policy does not let the target's account subscribe."""
    return row(
        target,
        "destination policy",
        f"the policy of {destination.arn} does not allow account {target.account_id}",
        f"add the account: `xaccount-ops accounts add {target.account_id}`, then "
        "`xaccount-ops deploy`",
    )


def diagnosis_frame(rows: Iterable[Row] = ()) -> pd.DataFrame:
    frame = frame_with(DIAGNOSIS_SCHEMA, rows)
    return frame.sort_values(["account_id", "region", "hop"], ignore_index=True)


def diagnose(
    fleet: Fleet, canaries: Sequence[Canary], pipeline: Pipeline | None = None
) -> pd.DataFrame:
    """One row per problem found on the path of each canary that was not delivered."""
    pipeline = pipeline or discover(fleet)
    org_id = organization_id(fleet)
    rows: list[Row] = []
    upstream: dict[Target, list[Row]] = {}
    reachable = [c for c in canaries if c.sent_at is not None]
    for canary in canaries:
        if canary.sent_at is None:
            rows.append(
                row(
                    canary.target,
                    "account",
                    canary.detail or "the canary could not be written",
                    "check the role/profile for this account and that the region is enabled "
                    "(`xaccount-ops inventory` names each target's error and its fix)",
                )
            )
    by_target = {c.target: c for c in reachable}
    checked = fan_out(
        lambda t: sender_problems(fleet, by_target[t], pipeline, org_id),
        [c.target for c in reachable],
        max_workers=fleet.config.aws.max_workers,
        desc="diagnose",
        progress=False,
    )
    for target, found in checked.values.items():
        upstream[target] = found
    for error in checked.errors.itertuples():
        target = Target(error.account_id, error.region)
        upstream[target] = [
            row(
                target,
                "account",
                f"cannot inspect the canary group: {error.error_code}: {error.message}",
                error.hint or "check the role/profile for this account",
            )
        ]
    downstream = [c for c in reachable if not upstream.get(c.target)]
    for found in upstream.values():
        rows.extend(found)
    if downstream:
        rows.extend(landing_problems(fleet, downstream, pipeline))
    return diagnosis_frame(rows)


# -- the sending side ---------------------------------------------------------------------------


def sender_problems(
    fleet: Fleet, canary: Canary, pipeline: Pipeline, org_id: str | None
) -> list[Row]:
    """Filter, destination and policy problems for one path (empty if the sending side is fine)."""
    target = canary.target
    region = target.region
    stack = fleet.config.landing.stack_name
    rows: list[Row] = []
    destination = pipeline.destinations.get(region)
    if destination is None:
        rows.append(
            row(
                target,
                "destination",
                f"the landing account {fleet.landing_account} has no Logs destination in "
                f"{region} (none named {stack}*)",
                f"deploy the landing stacks for {region}: `xaccount-ops deploy`",
            )
        )
    if canary.setup_problem:
        # The refusal explains the missing filter too: one row says it all.
        rows.append(row(target, *canary.setup_problem))
        return rows
    if destination is not None and not destination.allows(target.account_id, org_id):
        rows.append(policy_row(target, destination))
    rows.extend(_filter_problems(fleet, canary, destination))
    return rows


def _filter_problems(fleet: Fleet, canary: Canary, destination: Any) -> list[Row]:
    target = canary.target
    name = config.filter_name(target.region)
    logs = fleet.client("logs", target.account_id, target.region)
    try:
        filters = logs.describe_subscription_filters(logGroupName=canary.log_group).get(
            "subscriptionFilters", []
        )
    except ClientError as err:
        if aws.error_code(err) != "ResourceNotFoundException":
            raise
        return [
            row(
                target,
                "canary group",
                f"the canary log group {canary.log_group} does not exist",
                "run `xaccount-ops verify` without --no-prepare to create and subscribe it",
            )
        ]
    ours = [f for f in filters if f["filterName"] == name]
    if not ours:
        others = ", ".join(f["filterName"] for f in filters) or "none"
        return [
            row(
                target,
                "filter",
                f"no subscription filter {name} on {canary.log_group} (filters there: {others})",
                "run `xaccount-ops verify` without --no-prepare (it subscribes the canary group), "
                "or `xaccount-ops subscribe apply`",
            )
        ]
    arn = ours[0].get("destinationArn", "")
    if destination is not None and arn != destination.arn:
        return [
            row(
                target,
                "filter",
                f"{name} on {canary.log_group} points at {arn}, not at {destination.arn}",
                "re-run `xaccount-ops verify` (it re-points the canary filter) or "
                "`xaccount-ops subscribe apply`",
            )
        ]
    return []


# -- the landing side -------------------------------------------------------------------------


def landing_problems(fleet: Fleet, canaries: Sequence[Canary], pipeline: Pipeline) -> list[Row]:
    """Kinesis, shipper and listener problems, attached to each path they explain."""
    since = min(c.sent_at for c in canaries if c.sent_at) - STREAM_SCAN_LOOKBACK
    rows: list[Row] = []
    kinesis = fleet.landing_client("kinesis", pipeline.stream_region or fleet.landing_region)
    seen: set[str] | None = None
    if pipeline.stream_name is None:
        for c in canaries:
            rows.append(
                row(
                    c.target,
                    "kinesis",
                    "no Kinesis stream found (neither the shipper's event source nor the "
                    "destination names one)",
                    "deploy the landing stack: `xaccount-ops deploy`",
                )
            )
        return rows
    try:
        seen = scan_stream(kinesis, pipeline.stream_name, [c.marker for c in canaries], since)
    except ClientError as err:
        log.warning("cannot read %s: %s", pipeline.stream_name, aws.error_code(err))
    incoming = None
    if seen is None:
        cloudwatch = fleet.landing_client("cloudwatch", pipeline.stream_region)
        incoming = metric_sum(
            cloudwatch, "AWS/Kinesis", "IncomingRecords", "StreamName", pipeline.stream_name, since
        )
    not_received = [
        c
        for c in canaries
        if (seen is not None and c.marker not in seen) or (seen is None and incoming == 0)
    ]
    for c in not_received:
        how = "its records" if seen is not None else "IncomingRecords = 0"
        rows.append(
            row(
                c.target,
                "kinesis",
                f"the canary never reached the stream {pipeline.stream_name} ({how} since "
                f"{since:%H:%M:%S} UTC): CloudWatch Logs did not deliver it",
                "check that the destination's role may kinesis:PutRecord(s) on the stream and "
                "trusts logs.amazonaws.com for this account (aws:SourceArn), and that the stream "
                "is ACTIVE; `xaccount-ops deploy` repairs both",
            )
        )
    received = [c for c in canaries if c not in not_received]
    if not received:
        return rows
    shared = shipper_problems(fleet, pipeline, since)
    for c in received:
        if shared:
            rows.extend(row(c.target, hop, problem, fix) for hop, problem, fix in shared)
        else:
            where = "reached the Kinesis stream" if seen is not None else "was probably sent"
            rows.append(
                row(
                    c.target,
                    "search",
                    f"the canary {where}, and no shipper or listener problem was seen: it may "
                    "still be on its way, or indexed where the search does not look",
                    f"re-run with a longer --timeout; search Logz.io for {c.marker}",
                )
            )
    return rows


def scan_stream(
    kinesis: Any,
    stream_name: str,
    markers: Sequence[str],
    since: datetime,
    *,
    max_calls: int = STREAM_SCAN_CALLS,
) -> set[str] | None:
    """The markers found in the stream's records since ``since``; None if the scan ran out of
    budget before reaching the end of some shard (the answer is then unknown)."""
    wanted = {m: m.encode() for m in markers}
    seen: set[str] = set()
    complete = True
    shards = [
        s["ShardId"] for page in _list_shards(kinesis, stream_name) for s in page.get("Shards", [])
    ]
    for shard in shards:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream_name,
            ShardId=shard,
            ShardIteratorType="AT_TIMESTAMP",
            Timestamp=since,
        )["ShardIterator"]
        for _ in range(max_calls):
            response = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            for record in response.get("Records", []):
                data = _decode(record["Data"])
                seen.update(m for m, raw in wanted.items() if raw in data)
            iterator = response.get("NextShardIterator")
            if not response.get("Records") or not iterator:
                break
        else:
            complete = False
    if seen >= set(wanted):
        return seen
    return seen if complete else None


def _list_shards(kinesis: Any, stream_name: str) -> Iterable[dict[str, Any]]:
    response = kinesis.list_shards(StreamName=stream_name)
    yield response
    while response.get("NextToken"):
        response = kinesis.list_shards(NextToken=response["NextToken"])
        yield response


def _decode(data: bytes) -> bytes:
    """CloudWatch Logs puts gzip'd JSON into Kinesis; anything else is returned as is."""
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return data
    return data


# Event source mapping states (Lambda API reference, EventSourceMappingConfiguration.State).
# CreateEventSourceMapping answers "Creating" (recorded on AWS: tests/fidelity fixture
# lambda/create_event_source_mapping); Lambda reads the stream only once the mapping is Enabled.
MAPPING_RUNNING = frozenset({"Enabled", "Updating"})  # Updating: an enabled mapping keeps running
MAPPING_STARTING = frozenset({"Creating", "Enabling"})
MAPPING_STOPPED = frozenset({"Disabled", "Disabling"})


def mapping_problem(function: str, mapping: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(hop, problem, fix) for an event source mapping that is not reading its stream, or None.

    A mapping just created or enabled is on its way (AWS: seconds to a minute): the fix is to
    wait, never to "enable" it. Disabled (or disabling) ones need enabling; anything else
    (Deleting, an unknown state) needs a deploy.
    """
    state = mapping.get("State")
    if state is None or state in MAPPING_RUNNING:
        return None
    what = f"the event source mapping of {function} is {state}"
    if state in MAPPING_STARTING:
        return (
            "shipper",
            f"{what}: Lambda starts reading the stream once it is Enabled (usually within a "
            "minute); records wait in the stream meanwhile",
            "wait a minute, then re-run `xaccount-ops verify`",
        )
    if state in MAPPING_STOPPED:
        return (
            "shipper",
            what,
            f"enable it: `aws lambda update-event-source-mapping --uuid {mapping.get('UUID')} "
            "--enabled`",
        )
    reason = mapping.get("StateTransitionReason")
    return (
        "shipper",
        what + (f" ({reason})" if reason else ""),
        "deploy the landing stack again: `xaccount-ops deploy`",
    )


def shipper_problems(
    fleet: Fleet, pipeline: Pipeline, since: datetime
) -> list[tuple[str, str, str]]:
    """(hop, problem, fix) for everything wrong between the stream and the listener."""
    deploy = "deploy the landing stack: `xaccount-ops deploy`"
    if pipeline.function_name is None:
        return [("shipper", "no shipper Lambda function in the landing account", deploy)]
    function = pipeline.function_name
    found: list[tuple[str, str, str]] = []
    mapping = pipeline.mapping
    if mapping is None:
        found.append(
            ("shipper", f"{function} has no Kinesis event source mapping: nothing runs it", deploy)
        )
    elif (problem := mapping_problem(function, mapping)) is not None:
        found.append(problem)
    cloudwatch = fleet.landing_client("cloudwatch")
    for metric in ("Errors", "Throttles"):
        total = metric_sum(cloudwatch, "AWS/Lambda", metric, "FunctionName", function, since)
        if total:
            found.append(
                (
                    "shipper",
                    f"{function} reported {total:g} {metric.lower()} since {since:%H:%M:%S} UTC",
                    f"read its log group /aws/lambda/{function} for the cause",
                )
            )
    depth = queue_depth(fleet, pipeline)
    if depth:
        found.append(
            (
                "failure queue",
                f"{depth} batch(es) gave up after retries and sit in {pipeline.queue_name}",
                "fix the cause (see the listener/shipper rows), then run `xaccount-ops replay`: "
                "the batches, with their records, are in the stack's S3 failure store",
            )
        )
    age = metric_sum(
        cloudwatch,
        "AWS/Lambda",
        "IteratorAge",
        "FunctionName",
        function,
        since,
        statistic="Maximum",
    )
    if age and age > ITERATOR_AGE_WARN_MS:
        found.append(
            (
                "iterator age",
                f"the shipper is {age / 1000:.0f} s behind the stream",
                "raise ParallelizationFactor or the shard count (or use on-demand mode)",
            )
        )
    found.extend(listener_problems(fleet, pipeline, since))
    return found


# -- the shipper's own log lines ----------------------------------------------------------------

LISTENER_FIXES = {
    401: "the listener rejected the shipping token: set LogzioTOKEN (the log *shipping* token of "
    "the right Logz.io account and region, not the API token) and `xaccount-ops deploy`",
    403: "the listener refused the token: check it is a shipping token of this account/region",
    413: "bulk requests are too large: lower KinesisStreamBatchSize",
    400: "the listener reported malformed or oversized lines: see the shipper's log lines",
    407: "the egress proxy refused the shipper's credentials: check the user:password in the "
    "HttpsProxy stack parameter (the function's HTTPS_PROXY)",
}
# The shipper's error details for a connection that never opened (shipper_lambda.sender): its
# own "could not connect within the request deadline", and the OS's unreachable/timeout errors.
_NO_ROUTE_RE = re.compile(
    r"could not connect within|Network is unreachable|No route to host|Connection timed out"
)
_NO_NAME_RE = re.compile(
    r"Name or service not known|Temporary failure in name resolution|nodename nor servname"
)
_PROXY_CONNECT_RE = re.compile(r"answered CONNECT with (\d{3})")
NO_ROUTE_FIX = (
    "give the function's subnets a route to the listener: a Logz.io PrivateLink VPC endpoint "
    "with private DNS enabled, a NAT gateway, or an egress proxy (stack parameter HttpsProxy); "
    "let SecurityGroupIds allow outbound TCP 8071 (or the proxy's port)"
)
# "listener https://listener.logz.io:8071 refused the shipping token (HTTP 401)" and the like.
_HTTP_STATUS_RE = re.compile(r"\bHTTP (\d{3})\b")
SUMMARY_MESSAGE = "shipper invocation"  # shipper_lambda.metrics.emf_document


def shipper_records(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The structured JSON objects among a Lambda log group's messages (prefixes tolerated)."""
    records = []
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            value = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


def listener_statuses(record: Mapping[str, Any]) -> list[int]:
    """HTTP statuses of the listener named in one structured record (keys containing ``status``)."""
    statuses: list[int] = []
    for key, value in record.items():
        if isinstance(value, Mapping):
            statuses.extend(listener_statuses(value))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    statuses.extend(listener_statuses(item))
                elif "status" in key.lower() and _is_status(item):
                    statuses.append(int(item))
        elif "status" in key.lower() and _is_status(value):
            statuses.append(int(value))
    return statuses


def _is_status(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 100 <= value <= 599
    return isinstance(value, str) and value.isdigit() and 100 <= int(value) <= 599


def listener_problems(
    fleet: Fleet, pipeline: Pipeline, since: datetime
) -> list[tuple[str, str, str]]:
    """What the shipper logged since ``since``: listener rejections, drops, failed records."""
    group = pipeline.function_log_group
    if not group:
        return []
    logs = fleet.landing_client("logs")
    messages: list[str] = []
    try:
        paginator = logs.get_paginator("filter_log_events")
        for page in paginator.paginate(
            logGroupName=group,
            startTime=int(since.timestamp() * 1000),
            PaginationConfig={"MaxItems": 5000},
        ):
            messages.extend(e.get("message", "") for e in page.get("events", []))
    except ClientError as err:
        if aws.error_code(err) == "ResourceNotFoundException":
            return [
                (
                    "shipper",
                    f"the shipper's log group {group} does not exist: it has never run",
                    "check the event source mapping is enabled and the stream has records",
                )
            ]
        raise
    return summarize_shipper_logs(messages)


def network_problems(messages: Sequence[str]) -> list[tuple[str, str, str]]:
    """(hop, problem, fix) when the shipper's connections never opened: no route, or a name
    that does not resolve (PrivateLink without private DNS), with the first message as proof."""
    found: list[tuple[str, str, str]] = []
    for pattern, problem, fix in (
        (_NO_ROUTE_RE, "no route to the listener from the function's subnets", NO_ROUTE_FIX),
        (
            _NO_NAME_RE,
            "the listener's host name does not resolve from the function",
            "enable private DNS on the Logz.io PrivateLink endpoint (or fix LogzioListenerUrl); "
            "in a VPC, the subnets need DNS (enableDnsSupport) or the proxy resolves it",
        ),
    ):
        hits = [m for m in messages if not m.lstrip().startswith("{") and pattern.search(m)]
        if hits:
            example = hits[0].strip()[:160]
            found.append(
                ("listener", f"{problem}: {len(hits)} failed attempt(s), e.g. {example!r}", fix)
            )
    return found


def summarize_shipper_logs(messages: Sequence[str]) -> list[tuple[str, str, str]]:
    """(hop, problem, fix) from the shipper's log messages.

    Reads the per-invocation summary line (``auth_failures``, ``dropped``, ``records_failed``,
    ``records_undecodable``), any structured ``*status*`` field, and the ``HTTP nnn`` the
    shipper's error lines name.
    """
    records = shipper_records(messages)
    statuses: dict[int, int] = {}
    for record in records:
        for status in listener_statuses(record):
            if not 200 <= status < 300:
                statuses[status] = statuses.get(status, 0) + 1
    for message in messages:
        if message.lstrip().startswith("{") or "listener" not in message:
            continue
        for match in _HTTP_STATUS_RE.finditer(message):
            status = int(match.group(1))
            if not 200 <= status < 300:
                statuses[status] = statuses.get(status, 0) + 1
    totals = {"auth_failures": 0, "dropped": 0, "records_failed": 0, "records_undecodable": 0}
    invocations = 0
    for record in records:
        if record.get("message") != SUMMARY_MESSAGE:
            continue
        invocations += 1
        for key in totals:
            value = record.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] += value
    for message in messages:
        for match in _PROXY_CONNECT_RE.finditer(message):
            status = int(match.group(1))
            statuses[status] = statuses.get(status, 0) + 1
    problems: list[tuple[str, str, str]] = network_problems(messages)
    for status, count in sorted(statuses.items()):
        fix = LISTENER_FIXES.get(status) or (
            "the listener is failing; the shipper retries (check status.logz.io)"
            if status >= 500 or status == 429
            else "see the shipper's log lines for the response"
        )
        problems.append(
            ("listener", f"the Logz.io listener answered {status} ({count} time(s))", fix)
        )
    if totals["auth_failures"] and not any(s in statuses for s in (401, 403)):
        problems.append(
            (
                "listener",
                f"the listener refused the shipping token {totals['auth_failures']} time(s)",
                LISTENER_FIXES[401],
            )
        )
    if totals["dropped"]:
        problems.append(
            (
                "listener",
                f"the shipper dropped {totals['dropped']} line(s) the listener rejects on their "
                "own (their event ids are in the shipper's log)",
                "see the 'dropping log event' lines in the shipper's log group",
            )
        )
    if totals["records_failed"]:
        problems.append(
            (
                "shipper",
                f"{totals['records_failed']} record(s) failed in {invocations} invocation(s) "
                "and are being retried",
                "see the shipper's error lines; fix the listener or token problem they name",
            )
        )
    if totals["records_undecodable"]:
        problems.append(
            (
                "shipper",
                f"{totals['records_undecodable']} record(s) could not be decoded and were skipped",
                "something other than CloudWatch Logs writes into the stream: find the writer",
            )
        )
    return problems
