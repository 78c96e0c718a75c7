"""Realistic API pace for the local cloud: per-call latency and AWS's per-API rate limits.

moto answers in about a millisecond and never throttles, so code that is too sequential, or that
forgets to retry throttling, looks fine locally and fails at scale. :func:`wrap` puts a WSGI
middleware in front of moto's app that

- sleeps ``latency_ms`` per AWS call (the server is threaded, so concurrent calls overlap, as
  they do against AWS: parallelism pays off locally exactly where it pays off for real);
- with ``rate_limit``, keeps a token bucket per (account, region, service, operation) at the
  operation's published TPS quota (:data:`QUOTAS`) and answers calls beyond it with the
  throttling error AWS sends for that protocol, so botocore's retry modes see the real shape.

The account comes from the SigV4 access key (moto maps it, assumed-role keys included), the
region and service from the credential scope, the operation from ``X-Amz-Target`` (JSON
protocols) or from the form body's ``Action`` (query protocol; the body is put back for moto).

>>> app = wrap(moto_app, Pace(latency_ms=40, rate_limit=True))  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

log = logging.getLogger(__name__)

# TPS quota per operation, per account and region (burst = one second's worth).
# CloudWatch Logs: "CloudWatch Logs quotas" (AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl),
# default values as published there ("<Op> throttle limit in transactions per second").
# PutAccountPolicy/DescribeAccountPolicies/DeleteAccountPolicy are not on that page: 5 like every
# other control-plane write there (an assumption).
# CloudFormation and Organizations publish no per-API TPS values; the numbers below are
# conservative estimates in the range users report, marked as such, so that polling loops
# (DescribeStacks/DescribeStackEvents while a stack deploys) and org discovery get exercised.
QUOTAS: dict[str, float] = {
    # --- CloudWatch Logs (published) ---
    "CreateLogGroup": 10,
    "CreateLogStream": 50,
    "DeleteLogGroup": 10,
    "DeleteLogStream": 15,
    "DescribeLogGroups": 10,
    "DescribeLogStreams": 25,
    "DescribeSubscriptionFilters": 5,
    "PutSubscriptionFilter": 5,
    "DeleteSubscriptionFilter": 5,
    "DescribeDestinations": 5,
    "PutDestination": 5,
    "PutDestinationPolicy": 5,
    "DeleteDestination": 5,
    "DescribeMetricFilters": 5,
    "PutRetentionPolicy": 5,
    "DeleteRetentionPolicy": 5,
    "ListTagsForResource": 5,
    "ListTagsLogGroup": 5,
    "TagResource": 5,
    "UntagResource": 5,
    "TagLogGroup": 5,
    "UntagLogGroup": 5,
    "FilterLogEvents": 10,  # 25 in us-east-1, 5 in a few regions; 10 elsewhere
    "GetLogEvents": 25,  # 10 in eu-west-1, us-west-2 and a few others
    "PutLogEvents": 5000,
    "StartQuery": 10,
    "GetQueryResults": 10,
    # --- CloudWatch Logs (not published: assumption, see above) ---
    "PutAccountPolicy": 5,
    "DescribeAccountPolicies": 5,
    "DeleteAccountPolicy": 5,
    # --- CloudFormation (estimates) ---
    "DescribeStacks": 10,
    "DescribeStackEvents": 10,
    "DescribeStackResources": 10,
    "ListStacks": 10,
    "ListStackResources": 10,
    "GetTemplate": 10,
    "GetTemplateSummary": 10,
    "ValidateTemplate": 10,
    "CreateStack": 5,
    "UpdateStack": 5,
    "DeleteStack": 5,
    "CreateChangeSet": 5,
    "DescribeChangeSet": 10,
    "ExecuteChangeSet": 5,
    "DeleteChangeSet": 5,
    "ListChangeSets": 10,
    # --- Organizations (estimates; Organizations is a low-TPS, global API) ---
    "ListAccounts": 1,
    "DescribeOrganization": 1,
    "DescribeAccount": 1,
    "ListRoots": 1,
    "ListOrganizationalUnitsForParent": 1,
    "ListAccountsForParent": 1,
}

# The services whose calls are rate limited (credential-scope names). Operation names repeat
# across services (ListTagsForResource is everywhere), so only these services use QUOTAS.
PACED_SERVICES = frozenset({"logs", "cloudformation", "organizations"})

_JSON_THROTTLE_CODE = {"organizations": "TooManyRequestsException"}
_QUERY_NAMESPACE = {"cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/"}


@dataclass(frozen=True)
class Call:
    """What the middleware knows about one request (empty strings where unknown)."""

    account: str
    region: str
    service: str
    operation: str
    json_protocol: bool


class _Bucket:
    """A token bucket: ``rate`` tokens per second, holding at most ``max(1, rate)``."""

    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.last = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Pace:
    """Latency and rate-limit settings plus the live buckets and counters.

    ``quotas`` overrides :data:`QUOTAS` per operation (a value of 0 or less lifts the limit).
    ``clock`` is for tests that need a frozen time (default :func:`time.monotonic`).
    """

    def __init__(
        self,
        latency_ms: int = 0,
        rate_limit: bool = False,
        quotas: Mapping[str, float] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
        self.latency_ms = latency_ms
        self.rate_limit = rate_limit
        self.quotas: dict[str, float] = {**QUOTAS, **(quotas or {})}
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str, str], _Bucket] = {}
        self._calls = 0
        self._throttled: Counter[str] = Counter()
        # Admitted calls per (account, region, service, operation): benches derive the
        # quota-bound time of a run from them.
        self._admitted: Counter[tuple[str, str, str, str]] = Counter()

    def admit(self, call: Call) -> bool:
        """Count ``call``; False when it is over its quota (and must be throttled)."""
        quota = self.quotas.get(call.operation, 0.0) if call.service in PACED_SERVICES else 0.0
        key = (call.account, call.region, call.service, call.operation)
        with self._lock:
            self._calls += 1
            if not self.rate_limit or quota <= 0 or not call.operation:
                self._admitted[key] += 1
                return True
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(quota, now)
            if bucket.take(now):
                self._admitted[key] += 1
                return True
            self._throttled[call.operation] += 1
            return False

    def stats(self) -> dict[str, Any]:
        """Counts since start (or :meth:`reset`): calls seen, throttled in all and per operation."""
        with self._lock:
            return {
                "calls": self._calls,
                "throttled": sum(self._throttled.values()),
                "throttled_by_operation": dict(self._throttled),
                "latency_ms": self.latency_ms,
                "rate_limit": self.rate_limit,
            }

    def admitted(self) -> dict[tuple[str, str, str, str], int]:
        """Calls let through since start (or :meth:`reset`), per (account, region, service,
        operation)."""
        with self._lock:
            return dict(self._admitted)

    def reset(self) -> None:
        """Refill every bucket and zero the counters."""
        with self._lock:
            self._buckets.clear()
            self._admitted.clear()
            self._calls = 0
            self._throttled.clear()


# The pace's counters over HTTP, for a caller in another process (the scale bench runs the local
# cloud apart so the two processes' CPU can be told apart): GET answers :meth:`Pace.stats`, the
# admitted calls as ``[account, region, service, operation, count]`` rows, the quotas and this
# process's CPU seconds; POST resets the counters (:meth:`Pace.reset`) and answers the same.
ADMIN_PATH = "/__local/pace"


def admin_answer(pace: Pace, environ: dict[str, Any]) -> dict[str, Any]:
    """What :data:`ADMIN_PATH` answers (after a reset when the request is a POST)."""
    if environ.get("REQUEST_METHOD") == "POST":
        pace.reset()
    return {
        "stats": pace.stats(),
        "admitted": [[*key, count] for key, count in pace.admitted().items()],
        "quotas": pace.quotas,
        "process_cpu_s": time.process_time(),
    }


def wrap(app: Callable[..., Iterable[bytes]], pace: Pace) -> Callable[..., Iterable[bytes]]:
    """``app`` behind ``pace``: a WSGI app that sleeps, rate-limits, then calls ``app``."""

    def paced(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            return app(environ, start_response)  # moto's own admin API: not an AWS call
        if path == ADMIN_PATH:
            body = json.dumps(admin_answer(pace, environ)).encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        if pace.latency_ms:
            time.sleep(pace.latency_ms / 1000)
        call = identify(environ, need_operation=pace.rate_limit)
        if pace.admit(call):
            return app(environ, start_response)
        log.debug("throttled %s", call)
        return _throttle(call, start_response)

    paced.pace = pace  # type: ignore[attr-defined]  # reachable from the server for stats
    return paced


def identify(environ: dict[str, Any], *, need_operation: bool = True) -> Call:
    """Account, region, service and operation of a request, leaving its body readable."""
    account = region = service = operation = ""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            region, service = scope[2], scope[3]
            if need_operation and service in PACED_SERVICES:
                account = _account_of(scope[0])
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        operation = target.rsplit(".", 1)[-1]
        return Call(account, region, service, operation, json_protocol=True)
    if need_operation and service in PACED_SERVICES:
        operation = _query_action(environ)
    return Call(account, region, service, operation, json_protocol=False)


def _account_of(access_key: str) -> str:
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


def _query_action(environ: dict[str, Any]) -> str:
    """``Action`` from the query string or the form body; the body is restored for moto."""
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    if action:
        return action[0]
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return ""
    stream = environ.get("wsgi.input")
    if stream is None:
        return ""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > 0:
        body = stream.read(length)
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()  # chunked: the server marks the end of the input
    else:
        return ""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    action = parse_qs(body.decode("utf-8", "replace")).get("Action")
    return action[0] if action else ""


def _throttle(call: Call, start_response: Callable[..., Any]) -> list[bytes]:
    """AWS's throttling answer for the call's protocol (HTTP 400 in both protocols)."""
    request_id = str(uuid.uuid4())
    if call.json_protocol:
        code = _JSON_THROTTLE_CODE.get(call.service, "ThrottlingException")
        body = json.dumps({"__type": code, "message": "Rate exceeded"}).encode()
        content_type = "application/x-amz-json-1.1"
    else:
        namespace = _QUERY_NAMESPACE.get(call.service)
        xmlns = f' xmlns="{namespace}"' if namespace else ""
        body = (
            f"<ErrorResponse{xmlns}><Error><Type>Sender</Type><Code>Throttling</Code>"
            f"<Message>Rate exceeded</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        ).encode()
        content_type = "text/xml"
    start_response(
        "400 Bad Request",
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", request_id),
        ],
    )
    return [body]
