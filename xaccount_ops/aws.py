"""The one place that builds boto3 sessions' clients: retries, timeouts, endpoint, user agent.

Every AWS client in the library comes from :func:`client`, so the local cloud's endpoint and the
tests' smaller retry budgets plug in here and nowhere else.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config as BotocoreConfig

from xaccount_ops import __version__

USER_AGENT_EXTRA = f"xaccount-ops/{__version__}"
# Adaptive mode adds client-side rate limiting on top of exponential backoff: what throttled
# per-account APIs (PutSubscriptionFilter, DescribeLogGroups) need at fleet scale.
RETRY_MODE = "adaptive"
DEFAULT_MAX_ATTEMPTS = 10
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 60


def botocore_config(
    max_attempts: int | None = None, *, max_pool_connections: int = 32
) -> BotocoreConfig:
    """Retry and timeout settings shared by every client. ``AWS_MAX_ATTEMPTS`` overrides the default."""
    attempts = max_attempts or int(os.environ.get("AWS_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
    return BotocoreConfig(
        retries={"mode": RETRY_MODE, "max_attempts": attempts},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        max_pool_connections=max_pool_connections,
        user_agent_extra=USER_AGENT_EXTRA,
    )


def client(
    session: boto3.Session,
    service: str,
    region: str,
    *,
    endpoint_url: str | None = None,
    config: BotocoreConfig | None = None,
) -> Any:
    """A botocore client for ``service`` in ``region``; ``endpoint_url`` routes it (local cloud)."""
    return session.client(
        service,
        region_name=region,
        endpoint_url=endpoint_url or None,
        config=config or botocore_config(),
    )


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else the exception's class name."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__
