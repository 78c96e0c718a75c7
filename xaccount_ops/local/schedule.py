"""EventBridge scheduled rules, run: moto stores ``rate(...)`` rules and their targets but never
fires them. This runner does, on the rule's schedule, and writes each firing's event to the
rule's CloudWatch Logs targets the way EventBridge does. Its minute clock also evaluates
CloudWatch alarms (``alarms.py``), as CloudWatch does once a minute.

What AWS does, and where it is recorded:

- The event of a scheduled rule (``tests/local_cloud/recorded/eventbridge_scheduled_event.json``,
  from LocalStack's ``tests/aws/services/events/test_events_schedule.snapshot.json``, recorded
  against AWS, validated 2024-05-15; and AWS's "Creating an Amazon EventBridge rule that runs on a schedule"):
  ``version`` ``"0"``, a UUID ``id``, ``detail-type`` ``"Scheduled Event"``, ``source``
  ``"aws.events"``, the rule's ``account`` and ``region``, ``time`` in seconds
  (``2015-10-08T16:53:06Z``), ``resources`` = the rule's ARN, ``detail`` ``{}``.
- A CloudWatch Logs target receives the whole event as one log event whose message is the
  event's JSON (LocalStack ``test_events_targets.snapshot.json``,
  ``test_put_events_with_target_cloudwatch_logs``, recorded 2024-11-07), in a log stream
  EventBridge creates.
- EventBridge may write to a log group only when the group's account has a CloudWatch Logs
  resource policy letting ``events.amazonaws.com`` call ``logs:CreateLogStream`` and
  ``logs:PutLogEvents`` on it (AWS knowledge center, "add a CloudWatch log group as a target to an
  EventBridge rule"); without one the invocation fails and nothing is written.
- A ``DISABLED`` rule does not fire. ``rate(N minute|minutes|hour|hours|day|days)`` only:
  ``cron(...)`` rules are left alone (nothing in this project schedules by cron).

What is assumed (``xaccount_ops/local/README.md``): the log stream is named after the event id;
the log event's timestamp is the event's ``time``; the first firing comes one period after the
rule is first seen (AWS: "within a minute" of creation, then every period).

``minute_s`` sets how long one schedule minute lasts here, so a test can run ``rate(1 minute)``
every half second without changing the rule AWS would see. ``admin`` serves it on the moto
port: ``GET /__local/schedule`` (the setting and the firing count), ``POST`` ``{"minute_s": s}``
(the next firings are counted from then).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

EVENTS_PRINCIPAL = "events.amazonaws.com"
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 1440}


def rate_minutes(expression: str | None) -> int | None:
    """Minutes between firings of ``rate(...)``; None for cron or no schedule."""
    match = _RATE.match((expression or "").strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_MINUTES[match.group(2).rstrip("s")]


def scheduled_event(account_id: str, region: str, rule_arn: str, at: datetime) -> dict[str, Any]:
    """The event EventBridge sends for one firing of a scheduled rule (key order as recorded)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def events_may_write(policies: list[str], log_group_arn: str) -> bool:
    """Whether any resource policy document lets EventBridge put log events into the group."""
    for text in policies:
        try:
            document = json.loads(text)
        except ValueError:
            continue
        for statement in _listed(document.get("Statement", [])):
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            principal = statement.get("Principal", {})
            services = _listed(principal.get("Service", [])) if isinstance(principal, dict) else []
            if principal != "*" and EVENTS_PRINCIPAL not in services:
                continue
            actions = [a.lower() for a in _listed(statement.get("Action", []))]
            if not any(fnmatch.fnmatchcase("logs:putlogevents", a) for a in actions):
                continue
            # "arn:...:log-group:/x:*" covers the group's streams; the group ARN alone too.
            for resource in _listed(statement.get("Resource", "*")):
                if fnmatch.fnmatchcase(f"{log_group_arn}:*", resource) or fnmatch.fnmatchcase(
                    log_group_arn, resource
                ):
                    return True
    return False


