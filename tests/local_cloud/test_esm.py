"""The Lambda event source mapping emulator over HTTP: real moto server, real child processes.

Each test deploys a small handler zip (written here) that records the events it gets into a
file and fails as scripted through its environment, maps a Kinesis stream to it, puts records,
and checks what Lambda's semantics say must happen. No mocks.
"""

from __future__ import annotations

import base64
import gzip
import io
import itertools
import json
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support import IDLE_DEADLINE_S, wait_for
from xaccount_ops.local.esm import EsmEmulator

REGION = "us-east-1"
REPO = Path(__file__).resolve().parents[2]
_names = itertools.count()

HANDLER = r"""
import json, os, time

def lambda_handler(event, context):
    seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    datas = [__import__("base64").b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
    with open(os.environ["RECORD_FILE"], "a") as out:
        out.write(json.dumps({"event": event, "datas": datas, "at": time.time(),
                              "remaining": context.get_remaining_time_in_millis(),
                              "function_name": context.function_name,
                              "repo_importable": any(
                                  __import__("importlib.util").util.find_spec(m) is not None
                                  for m in ("xaccount_ops", "tests")),
                              "region": os.environ.get("AWS_REGION"),
                              "endpoint": os.environ.get("AWS_ENDPOINT_URL")}) + "\n")
    print("handled", ",".join(datas))
    crash_marker = os.environ["RECORD_FILE"] + ".crashed"
    if os.environ.get("CRASH_ONCE") and not os.path.exists(crash_marker):
        open(crash_marker, "w").close()
        if os.environ["CRASH_ONCE"] == "exit":
            os._exit(3)
        time.sleep(5)  # longer than the function's timeout
    if os.environ.get("ALWAYS_FAIL"):
        raise ValueError("scripted failure")
    if "poison" in datas:
        raise RuntimeError("poison record")
    fail_data = os.environ.get("FAIL_ONCE_DATA")
    marker = os.environ["RECORD_FILE"] + ".failed"
    if fail_data in datas and not os.path.exists(marker):
        open(marker, "w").close()
        return {"batchItemFailures": [{"itemIdentifier": seqs[datas.index(fail_data)]}]}
    return {"batchItemFailures": []}
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{int(time.time() * 1000) % 10**8}-{next(_names)}"


def handler_zip(source: str = HANDLER) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app/__init__.py", "")
        archive.writestr("app/handler.py", source)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def esm(ext_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EsmEmulator]:
    before = set(threading.enumerate())
    emulator = EsmEmulator(
        aws_endpoint=ext_endpoint, work_dir=tmp_path_factory.mktemp("lambda")
    ).start()
    yield emulator
    emulator.stop()
    # stop() joins with a bounded wait: its pollers, discovery and telemetry threads are all gone
    left = [t.name for t in set(threading.enumerate()) - before if t.name.startswith("esm-")]
    assert left == []


@pytest.fixture
def aws(ext_endpoint: str) -> Callable[[str], Any]:
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    return lambda service: session.client(service, region_name=REGION, endpoint_url=ext_endpoint)


class Setup:
    """A stream, a function recording into ``record_file``, a failure queue; then a mapping."""

    def __init__(
        self,
        aws: Callable[[str], Any],
        tmp_path: Path,
        env: dict[str, str] | None = None,
        code: bytes | None = None,
        handler: str = "app.handler.lambda_handler",
        shards: int = 1,
        timeout: int = 10,
    ) -> None:
        self.aws = aws
        self.name = unique("esm")
        self.record_file = tmp_path / f"{self.name}.jsonl"
        kinesis = aws("kinesis")
        kinesis.create_stream(StreamName=self.name, ShardCount=shards)
        self.stream_arn = kinesis.describe_stream_summary(StreamName=self.name)[
            "StreamDescriptionSummary"
        ]["StreamARN"]
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        self.role = aws("iam").create_role(
            RoleName=f"{self.name}-role", AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]
        aws("lambda").create_function(
            FunctionName=self.name,
            Runtime="python3.12",
            Role=self.role,
            Handler=handler,
            Code={"ZipFile": code or handler_zip()},
            Timeout=timeout,
            Environment={"Variables": {"RECORD_FILE": str(self.record_file), **(env or {})}},
        )
        sqs = aws("sqs")
        self.queue_url = sqs.create_queue(QueueName=f"{self.name}-dlq")["QueueUrl"]
        self.queue_arn = sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]

    def put(self, *datas: str) -> list[str]:
        got = self.aws("kinesis").put_records(
            StreamName=self.name,
            Records=[{"Data": d.encode(), "PartitionKey": "pk"} for d in datas],
        )
        return [r["SequenceNumber"] for r in got["Records"]]

    def map(self, **kwargs: Any) -> str:
        params: dict[str, Any] = {"StartingPosition": "TRIM_HORIZON", "BatchSize": 100, **kwargs}
        return str(
            self.aws("lambda").create_event_source_mapping(
                EventSourceArn=self.stream_arn, FunctionName=self.name, **params
            )["UUID"]
        )

    def invocations(self) -> list[dict[str, Any]]:
        if not self.record_file.exists():
            return []
        return [json.loads(line) for line in self.record_file.read_text().splitlines()]

    def delivered(self) -> list[str]:
        return [d for call in self.invocations() for d in call["datas"]]

    def failures(self) -> list[dict[str, Any]]:
        got = self.aws("sqs").receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def test_event_shape_batch_size_and_logs(esm: EsmEmulator, aws: Any, tmp_path: Path) -> None:
    # GIVEN five records and a mapping with BatchSize 2
    s = Setup(aws, tmp_path)
    seqs = s.put("r0", "r1", "r2", "r3", "r4")
    s.map(BatchSize=2)
    # WHEN the emulator delivers them
    wait_for(lambda: len(s.delivered()) == 5, what="5 records delivered")
    assert esm.wait_idle(IDLE_DEADLINE_S)
    # THEN batches hold at most 2 records, in order, each exactly as Lambda shapes it
    calls = s.invocations()
    assert [len(c["datas"]) for c in calls] == [2, 2, 1]
    assert s.delivered() == ["r0", "r1", "r2", "r3", "r4"]
    record = calls[0]["event"]["Records"][0]
    kinesis = record.pop("kinesis")
    assert record == {
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{seqs[0]}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": s.role,
        "awsRegion": REGION,
        "eventSourceARN": s.stream_arn,
    }
    assert set(kinesis) == {
        "kinesisSchemaVersion",
        "partitionKey",
        "sequenceNumber",
        "data",
        "approximateArrivalTimestamp",
    }
    assert kinesis["kinesisSchemaVersion"] == "1.0"
    assert kinesis["partitionKey"] == "pk" and kinesis["sequenceNumber"] == seqs[0]
    assert base64.b64decode(kinesis["data"]) == b"r0"
    assert abs(kinesis["approximateArrivalTimestamp"] - time.time()) < 60
    assert calls[0]["function_name"] == s.name
    assert calls[0]["region"] == REGION and calls[0]["endpoint"] == esm.aws_endpoint
    assert calls[0]["repo_importable"] is False  # only the deployed zip is on the path
    assert 0 < calls[0]["remaining"] <= 10_000
    # AND the function's output is in its log group, with Lambda's START/END/REPORT lines
    logs = aws("logs")
    messages = [
        e["message"] for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{s.name}")["events"]
    ]
    assert "handled r0,r1" in messages
    assert any(m.startswith("START RequestId: ") for m in messages)
    assert any(m.startswith("REPORT RequestId: ") for m in messages)
    assert not any("docker" in m for m in messages)  # moto's own delivery is switched off
    streams = logs.describe_log_streams(logGroupName=f"/aws/lambda/{s.name}")["logStreams"]
    assert streams[0]["logStreamName"].split("/")[3].startswith("[$LATEST]")


def test_partial_failure_redelivers_from_the_reported_record(
    esm: EsmEmulator, aws: Any, tmp_path: Path
) -> None:
    # GIVEN a handler that reports record "b2" as failed, once
    s = Setup(aws, tmp_path, env={"FAIL_ONCE_DATA": "b2"})
    s.put("b0", "b1", "b2", "b3", "b4")
    s.map(FunctionResponseTypes=["ReportBatchItemFailures"], MaximumRetryAttempts=3)
    wait_for(lambda: len(s.invocations()) >= 2, what="a retry")
    assert esm.wait_idle(IDLE_DEADLINE_S)
    # THEN records before b2 came once; b2 and later came again, in a batch starting at b2
    calls = [c["datas"] for c in s.invocations()]
    assert calls == [["b0", "b1", "b2", "b3", "b4"], ["b2", "b3", "b4"]]


def test_bisect_isolates_the_bad_record_and_sends_it_to_the_queue(
    esm: EsmEmulator, aws: Any, tmp_path: Path
) -> None:
    s = Setup(aws, tmp_path)
    seqs = s.put("c0", "c1", "poison", "c3")
    s.map(
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": s.queue_arn}},
    )
    failures = wait_for(s.failures, what="an on-failure record")
    assert esm.wait_idle(IDLE_DEADLINE_S)
    calls = [c["datas"] for c in s.invocations()]
    assert calls == [
        ["c0", "c1", "poison", "c3"],
        ["c0", "c1"],
        ["poison", "c3"],
        ["poison"],
        ["c3"],
    ]
    (failure,) = failures
    info = failure["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        seqs[2],
        seqs[2],
        1,
    )
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"


def test_retries_exhausted_sends_aws_failure_record(
    esm: EsmEmulator, aws: Any, tmp_path: Path
) -> None:
    s = Setup(aws, tmp_path, env={"ALWAYS_FAIL": "1"})
    seqs = s.put("d0", "d1")
    s.map(MaximumRetryAttempts=2, DestinationConfig={"OnFailure": {"Destination": s.queue_arn}})
    (failure,) = wait_for(s.failures, what="an on-failure record")
    assert esm.wait_idle(IDLE_DEADLINE_S)
    assert len(s.invocations()) == 3  # the first attempt and two retries
    function_arn = aws("lambda").get_function(FunctionName=s.name)["Configuration"]["FunctionArn"]
    assert set(failure) == {
        "requestContext",
        "responseContext",
        "version",
        "timestamp",
        "KinesisBatchInfo",
    }
    assert failure["version"] == "1.0"
    assert failure["timestamp"].endswith("Z")
    context = failure["requestContext"]
    assert set(context) == {"requestId", "functionArn", "condition", "approximateInvokeCount"}
    assert context["functionArn"] == function_arn
    assert context["condition"] == "RetryAttemptsExhausted"
    assert context["approximateInvokeCount"] == 3
    assert failure["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    info = failure["KinesisBatchInfo"]
    assert info["shardId"] == "shardId-000000000000"
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (seqs[0], seqs[1])
    assert info["batchSize"] == 2 and info["streamArn"] == s.stream_arn
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")
    # AND the exception is in the function's log group
    events = aws("logs").filter_log_events(logGroupName=f"/aws/lambda/{s.name}")["events"]
    assert any("ValueError: scripted failure" in e["message"] for e in events)


def test_retries_exhausted_to_s3_writes_the_payload_at_aws_key_layout(
    esm: EsmEmulator, aws: Any, tmp_path: Path
) -> None:
    """AWS: an S3 on-failure destination gets the SQS record's fields plus ``payload``, the
    invocation event as an escaped JSON string, under ``aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/
    YYYY-MM-DDTHH.MM.SS-<uuid>`` (Lambda Developer Guide, kinesis-on-failure-destination)."""
    import re

    s = Setup(aws, tmp_path, env={"ALWAYS_FAIL": "1"})
    bucket = f"{s.name}-store"
    aws("s3").create_bucket(Bucket=bucket)
    seqs = s.put("s0", "s1", "s2")
    mapping = s.map(
        MaximumRetryAttempts=1,
        BisectBatchOnFunctionError=False,
        DestinationConfig={"OnFailure": {"Destination": f"arn:aws:s3:::{bucket}"}},
    )
    listed = wait_for(
        lambda: aws("s3").list_objects_v2(Bucket=bucket).get("Contents"), what="a stored batch"
    )
    (obj,) = listed
    assert re.fullmatch(
        rf"aws/lambda/{mapping}/shardId-000000000000/\d{{4}}/\d\d/\d\d/"
        r"\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d-[0-9a-f-]{36}",
        obj["Key"],
    ), obj["Key"]
    body = json.loads(aws("s3").get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
    assert set(body) == {
        "requestContext",
        "responseContext",
        "version",
        "timestamp",
        "KinesisBatchInfo",
        "payload",
    }
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["KinesisBatchInfo"]["batchSize"] == 3
    assert isinstance(body["payload"], str)  # escaped JSON, as AWS writes it
    records = json.loads(body["payload"])["Records"]
    assert [r["kinesis"]["sequenceNumber"] for r in records] == seqs
    assert [base64.b64decode(r["kinesis"]["data"]).decode() for r in records] == ["s0", "s1", "s2"]
    assert records[0]["eventSourceARN"] == s.stream_arn
    assert records[0]["invokeIdentityArn"] == s.role


def test_latest_mapping_delivers_each_new_record_in_order(
    esm: EsmEmulator, aws: Any, tmp_path: Path
) -> None:
    # How soon a record is invoked (about one poll interval) is measured, not asserted here.
    s = Setup(aws, tmp_path)
    uuid = s.map(StartingPosition="LATEST")
    wait_for(lambda: esm.mappings().get(uuid, {}).get("shards"), what="the mapping's pollers")
    assert esm.wait_idle(IDLE_DEADLINE_S)
    for index in range(3):
        s.put(f"g{index}")
        wait_for(lambda n=index + 1: len(s.delivered()) == n, timeout=10, what="delivery")
        # one invocation per record put: the poller reads what is new, not from the start again
        assert len(s.invocations()) == index + 1
    assert s.delivered() == ["g0", "g1", "g2"]  # LATEST: nothing before the mapping existed


def test_new_code_runs_after_update_and_shards_are_all_read(
    esm: EsmEmulator, aws: Any, tmp_path: Path
) -> None:
    s = Setup(aws, tmp_path, shards=2)
    s.map()
    s.put("h0")
    wait_for(lambda: s.delivered() == ["h0"], what="the first delivery")
    # WHEN the code changes (a redeploy)
    v2 = HANDLER.replace('print("handled"', 'print("v2 handled"')
    aws("lambda").update_function_code(FunctionName=s.name, ZipFile=handler_zip(v2))
    time.sleep(1.1)  # not synchronisation: the emulator re-reads a function's config each second
    kinesis = aws("kinesis")
    for key in ("a", "b", "c", "d"):  # several partition keys: both shards get records
        kinesis.put_record(StreamName=s.name, Data=f"k{key}".encode(), PartitionKey=key)
    wait_for(lambda: len(s.delivered()) == 5, what="records of every shard")
    assert esm.wait_idle(IDLE_DEADLINE_S)
    events = aws("logs").filter_log_events(logGroupName=f"/aws/lambda/{s.name}")["events"]
    assert any(e["message"].startswith("v2 handled") for e in events)
    shards = {r["eventID"].split(":")[0] for c in s.invocations() for r in c["event"]["Records"]}
    assert len(shards) >= 2


def test_record_age_exceeded_skips_with_its_condition(
    esm: EsmEmulator, aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a failing function, infinite retries and records allowed to be 60 s old (AWS's
    # minimum; the API refuses less), on the emulator's test clock: 60 s of age in 5 s
    monkeypatch.setattr(esm, "record_age_speedup", 12.0)
    s = Setup(aws, tmp_path, env={"ALWAYS_FAIL": "1"})
    s.put("i0")
    s.map(
        MaximumRetryAttempts=-1,
        MaximumRecordAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": s.queue_arn}},
    )
    (failure,) = wait_for(s.failures, what="an on-failure record")
    assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
    assert failure["KinesisBatchInfo"]["batchSize"] == 1
    assert len(s.invocations()) >= 2  # retried until the record was too old


@pytest.mark.parametrize(
    ("how", "logged"),
    [("exit", "Runtime exited with error: exit status 3"), ("hang", "Task timed out after 1.00")],
)
def test_crash_or_timeout_fails_the_batch_then_a_new_environment_delivers(
    esm: EsmEmulator, aws: Any, tmp_path: Path, how: str, logged: str
) -> None:
    s = Setup(aws, tmp_path, env={"CRASH_ONCE": how}, timeout=1)
    s.put("j0")
    s.map(MaximumRetryAttempts=2)
    wait_for(lambda: len(s.invocations()) == 2, what="the retry")
    assert esm.wait_idle(IDLE_DEADLINE_S)
    assert s.delivered() == ["j0", "j0"]
    events = aws("logs").filter_log_events(logGroupName=f"/aws/lambda/{s.name}")["events"]
    assert any(logged in e["message"] for e in events)
    streams = aws("logs").describe_log_streams(logGroupName=f"/aws/lambda/{s.name}")["logStreams"]
    assert len(streams) == 2  # the broken environment was replaced


def test_disabled_mapping_is_not_invoked_until_enabled(
    esm: EsmEmulator, aws: Any, tmp_path: Path
) -> None:
    s = Setup(aws, tmp_path)
    s.put("e0")
    uuid = s.map(Enabled=False)
    assert esm.wait_idle(IDLE_DEADLINE_S)
    time.sleep(0.5)  # not synchronisation: gives a wrongly-running poller the chance to deliver
    assert s.invocations() == []
    aws("lambda").update_event_source_mapping(UUID=uuid, Enabled=True)
    wait_for(lambda: s.delivered() == ["e0"], what="delivery after enabling")


def test_import_error_is_a_function_error_and_never_kills_the_emulator(
    esm: EsmEmulator, aws: Any, tmp_path: Path
) -> None:
    s = Setup(aws, tmp_path, handler="missing.module.handler")
    s.put("f0")
    s.map(MaximumRetryAttempts=1, DestinationConfig={"OnFailure": {"Destination": s.queue_arn}})
    (failure,) = wait_for(s.failures, what="an on-failure record")
    assert esm.wait_idle(IDLE_DEADLINE_S)  # the log lines are written too
    assert failure["responseContext"]["functionError"] == "Unhandled"
    events = aws("logs").filter_log_events(logGroupName=f"/aws/lambda/{s.name}")["events"]
    assert any("Runtime.ImportModuleError" in e["message"] for e in events)


# -- the real shipper --------------------------------------------------------------------------


def shipper_zip() -> bytes:
    """A zip of the repo's shipper_lambda/ package (sources only), as tests/verify does."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((REPO / "shipper_lambda").rglob("*.py")):
            archive.write(path, path.relative_to(REPO).as_posix())
    return buffer.getvalue()


