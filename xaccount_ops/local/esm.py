"""Lambda event source mapping emulator: Kinesis shards → the *deployed* function, AWS's semantics.

moto stores event source mappings but never delivers (without Docker it only writes "error running
docker" into the function's log group on every put). :class:`EsmEmulator` does what Lambda's
pollers do, over HTTP against the moto server:

- every :data:`DISCOVERY_INTERVAL_S` it lists the mappings of every (account, region) whose moto
  Lambda backend holds any (found in-process: ``lambda_backends``; listing accounts through
  Organizations would spend that API's 1 TPS quota under the pace middleware), and runs one
  poller thread per shard of each Enabled Kinesis mapping; disabled or deleted mappings stop,
  and a re-enabled one resumes after its last checkpoint;
- a poller reads from ``StartingPosition`` (TRIM_HORIZON / LATEST / AT_TIMESTAMP) and forms
  batches of at most ``BatchSize`` records (6 MB payload cap), waiting up to
  ``MaximumBatchingWindowInSeconds`` to fill one;
- it invokes the deployed code: ``get_function`` for the configuration; the zip itself from the
  in-process backend (moto's ``Code.Location`` names a bucket that does not exist), extracted
  into ``work_dir/<function>/<sha256>/`` and run by :mod:`lambda_runner` in one long-lived child
  process per function version, with the function's environment, its role's credentials and
  ``AWS_ENDPOINT_URL``;
- results follow Lambda: ``ReportBatchItemFailures`` checkpoints before the lowest reported
  sequence number and retries from there; a function error (exception, timeout, crash) fails the
  whole batch, bisected when ``BisectBatchOnFunctionError``; after ``MaximumRetryAttempts``
  (-1 is capped at :data:`INFINITE_RETRY_CAP`) or ``MaximumRecordAgeInSeconds`` the AWS
  on-failure record goes to ``DestinationConfig.OnFailure`` and the batch is skipped: to an SQS
  queue the metadata only, to an S3 bucket (``arn:aws:s3:::name``) the metadata plus the whole
  invocation event as ``payload``, at AWS's key layout (see :func:`failure_object_key`);
- the child's output goes to ``/aws/lambda/<function>`` (stream ``YYYY/MM/DD/[$LATEST]<hex>``,
  with START/END/REPORT lines), and Invocations/Errors/Duration/IteratorAge to ``AWS/Lambda``.

Not emulated: ParallelizationFactor > 1 (one batch per shard at a time), FilterCriteria,
tumbling windows, SNS on-failure destinations, enhanced fan-out consumers, reserved concurrency.

moto 5.2.5 keeps every mapping property (FunctionResponseTypes, BisectBatchOnFunctionError,
DestinationConfig, MaximumRetryAttempts...) through the API, so mappings are read over HTTP.

>>> esm = EsmEmulator(aws_endpoint="http://127.0.0.1:5000", work_dir="/tmp/lambda").start()  # doctest: +SKIP
>>> esm.wait_idle(10)  # doctest: +SKIP
True
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config as BotocoreConfig

from xaccount_ops.local import emf

log = logging.getLogger(__name__)

DISCOVERY_INTERVAL_S = 0.3
POLL_INTERVAL_S = 0.2  # AWS polls a shard about once a second; faster keeps demo latency low
GET_RECORDS_LIMIT = 10000
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit
RECORD_OVERHEAD_BYTES = 420  # JSON around one record's data in the event
INFINITE_RETRY_CAP = 100  # MaximumRetryAttempts -1 means "until the record expires" in AWS
BACKOFF_FIRST_S = 0.02
BACKOFF_MAX_S = 0.5
LOG_FLUSH_INTERVAL_S = 0.2
CHILD_START_TIMEOUT_S = 30.0
TIMEOUT_SLACK_S = 0.5
MANAGEMENT_ACCOUNT = "123456789012"
EMULATOR_ROLE = "esm-emulator"
RUNNER = Path(__file__).with_name("lambda_runner.py")
_ENABLED_STATES = frozenset({"Enabled", "Enabling", "Creating", "Updating"})


class InvokeError(Exception):
    """The function could not be invoked at all (missing, broken zip, child would not start)."""


# -- moto: turn off its own Kinesis → Lambda delivery ------------------------------------------


def disable_moto_kinesis_delivery() -> None:
    """moto invokes the function through Docker on every PutRecord of a mapped stream; without
    Docker that writes an error line into the function's log group per record. We deliver."""
    from moto.awslambda.models import LambdaBackend

    if getattr(LambdaBackend.send_kinesis_message, "_esm_emulator", False):
        return

    def send_kinesis_message(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    send_kinesis_message._esm_emulator = True  # type: ignore[attr-defined]
    LambdaBackend.send_kinesis_message = send_kinesis_message  # type: ignore[method-assign]


def _mapping_locations() -> set[tuple[str, str]]:
    """(account, region) pairs whose in-process moto Lambda backend holds event source mappings."""
    from moto.awslambda.models import lambda_backends

    found: set[tuple[str, str]] = set()
    for _ in range(3):  # the dicts can change size while a request creates a backend
        try:
            for account, regions in list(dict.items(lambda_backends)):
                for region, backend in list(dict.items(regions)):
                    if getattr(backend, "_event_source_mappings", None):
                        found.add((account, region))
            return found
        except RuntimeError:
            continue
    return found


def _code_bytes(account: str, region: str, function_name: str) -> bytes:
    from moto.awslambda.models import lambda_backends

    return bytes(lambda_backends[account][region].get_function(function_name).code_bytes or b"")


# -- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MappingConfig:
    """What a poller needs from one event source mapping (from ListEventSourceMappings)."""

    uuid: str
    account: str
    region: str
    stream_arn: str
    function_arn: str
    batch_size: int
    window_s: float
    starting_position: str
    starting_timestamp: Any
    report_item_failures: bool
    bisect: bool
    max_retries: int
    max_record_age_s: int
    on_failure: str

    @classmethod
    def from_api(cls, account: str, region: str, raw: dict[str, Any]) -> MappingConfig:
        retries = int(
            raw.get("MaximumRetryAttempts") if raw.get("MaximumRetryAttempts") is not None else -1
        )
        return cls(
            uuid=raw["UUID"],
            account=account,
            region=region,
            stream_arn=raw["EventSourceArn"],
            function_arn=raw["FunctionArn"],
            batch_size=int(raw.get("BatchSize") or 100),
            window_s=float(raw.get("MaximumBatchingWindowInSeconds") or 0),
            starting_position=raw.get("StartingPosition") or "TRIM_HORIZON",
            starting_timestamp=raw.get("StartingPositionTimestamp"),
            report_item_failures="ReportBatchItemFailures"
            in (raw.get("FunctionResponseTypes") or []),
            bisect=_flag(raw.get("BisectBatchOnFunctionError")),
            max_retries=INFINITE_RETRY_CAP if retries < 0 else retries,
            max_record_age_s=int(raw.get("MaximumRecordAgeInSeconds") or -1),
            on_failure=((raw.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                "Destination", ""
            ),
        )


@dataclass(frozen=True)
class FunctionSpec:
    """One deployed function version, as GetFunction reports it."""

    account: str
    region: str
    name: str
    arn: str
    handler: str
    role: str
    timeout_s: float
    memory_mb: int
    version: str
    environment: tuple[tuple[str, str], ...]
    code_sha256: str
    last_modified: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.arn, self.code_sha256, self.last_modified)


@dataclass
class InvokeResult:
    """One invocation's outcome, in Lambda's terms."""

    request_id: str
    function_error: bool
    payload: Any = None
    error_type: str = ""
    error_message: str = ""
    duration_ms: float = 0.0


@dataclass
class Record:
    """A Kinesis record read from a shard, kept until checkpointed."""

    sequence: str
    partition_key: str
    data_b64: str
    arrival: float  # epoch seconds

    @property
    def seq_int(self) -> int:
        return int(self.sequence)

    @property
    def size(self) -> int:
        return len(self.data_b64) + len(self.partition_key) + RECORD_OVERHEAD_BYTES


# -- AWS access ----------------------------------------------------------------------------------


class _Aws:
    """boto3 clients per (account, service, region); other accounts through an assumed role."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._lock = threading.Lock()
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._config = BotocoreConfig(
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=5,
            read_timeout=30,
            max_pool_connections=50,
        )

    def credentials(self, account: str, role_arn: str = "") -> dict[str, str]:
        """Keys for ``role_arn`` (or our role in ``account``), as environment variables."""
        if account == MANAGEMENT_ACCOUNT and not role_arn:
            return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        sts = self.client(MANAGEMENT_ACCOUNT, "sts", "us-east-1")
        creds = sts.assume_role(
            RoleArn=role_arn or f"arn:aws:iam::{account}:role/{EMULATOR_ROLE}",
            RoleSessionName="lambda-esm",
        )["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        }

    def _session(self, account: str) -> boto3.Session:
        with self._lock:
            session = self._sessions.get(account)
        if session is None:
            keys = self.credentials(account)
            session = boto3.Session(
                aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=keys.get("AWS_SESSION_TOKEN"),
            )
            with self._lock:
                self._sessions[account] = session
        return session

    def client(self, account: str, service: str, region: str) -> Any:
        key = (account, service, region)
        with self._lock:
            found = self._clients.get(key)
        if found is not None:
            return found
        made = self._session(account).client(
            service, region_name=region, endpoint_url=self.endpoint, config=self._config
        )
        with self._lock:
            return self._clients.setdefault(key, made)


def _flag(value: Any) -> bool:
    """A boolean property; CloudFormation parameters may arrive as "true"/"false" strings."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _arn_parts(arn: str) -> tuple[str, str, str]:
    """(region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    return parts[3], parts[4], parts[5]


# -- logs and metrics ------------------------------------------------------------------------------


class _Telemetry:
    """Buffers log events and metrics; a thread puts them every :data:`LOG_FLUSH_INTERVAL_S`."""

    def __init__(self, aws: _Aws) -> None:
        self._aws = aws
        self._lock = threading.Lock()
        self._logs: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
        # (account, region, namespace) -> data
        self._metrics: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self._created: set[tuple[str, str, str, str]] = set()
        self._busy = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="esm-telemetry", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=0.8)

    def log(self, where: tuple[str, str, str, str], message: str) -> None:
        event = {"timestamp": int(time.time() * 1000), "message": message or " "}
        # CloudWatch Logs extracts a Lambda function's embedded-format metrics as they arrive.
        embedded = emf.metric_data(message) if message else []
        with self._lock:
            self._logs.setdefault(where, []).append(event)
            for namespace, datum in embedded:
                self._metrics.setdefault((where[0], where[1], namespace), []).append(datum)

    def metric(
        self, account: str, region: str, name: str, value: float, unit: str, dims: dict[str, str]
    ) -> None:
        datum = {
            "MetricName": name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            "Value": value,
            "Unit": unit,
            "Timestamp": dt.datetime.now(dt.UTC),
        }
        with self._lock:
            self._metrics.setdefault((account, region, "AWS/Lambda"), []).append(datum)

    def pending(self) -> bool:
        with self._lock:
            return self._busy or any(self._logs.values()) or any(self._metrics.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(LOG_FLUSH_INTERVAL_S)
            self._wake.clear()
            self.flush()
        self.flush()

    def flush(self) -> None:
        with self._lock:
            logs, self._logs = self._logs, {}
            metrics, self._metrics = self._metrics, {}
            self._busy = bool(logs or metrics)
        try:
            for where, events in logs.items():
                try:
                    self._put_logs(where, events)
                except Exception as err:  # logs are best effort; never kill the emulator
                    log.warning("could not put %d log events to %s: %s", len(events), where[2], err)
            for (account, region, namespace), data in metrics.items():
                try:
                    cw = self._aws.client(account, "cloudwatch", region)
                    for start in range(0, len(data), 500):
                        cw.put_metric_data(
                            Namespace=namespace, MetricData=data[start : start + 500]
                        )
                except Exception as err:
                    log.warning(
                        "could not put %s metrics in %s/%s: %s", namespace, account, region, err
                    )
        finally:
            with self._lock:
                self._busy = False

    def _put_logs(self, where: tuple[str, str, str, str], events: list[dict[str, Any]]) -> None:
        account, region, group, stream = where
        logs = self._aws.client(account, "logs", region)
        if where not in self._created:
            for call, kwargs in (
                (logs.create_log_group, {"logGroupName": group}),
                (logs.create_log_stream, {"logGroupName": group, "logStreamName": stream}),
            ):
                with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                    call(**kwargs)
            self._created.add(where)
        events.sort(key=lambda e: e["timestamp"])
        for start in range(0, len(events), 5000):
            logs.put_log_events(
                logGroupName=group, logStreamName=stream, logEvents=events[start : start + 5000]
            )


# -- the function runtime ------------------------------------------------------------------------


class FunctionRuntime:
    """One function version's execution environment: a child process, one invocation at a time."""

    def __init__(
        self, spec: FunctionSpec, code_dir: Path, aws: _Aws, telemetry: _Telemetry
    ) -> None:
        self.spec = spec
        self.code_dir = code_dir
        self._aws = aws
        self._telemetry = telemetry
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._req: Any = None
        self._resp: Any = None
        self._stream = ""
        self._inbox: deque[dict[str, Any]] = deque()
        self._cond = threading.Condition()
        self._closed = False

    # environment lifecycle

    def _where(self) -> tuple[str, str, str, str]:
        return (self.spec.account, self.spec.region, f"/aws/lambda/{self.spec.name}", self._stream)

    def _log(self, message: str) -> None:
        self._telemetry.log(self._where(), message)

    def _spawn(self) -> None:
        spec = self.spec
        today = dt.datetime.now(dt.UTC)
        self._stream = f"{today:%Y/%m/%d}/[{spec.version}]{secrets.token_hex(16)}"
        try:
            keys = self._aws.credentials(spec.account, spec.role)
        except Exception as err:  # a role moto refuses: fall back to the account's keys
            log.debug("assume %s failed (%s); using the account's keys", spec.role, err)
            keys = self._aws.credentials(spec.account)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": str(self.code_dir),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "LAMBDA_TASK_ROOT": str(self.code_dir),
            "_HANDLER": spec.handler,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout_s)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self._stream,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python_local",
            "AWS_ENDPOINT_URL": self._aws.endpoint,
            **keys,
            **dict(spec.environment),
        }
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-P",
                    "-u",
                    str(RUNNER),
                    str(self.code_dir),
                    spec.handler,
                    str(req_r),
                    str(resp_w),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(self.code_dir),
                pass_fds=(req_r, resp_w),
                close_fds=True,
            )
        finally:
            os.close(req_r)
            os.close(resp_w)
        self._req = os.fdopen(req_w, "wb", buffering=0)
        self._resp = os.fdopen(resp_r, "rb")
        self._inbox.clear()
        proc = self._proc
        threading.Thread(
            target=self._read_protocol,
            args=(self._resp,),
            daemon=True,
            name=f"lambda-{spec.name}-rx",
        ).start()
        threading.Thread(
            target=self._read_output, args=(proc,), daemon=True, name=f"lambda-{spec.name}-out"
        ).start()
        init = self._next(time.monotonic() + CHILD_START_TIMEOUT_S)
        if init is None or init.get("type") != "init":
            self._kill()
            raise InvokeError(f"{spec.name}: runtime did not start")
        if not init.get("ok"):
            self._log(
                f"[ERROR] {init.get('errorType')}: {init.get('errorMessage')}\n"
                + "".join(init.get("stackTrace") or [])
            )
            self._kill()
            raise _InitError(init.get("errorType", "Runtime.Unknown"), init.get("errorMessage", ""))
        log.info("started %s (%s) in %s", spec.name, spec.code_sha256[:12], self.code_dir)

    def _read_protocol(self, stream: Any) -> None:
        try:
            for line in stream:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if message.get("type") == "log":
                    self._log(str(message.get("m", "")))
                    continue
                with self._cond:
                    self._inbox.append(message)
                    self._cond.notify_all()
        except (ValueError, OSError):
            pass  # the pipe was closed under us: the environment was killed (a timeout); as EOF
        with self._cond:
            self._inbox.append({"type": "eof"})
            self._cond.notify_all()

    def _read_output(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:  # only what bypasses sys.stdout: interpreter errors, C output
            self._log(raw.decode(errors="replace").rstrip("\n"))

    def _next(self, deadline: float) -> dict[str, Any] | None:
        with self._cond:
            while not self._inbox:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return None
                self._cond.wait(min(left, 0.1))
            return self._inbox.popleft()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        for handle in (self._req, self._resp):
            try:
                if handle is not None:
                    handle.close()
            except OSError:
                pass
        self._req = self._resp = None
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._kill()

    # invocation

    def invoke(self, event: dict[str, Any]) -> InvokeResult:
        """Run the handler on ``event``; Lambda's error types for crashes and timeouts."""
        request_id = str(uuid.uuid4())
        with self._lock:
            if self._closed:
                raise InvokeError("runtime closed")
            started = time.monotonic()
            if self._proc is None or self._proc.poll() is not None:
                try:
                    self._spawn()
                except _InitError as err:
                    return InvokeResult(
                        request_id, True, error_type=err.error_type, error_message=err.message
                    )
            self._log(f"START RequestId: {request_id} Version: {self.spec.version}")
            deadline_epoch_ms = int((time.time() + self.spec.timeout_s) * 1000)
            request = {
                "id": request_id,
                "event": event,
                "deadline_ms": deadline_epoch_ms,
                "arn": self.spec.arn,
            }
            try:
                self._req.write((json.dumps(request) + "\n").encode())
                reply = self._next(started + self.spec.timeout_s + TIMEOUT_SLACK_S)
            except (OSError, ValueError):
                reply = {"type": "eof"}
            duration = (time.monotonic() - started) * 1000
            if reply is None:
                self._log(
                    f"{_now_iso()} {request_id} Task timed out after {self.spec.timeout_s:.2f} seconds"
                )
                self._kill()
                result = InvokeResult(
                    request_id,
                    True,
                    error_type="Sandbox.Timedout",
                    error_message=f"Task timed out after {self.spec.timeout_s:.2f} seconds",
                )
            elif reply.get("type") != "result":
                try:
                    code: Any = self._proc.wait(timeout=2) if self._proc else "?"
                except subprocess.TimeoutExpired:
                    code = "?"
                self._kill()
                result = InvokeResult(
                    request_id,
                    True,
                    error_type="Runtime.ExitError",
                    error_message=f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}",
                )
                self._log(result.error_message)
            elif reply.get("ok"):
                result = InvokeResult(request_id, False, payload=reply.get("result"))
            else:
                result = InvokeResult(
                    request_id,
                    True,
                    error_type=reply.get("errorType", ""),
                    error_message=reply.get("errorMessage", ""),
                )
            result.duration_ms = duration
            self._log(f"END RequestId: {request_id}")
            self._log(
                f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
                f"Billed Duration: {max(1, int(duration + 0.999))} ms\t"
                f"Memory Size: {self.spec.memory_mb} MB\tMax Memory Used: {self.spec.memory_mb // 2} MB"
            )
            dims = {"FunctionName": self.spec.name}
            acct, region = self.spec.account, self.spec.region
            self._telemetry.metric(acct, region, "Invocations", 1, "Count", dims)
            self._telemetry.metric(
                acct, region, "Errors", int(result.function_error), "Count", dims
            )
            self._telemetry.metric(acct, region, "Duration", duration, "Milliseconds", dims)
            return result


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


