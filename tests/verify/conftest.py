"""Fixtures for the verify tests.

- ``scripted``: a real HTTP server on loopback that answers what it is told (statuses the Logz.io
  emulator cannot be made to produce: 403, 429, plan refusals), recording the requests.
- ``build_landing``: the minimum landing pipeline, made with boto3 and nothing of the stacks
  module: Kinesis stream, a Logs destination per region with a policy for the sending accounts,
  the shipper function from a zip of ``shipper_lambda/``, its log group, an on-failure queue and
  the event source mapping.
- ``verify_config``: a config file for a given endpoint/stack/canary group.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests import configs

REPO = Path(__file__).resolve().parents[2]
_ids = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test (or test process) uses: moto state is shared per server."""
    return f"{prefix}{os.getpid() % 10000:04d}{next(_ids):03d}"


# -- scripted HTTP server -----------------------------------------------------------------------


class Script:
    """Responses handed out in order (the last one repeats), and the requests seen."""

    def __init__(self) -> None:
        self.responses: list[tuple[int, dict[str, str], bytes]] = [(200, {}, b"{}")]
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        # When set, answers every request instead of ``responses``.
        self.handler: Callable[[dict[str, Any]], tuple[int, dict[str, str], bytes]] | None = None

    def next(self, request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if self.handler is not None:
            return self.handler(request)
        with self.lock:
            return self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]


@pytest.fixture
def scripted() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            request = {
                "path": self.path,
                "headers": dict(self.headers),
                "body": json.loads(self.rfile.read(length) or b"{}"),
            }
            script.requests.append(request)
            status, headers, body = script.next(request)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", script
    server.shutdown()
    server.server_close()


def search_hits(*sources: dict[str, Any]) -> bytes:
    return json.dumps(
        {"hits": {"total": len(sources), "hits": [{"_source": s} for s in sources]}}
    ).encode()


# -- the landing pipeline, by hand --------------------------------------------------------------


