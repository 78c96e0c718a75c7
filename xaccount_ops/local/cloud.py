"""LocalCloud: the whole pipeline's surroundings on loopback, in one process.

Starts moto in server mode with our extension (``moto_ext``) behind the pace middleware, the
Lambda event source mapping emulator, the EventBridge schedule runner (``schedule``: rate rules
fire, ``schedule_minute_s`` long minutes), and the Logz.io emulator; seeds an organization; writes a
config file pointing at itself, with the tokens in user-only files beside it. One cloud per data
directory (``lock``): starting a second one there raises :class:`AlreadyRunning` with the running
one's JSON line. HTTP access lines go to ``DIR/access.log`` (``echo_access_log`` also sends them to
the usual log handlers, for ``local up -v``).

>>> with LocalCloud(accounts=3, regions=("us-east-1", "eu-west-1")) as cloud:  # doctest: +SKIP
...     print(cloud.info()["aws_endpoint"])
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3

from xaccount_ops import aws, partitions
from xaccount_ops.local import seed
from xaccount_ops.local.lock import ACCESS_LOG_NAME, AlreadyRunning, DirLock

__all__ = ["AlreadyRunning", "LocalCloud"]

log = logging.getLogger(__name__)

MANAGEMENT_ACCOUNT = "123456789012"  # moto's default account: the organization's management account
RANDOM_SEED = 20261124  # deterministic account ids across runs
DEFAULT_REGIONS = ("us-east-1", "eu-west-1")
# moto_ext areas installed on their service's first request instead of at start (ready sooner).
DEFERRED_AREAS = ("cfn", "cfn_changesets")


class LocalCloud:
    """Context manager running the embedded local cloud. See the module docstring."""

    def __init__(
        self,
        *,
        accounts: int = 3,
        regions: Sequence[str] = DEFAULT_REGIONS,
        aws_port: int = 0,
        listener_port: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        config_out: str | os.PathLike[str] | None = None,
        latency_ms: int = 0,
        rate_limit: bool = False,
        seed_data: bool = True,
        host: str = "127.0.0.1",
        echo_access_log: bool = False,
        schedule_minute_s: float = 60.0,
    ) -> None:
        from xaccount_ops import validate

        self.regions = validate.region_list(list(regions), "--regions")
        self.account_count = accounts
        self.host = host
        self._aws_port = aws_port
        self._listener_port = listener_port
        self._own_data_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="xaccount-ops-local-")).resolve()
        self.config_path = Path(config_out or self.data_dir / "xaccount-ops.toml").resolve()
        self.latency_ms = latency_ms
        self.rate_limit = rate_limit
        self.seed_data = seed_data
        self.shipping_token = ""
        self.api_token = ""
        self.aws_endpoint = ""
        self.landing_account = ""
        self.sending_accounts: list[str] = []
        self.account_names: dict[str, str] = {}
        self.organization_id = ""
        self._server: Any = None
        self._server_thread: threading.Thread | None = None
        self._logzio: Any = None
        self._esm: Any = None
        if not schedule_minute_s > 0:
            raise ValueError(
                f"schedule minute must be a positive number of seconds, got {schedule_minute_s!r}"
            )
        self.schedule_minute_s = schedule_minute_s
        self.schedule: Any = None  # the EventBridge schedule runner (``firings`` for tests)
        self.pace: Any = None  # the pace middleware: ``pace.stats()`` counts calls and throttles
        self.echo_access_log = echo_access_log
        self._lock = DirLock(self.data_dir)
        self._access_handler: logging.Handler | None = None
        self._data_loader: Any = None  # shared by every boto3 session the cloud makes (seeding)

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalCloud:
        from moto.moto_api._internal import mock_random

        from xaccount_ops.local import moto_ext

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()  # raises AlreadyRunning: never two clouds on one SQLite file
        try:
            self._log_access()
            moto_ext.install(defer=DEFERRED_AREAS)  # CloudFormation's on its first request
            mock_random.seed(RANDOM_SEED)
            self._start_moto()
            self._start_logzio()
            from xaccount_ops.local.esm import EsmEmulator

            self._esm = EsmEmulator(
                aws_endpoint=self.aws_endpoint, work_dir=self.data_dir / "lambda"
            ).start()
            self._seed()
            self.write_config()
            self._lock.publish(self.info())
        except BaseException:
            self.stop()
            raise
        log.info("local cloud up: %s", self.aws_endpoint)
        return self

    def _log_access(self) -> None:
        """werkzeug logs one line per request (moto's and the emulator's servers) to its logger,
        and without a handler of its own that ends up on stderr: send it to a file instead."""
        handler = logging.FileHandler(self.data_dir / ACCESS_LOG_NAME)
        handler.setFormatter(logging.Formatter("%(message)s"))
        werkzeug = logging.getLogger("werkzeug")
        werkzeug.addHandler(handler)
        werkzeug.setLevel(logging.INFO)
        werkzeug.propagate = self.echo_access_log
        self._access_handler = handler

    def stop(self) -> None:
        """Stop taking work (the mapping pollers and function runtimes first), then the servers;
        release the data directory. Safe to call twice."""
        started = time.monotonic()
        if self.schedule is not None:
            self.schedule.stop()
            self.schedule = None
        if self._esm is not None:
            self._esm.stop()
            self._esm = None
            log.info("event source mappings stopped (%.2f s)", time.monotonic() - started)
        if self._logzio is not None:
            self._logzio.stop()
            self._logzio = None
            log.info("Logz.io emulator stopped (%.2f s)", time.monotonic() - started)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._server_thread:
                self._server_thread.join(timeout=10)
            self._server = None
            log.info("moto server stopped (%.2f s)", time.monotonic() - started)
        self._lock.release()
        if self._access_handler is not None:
            logging.getLogger("werkzeug").removeHandler(self._access_handler)
            self._access_handler.close()
            self._access_handler = None
        if self._own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _start_moto(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from xaccount_ops.local import moto_ext, schedule
        from xaccount_ops.local.dispatch import CachedDispatch
        from xaccount_ops.local.pace import Pace, wrap

        self.pace = Pace(latency_ms=self.latency_ms, rate_limit=self.rate_limit)
        self.schedule = schedule.ScheduleRunner(minute_s=self.schedule_minute_s).start()
        create_app = moto_ext.backend_app_factory(create_backend_app, DEFERRED_AREAS)
        dispatcher = CachedDispatch(DomainDispatcherApplication(create_app))
        app = schedule.admin(wrap(dispatcher, self.pace), self.schedule)
        self._server = make_server(
            self.host, self._aws_port, app, threaded=True, request_handler=MotoRequestHandler
        )
        port = self._server.server_address[1]
        self.aws_endpoint = f"http://{self.host}:{port}"
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, name="moto-server", daemon=True
        )
        self._server_thread.start()

    def _start_logzio(self) -> None:
        from xaccount_ops.local.logzio import LogzioEmulator

        tokens = self.data_dir / "tokens"
        tokens.mkdir(mode=0o700, exist_ok=True)
        self.shipping_token = _token_file(tokens / "shipping", "ship")
        self.api_token = _token_file(tokens / "api", "api")
        # moto keeps AWS in memory, so a new cloud starts with no stacks or log groups: its Logz.io
        # starts empty too, or searches would find lines of pipelines that no longer exist.
        for leftover in ("logzio.sqlite3", "logzio.sqlite3-wal", "logzio.sqlite3-shm"):
            (self.data_dir / leftover).unlink(missing_ok=True)
        self._logzio = LogzioEmulator(
            shipping_token=self.shipping_token,
            api_token=self.api_token,
            host=self.host,
            port=self._listener_port,
            db_path=self.data_dir / "logzio.sqlite3",
        ).start()

    # -- accounts ------------------------------------------------------------------------------

    def hub_session(self) -> boto3.Session:
        return self._boto_session(aws_access_key_id="testing", aws_secret_access_key="testing")

    def _boto_session(self, **credentials: str) -> boto3.Session:
        """A session with ``credentials`` sharing one botocore data loader: every new session
        would otherwise parse endpoints.json and each service model again (seconds at start-up
        for a few accounts)."""
        import botocore.session

        core = botocore.session.get_session()
        if self._data_loader is None:
            self._data_loader = core.get_component("data_loader")
        else:
            core.register_component("data_loader", self._data_loader)
        return boto3.Session(botocore_session=core, **credentials)

    def client(self, service: str, account_id: str, region: str) -> Any:
        """A client in ``account_id`` (assumed role from the management account)."""
        return aws.client(self.session(account_id), service, region, endpoint_url=self.aws_endpoint)

    def session(self, account_id: str) -> boto3.Session:
        if account_id == MANAGEMENT_ACCOUNT:
            return self.hub_session()
        sts = aws.client(self.hub_session(), "sts", self.regions[0], endpoint_url=self.aws_endpoint)
        creds = sts.assume_role(
            RoleArn=partitions.role_arn(
                partitions.partition_of(self.regions[0]), account_id, seed.ROLE_NAME
            ),
            RoleSessionName="local",
        )["Credentials"]
        return self._boto_session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )

    def _seed(self) -> None:
        organizations = aws.client(
            self.hub_session(), "organizations", "us-east-1", endpoint_url=self.aws_endpoint
        )
        self.organization_id, self.landing_account, self.sending_accounts, self.account_names = (
            seed.create_organization(organizations, self.account_count)
        )
        if not self.seed_data:
            return
        for index, account_id in enumerate(self.sending_accounts):
            session = self.session(account_id)

            def client(service: str, region: str, _session: boto3.Session = session) -> Any:
                return aws.client(_session, service, region, endpoint_url=self.aws_endpoint)

            for region in self.regions:
                seed.seed_account(client, region, index)
            if index == 0:
                seed.add_foreign_filters(client, self.regions[0], account_id)

    # -- what users see ------------------------------------------------------------------------

    @property
    def listener_url(self) -> str:
        return self._logzio.listener_url if self._logzio else ""

    @property
    def api_url(self) -> str:
        return self._logzio.api_url if self._logzio else ""

    @property
    def esm(self) -> Any:
        """The event source mapping emulator (``wait_idle`` lets the demo wait for delivery)."""
        return self._esm

    def info(self) -> dict[str, Any]:
        """The one JSON line ``xaccount-ops local up`` prints."""
        return {
            "aws_endpoint": self.aws_endpoint,
            "listener_url": self.listener_url,
            "api_url": self.api_url,
            "shipping_token": self.shipping_token,
            "api_token": self.api_token,
            "landing_account": self.landing_account,
            "sending_accounts": self.sending_accounts,
            "regions": list(self.regions),
            "organization_id": self.organization_id,
            "config": str(self.config_path),
        }

    def write_config(self) -> Path:
        """Write the config file pointing at this cloud (tokens by file reference only)."""
        accounts = ", ".join(json.dumps(a) for a in self.sending_accounts)
        regions = ", ".join(json.dumps(r) for r in self.regions)
        tokens = self.data_dir / "tokens"
        text = f"""# Written by `xaccount-ops local up`: the embedded local cloud on loopback.
# Tokens are local emulator tokens, kept in user-only files beside this one.

[landing]
account_id = "{self.landing_account}"
region = "{self.regions[0]}"
stack_name = "logzio-xacct"

[senders]
accounts = [{accounts}]
regions = [{regions}]
role_name = "{seed.ROLE_NAME}"

[logzio]
region = "us"
listener_url = "{self.listener_url}"
api_url = "{self.api_url}"
shipping_token = {{ file = {json.dumps(str(tokens / "shipping"))} }}
api_token = {{ file = {json.dumps(str(tokens / "api"))} }}

[aws]
endpoint_url = "{self.aws_endpoint}"
"""
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(text)
        return self.config_path


def _token_file(path: Path, prefix: str) -> str:
    """Reuse the token in ``path`` (so data survives restarts), or create one readable only by us."""
    if path.exists():
        return path.read_text().strip()
    token = f"local-{prefix}-{secrets.token_hex(12)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token