def _now_iso(when: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp(time.time() if when is None else when, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _Functions:
    """Resolves function ARNs to running :class:`FunctionRuntime`s: one per function version
    and lane (a shard), so shards run concurrently as they do in Lambda (one concurrent
    invocation per shard at ParallelizationFactor 1), each environment with its own log stream."""

    def __init__(self, aws: _Aws, telemetry: _Telemetry, work_dir: Path) -> None:
        self._aws = aws
        self._telemetry = telemetry
        self._work_dir = work_dir
        self._lock = threading.Lock()
        self._specs: dict[str, tuple[float, FunctionSpec]] = {}
        self._runtimes: dict[tuple[str, str, str, str], FunctionRuntime] = {}
        self._locations: dict[str, str] = {}
        self._closed = False
        self.spec_ttl_s = 1.0

    def spec(self, function_arn: str) -> FunctionSpec:
        now = time.monotonic()
        with self._lock:
            cached = self._specs.get(function_arn)
        if cached and now - cached[0] < self.spec_ttl_s:
            return cached[1]
        region, account, _ = _arn_parts(function_arn)
        try:
            got = self._aws.client(account, "lambda", region).get_function(
                FunctionName=function_arn
            )
        except Exception as err:
            raise InvokeError(f"GetFunction {function_arn}: {err}") from err
        conf = got["Configuration"]
        spec = FunctionSpec(
            account=account,
            region=region,
            name=conf["FunctionName"],
            arn=conf["FunctionArn"],
            handler=conf.get("Handler") or "lambda_function.lambda_handler",
            role=conf.get("Role") or "",
            timeout_s=float(conf.get("Timeout") or 3),
            memory_mb=int(conf.get("MemorySize") or 128),
            version=conf.get("Version") or "$LATEST",
            environment=tuple(
                sorted(((conf.get("Environment") or {}).get("Variables") or {}).items())
            ),
            code_sha256=conf.get("CodeSha256") or "",
            last_modified=str(conf.get("LastModified") or ""),
        )
        with self._lock:
            self._specs[function_arn] = (now, spec)
            self._locations[spec.arn] = (got.get("Code") or {}).get("Location", "")
        return spec

    def runtime(self, function_arn: str, lane: str = "") -> FunctionRuntime:
        if self._closed:
            raise InvokeError("emulator stopped")
        spec = self.spec(function_arn)
        key = (*spec.key, lane)
        with self._lock:
            found = self._runtimes.get(key)
            if found is not None:
                return found
            stale = [k for k in self._runtimes if k[0] == spec.arn and k[:3] != spec.key]
        code_dir = self._extract(spec)
        made = FunctionRuntime(spec, code_dir, self._aws, self._telemetry)
        with self._lock:
            if self._closed:
                raise InvokeError("emulator stopped")
            for old_key in stale:
                old = self._runtimes.pop(old_key, None)
                if old is not None:
                    old.close()  # a new version replaces the old environments
            return self._runtimes.setdefault(key, made)

    def _fetch_zip(self, spec: FunctionSpec) -> bytes:
        with self._lock:
            location = self._locations.get(spec.arn, "")
        host = urlparse(location).hostname or ""
        if host in ("127.0.0.1", "localhost", urlparse(self._aws.endpoint).hostname):
            import urllib.request

            with urllib.request.urlopen(location, timeout=10) as response:
                return bytes(response.read())
        # moto's Code.Location points at a bucket that does not exist: read the stored zip.
        return _code_bytes(spec.account, spec.region, spec.name)

    def _extract(self, spec: FunctionSpec) -> Path:
        try:
            data = self._fetch_zip(spec)
        except Exception as err:
            raise InvokeError(f"{spec.name}: cannot read the code: {err}") from err
        digest = hashlib.sha256(data).hexdigest()
        target = self._work_dir / spec.name / digest
        if target.is_dir():
            return target
        tmp = target.with_name(f".{digest}.{uuid.uuid4().hex[:8]}")
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                archive.extractall(tmp)
            tmp.rename(target)
        except FileExistsError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (zipfile.BadZipFile, OSError) as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise InvokeError(f"{spec.name}: bad code zip: {err}") from err
        return target

    def close_lanes(self, prefix: str) -> None:
        """Stop the environments of a retired mapping (lanes ``<uuid>/<shard>``)."""
        with self._lock:
            keys = [k for k in self._runtimes if k[3].startswith(prefix)]
            runtimes = [self._runtimes.pop(k) for k in keys]
        for runtime in runtimes:
            runtime.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            runtimes, self._runtimes = list(self._runtimes.values()), {}
        for runtime in runtimes:
            runtime.close()


# -- the shard poller ----------------------------------------------------------------------------


@dataclass
class _Outcome:
    """What to do with the head of a batch after an invocation."""

    done: int  # records checkpointed (delivered)
    failed: bool  # the rest failed
    function_error: bool = False
    result: InvokeResult | None = None
    not_invoked: bool = False


class ShardPoller:
    """One shard of one mapping: reads, batches, invokes, checkpoints (a thread)."""

    def __init__(
        self, emulator: EsmEmulator, mapping_uuid: str, shard_id: str, after: str | None
    ) -> None:
        self._emu = emulator
        self.uuid = mapping_uuid
        self.shard_id = shard_id
        self.checkpoint = after  # last sequence number delivered or skipped
        self._buffer: deque[Record] = deque()
        self._iterator: str | None = None
        self._stop = threading.Event()
        self.in_flight = False
        self.last_empty_poll = 0.0  # monotonic start time of the latest poll that found nothing
        self.invocations = 0
        self._filling_since = 0.0  # when the buffer last went from empty to non-empty
        self._resume_at: str | None = None  # re-read from here after an error (no checkpoint yet)
        self._thread = threading.Thread(
            target=self._run, name=f"esm-{mapping_uuid[:8]}-{shard_id[-4:]}", daemon=True
        )

    def start(self) -> ShardPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def idle_since(self, moment: float) -> bool:
        return not self.in_flight and not self._buffer and self.last_empty_poll > moment

    @property
    def config(self) -> MappingConfig | None:
        return self._emu._configs.get(self.uuid)

    def _kinesis(self, cfg: MappingConfig) -> Any:
        region, account, _ = _arn_parts(cfg.stream_arn)
        return self._emu._aws.client(account, "kinesis", region)

    def _position(self, cfg: MappingConfig) -> str:
        kinesis = self._kinesis(cfg)
        kwargs: dict[str, Any] = {"StreamARN": cfg.stream_arn, "ShardId": self.shard_id}
        if self._resume_at is not None:
            kwargs.update(
                ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=self._resume_at
            )
        elif self.checkpoint is not None:
            kwargs.update(
                ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=self.checkpoint
            )
        elif cfg.starting_position == "AT_TIMESTAMP" and cfg.starting_timestamp is not None:
            kwargs.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=cfg.starting_timestamp)
        elif cfg.starting_position == "LATEST":
            kwargs.update(ShardIteratorType="LATEST")
        else:
            kwargs.update(ShardIteratorType="TRIM_HORIZON")
        return str(kinesis.get_shard_iterator(**kwargs)["ShardIterator"])

    def _fetch(self, cfg: MappingConfig) -> int:
        if self._iterator is None:
            self._iterator = self._position(cfg)
        started = time.monotonic()
        got = self._kinesis(cfg).get_records(
            ShardIterator=self._iterator, Limit=GET_RECORDS_LIMIT, StreamARN=cfg.stream_arn
        )
        self._iterator = got.get("NextShardIterator")
        for raw in got.get("Records", []):
            arrival = raw.get("ApproximateArrivalTimestamp")
            self._buffer.append(
                Record(
                    sequence=raw["SequenceNumber"],
                    partition_key=raw["PartitionKey"],
                    data_b64=base64.b64encode(raw["Data"]).decode(),
                    arrival=arrival.timestamp() if arrival is not None else time.time(),
                )
            )
        if not got.get("Records") and not self._buffer:
            self.last_empty_poll = started
        if self._buffer:
            age_ms = max(0.0, (time.time() - self._buffer[0].arrival) * 1000)
            self._emu._telemetry.metric(
                cfg.account,
                cfg.region,
                "IteratorAge",
                age_ms,
                "Milliseconds",
                {
                    "FunctionName": cfg.function_arn.rsplit(":", 1)[-1],
                    "EventSourceMappingUUID": cfg.uuid,
                },
            )
        return len(got.get("Records", []))

    def _run(self) -> None:
        backoff = POLL_INTERVAL_S
        while not self._stop.is_set():
            cfg = self.config
            if cfg is None:
                return
            try:
                fetched = self._fetch(cfg) if len(self._buffer) < cfg.batch_size else 0
                if not self._buffer:
                    self._stop.wait(POLL_INTERVAL_S)
                    continue
                if fetched and len(self._buffer) == fetched:
                    self._filling_since = time.monotonic()
                if cfg.window_s > 0 and len(self._buffer) < cfg.batch_size:
                    left = self._filling_since + cfg.window_s - time.monotonic()
                    if left > 0:
                        self._stop.wait(min(POLL_INTERVAL_S, left))
                        continue
                batch = self._take(cfg)
                self.in_flight = True
                try:
                    self._deliver(cfg, batch, attempts=0)
                finally:
                    self.in_flight = False
                backoff = POLL_INTERVAL_S
            except Exception as err:  # never let one shard take the emulator down
                self.in_flight = False
                log.warning("mapping %s %s: %s", self.uuid, self.shard_id, err)
                # Re-position after the checkpoint, or at the first unread record when there is
                # none yet (LATEST would skip what was already buffered).
                self._resume_at = (
                    self._buffer[0].sequence if self._buffer and self.checkpoint is None else None
                )
                self._iterator = None
                self._buffer.clear()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)

    def _take(self, cfg: MappingConfig) -> list[Record]:
        batch: list[Record] = []
        size = 0
        for record in self._buffer:
            if len(batch) >= cfg.batch_size or (batch and size + record.size > MAX_PAYLOAD_BYTES):
                break
            batch.append(record)
            size += record.size
        return batch

    def _commit(self, records: list[Record]) -> None:
        """Checkpoint past ``records`` (the head of the buffer)."""
        for _ in records:
            self.checkpoint = self._buffer.popleft().sequence
        self._resume_at = None
        self._emu._checkpoints[(self.uuid, self.shard_id)] = self.checkpoint

    def _deliver(self, cfg: MappingConfig, batch: list[Record], attempts: int) -> None:
        """Resolve ``batch`` (the buffer's head): delivered, or given up on and skipped."""
        while batch and not self._stop.is_set():
            cfg = self.config or cfg
            if cfg.max_record_age_s >= 0:
                cutoff = time.time() - cfg.max_record_age_s
                expired = [r for r in batch if r.arrival < cutoff]
                if expired:
                    count = batch.index(expired[-1]) + 1
                    self._give_up(cfg, batch[:count], "RecordAgeExceeded", attempts, None)
                    batch = batch[count:]
                    continue
            outcome = self._invoke(cfg, batch)
            if outcome.not_invoked:
                self._stop.wait(1.0)
                continue
            attempts += 1
            self._commit(batch[: outcome.done])
            rest = batch[outcome.done :]
            if not outcome.failed:
                return
            if outcome.function_error and cfg.bisect and len(rest) > 1:
                half = len(rest) // 2
                # Splitting does not consume the retry quota; each half starts afresh.
                self._deliver(cfg, rest[:half], attempts=0)
                if self._stop.is_set():
                    return
                batch, attempts = rest[half:], 0
                continue
            if attempts > cfg.max_retries:
                self._give_up(cfg, rest, "RetryAttemptsExhausted", attempts, outcome)
                return
            batch = rest
            self._stop.wait(min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (attempts - 1)))

    def _invoke(self, cfg: MappingConfig, batch: list[Record]) -> _Outcome:
        try:
            lane = f"{cfg.uuid}/{self.shard_id}"
            runtime = self._emu._functions.runtime(cfg.function_arn, lane)
            event = {"Records": [self._event_record(cfg, r, runtime.spec.role) for r in batch]}
            result = runtime.invoke(event)
        except InvokeError as err:
            # Before invocation (missing function, broken zip): Lambda retries until records
            # expire, without counting retries.
            log.warning("mapping %s: cannot invoke %s: %s", cfg.uuid, cfg.function_arn, err)
            return _Outcome(done=0, failed=True, not_invoked=True)
        self.invocations += 1
        if result.function_error:
            return _Outcome(0, True, True, result)
        if not cfg.report_item_failures:
            return _Outcome(len(batch), False, result=result)
        failures = (
            (result.payload or {}).get("batchItemFailures")
            if isinstance(result.payload, dict)
            else None
        )
        if not failures:
            return _Outcome(len(batch), False, result=result)
        by_seq = {r.sequence: i for i, r in enumerate(batch)}
        indexes = []
        for item in failures:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not ident or ident not in by_seq:
                return _Outcome(0, True, True, result)  # malformed response: whole batch failed
            indexes.append(by_seq[ident])
        return _Outcome(min(indexes), True, False, result)

    def _event_record(self, cfg: MappingConfig, record: Record, role: str) -> dict[str, Any]:
        region, _, _ = _arn_parts(cfg.stream_arn)
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record.partition_key,
                "sequenceNumber": record.sequence,
                "data": record.data_b64,
                "approximateArrivalTimestamp": round(record.arrival, 3),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{self.shard_id}:{record.sequence}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": role,
            "awsRegion": region,
            "eventSourceARN": cfg.stream_arn,
        }

    def _give_up(
        self,
        cfg: MappingConfig,
        records: list[Record],
        condition: str,
        attempts: int,
        outcome: _Outcome | None,
    ) -> None:
        """Skip ``records``; send Lambda's on-failure record when a destination is set."""
        if not records:
            return
        log.warning(
            "mapping %s %s: %s, skipping %d records from %s",
            cfg.uuid,
            self.shard_id,
            condition,
            len(records),
            records[0].sequence,
        )
        if cfg.on_failure:
            message = failure_record(cfg, self.shard_id, records, condition, attempts, outcome)
            if is_s3_destination(cfg.on_failure):
                # S3 destinations get the whole invocation event too (an escaped JSON string).
                role = ""
                with contextlib.suppress(InvokeError):
                    role = self._emu._functions.spec(cfg.function_arn).role
                event = {"Records": [self._event_record(cfg, r, role) for r in records]}
                message["payload"] = json.dumps(event, separators=(",", ":"))
            try:
                self._emu._send_failure(cfg, self.shard_id, message)
            except Exception as err:
                log.error(
                    "mapping %s: on-failure destination %s refused: %s",
                    cfg.uuid,
                    cfg.on_failure,
                    err,
                )
        self._commit(records)