@pytest.fixture
def sink() -> Iterator[tuple[str, list[bytes]]]:
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            bodies.append(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    server.shutdown()
    server.server_close()


def test_real_shipper_delivers_a_cloudwatch_record(
    esm: EsmEmulator, aws: Any, tmp_path: Path, sink: tuple[str, list[bytes]]
) -> None:
    url, bodies = sink
    s = Setup(
        aws,
        tmp_path,
        env={"LOGZIO_LISTENER_URL": url, "LOGZIO_TOKEN": "local-token", "LOGZIO_COMPRESS": "true"},
        code=shipper_zip(),
        handler="shipper_lambda.handler.lambda_handler",
    )
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": "111122223333",
        "logGroup": "/aws/lambda/orders",
        "logStream": "2026/12/01/[$LATEST]abc",
        "subscriptionFilters": ["logzio-xacct-eu-west-1"],
        "logEvents": [{"id": "3761", "timestamp": int(time.time() * 1000), "message": "esm-hello"}],
    }
    aws("kinesis").put_record(
        StreamName=s.name, Data=gzip.compress(json.dumps(payload).encode()), PartitionKey="p"
    )
    s.map(FunctionResponseTypes=["ReportBatchItemFailures"], MaximumRetryAttempts=2)
    wait_for(lambda: any(b"esm-hello" in b for b in bodies), what="the line at the sink")
    line = json.loads(next(b for b in bodies if b"esm-hello" in b).splitlines()[0])
    assert line["message"] == "esm-hello" and line["id"] == "3761"
    assert line["owner"] == "111122223333" and line["region"] == "eu-west-1"
    assert esm.wait_idle(IDLE_DEADLINE_S)


