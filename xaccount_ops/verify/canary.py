"""Canaries: prove that a log line written in each (account, region) reaches Logz.io.

For every target, a uniquely marked event is written into a log group the toolkit owns
(``[verify] canary_log_group``, 1-day retention), subscribed with our filter
``logzio-xacct-<region>`` to this region's destination. Then the Logz.io Search API is polled, with
backoff, until every marker is found or the deadline passes. Paths that did not deliver are
handed to :func:`xaccount_ops.verify.diagnose.diagnose`, which walks the pipeline to say where
it breaks.

``latency_s`` is end to end: from the PutLogEvents call to the first search that saw the line, so
it is an upper bound with the resolution of the polling interval.

>>> result = verify(fleet, timeout_s=300)  # doctest: +SKIP
>>> result.frame[["account_id", "region", "status", "latency_s"]]  # doctest: +SKIP
>>> result.diagnosis  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from xaccount_ops import aws, config
from xaccount_ops.fleet.accounts import Fleet, Target
from xaccount_ops.fleet.pipeline import Pipeline, sender_role_arn
from xaccount_ops.frames import Categories, dtypes
from xaccount_ops.logzio import MARKER_FIELD, SearchAuthError, SearchClient, SearchError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

CANARY_RETENTION_DAYS = 1
CANARY_TAGS = {"managed-by": "xaccount-ops", "purpose": "delivery-canary"}
# Polling the search API: start fast (the local cloud delivers in about a second), back off
# to spare the API's rate limit on long waits.
POLL_FIRST_S = 0.5
POLL_FACTOR = 1.5
POLL_MAX_S = 15.0

STATUSES = ("delivered", "missing", "error")
MAIN_ROUTE = "main"
RESULT_SCHEMA: dict[str, Any] = {
    "account_id": "string",
    "region": "string",
    "status": Categories(STATUSES),
    "latency_s": "Float64",
    "marker": "string",
    "sent_at": "datetime64[ns, UTC]",
    "owner": "string",
    "seen_region": "string",
    "log_group": "string",
    "fields_ok": "boolean",
    "field_problems": "string",
    "detail": "string",
    "route": "string",
}

AccessDeniedCodes = {"AccessDeniedException", "AccessDenied"}


@dataclass
class Canary:
    """One marked event and what became of it."""

    target: Target
    marker: str
    log_group: str
    log_stream: str
    sent_at: datetime | None = None
    status: str = "missing"
    found_at: datetime | None = None
    source: Mapping[str, Any] | None = None
    detail: str = ""
    # Set when preparing the path already showed where it breaks: (hop, problem, fix).
    setup_problem: tuple[str, str, str] | None = None
    route: str = MAIN_ROUTE  # the Logz.io (sub-)account its line goes to ([[logzio.routes]])

    @property
    def latency_s(self) -> float | None:
        if self.sent_at and self.found_at:
            return round((self.found_at - self.sent_at).total_seconds(), 3)
        return None


def new_run_id() -> str:
    # Lowercase only: an analysed field would hold it lowercased.
    return f"{datetime.now(UTC):%Y%m%dt%H%M%S}-{secrets.token_hex(4)}"


def marker_for(run_id: str, target: Target) -> str:
    """Unique per run and path; readable, so a person can search for it in Kibana."""
    return f"xacct-canary-{run_id}-{target.account_id}-{target.region}"


def canary_message(canary: Canary) -> str:
    """The canary event: a JSON object, so the shipper merges its fields at top level."""
    return json.dumps(
        {
            MARKER_FIELD: canary.marker,
            "message": f"xaccount-ops delivery canary {canary.marker}",
            "canary_sent_at": canary.sent_at.isoformat() if canary.sent_at else None,
        },
        separators=(",", ":"),
    )


# -- preparing and sending ------------------------------------------------------------------------


def prepare_and_send(
    fleet: Fleet, canary: Canary, pipeline: Pipeline, *, prepare: bool = True
) -> Canary:
    """Create and subscribe the canary group if ``prepare`` (and needed), then write the event.

    A subscription refused by the destination policy is recorded on the canary (the event is
    still written: it will be reported missing, with the reason).
    """
    target = canary.target
    logs = fleet.client("logs", target.account_id, target.region)
    if prepare:
        _ensure_group(logs, canary.log_group)
        canary.setup_problem = _ensure_filter(
            logs, canary, pipeline, _sender_role(fleet, canary, pipeline)
        )
    try:
        logs.create_log_stream(logGroupName=canary.log_group, logStreamName=canary.log_stream)
    except ClientError as err:
        if aws.error_code(err) != "ResourceAlreadyExistsException":
            raise
    canary.sent_at = datetime.now(UTC)
    logs.put_log_events(
        logGroupName=canary.log_group,
        logStreamName=canary.log_stream,
        logEvents=[
            {"timestamp": int(canary.sent_at.timestamp() * 1000), "message": canary_message(canary)}
        ],
    )
    log.info("canary %s written", canary.marker)
    return canary


def _ensure_group(logs: Any, name: str) -> None:
    try:
        logs.create_log_group(logGroupName=name, tags=CANARY_TAGS)
    except ClientError as err:
        if aws.error_code(err) != "ResourceAlreadyExistsException":
            raise
        return
    # Short retention: canaries are only useful for minutes.
    logs.put_retention_policy(logGroupName=name, retentionInDays=CANARY_RETENTION_DAYS)


def _sender_role(fleet: Fleet, canary: Canary, pipeline: Pipeline) -> str:
    """The role the canary's filter must name: an organization-wide destination refuses a
    filter from another account without one (``subscribe apply`` or cfn/sender.yaml makes it);
    "" when none is needed."""
    destination = pipeline.destinations.get(canary.target.region)
    account = canary.target.account_id
    if not getattr(destination, "grants_organization", False) or account == fleet.landing_account:
        return ""
    partition = destination.arn.split(":")[1]  # type: ignore[union-attr]
    return sender_role_arn(account, fleet.config.landing.stack_name, partition)


def _ensure_filter(
    logs: Any, canary: Canary, pipeline: Pipeline, role_arn: str = ""
) -> tuple[str, str, str] | None:
    """Our filter on the canary group, pointing at this region's destination (naming
    ``role_arn`` if given); or why not."""
    region = canary.target.region
    destination = pipeline.destinations.get(region)
    if destination is None:
        return None  # the diagnosis reports the missing destination
    extra = {"roleArn": role_arn} if role_arn else {}
    name = config.filter_name(region)
    filters = logs.describe_subscription_filters(logGroupName=canary.log_group).get(
        "subscriptionFilters", []
    )
    if any(f["filterName"] == name and f["destinationArn"] == destination.arn for f in filters):
        return None
    try:
        # An empty pattern: the canary must pass whatever pattern the real groups use.
        logs.put_subscription_filter(
            logGroupName=canary.log_group,
            filterName=name,
            filterPattern="",
            destinationArn=destination.arn,
            **extra,
        )
    except ClientError as err:
        code = aws.error_code(err)
        if code in AccessDeniedCodes:
            return (
                "destination policy",
                f"PutSubscriptionFilter to {destination.arn} was refused ({code}): the destination "
                f"policy does not allow account {canary.target.account_id}",
                f"add the account: `xaccount-ops accounts add {canary.target.account_id}`, "
                "then `xaccount-ops deploy`",
            )
        if code in ("LimitExceededException",):
            return (
                "filter",
                f"cannot add {name} to {canary.log_group}: both subscription filter slots are taken",
                f"remove a foreign filter from {canary.log_group}; it is the toolkit's own group",
            )
        raise
    log.info("subscribed %s in %s/%s", canary.log_group, canary.target.account_id, region)
    return None


# -- polling ----------------------------------------------------------------------------------


def poll(
    search: SearchClient,
    canaries: Sequence[Canary],
    *,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    wait: Callable[[float], Any] | None = None,
) -> str:
    """Search until every sent canary is found or ``deadline`` (a ``clock()`` value) passes.

    Marks found canaries delivered. Returns the last search error ("" if the last search worked),
    so the caller can tell "not found" from "could not look". Auth and plan errors are raised:
    no amount of waiting fixes them.
    """
    pending = {c.marker: c for c in canaries if c.sent_at is not None and c.status != "error"}
    wait = wait or threading.Event().wait
    interval = POLL_FIRST_S
    last_error = ""
    while pending:
        try:
            found = search.find_markers(pending)
            last_error = ""
        except SearchAuthError:
            raise
        except SearchError as err:
            found = {}
            last_error = str(err)
            log.warning("search failed, will retry until the deadline: %s", err)
        now = datetime.now(UTC)
        for marker, sources in found.items():
            canary = pending.pop(marker)
            canary.status = "delivered"
            canary.found_at = now
            canary.source = sources[0]
        remaining = deadline - clock()
        if not pending or remaining <= 0:
            break
        wait(min(interval, remaining))
        interval = min(interval * POLL_FACTOR, POLL_MAX_S)
    return last_error


# -- the checks on a delivered line -----------------------------------------------------------


def field_problems(canary: Canary) -> list[str]:
    """What is wrong with the delivered line's metadata (owner, region, logGroup, logStream)."""
    source = canary.source or {}
    expected = {
        "owner": canary.target.account_id,
        "region": canary.target.region,
        "logGroup": canary.log_group,
        "logStream": canary.log_stream,
    }
    problems = []
    for key, want in expected.items():
        got = source.get(key)
        if got is None:
            problems.append(f"{key} missing (expected {want})")
        elif str(got) != want:
            problems.append(f"{key} is {got!r}, expected {want!r}")
    return problems


def results_frame(canaries: Sequence[Canary]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for c in canaries:
        source = c.source or {}
        problems = field_problems(c) if c.status == "delivered" else []
        rows.append(
            {
                "account_id": c.target.account_id,
                "region": c.target.region,
                "status": c.status,
                "latency_s": c.latency_s,
                "marker": c.marker,
                "sent_at": c.sent_at,
                "owner": source.get("owner"),
                "seen_region": source.get("region"),
                "log_group": source.get("logGroup"),
                "fields_ok": (not problems) if c.status == "delivered" else None,
                "field_problems": "; ".join(problems),
                "detail": c.detail,
                "route": c.route,
            }
        )
    frame = pd.DataFrame(rows, columns=list(RESULT_SCHEMA))
    frame["sent_at"] = pd.to_datetime(frame["sent_at"], utc=True)
    return frame.astype(dtypes(RESULT_SCHEMA)).sort_values(
        ["account_id", "region"], ignore_index=True
    )


# -- the whole run ----------------------------------------------------------------------------