def failure_record(
    cfg: MappingConfig,
    shard_id: str,
    records: list[Record],
    condition: str,
    attempts: int,
    outcome: _Outcome | None,
) -> dict[str, Any]:
    """The JSON document Lambda sends to a stream mapping's on-failure destination.

    The shape is AWS's example invocation record (requestContext, responseContext, version,
    timestamp, KinesisBatchInfo); for an S3 destination the caller adds ``payload``, "the original
    invocation record as an escaped JSON string" (AWS Lambda Developer Guide, "Retain discarded
    batch records for a Kinesis Data Streams event source", Example Amazon S3 invocation record).
    """
    result = outcome.result if outcome else None
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if outcome is not None and outcome.function_error:
        response["functionError"] = "Unhandled"
    return {
        "requestContext": {
            "requestId": result.request_id if result else str(uuid.uuid4()),
            "functionArn": cfg.function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": _now_iso(),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": records[0].sequence,
            "endSequenceNumber": records[-1].sequence,
            "approximateArrivalOfFirstRecord": _now_iso(records[0].arrival),
            "approximateArrivalOfLastRecord": _now_iso(records[-1].arrival),
            "batchSize": len(records),
            "streamArn": cfg.stream_arn,
        },
    }


# -- the emulator ----------------------------------------------------------------------------------