def test_mapping_properties_from_cloudformation_strings() -> None:
    """CloudFormation parameters can reach moto as strings: "-1" retries is infinite (capped)."""
    from xaccount_ops.local.esm import INFINITE_RETRY_CAP, MappingConfig

    base = {
        "UUID": "u",
        "EventSourceArn": "arn:aws:kinesis:us-east-1:1:stream/s",
        "FunctionArn": "f",
    }
    raw = {
        **base,
        "MaximumRetryAttempts": "-1",
        "BisectBatchOnFunctionError": "false",
        "BatchSize": "50",
        "MaximumBatchingWindowInSeconds": "2",
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:1:q"}},
    }
    cfg = MappingConfig.from_api("1", "us-east-1", raw)
    assert (cfg.max_retries, cfg.bisect, cfg.batch_size, cfg.window_s) == (
        INFINITE_RETRY_CAP,
        False,
        50,
        2.0,
    )
    assert cfg.report_item_failures and cfg.on_failure == "arn:aws:sqs:us-east-1:1:q"
    assert (
        MappingConfig.from_api("1", "us-east-1", {**base, "MaximumRetryAttempts": 0}).max_retries
        == 0
    )


def test_a_1mb_event_arrives_in_the_logzio_emulator_as_parts_exactly_once(
    esm: EsmEmulator, aws: Any, tmp_path: Path
) -> None:
    """CloudWatch events can be 1 MB (aws-facts / logzio-api references); a Logz.io line at
    most 500,000 bytes. The deployed shipper, run by the mapping emulator, splits the event:
    its parts' messages concatenate to the original, each (id, part) indexed exactly once, and
    the small events around it are untouched."""
    from xaccount_ops.local.logzio import LogzioEmulator
    from xaccount_ops.logzio import SearchClient, marker_query

    rng = __import__("random").Random(1)
    words = ("order", "cart", "user", "支払い", "🚀", '"q"', "a\\b", "ok")
    big = " ".join(rng.choice(words) for _ in range(200_000))[:1_000_000]
    now = int(time.time() * 1000)
    ids = ["37610000000000000000000000000000000000000000000000000001",
           "37610000000000000000000000000000000000000000000000000002",
           "37610000000000000000000000000000000000000000000000000003"]  # fmt: skip
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": "111122223333",
        "logGroup": "/ecs/orders-svc",
        "logStream": "web/1",
        "subscriptionFilters": ["logzio-xacct-eu-west-1"],
        "logEvents": [
            {"id": ids[0], "timestamp": now, "message": "before"},
            {"id": ids[1], "timestamp": now + 1, "message": big},
            {"id": ids[2], "timestamp": now + 2, "message": "after"},
        ],
    }
    data = gzip.compress(json.dumps(payload, ensure_ascii=False).encode())
    assert len(data) < 1024 * 1024  # a Kinesis record's limit
    with LogzioEmulator(shipping_token="ship-1mb", api_token="api-1mb") as logzio:
        s = Setup(
            aws,
            tmp_path,
            env={"LOGZIO_LISTENER_URL": logzio.listener_url, "LOGZIO_TOKEN": "ship-1mb"},
            code=shipper_zip(),
            handler="shipper_lambda.handler.lambda_handler",
        )
        aws("kinesis").put_record(StreamName=s.name, Data=data, PartitionKey="p")
        s.map(FunctionResponseTypes=["ReportBatchItemFailures"], MaximumRetryAttempts=2)
        search = SearchClient(logzio.api_url, "api-1mb")
        window = {"since_ms": now - 1000, "until_ms": now + 1000}
        counts = wait_for(
            lambda: (got := search.delivered_keys(ids, **window)) and len(got) >= 5 and got,
            timeout=30,
            what="the parts in the Logz.io emulator",
        )
        assert esm.wait_idle(IDLE_DEADLINE_S)
        counts = search.delivered_keys(ids, **window)
        assert counts == {(ids[0], 0): 1, (ids[1], 1): 1, (ids[1], 2): 1, (ids[1], 3): 1,
                          (ids[2], 0): 1}  # fmt: skip
        body = marker_query([ids[1]], field="id", size=10)
        parts = sorted(search.hits(body), key=lambda line: line["part"])
    assert [p["parts"] for p in parts] == [3, 3, 3]
    assert "".join(p["message"] for p in parts) == big
    assert all(p["type"] == "orders-svc" and p["region"] == "eu-west-1" for p in parts)
