"""The end-to-end scenario, one code path for real AWS (``make test-aws``) and the local cloud.

Given an xaccount-ops config (landing account + sending accounts; the scenario uses the first
sending account and the first region), it runs what a user runs, through the CLI:

1. ``deploy`` with an account list;
2. ``subscribe apply`` on two log groups of its own: one with ``emitSystemFields`` (the system
   fields arrive in ``extractedFields``), one without (the region comes from the filter name);
3. events into both, found in Logz.io with ``owner`` and ``region``;
4. ``verify`` (canaries through to Logz.io search);
5. a 401 outage (the shipper's token replaced with a wrong one): the batches land in the S3
   failure store; the token is restored and ``replay`` ships them; every event is in Logz.io
   exactly once, and a second ``replay --dry-run`` has nothing to send;
6. ``verify --reconcile`` (CloudWatch's counts against Logz.io's);
7. organization trust: ``deploy`` with ``organization = true`` (the destination policy grants
   the organization; every other account of it excluded), ``subscribe apply`` creates the sender
   role and names it on the filter, events arrive;
8. teardown, also when a step failed: the toolkit's filters (``subscribe remove --yes``), the
   sender role it created, the stacks (failure store emptied first), the log groups.

:func:`cost_estimate` says what the run costs before anything is created. Nothing here knows
whether it talks to AWS or the local cloud: the config decides.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xaccount_ops.cli import main as cli
from xaccount_ops.config import filter_name, load_config
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.landing import stack_names, stack_outputs
from xaccount_ops.logzio import SearchClient
from xaccount_ops.subscriptions import role as sender_role

log = logging.getLogger(__name__)

BAD_TOKEN = "xaccount-ops-scenario-wrong-token"
# The shipper spends its own retries fast, so a batch reaches the failure store in seconds.
SHIPPER_OUTAGE_ENV = {
    "LOGZIO_RETRY_ATTEMPTS": "2",
    "LOGZIO_RETRY_BASE_MS": "20",
    "LOGZIO_RETRY_MAX_MS": "50",
}
# Test-sized mapping retries (the stack's default is 10), on AWS as on the local cloud.
STACK_PARAMETERS = {"MaximumRetryAttempts": "1", "MaximumBatchingWindowInSeconds": "1"}
EXPECTED_MINUTES = 30  # a full run on AWS, stacks created and deleted


@dataclass
class Step:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class Report:
    """What the run did, step by step; printed at the end of ``make test-aws``."""

    cost: str
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def text(self) -> str:
        lines = [f"cost estimate: {self.cost}"]
        for s in self.steps:
            mark = "ok  " if s.ok else "FAIL"
            lines.append(f"{mark} {s.name:<46} {s.seconds:7.1f} s  {s.detail}".rstrip())
        lines.append("result: " + ("every step passed" if self.ok else "FAILED"))
        return "\n".join(lines)


@dataclass
class Timing:
    """Deadlines (seconds). AWS needs minutes where the local cloud needs seconds."""

    delivery: float = 600.0
    store: float = 900.0
    verify: int = 600
    poll: float = 5.0


def cost_estimate(prices_file: Path | None = None) -> str:
    """The run's cost from the dated price table (``xaccount_ops/data/prices.toml``): one
    on-demand Kinesis stream for :data:`EXPECTED_MINUTES`; the rest (a few Lambda invocations,
    KB of logs, S3/SQS requests) is below a cent."""
    path = prices_file or Path(__file__).resolve().parents[2] / "xaccount_ops/data/prices.toml"
    prices = tomllib.loads(path.read_text())
    stream = prices["kinesis"]["on_demand_stream_hour"] * EXPECTED_MINUTES / 60
    return (
        f"about ${stream + 0.01:.2f} ({EXPECTED_MINUTES} min of one on-demand Kinesis stream at "
        f"${prices['kinesis']['on_demand_stream_hour']}/h, plus < $0.01 of Lambda, Logs, S3 "
        f"and SQS; us-east-1 list prices as of {prices['as_of']})"
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_toml(path: Path, doc: dict[str, Any]) -> Path:
    """A config file from a dict of tables (what tomllib reads back)."""
    lines = []
    for table, values in doc.items():
        simple = {k: v for k, v in values.items() if not _is_table(v)}
        lines.append(f"[{table}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in simple.items()]
        for key, sub in values.items():
            if _is_table(sub):
                lines.append(f"\n[{table}.{key}]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in sub.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def _is_table(value: Any) -> bool:
    # Token references ({ env = ... } / { file = ... }) stay inline; other dicts are tables.
    return isinstance(value, dict) and not ({"env", "file", "secret", "ssm"} & set(value))


class Scenario:
    """One run over the config at ``config_path`` (see the module doc)."""

    def __init__(self, config_path: Path, work_dir: Path, timing: Timing | None = None) -> None:
        self.base = tomllib.loads(Path(config_path).read_text())
        base_dir = Path(config_path).resolve().parent
        # Token files are relative to the config's directory: make them absolute.
        for table in self.base.values():
            for value in table.values():
                if isinstance(value, dict) and "file" in value:
                    value["file"] = str((base_dir / value["file"]).resolve())
        self.work = Path(work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.timing = timing or Timing()
        self.run_id = uuid.uuid4().hex[:8]
        self.prefix = f"/xaccount-ops-scenario/{self.run_id}"
        self.groups = {"with": f"{self.prefix}/with-fields", "without": f"{self.prefix}/plain"}
        self.report = Report(cost=cost_estimate())
        self.created_role = False
        self.paths: dict[str, Path] = {}
        self._fleets: dict[str, Fleet] = {}

    # -- configs ----------------------------------------------------------------------------

    def config(self, name: str, **tables: dict[str, Any]) -> Path:
        """A config of this run: the base one, narrowed to one sending account and region."""
        doc = json.loads(json.dumps(self.base))
        senders = doc.setdefault("senders", {})
        account = self.sender
        senders.pop("organization", None)
        senders.pop("exclude", None)
        senders["accounts"] = [account]
        senders["regions"] = [self.region]
        stack = doc.setdefault("stack", {})
        stack.setdefault("parameters", {}).update(STACK_PARAMETERS)
        doc.setdefault("verify", {})["canary_log_group"] = f"{self.prefix}/canary"
        doc["verify"]["timeout_s"] = self.timing.verify
        for table, values in tables.items():
            doc.setdefault(table, {}).update(values)
        path = write_toml(self.work / f"{name}.toml", doc)
        self.paths[name] = path
        self._fleets.pop(name, None)
        return path

    @property
    def sender(self) -> str:
        senders = self.base.get("senders", {})
        accounts = senders.get("accounts") or []
        if not accounts:
            raise ValueError(
                "the scenario needs senders.accounts with at least one sending account "
                "(it uses the first); organization trust is tested with organization = true "
                "on a copy"
            )
        return str(accounts[0]).strip('"')

    @property
    def region(self) -> str:
        return str((self.base.get("senders", {}).get("regions") or [self.landing_region])[0])

    @property
    def landing_region(self) -> str:
        return str(self.base["landing"]["region"])

    def fleet(self, name: str = "with") -> Fleet:
        """The fleet of one of this run's configs (made once: sessions and clients are reused)."""
        if name not in self._fleets:
            self._fleets[name] = Fleet.from_config(load_config(self.paths[name]))
        return self._fleets[name]

    # -- running ----------------------------------------------------------------------------

    def run(self) -> Report:
        log.info("scenario %s: %s", self.run_id, self.report.cost)
        self.config("with", subscriptions={"include": [self.groups["with"]]})
        self.config(
            "without",
            subscriptions={"include": [self.groups["without"]], "emit_system_fields": False},
        )
        try:
            for name, action in self.plan():
                if not self.step(name, action):
                    break
        finally:
            self.step("teardown (filters, role, stacks, log groups)", self.teardown)
        return self.report

    def plan(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("deploy (account list)", lambda: self.cli("with", "deploy")),
            ("subscribe with and without system fields", self.subscribe),
            ("events arrive with owner and region", self.events),
            ("verify (canaries)", lambda: self.cli("with", "verify")),
            ("401 outage -> failure store", self.outage),
            ("replay exactly once", self.replay),
            ("verify --reconcile", self.reconcile),
            ("organization trust: deploy, sender role, events", self.organization),
        ]

    def step(self, name: str, action: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            detail = action() or ""
            ok = True
        except Exception as err:  # a failed step is reported, then teardown runs
            log.exception("scenario step %r failed", name)
            detail, ok = f"{type(err).__name__}: {err}", False
        self.report.steps.append(Step(name, ok, time.monotonic() - started, detail))
        return ok

    def cli(self, config: str, *args: str) -> str:
        code = cli(["--config", str(self.paths[config]), *args])
        if code != 0:
            raise AssertionError(f"`xaccount-ops {' '.join(args)}` exited {code}")
        return f"`{' '.join(args)}` exit 0"

    # -- the steps --------------------------------------------------------------------------

    def logs(self, fleet: Fleet) -> Any:
        return fleet.client("logs", self.sender, self.region)

    def subscribe(self) -> str:
        fleet = self.fleet()
        for group in self.groups.values():
            with contextlib.suppress(Exception):  # a re-run may find it
                self.logs(fleet).create_log_group(logGroupName=group)
            self.logs(fleet).create_log_stream(logGroupName=group, logStreamName="s")
        self.cli("with", "subscribe", "apply", "--no-progress")
        self.cli("without", "subscribe", "apply", "--no-progress")
        filters = {
            kind: self.logs(fleet).describe_subscription_filters(logGroupName=group)[
                "subscriptionFilters"
            ]
            for kind, group in self.groups.items()
        }
        (with_fields,) = filters["with"]
        (plain,) = filters["without"]
        assert with_fields.get("emitSystemFields") == ["@aws.account", "@aws.region"], with_fields
        assert not plain.get("emitSystemFields"), plain
        assert plain["filterName"] == filter_name(self.region)
        return "one filter each, emitSystemFields on the first only"

    def put(self, group: str, label: str, count: int) -> list[str]:
        logs = self.logs(self.fleet())
        now = int(time.time() * 1000)
        messages = [
            json.dumps({"scenario": self.run_id, "label": label, "n": i}) for i in range(count)
        ]
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)],
        )
        return messages

    def lines(self, group: str, label: str) -> list[dict[str, Any]]:
        search = SearchClient.from_config(self.fleet().config)
        try:
            body = {
                "query": {
                    "bool": {
                        "filter": [
                            {"term": {"logGroup.keyword": group}},
                            {"term": {"label.keyword": label}},
                        ]
                    }
                },
                "size": 1000,
                "_source": ["id", "owner", "region", "label", "n"],
            }
            return search.hits(body)
        finally:
            search.close()

    def wait_lines(self, group: str, label: str, count: int, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            found = self.lines(group, label)
            if len(found) >= count:
                return found
            time.sleep(self.timing.poll)
        raise AssertionError(f"{len(found)} of {count} {label!r} lines of {group} in Logz.io")

    def events(self) -> str:
        for group in self.groups.values():
            self.put(group, "live", 5)
        for kind, group in self.groups.items():
            found = self.wait_lines(group, "live", 5, self.timing.delivery)
            owners = {(line.get("owner"), line.get("region")) for line in found}
            assert owners == {(self.sender, self.region)}, (kind, owners)
        return "5 + 5 lines, owner and region on every one"

    def outage(self) -> str:
        fleet = self.fleet()
        function = stack_outputs(fleet)[self.landing_region].function_name
        lam = fleet.landing_client("lambda")
        original = lam.get_function_configuration(FunctionName=function)["Environment"]
        variables = dict(original["Variables"])
        broken = {**variables, **SHIPPER_OUTAGE_ENV, "LOGZIO_TOKEN": BAD_TOKEN}
        broken.pop("LOGZIO_TOKEN_SECRET", None)
        lam.update_function_configuration(FunctionName=function, Environment={"Variables": broken})
        try:
            _wait_updated(lam, function)
            self.put(self.groups["with"], "outage", 10)
            deadline = time.monotonic() + self.timing.store
            while time.monotonic() < deadline and self.stored("outage") < 10:
                time.sleep(self.timing.poll)
            stored = self.stored("outage")
        finally:
            lam.update_function_configuration(
                FunctionName=function, Environment={"Variables": variables}
            )
            _wait_updated(lam, function)
        assert stored >= 10, f"{stored} of 10 outage events in the failure store"
        assert self.lines(self.groups["with"], "outage") == []
        return f"{stored} events in the failure store, none in Logz.io"

    def stored(self, label: str) -> int:
        from xaccount_ops.delivery import replay

        batches = replay.load_store(self.fleet())
        return sum(
            1
            for b in batches
            for r in b.records
            if r.log_group == self.groups["with"]
            for e in r.events
            if f'"label": "{label}"' in str(e.get("message", ""))
        )

    def replay(self) -> str:
        self.cli("with", "replay")
        found = self.wait_lines(self.groups["with"], "outage", 10, self.timing.delivery)
        ids = [str(line["id"]) for line in found]
        assert len(ids) == len(set(ids)) == 10, f"outage lines: {len(ids)}, ids {len(set(ids))}"
        self.cli("with", "replay", "--dry-run")
        return "10 outage events shipped once; a second replay has nothing to send"

    def reconcile(self) -> str:
        return self.cli("with", "verify", "--reconcile", "--window", "1h")

    def organization(self) -> str:
        fleet = self.fleet()
        orgs = fleet.hub_session.client(
            "organizations",
            region_name=self.landing_region,
            endpoint_url=fleet.config.aws.endpoint_url,
        )
        members = [
            a["Id"]
            for page in orgs.get_paginator("list_accounts").paginate()
            for a in page["Accounts"]
        ]
        assert self.sender in members, f"{self.sender} is not in the hub's organization"
        path = self.config("org", subscriptions={"include": [self.groups["with"]]})
        doc = tomllib.loads(path.read_text())
        doc["senders"].pop("accounts")
        doc["senders"]["organization"] = True
        doc["senders"]["exclude"] = [m for m in members if m != self.sender]
        write_toml(path, doc)
        org_fleet = self.fleet("org")
        stack = org_fleet.config.landing.stack_name
        role = sender_role.role_arn(self.sender, stack)
        iam = org_fleet.client("iam", self.sender, self.region)
        existed = sender_role.role_exists(iam, sender_role.role_name(stack))
        self.cli("org", "deploy")
        self.cli("org", "subscribe", "apply", "--no-progress")
        # Teardown deletes the role only if this run made it (one of cfn/sender.yaml stays).
        self.created_role = not existed and sender_role.role_exists(
            iam, sender_role.role_name(stack)
        )
        (flt,) = self.logs(org_fleet).describe_subscription_filters(
            logGroupName=self.groups["with"]
        )["subscriptionFilters"]
        assert flt.get("roleArn") == role, flt
        self.put(self.groups["with"], "org", 5)
        self.wait_lines(self.groups["with"], "org", 5, self.timing.delivery)
        return f"filter names {role}; 5 events arrived"

    # -- teardown ---------------------------------------------------------------------------

    def teardown(self) -> str:
        done: list[str] = []
        problems: list[str] = []
        for name in ("org", "without", "with"):
            if name in self.paths:
                with _noted(problems, f"subscribe remove ({name})"):
                    self.cli(name, "subscribe", "remove", "--yes", "--no-progress")
        fleet = self.fleet()
        stack = fleet.config.landing.stack_name
        if self.created_role:
            with _noted(problems, "sender role"):
                iam = fleet.client("iam", self.sender, self.region)
                name = sender_role.role_name(stack)
                iam.delete_role_policy(RoleName=name, PolicyName=sender_role.POLICY_NAME)
                iam.delete_role(RoleName=name)
                done.append(f"role {name}")
        with _noted(problems, "failure store"):
            self.empty_failure_store(fleet)
        # Destination stacks first: they use the main stack's outputs.
        for region, name in reversed(list(stack_names(fleet).items())):
            with _noted(problems, f"stack {name}"):
                cfn = fleet.landing_client("cloudformation", region)
                cfn.delete_stack(StackName=name)
                cfn.get_waiter("stack_delete_complete").wait(
                    StackName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 180}
                )
                done.append(f"stack {name}")
        logs = self.logs(fleet)
        for group in [*self.groups.values(), f"{self.prefix}/canary"]:
            with (
                _noted(problems, f"log group {group}"),
                contextlib.suppress(logs.exceptions.ResourceNotFoundException),
            ):
                logs.delete_log_group(logGroupName=group)
        done.append("log groups")
        if problems:
            raise AssertionError("teardown left: " + "; ".join(problems))
        return ", ".join(done)

    def empty_failure_store(self, fleet: Fleet) -> None:
        cfn = fleet.landing_client("cloudformation")
        name = stack_names(fleet)[self.landing_region]
        try:
            stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        except Exception:
            return  # never deployed
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        bucket = outputs.get("FailureStoreBucket")
        if not bucket:
            return
        s3 = fleet.landing_client("s3")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])


@contextlib.contextmanager
def _noted(problems: list[str], what: str) -> Iterator[None]:
    """Teardown goes on after a failure; what failed is reported at the end."""
    try:
        yield
    except Exception as err:
        log.warning("teardown of %s failed: %s", what, err)
        problems.append(f"{what}: {type(err).__name__}: {err}")


def _wait_updated(lam: Any, function: str, timeout: float = 120.0) -> None:
    """AWS applies a configuration update asynchronously (LastUpdateStatus InProgress)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = lam.get_function_configuration(FunctionName=function).get("LastUpdateStatus")
        if status in (None, "Successful"):
            return
        if status == "Failed":
            raise AssertionError(f"updating {function} failed")
        time.sleep(1.0)
    raise AssertionError(f"{function} still updating after {timeout:.0f} s")