@dataclass
class _MappingState:
    config: MappingConfig
    pollers: dict[str, ShardPoller] = field(default_factory=dict)
    shards_checked: float = 0.0


class EsmEmulator:
    """Runs every enabled Kinesis event source mapping of the moto server at ``aws_endpoint``."""

    def __init__(
        self,
        *,
        aws_endpoint: str,
        work_dir: str | os.PathLike[str],
        locations: Callable[[], set[tuple[str, str]]] | None = None,
    ) -> None:
        self.aws_endpoint = aws_endpoint
        self.work_dir = Path(work_dir)
        self._locations = locations or _mapping_locations
        self._aws = _Aws(aws_endpoint)
        self._telemetry = _Telemetry(self._aws)
        self._functions = _Functions(self._aws, self._telemetry, self.work_dir)
        self._configs: dict[str, MappingConfig] = {}
        self._mappings: dict[str, _MappingState] = {}
        self._checkpoints: dict[tuple[str, str], str] = {}
        self._stop = threading.Event()
        self._cycle_started = 0.0
        self._cycle_done = 0.0  # start time of the latest completed discovery cycle
        self._thread = threading.Thread(target=self._run, name="esm-discovery", daemon=True)

    # lifecycle

    def start(self) -> EsmEmulator:
        disable_moto_kinesis_delivery()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._telemetry.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        """End pollers, child processes and threads (well under 2 s)."""
        self._stop.set()
        pollers = [p for m in list(self._mappings.values()) for p in m.pollers.values()]
        for poller in pollers:
            poller.stop()
        self._functions.close()  # unblocks pollers waiting on a child
        deadline = time.monotonic() + 1.0
        self._thread.join(max(0.0, deadline - time.monotonic()))
        for poller in pollers:
            poller.join(max(0.0, deadline - time.monotonic()))
        self._telemetry.stop()

    def __enter__(self) -> EsmEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what callers see

    def wait_idle(self, timeout: float) -> bool:
        """True once every enabled mapping's shards are caught up, nothing is in flight and the
        function logs are written; False if that does not happen within ``timeout`` seconds."""
        asked = time.monotonic()
        deadline = asked + timeout
        while time.monotonic() < deadline:
            if (
                self._cycle_done > asked
                and self._idle_since(asked)
                and not self._telemetry.pending()
            ):
                return True
            time.sleep(0.05)
        return False

    def _idle_since(self, moment: float) -> bool:
        for state in list(self._mappings.values()):
            if not state.pollers:
                return False
            if not all(p.idle_since(moment) for p in list(state.pollers.values())):
                return False
        return True

    def mappings(self) -> dict[str, dict[str, Any]]:
        """Active mappings: uuid → shards, checkpoints and invocation counts (for tests, demos)."""
        return {
            uuid_: {
                "function_arn": state.config.function_arn,
                "stream_arn": state.config.stream_arn,
                "shards": {
                    sid: {"checkpoint": p.checkpoint, "invocations": p.invocations}
                    for sid, p in list(state.pollers.items())
                },
            }
            for uuid_, state in list(self._mappings.items())
        }

    # discovery

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._discover()
                self._cycle_done = started
            except Exception as err:
                log.warning("event source mapping discovery failed: %s", err)
            self._stop.wait(DISCOVERY_INTERVAL_S)

    def _discover(self) -> None:
        seen: dict[str, MappingConfig] = {}
        listed: set[str] = set()
        for account, region in sorted(self._locations()):
            pages = self._aws.client(account, "lambda", region).get_paginator(
                "list_event_source_mappings"
            )
            for page in pages.paginate():
                for raw in page.get("EventSourceMappings", []):
                    if ":kinesis:" not in raw.get("EventSourceArn", ""):
                        continue
                    listed.add(raw["UUID"])
                    if raw.get("State") in _ENABLED_STATES:
                        cfg = MappingConfig.from_api(account, region, raw)
                        seen[cfg.uuid] = cfg
        for gone in set(self._mappings) - set(seen):
            self._retire(gone)
        for uuid_, cfg in seen.items():
            self._configs[uuid_] = cfg
            state = self._mappings.get(uuid_)
            if state is None or state.config.stream_arn != cfg.stream_arn:
                if state is not None:
                    self._retire(uuid_, keep_config=True)
                state = self._mappings[uuid_] = _MappingState(cfg)
            state.config = cfg
            if time.monotonic() - state.shards_checked > 5 or not state.pollers:
                self._sync_shards(state)
        # Forget the checkpoints of deleted mappings; a disabled one resumes from its own.
        for key in [k for k in self._checkpoints if k[0] not in listed]:
            self._checkpoints.pop(key, None)

    def _sync_shards(self, state: _MappingState) -> None:
        cfg = state.config
        region, account, _ = _arn_parts(cfg.stream_arn)
        kinesis = self._aws.client(account, "kinesis", region)
        try:
            shards = kinesis.list_shards(StreamARN=cfg.stream_arn)["Shards"]
        except Exception as err:
            log.warning("mapping %s: cannot list shards of %s: %s", cfg.uuid, cfg.stream_arn, err)
            return
        state.shards_checked = time.monotonic()
        for shard in shards:
            sid = shard["ShardId"]
            if sid not in state.pollers:
                after = self._checkpoints.get((cfg.uuid, sid))
                state.pollers[sid] = ShardPoller(self, cfg.uuid, sid, after).start()

    def _retire(self, mapping_uuid: str, keep_config: bool = False) -> None:
        state = self._mappings.pop(mapping_uuid, None)
        if not keep_config:
            self._configs.pop(mapping_uuid, None)
        if state is not None:
            for poller in state.pollers.values():
                poller.stop()
            self._functions.close_lanes(f"{mapping_uuid}/")

    def _send_failure(self, cfg: MappingConfig, shard_id: str, message: dict[str, Any]) -> None:
        destination = cfg.on_failure
        if is_s3_destination(destination):
            # Lambda writes with the function's execution role: the mapping's own account.
            bucket = destination.split(":", 5)[5].split("/", 1)[0]
            s3 = self._aws.client(cfg.account, "s3", cfg.region)
            s3.put_object(
                Bucket=bucket,
                Key=failure_object_key(cfg.uuid, shard_id),
                Body=json.dumps(message).encode(),
                ContentType="application/json",
            )
            return
        region, account, resource = _arn_parts(destination)
        if ":sqs:" not in destination:
            raise InvokeError(
                f"only SQS and S3 on-failure destinations are emulated, not {destination}"
            )
        sqs = self._aws.client(account, "sqs", region)
        url = sqs.get_queue_url(QueueName=resource, QueueOwnerAWSAccountId=account)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))


def is_s3_destination(arn: str) -> bool:
    return arn.startswith("arn:") and arn.split(":", 3)[2:3] == ["s3"]


def failure_object_key(mapping_uuid: str, shard_id: str, when: float | None = None) -> str:
    """Where Lambda puts a discarded batch in an S3 on-failure destination.

    AWS Lambda Developer Guide, "Retain discarded batch records for a Kinesis Data Streams event
    source", example S3 invocation record: ``aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/
    YYYY-MM-DDTHH.MM.SS-<Random UUID>``.
    """
    moment = dt.datetime.fromtimestamp(time.time() if when is None else when, dt.UTC)
    return (
        f"aws/lambda/{mapping_uuid}/{shard_id}/{moment:%Y/%m/%d}/"
        f"{moment:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
    )