@dataclass
class Firing:
    """One firing of one rule: where its event went, and why a target got nothing."""

    account_id: str
    region: str
    rule: str
    event: dict[str, Any]
    delivered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class ScheduleRunner:
    """Fires moto's enabled ``rate(...)`` rules on their schedule (a daemon thread)."""

    def __init__(
        self,
        *,
        minute_s: float = 60.0,
        tick_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if minute_s <= 0:
            raise ValueError(f"minute_s must be positive seconds, got {minute_s!r}")
        self.minute_s = minute_s
        self.tick_s = tick_s if tick_s is not None else min(1.0, minute_s / 4)
        self._clock = clock
        self._due: dict[tuple[str, str, str], tuple[str, float]] = {}  # rule -> (schedule, due)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.firings: list[Firing] = []  # the newest firings, for tests and `local` status
        self.fired = 0
        self._lock = threading.Lock()

    def start(self) -> ScheduleRunner:
        self._thread = threading.Thread(target=self._run, name="eventbridge-schedule", daemon=True)
        self._thread.start()
        return self

    def set_minute(self, seconds: float) -> None:
        """Change how long a schedule minute lasts; every rule's period restarts now."""
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
            raise ValueError(f"minute_s must be a positive number of seconds, got {seconds!r}")
        self.minute_s = float(seconds)
        self.tick_s = min(1.0, self.minute_s / 4)
        self._due.clear()

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"minute_s": self.minute_s, "firings": self.fired, "rules": len(self._due)}

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        from xaccount_ops.local import alarms

        next_alarms = self._clock()
        while not self._stop.wait(self.tick_s):
            try:
                self.run_due()
            except Exception:  # a bad rule must not stop every other rule's heartbeat
                log.exception("eventbridge schedule: a tick failed")
            if self._clock() >= next_alarms:  # CloudWatch evaluates alarms once a minute
                next_alarms = self._clock() + self.minute_s
                alarms.evaluate_all()

    def run_due(self) -> list[Firing]:
        """Fire every rule whose time has come; the firings."""
        now = self._clock()
        fired: list[Firing] = []
        seen: set[tuple[str, str, str]] = set()
        for account_id, region, rule in _scheduled_rules():
            key = (account_id, region, rule.arn)
            seen.add(key)
            minutes = rate_minutes(rule.scheduled_expression)
            if minutes is None:
                continue
            period = minutes * self.minute_s
            schedule, due = self._due.get(key, (rule.scheduled_expression, now + period))
            if schedule != rule.scheduled_expression:  # a changed rate starts a new period
                schedule, due = rule.scheduled_expression, now + period
            if rule.state != "ENABLED":
                due = now + period  # a re-enabled rule fires one period after it is enabled
            elif now >= due:
                fired.append(self._fire(account_id, region, rule))
                due = due + period if due + period > now else now + period  # no catch-up burst
            self._due[key] = (schedule, due)
        for gone in set(self._due) - seen:  # deleted rules
            del self._due[gone]
        if fired:
            with self._lock:
                self.firings = (self.firings + fired)[-1000:]
                self.fired += len(fired)
        return fired

    def _fire(self, account_id: str, region: str, rule: Any) -> Firing:
        event = scheduled_event(account_id, region, rule.arn, datetime.now(UTC))
        firing = Firing(account_id, region, rule.name, event)
        for target in rule.targets:
            arn = str(target.get("Arn", ""))
            if ":logs:" not in arn or ":log-group:" not in arn:
                firing.failed[arn] = "only CloudWatch Logs targets are run by the local cloud"
                continue
            problem = _write_event(account_id, region, arn, event)
            if problem:
                firing.failed[arn] = problem
                log.info("eventbridge %s/%s %s: %s", account_id, region, rule.name, problem)
            else:
                firing.delivered.append(arn)
        return firing


ADMIN_PATH = "/__local/schedule"


def admin(app: Callable[..., Any], runner: ScheduleRunner) -> Callable[..., Any]:
    """``app`` (moto's WSGI app) with :data:`ADMIN_PATH` answered by ``runner``."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != ADMIN_PATH:
            return app(environ, start_response)
        status, body = "200 OK", runner.status()
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                spec = json.loads(environ["wsgi.input"].read(length) or b"null")
                runner.set_minute(spec.get("minute_s") if isinstance(spec, dict) else None)
                body = runner.status()
            except ValueError as err:
                status, body = "400 Bad Request", {"message": str(err)}
        data = json.dumps(body).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]

    return serve


def _scheduled_rules() -> list[tuple[str, str, Any]]:
    """(account, region, rule) of every rule with a schedule, in every moto backend made so far."""
    from moto.events.models import events_backends

    found = []
    for account_id, regions in list(dict.items(events_backends)):
        for region, backend in list(dict.items(regions)):
            for bus in list(backend.event_buses.values()):
                for rule in list(bus.rules.values()):
                    if rule.scheduled_expression:
                        found.append((account_id, region, rule))
    return found


def _write_event(account_id: str, region: str, target_arn: str, event: dict[str, Any]) -> str:
    """Put ``event`` in the target log group as EventBridge does; a reason when it cannot."""
    from moto.logs.models import logs_backends

    parts = target_arn.split(":")
    # arn:aws:logs:<region>:<account>:log-group:<name>[:*]
    group_region, group_account, group = parts[3], parts[4], parts[6]
    if (group_account, group_region) != (account_id, region):
        return f"{target_arn}: cross-account/region log group targets are not run locally"
    backend = logs_backends[account_id][region]
    if group not in backend.groups:
        return f"log group {group} does not exist"
    group_arn = f"arn:aws:logs:{region}:{account_id}:log-group:{group}"
    documents = [p.policy_document for p in backend.resource_policies.values()]
    if not events_may_write(documents, group_arn):
        return (
            f"no CloudWatch Logs resource policy lets {EVENTS_PRINCIPAL} "
            f"logs:PutLogEvents on {group}"
        )
    stamp = datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    backend.create_log_stream(group, event["id"])
    backend.put_log_events(
        group,
        event["id"],
        [{"timestamp": int(stamp.timestamp() * 1000), "message": json.dumps(event)}],
    )
    return ""