def shipper_zip() -> bytes:
    """A zip of the repo's shipper_lambda/ package (sources only)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((REPO / "shipper_lambda").rglob("*.py")):
            archive.write(path, path.relative_to(REPO).as_posix())
    return buffer.getvalue()


@dataclass
class Landing:
    stack: str
    stream_arn: str
    destinations: dict[str, str]  # region -> arn
    function_name: str
    queue_url: str
    mapping_uuid: str


def put_policy(logs: Any, destination_arn: str, accounts: Sequence[str]) -> None:
    """The account-list destination policy the templates write."""
    name = destination_arn.rsplit(":", 1)[-1]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowSendingAccounts",
                "Effect": "Allow",
                "Principal": {"AWS": list(accounts)},
                "Action": "logs:PutSubscriptionFilter",
                "Resource": destination_arn,
            }
        ],
    }
    logs.put_destination_policy(destinationName=name, accessPolicy=json.dumps(policy))


def build_landing(
    client: Callable[[str, str], Any],
    *,
    stack: str,
    landing_region: str,
    regions: Sequence[str],
    sending_accounts: Sequence[str],
    listener_url: str = "http://127.0.0.1:9",
    shipping_token: str = "unused",
    mapping: bool = True,
    environment: dict[str, str] | None = None,
) -> Landing:
    """Create the minimum landing pipeline with ``client(service, region)`` (landing account)."""
    kinesis = client("kinesis", landing_region)
    stream = f"{stack}-stream"
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    iam = client("iam", landing_region)
    trust_logs = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "logs.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    logs_role = iam.create_role(
        RoleName=f"{stack}-logs", AssumeRolePolicyDocument=json.dumps(trust_logs)
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=f"{stack}-logs",
        PolicyName="put-records",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
                        "Resource": stream_arn,
                    }
                ],
            }
        ),
    )
    destinations = {}
    for region in regions:
        logs = client("logs", region)
        arn = logs.put_destination(
            destinationName=f"{stack}-destination", targetArn=stream_arn, roleArn=logs_role
        )["destination"]["arn"]
        put_policy(logs, arn, sending_accounts)
        destinations[region] = arn
    sqs = client("sqs", landing_region)
    queue_url = sqs.create_queue(QueueName=f"{stack}-shipper-failures")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    trust_lambda = dict(trust_logs)
    trust_lambda["Statement"] = [
        {**trust_logs["Statement"][0], "Principal": {"Service": "lambda.amazonaws.com"}}
    ]
    lambda_role = iam.create_role(
        RoleName=f"{stack}-shipper", AssumeRolePolicyDocument=json.dumps(trust_lambda)
    )["Role"]["Arn"]
    function = f"{stack}-shipper"
    client("logs", landing_region).create_log_group(logGroupName=f"/aws/lambda/{function}")
    awslambda = client("lambda", landing_region)
    awslambda.create_function(
        FunctionName=function,
        Runtime="python3.12",
        Role=lambda_role,
        Handler="shipper_lambda.handler.lambda_handler",
        Code={"ZipFile": shipper_zip()},
        Timeout=60,
        Environment={
            "Variables": {
                "LOGZIO_LISTENER_URL": listener_url,
                "LOGZIO_TOKEN": shipping_token,
                "LOGZIO_COMPRESS": "true",
                **(environment or {}),
            }
        },
    )
    uuid = ""
    if mapping:
        uuid = awslambda.create_event_source_mapping(
            EventSourceArn=stream_arn,
            FunctionName=function,
            StartingPosition="TRIM_HORIZON",
            BatchSize=100,
            MaximumBatchingWindowInSeconds=0,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            BisectBatchOnFunctionError=True,
            MaximumRetryAttempts=2,
            DestinationConfig={"OnFailure": {"Destination": queue_arn}},
        )["UUID"]
    return Landing(
        stack=stack,
        stream_arn=stream_arn,
        destinations=destinations,
        function_name=function,
        queue_url=queue_url,
        mapping_uuid=uuid,
    )


def write_config(
    directory: Path,
    *,
    endpoint: str,
    landing: str,
    accounts: Sequence[str],
    regions: Sequence[str],
    stack: str,
    canary_group: str,
    api_url: str = "http://127.0.0.1:9",
    listener_url: str = "http://127.0.0.1:9",
    api_token_file: str | None = None,
    shipping_token_file: str | None = None,
    role_name: str = "OrganizationAccountAccessRole",
    timeout_s: int = 60,
    extra: str = "",
    heartbeat_minutes: int = 0,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if api_token_file is None:
        api_token_file = str(directory / "api-token")
        Path(api_token_file).write_text("test-api-token\n")
        os.chmod(api_token_file, 0o600)
    shipping_token_file = shipping_token_file or api_token_file
    tables = configs.base_tables(
        endpoint=endpoint,
        landing=landing,
        accounts=accounts,
        regions=regions,
        stack_name=stack,
        role_name=role_name,
        shipping_token={"file": shipping_token_file},
    )
    more = {
        "logzio": {
            "region": "us",
            "listener_url": listener_url,
            "api_url": api_url,
            "api_token": {"file": api_token_file},
        },
        "verify": {
            "canary_log_group": canary_group,
            "timeout_s": timeout_s,
            # Heartbeats off unless a test asks; each test's own group, so none sees another's.
            "heartbeat_minutes": heartbeat_minutes,
            "heartbeat_log_group": f"/xaccount-ops/{stack}-heartbeat",
        },
    }
    return configs.write_config(directory, tables, more, extra)


def local_config(
    directory: Path,
    local_cloud: dict[str, Any],
    stack: str,
    *,
    accounts: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    canary_group: str | None = None,
    **kwargs: Any,
) -> Path:
    """:func:`write_config` for a pipeline of this test's own on the shared local cloud: its
    endpoints, tokens and role; every sending account and region unless narrowed."""
    from xaccount_ops.config import load_config
    from xaccount_ops.local import seed

    local = load_config(local_cloud["config"])
    return write_config(
        directory,
        endpoint=local_cloud["aws_endpoint"],
        landing=local_cloud["landing_account"],
        accounts=list(accounts if accounts is not None else local_cloud["sending_accounts"]),
        regions=tuple(regions if regions is not None else local_cloud["regions"]),
        stack=stack,
        canary_group=canary_group or f"/xaccount-ops/{stack}-canary",
        api_url=local_cloud["api_url"],
        listener_url=local_cloud["listener_url"],
        api_token_file=local.logzio.api_token.name,
        shipping_token_file=local.logzio.shipping_token.name,
        role_name=seed.ROLE_NAME,
        **kwargs,
    )


def local_landing(fleet: Any, local_cloud: dict[str, Any], **kwargs: Any) -> Landing:
    """:func:`build_landing` for ``fleet``'s own stack, regions and senders on the local cloud,
    shipping to its Logz.io emulator (``kwargs``: ``mapping``, ``environment``)."""
    cfg = fleet.config
    return build_landing(
        lambda service, region: fleet.landing_client(service, region),
        stack=cfg.landing.stack_name,
        landing_region=cfg.landing.region,
        regions=cfg.senders.regions,
        sending_accounts=cfg.senders.accounts,
        listener_url=local_cloud["listener_url"],
        shipping_token=local_cloud["shipping_token"],
        **kwargs,
    )


# The shipper's own retry budget spent in well under a second (defaults: 5 tries, 8 s max).
SHIPPER_TEST_ENV = {
    "LOGZIO_RETRY_ATTEMPTS": "2",
    "LOGZIO_RETRY_BASE_MS": "20",
    "LOGZIO_RETRY_MAX_MS": "50",
    "LOGZIO_TIMEOUT_SECONDS": "5",
    "LOGZIO_SAFETY_MARGIN_MS": "500",
}


def failure_store_world(
    local_cloud: dict[str, Any],
    directory: Path,
    prefix: str,
    *,
    environment: dict[str, str] | None = None,
    notify: bool = False,
) -> Any:
    """One sender, one region, a landing whose mapping stores failed batches in S3 as
    cfn/main.yaml wires it (``notify``: and tells the stack's queue, one message per batch); the
    shipper runs with :data:`SHIPPER_TEST_ENV` and ``environment``. Close ``.search`` after."""
    import types

    from xaccount_ops.config import load_config
    from xaccount_ops.fleet.accounts import Fleet
    from xaccount_ops.logzio import SearchClient

    stack = unique(prefix)
    region = local_cloud["regions"][0]
    sender = local_cloud["sending_accounts"][0]
    path = local_config(directory, local_cloud, stack, accounts=[sender], regions=[region])
    fleet = Fleet.from_config(load_config(path))
    landing = local_landing(
        fleet, local_cloud, mapping=False, environment={**SHIPPER_TEST_ENV, **(environment or {})}
    )
    bucket = f"{stack.lower()}-failure-store"
    s3 = fleet.landing_client("s3")
    s3.create_bucket(Bucket=bucket)
    if notify:
        sqs = fleet.landing_client("sqs")
        queue_arn = sqs.get_queue_attributes(
            QueueUrl=landing.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        prefix_rule = {"Name": "prefix", "Value": "aws/lambda/"}
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [prefix_rule]}},
                    }
                ]
            },
        )
    fleet.landing_client("lambda").create_event_source_mapping(
        EventSourceArn=landing.stream_arn,
        FunctionName=landing.function_name,
        StartingPosition="TRIM_HORIZON",
        BatchSize=100,
        MaximumBatchingWindowInSeconds=0,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": f"arn:aws:s3:::{bucket}"}},
    )
    world = types.SimpleNamespace(
        fleet=fleet,
        path=path,
        stack=stack,
        region=region,
        sender=sender,
        bucket=bucket,
        landing=landing,
        listener=local_cloud["listener_url"],
        search=SearchClient.from_config(fleet.config),
    )
    world.subscribed_group = lambda group: subscribed_group(world, group)
    return world


def subscribed_group(world: Any, group: str) -> Any:
    """Log group ``group`` (stream ``s``) of ``world``'s sender, subscribed the toolkit's way;
    its Logs client."""
    from xaccount_ops.config import filter_name

    logs = world.fleet.client("logs", world.sender, world.region)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_subscription_filter(
        logGroupName=group,
        filterName=filter_name(world.region),
        filterPattern="",
        destinationArn=world.landing.destinations[world.region],
    )
    return logs


@pytest.fixture(scope="session")
def helpers() -> Any:
    """This module's helpers (test modules cannot import conftest under importlib mode)."""
    import types

    return types.SimpleNamespace(
        unique=unique,
        build_landing=build_landing,
        put_policy=put_policy,
        write_config=write_config,
        local_config=local_config,
        local_landing=local_landing,
        search_hits=search_hits,
        shipper_zip=shipper_zip,
        SHIPPER_TEST_ENV=SHIPPER_TEST_ENV,
        failure_store_world=failure_store_world,
        subscribed_group=subscribed_group,
    )
