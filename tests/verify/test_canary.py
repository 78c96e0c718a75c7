"""The canary run (write, poll, grade the delivered line) and the CLI, on plain moto with a
scripted search API that answers for the markers it is asked about.

Plain moto cannot deliver, so these runs use ``prepare=False`` on canary groups made here; the
local-cloud tests (test_local_cloud.py) run the real path.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from xaccount_ops import logzio
from xaccount_ops.cli import main
from xaccount_ops.config import filter_name, load_config
from xaccount_ops.fleet.accounts import Fleet, Target
from xaccount_ops.fleet.pipeline import FoundDestination, Pipeline
from xaccount_ops.verify import canary as canary_mod
from xaccount_ops.verify import verify

REGIONS = ("us-east-1", "eu-west-1")
MARKER_RE = re.compile(
    r"^xacct-canary-(?P<run>\d{8}t\d{6}-[0-9a-f]{8})-(?P<account>\d{12})-(?P<region>.+)$"
)


def line_for(marker: str, group: str) -> dict[str, Any]:
    """What the shipper would have indexed for this canary."""
    m = MARKER_RE.match(marker)
    assert m, marker
    return {
        logzio.MARKER_FIELD: marker,
        "owner": m["account"],
        "region": m["region"],
        "logGroup": group,
        "logStream": f"verify-{m['run']}",
        "type": "aws-cross-account",
    }


@pytest.fixture
def setup(moto_endpoint: str, tmp_path: Path, helpers: Any, scripted: Any) -> Any:
    import types

    url, script = scripted
    ids = [f"{int(helpers.unique('9')):012d}"[-12:] for _ in range(3)]
    landing, senders = ids[0], ids[1:]
    group = f"/xaccount-ops/{helpers.unique('canary')}"
    path = helpers.write_config(
        tmp_path,
        endpoint=moto_endpoint,
        landing=landing,
        accounts=senders,
        regions=REGIONS,
        stack=helpers.unique("vc"),
        canary_group=group,
        api_url=url,
    )
    fleet = Fleet.from_config(load_config(path))
    for target in fleet.targets:
        fleet.client("logs", target.account_id, target.region).create_log_group(logGroupName=group)
    return types.SimpleNamespace(fleet=fleet, script=script, group=group, path=path, url=url)


def asked(request: dict[str, Any]) -> list[str]:
    """The markers a search request asks for."""
    should = request["body"]["query"]["bool"]["should"]
    return [clause["match_phrase"][logzio.MARKER_FIELD] for clause in should]


def answer(group: str, *, drop: str = "", wrong_region: str = "") -> Any:
    """A search handler: hits for the asked markers, except ``drop``; ``wrong_region`` mangled."""

    def handle(request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        terms = asked(request)
        sources = []
        for marker in terms:
            if drop and drop in marker:
                continue
            line = line_for(marker, group)
            if wrong_region and wrong_region in marker:
                line["region"] = "us-west-2"
            sources.append(line)
        body = {"hits": {"total": len(sources), "hits": [{"_source": s} for s in sources]}}
        return 200, {}, json.dumps(body).encode()

    return handle


def test_every_path_delivered_with_fields_checked(setup: Any) -> None:
    setup.script.handler = answer(setup.group)
    result = verify(setup.fleet, timeout_s=10, prepare=False, progress=False)
    frame = result.frame
    assert result.ok
    assert len(frame) == 4
    assert list(frame["status"].astype(str)) == ["delivered"] * 4
    assert frame["fields_ok"].all()
    assert (frame["latency_s"] >= 0).all()
    assert result.diagnosis.empty
    # One search asked for all four markers at once.
    assert len(asked(setup.script.requests[0])) == 4
    # The canary event is in the group, carrying its marker in the marker field.
    target = setup.fleet.targets[0]
    row = frame[(frame.account_id == target.account_id) & (frame.region == target.region)].iloc[0]
    logs = setup.fleet.client("logs", target.account_id, target.region)
    events = logs.filter_log_events(logGroupName=setup.group)["events"]
    assert [json.loads(e["message"])[logzio.MARKER_FIELD] for e in events] == [row["marker"]]


def test_wrong_fields_are_reported(setup: Any) -> None:
    account = setup.fleet.targets[0].account_id
    setup.script.handler = answer(setup.group, wrong_region=f"{account}-eu-west-1")
    frame = verify(setup.fleet, timeout_s=10, prepare=False, progress=False).frame
    bad = frame[~frame["fields_ok"].astype(bool)]
    assert list(zip(bad.account_id, bad.region, strict=True)) == [(account, "eu-west-1")]
    assert "region is 'us-west-2', expected 'eu-west-1'" in bad.iloc[0]["field_problems"]


def test_missing_path_is_diagnosed(setup: Any) -> None:
    target = setup.fleet.targets[-1]
    setup.script.handler = answer(setup.group, drop=f"{target.account_id}-{target.region}")
    result = verify(setup.fleet, timeout_s=1.5, prepare=False, progress=False)
    assert not result.ok
    missing = result.frame[result.frame.status == "missing"]
    assert list(zip(missing.account_id, missing.region, strict=True)) == [
        (target.account_id, target.region)
    ]
    assert "not found in Logz.io within 1.5 s" in missing.iloc[0]["detail"]
    # Plain moto has no destination here and the canary group has no filter of ours.
    diag = result.diagnosis
    assert set(diag.account_id) == {target.account_id}
    assert {"destination", "filter"} <= set(diag["hop"].astype(str))
    # Several searches, each asking only for what was still missing.
    assert len(setup.script.requests) >= 2 and len(asked(setup.script.requests[-1])) == 1


def test_auth_error_stops_the_run(setup: Any) -> None:
    setup.script.responses = [(401, {}, b"{}")]
    with pytest.raises(logzio.SearchAuthError, match="not the log shipping token"):
        verify(setup.fleet, timeout_s=5, prepare=False, progress=False)


def test_poll_backs_off_until_the_deadline(scripted: Any) -> None:
    """No real waiting: the clock and the wait are injected."""
    url, script = scripted
    script.responses = [(200, {}, b'{"hits":{"hits":[]}}')]
    now = [0.0]
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    c = canary_mod.Canary(Target("111111111111", "us-east-1"), "m", "/g", "s")
    c.sent_at = datetime.now(UTC)
    with logzio.SearchClient(url, "t") as search:
        last_error = canary_mod.poll(search, [c], deadline=10.0, clock=lambda: now[0], wait=wait)
    assert last_error == "" and c.status == "missing"
    assert waits[:3] == [0.5, 0.75, 1.125]
    assert sum(waits) == pytest.approx(10.0)
    assert len(script.requests) == len(waits) + 1


def test_poll_keeps_trying_through_server_errors(scripted: Any) -> None:
    url, script = scripted
    marker_hit = json.dumps({"hits": {"hits": [{"_source": {logzio.MARKER_FIELD: "m"}}]}})
    script.responses = [(500, {}, b"oops"), (200, {}, marker_hit.encode())]
    c = canary_mod.Canary(Target("111111111111", "us-east-1"), "m", "/g", "s")
    c.sent_at = datetime.now(UTC)
    no_retry = logzio.SearchClient(url, "t", retry=None)
    no_retry._session.adapters["http://"].max_retries.total = 0
    canary_mod.poll(no_retry, [c], deadline=1e12, wait=lambda s: None)
    assert c.status == "delivered"


def test_refused_subscription_becomes_the_setup_problem() -> None:
    """AccessDenied from PutSubscriptionFilter (Stubber: the exact AWS error shape; the local
    cloud test shows the same through a real policy)."""
    logs = boto3.client(
        "logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    arn = "arn:aws:logs:us-east-1:111111111111:destination:logzio-xacct-destination"
    pipeline = Pipeline(
        destinations={"us-east-1": FoundDestination("us-east-1", "d", arn, "stream-arn")}
    )
    c = canary_mod.Canary(Target("222222222222", "us-east-1"), "m", "/xaccount-ops/canary", "s")
    with Stubber(logs) as stub:
        stub.add_response("describe_subscription_filters", {"subscriptionFilters": []})
        stub.add_client_error(
            "put_subscription_filter",
            service_error_code="AccessDeniedException",
            service_message="User is not authorized to perform logs:PutSubscriptionFilter",
            expected_params={
                "logGroupName": "/xaccount-ops/canary",
                "filterName": filter_name("us-east-1"),
                "filterPattern": "",
                "destinationArn": arn,
            },
        )
        problem = canary_mod._ensure_filter(logs, c, pipeline)
    assert problem is not None
    hop, text, fix = problem
    assert hop == "destination policy"
    assert "222222222222" in text and "AccessDeniedException" in text
    assert "accounts add 222222222222" in fix


def test_cli_exit_codes(setup: Any, capsys: pytest.CaptureFixture[str]) -> None:
    setup.script.handler = answer(setup.group)
    code = main(
        [
            "--config",
            str(setup.path),
            "verify",
            "--timeout",
            "5",
            "--no-prepare",
            "--format",
            "json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert {r["status"] for r in json.loads(out)} == {"delivered"}
    assert "4 delivered, 0 missing, 0 error" in err

    target = setup.fleet.targets[0]
    setup.script.handler = answer(setup.group, drop=f"{target.account_id}-{target.region}")
    code = main(["--config", str(setup.path), "verify", "--timeout", "1", "--no-prepare"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "3 delivered, 1 missing" in err
    assert "Where the missing paths break" in err and target.account_id in err


def test_cli_health_and_window(setup: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(setup.path), "health", "--window", "30m", "--format", "csv"])
    out, err = capsys.readouterr()
    # No landing pipeline for this config's stack: the function and the stream are missing.
    assert code == 1
    assert "no shipper function found" in out and "fail" in err
    with pytest.raises(SystemExit):
        main(["--config", str(setup.path), "health", "--window", "soon"])
