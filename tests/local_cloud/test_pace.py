"""local/pace.py over HTTP: moto's app behind the pace middleware on a loopback server.

Real boto3 clients against a real threaded werkzeug server; no mocks. Rate-limit tests that need
an exact count use a frozen clock (``Pace(clock=...)``) so no refill happens mid-burst; the retry
tests use the real clock.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from xaccount_ops.local.pace import QUOTAS, Pace, wrap

OTHER_ACCOUNT = "210987654321"


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Server:
    """moto's app behind ``wrap(..., pace)`` on 127.0.0.1; ``pace`` can be swapped per test."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        self.pace = Pace()
        moto_app = DomainDispatcherApplication(create_backend_app)

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            return self._paced(environ, start_response)

        self._moto_app = moto_app
        self._paced = wrap(moto_app, self.pace)
        self.httpd = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler
        )
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def use(self, pace: Pace) -> Pace:
        self.pace = pace
        self._paced = wrap(self._moto_app, pace)
        return pace

    def client(self, service: str, retries: dict[str, Any] | None = None, **creds: str) -> Any:
        creds = creds or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        config = Config(retries=retries or {"mode": "standard", "total_max_attempts": 1})
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=self.endpoint,
            config=config,
            **creds,
        )

    def other_account_creds(self) -> dict[str, str]:
        """Credentials of an assumed role in OTHER_ACCOUNT (moto maps its key to that account)."""
        creds = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/pace-test", RoleSessionName="pace"
        )["Credentials"]
        return {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.stop()


def test_latency_adds_at_least_n_ms(server: Server) -> None:
    logs = server.client("logs")
    logs.describe_log_groups()  # warm up the connection and moto's app for the service
    server.use(Pace(latency_ms=120))
    started = time.perf_counter()
    logs.describe_log_groups()
    assert time.perf_counter() - started >= 0.120


def test_rate_limit_throttles_the_burst_call_after_quota_per_account(server: Server) -> None:
    clock = FrozenClock()
    pace = server.use(Pace(rate_limit=True, quotas={"DescribeLogGroups": 3}, clock=clock))
    mine = server.client("logs")
    theirs = server.client("logs", **server.other_account_creds())

    for _ in range(3):
        mine.describe_log_groups()
    with pytest.raises(ClientError) as err:
        mine.describe_log_groups()
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert err.value.response["Error"]["Message"] == "Rate exceeded"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    theirs.describe_log_groups()  # another account has its own bucket
    assert pace.stats()["throttled"] == 1
    assert pace.stats()["throttled_by_operation"] == {"DescribeLogGroups": 1}

    clock.now += 1 / 3  # one token back
    mine.describe_log_groups()


def test_other_region_and_operation_have_their_own_buckets(server: Server) -> None:
    pace = server.use(Pace(rate_limit=True, quotas={"DescribeLogGroups": 1}, clock=FrozenClock()))
    logs = server.client("logs")
    logs.describe_log_groups()
    logs.describe_destinations()
    boto3.client(
        "logs",
        region_name="eu-west-1",
        endpoint_url=server.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    ).describe_log_groups()
    assert pace.stats()["throttled"] == 0
    with pytest.raises(ClientError):
        logs.describe_log_groups()
    assert pace.stats()["throttled"] == 1


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
def test_botocore_retry_gets_through(server: Server, mode: str) -> None:
    pace = server.use(Pace(rate_limit=True, quotas={"DescribeLogGroups": 5}))
    logs = server.client("logs", retries={"mode": mode, "max_attempts": 20})
    for _ in range(12):
        logs.describe_log_groups()
    stats = pace.stats()
    assert stats["calls"] == 12 + stats["throttled"]
    assert stats["throttled"] > 0  # the limit did bite; retries absorbed it


def test_cloudformation_throttle_parses_as_throttling(server: Server) -> None:
    pace = server.use(Pace(rate_limit=True, quotas={"DescribeStacks": 1}, clock=FrozenClock()))
    cfn = server.client("cloudformation")
    cfn.describe_stacks()
    with pytest.raises(ClientError) as err:
        cfn.describe_stacks()
    error = err.value.response["Error"]
    assert (error["Code"], error["Message"], error["Type"]) == (
        "Throttling",
        "Rate exceeded",
        "Sender",
    )
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert pace.stats()["throttled_by_operation"] == {"DescribeStacks": 1}


def test_organizations_throttle_is_too_many_requests(server: Server) -> None:
    server.use(Pace(rate_limit=True, clock=FrozenClock()))
    org = server.client("organizations")
    # moto's backends are per process: another test may have made the organization already.
    with contextlib.suppress(org.exceptions.AlreadyInOrganizationException):
        org.create_organization(FeatureSet="ALL")
    org.list_accounts()  # quota 1: the burst holds one call
    with pytest.raises(ClientError) as err:
        org.list_accounts()
    assert err.value.response["Error"]["Code"] == "TooManyRequestsException"


def test_query_body_reaches_moto_intact(server: Server) -> None:
    """The middleware reads the form body to find the Action; moto must still get all of it."""
    server.use(Pace(rate_limit=True, latency_ms=1))
    cfn = server.client("cloudformation")
    template = (
        "Description: 'a & b = c; 100% sure? \u00e9\u00e8 + spaces'\n"
        "Parameters:\n  Name:\n    Type: String\n"
        "Resources:\n  Group:\n    Type: AWS::Logs::LogGroup\n"
        "    Properties:\n      LogGroupName: !Ref Name\n"
    )
    cfn.create_stack(
        StackName="pace-body",
        TemplateBody=template,
        Parameters=[{"ParameterKey": "Name", "ParameterValue": "/pace/a&b=c"}],
    )
    assert cfn.get_template(StackName="pace-body")["TemplateBody"] == template
    stack = cfn.describe_stacks(StackName="pace-body")["Stacks"][0]
    assert stack["Parameters"] == [{"ParameterKey": "Name", "ParameterValue": "/pace/a&b=c"}]
    groups = server.client("logs").describe_log_groups(logGroupNamePrefix="/pace/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/pace/a&b=c"]


def test_quotas_table_covers_the_toolkit_calls() -> None:
    for op in (
        "DescribeLogGroups",
        "DescribeSubscriptionFilters",
        "PutSubscriptionFilter",
        "DeleteSubscriptionFilter",
        "DescribeDestinations",
        "PutAccountPolicy",
        "DescribeStacks",
        "ListAccounts",
    ):
        assert QUOTAS[op] > 0
    assert Pace(quotas={"DescribeLogGroups": 99}).quotas["DescribeLogGroups"] == 99
    with pytest.raises(ValueError):
        Pace(latency_ms=-1)


def test_admin_path_answers_the_counters_and_post_resets_them(server: Server) -> None:
    """The scale bench reads another process's pace over HTTP: GET the counters, POST resets."""
    import json
    import urllib.request

    from xaccount_ops.local.pace import ADMIN_PATH

    pace = server.use(Pace(rate_limit=True))
    server.client("logs").describe_log_groups()
    with urllib.request.urlopen(server.endpoint + ADMIN_PATH, timeout=5) as answer:
        got = json.load(answer)
    assert got["stats"]["calls"] == 1 and got["stats"]["rate_limit"] is True
    assert got["admitted"] == [["123456789012", "us-east-1", "logs", "DescribeLogGroups", 1]]
    assert got["quotas"]["DescribeLogGroups"] == QUOTAS["DescribeLogGroups"]
    assert got["process_cpu_s"] > 0
    request = urllib.request.Request(server.endpoint + ADMIN_PATH, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.load(answer)["admitted"] == []
    assert pace.stats()["calls"] == 0
