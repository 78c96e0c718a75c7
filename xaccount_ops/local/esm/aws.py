"""AWS access for the emulator: boto3 clients per account (other accounts through an assumed
role), buffered CloudWatch logs and metrics, and the in-process moto hooks (mapping locations,
stored code, moto's own Kinesis delivery switched off)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from typing import Any

import boto3
from botocore.config import Config as BotocoreConfig

from xaccount_ops.local.esm.model import EMULATOR_ROLE, LOG_FLUSH_INTERVAL_S, MANAGEMENT_ACCOUNT

log = logging.getLogger(__name__)


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


def mapping_locations() -> set[tuple[str, str]]:
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


def code_bytes(account: str, region: str, function_name: str) -> bytes:
    from moto.awslambda.models import lambda_backends

    return bytes(lambda_backends[account][region].get_function(function_name).code_bytes or b"")


# -- AWS access ----------------------------------------------------------------------------------


class Aws:
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


# -- logs and metrics ------------------------------------------------------------------------------


class Telemetry:
    """Buffers log events and metrics; a thread puts them every :data:`LOG_FLUSH_INTERVAL_S`."""

    def __init__(self, aws: Aws) -> None:
        self._aws = aws
        self._lock = threading.Lock()
        self._logs: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
        self._metrics: dict[tuple[str, str], list[dict[str, Any]]] = {}
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
        with self._lock:
            self._logs.setdefault(where, []).append(event)

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
            self._metrics.setdefault((account, region), []).append(datum)

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
            for (account, region), data in metrics.items():
                try:
                    cw = self._aws.client(account, "cloudwatch", region)
                    for start in range(0, len(data), 500):
                        cw.put_metric_data(
                            Namespace="AWS/Lambda", MetricData=data[start : start + 500]
                        )
                except Exception as err:
                    log.warning("could not put Lambda metrics in %s/%s: %s", account, region, err)
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
