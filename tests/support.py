"""Small helpers the test modules share: a boto3 client for the local cloud, and polling with a
deadline (the suite never sleeps to synchronise)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config

T = TypeVar("T")
# How long a test waits for the local cloud's mapping emulator to go idle: a deadline, not a
# delay (wait_idle returns as soon as it is idle). 10 s ran out once at load 6 with other jobs.
IDLE_DEADLINE_S = 60.0


def local_client(endpoint: str, service: str, region: str = "us-east-1", **keys: str) -> Any:
    """A boto3 client for ``endpoint`` with the local cloud's test keys (or ``keys``) and one
    attempt per call, so a test sees the emulator's first answer, not a retried one."""
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", **keys}
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        **credentials,
    )


def account_client(endpoint: str, service: str, account: str, region: str = "us-east-1") -> Any:
    """:func:`local_client` as ``account``: credentials from the local cloud's AssumeRole."""
    creds = local_client(endpoint, "sts", region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/x", RoleSessionName="tests"
    )["Credentials"]
    return local_client(
        endpoint,
        service,
        region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 15.0,
    what: str = "condition",
    interval: float = 0.1,
) -> T:
    """``predicate()``'s first truthy value, polled every ``interval`` s; AssertionError naming
    ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
