"""The fleet: which (account, region) pairs we work on, each account's credentials and clients,
and a fan-out helper.

Credentials come from, in order of preference for each account: a named profile listed in
``[senders.profiles]``; the hub credentials themselves when the account *is* the hub; otherwise
an assumed role (``senders.role_name``) from the hub, refreshed before it expires. The sending
accounts are the configured list, or the ACTIVE accounts of the AWS Organization, minus
``senders.exclude``. An account's client is a view of the fleet's one botocore client per
(service, region) (``fleet.clients``): a thousand accounts cost no more clients than one.

>>> fleet = Fleet.from_config(load_config())  # doctest: +SKIP
>>> result = fan_out(lambda t: fleet.client("logs", t.account_id, t.region).describe_log_groups(),
...                  fleet.targets)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from botocore.config import Config as BotocoreConfig
from botocore.credentials import DeferredRefreshableCredentials

from xaccount_ops import aws, partitions
from xaccount_ops.config import Config
from xaccount_ops.errors import TargetError
from xaccount_ops.fleet import clients
from xaccount_ops.fleet.clients import AccountClient
from xaccount_ops.frames import frame_with

if TYPE_CHECKING:
    import boto3
    import pandas as pd

log = logging.getLogger(__name__)

T = TypeVar("T")

ROLE_SESSION_NAME = "xaccount-ops"
ROLE_DURATION_S = 3600
# Used only against the local cloud, which accepts any credentials.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

ERROR_COLUMNS = {
    "account_id": "string",
    "region": "string",
    "error_code": "string",
    "message": "string",
    "hint": "string",
}

# What to do about the errors a target commonly fails with.
HINTS = {
    "AccessDenied": "the role or profile for this account lacks permission; see README 'IAM permissions'",
    "AccessDeniedException": "the role or profile for this account lacks permission; see README 'IAM permissions'",
    "UnrecognizedClientException": "the region may not be enabled in this account (opt-in region), or the credentials are invalid",
    "InvalidClientTokenId": "the region may not be enabled in this account (opt-in region), or the credentials are invalid",
    "ExpiredToken": "the hub credentials expired; log in again (aws sso login) and re-run",
    "ThrottlingException": "throttled past the retry budget; lower aws.max_workers or raise aws.max_attempts",
    "Throttling": "throttled past the retry budget; lower aws.max_workers or raise aws.max_attempts",
    "NoSuchRole": "create the role in this account or set senders.role_name / senders.profiles",
}


@dataclass(frozen=True, order=True)
class Target:
    """One (account, region) pair the toolkit works on."""

    account_id: str
    region: str
    account_name: str | None = field(default=None, compare=False)


@dataclass
class FanOutResult(Generic[T]):
    """What :func:`fan_out` returns: a value per target that worked, an error row per target that didn't."""

    values: dict[Target, T]
    errors: pd.DataFrame

    @property
    def ok(self) -> bool:
        return self.errors.empty


def normalise_accounts(ids: Iterable[str]) -> tuple[str, ...]:
    """Account ids sorted and de-duplicated: how every account list is written to a stack, so
    that adding and removing accounts in any order never shows as a change."""
    return tuple(sorted({str(i).strip() for i in ids if str(i).strip()}))


def errors_frame(rows: Iterable[dict[str, Any]] = ()) -> pd.DataFrame:
    """An errors DataFrame with the standard columns (also when empty)."""
    return frame_with(ERROR_COLUMNS, rows)


def all_errors(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The rows of several errors frames as one (an empty errors frame when none has rows)."""
    import pandas as pd

    found = [frame for frame in frames if not frame.empty]
    return pd.concat(found, ignore_index=True) if found else errors_frame()


def error_row(target: Target, error: BaseException) -> dict[str, str]:
    code = aws.error_code(error)
    return {
        "account_id": target.account_id,
        "region": target.region,
        "error_code": code,
        "message": str(error),
        "hint": HINTS.get(code, ""),
    }


def fan_out(
    fn: Callable[[Target], T],
    targets: Sequence[Target],
    *,
    max_workers: int = 16,
    desc: str = "",
    progress: bool | None = None,
) -> FanOutResult[T]:
    """Run ``fn`` over ``targets`` with bounded concurrency; collect per-target errors.

    A target that raises is reported in ``errors`` (with a hint where one is known), never fatal to
    the others, except an unreachable endpoint: every target would wait for it in turn, so the
    fan-out cancels what has not started and raises :class:`EndpointUnreachable` at once.
    ``progress=None`` shows a bar only on a terminal or in a notebook (tqdm.auto).
    """
    from tqdm.auto import tqdm

    values: dict[Target, T] = {}
    errors: list[dict[str, str]] = []
    workers = max(1, min(max_workers, len(targets) or 1))
    disable = None if progress is None else not progress
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xacct")
    stopped = False
    try:
        with tqdm(total=len(targets), desc=desc or None, disable=disable, unit="target") as bar:
            futures = {pool.submit(fn, target): target for target in targets}
            for future in as_completed(futures):
                target = futures[future]
                try:
                    values[target] = future.result()
                except Exception as err:  # reported per target, by design
                    if (down := aws.unreachable(err)) is not None:
                        stopped = True
                        raise down from err
                    log.warning("%s/%s failed: %s", target.account_id, target.region, err)
                    errors.append(error_row(target, err))
                bar.update(1)
    finally:
        # Stopped: drop what has not started and do not wait for what runs (it fails fast too).
        pool.shutdown(wait=not stopped, cancel_futures=stopped)
    ordered = {t: values[t] for t in sorted(values)}
    frame = errors_frame(sorted(errors, key=lambda r: (r["account_id"], r["region"])))
    return FanOutResult(values=ordered, errors=frame)


class Fleet:
    """Sessions and clients for the landing account and every sending (account, region) target."""

    def __init__(
        self,
        config: Config,
        accounts: Sequence[str],
        *,
        hub_session: boto3.Session | None = None,
        account_names: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.accounts = tuple(accounts)
        self.account_names = dict(account_names or {})
        self._hub = hub_session or self._hub_session(config)
        self._lock = threading.RLock()
        self._sessions: dict[str, boto3.Session] = {}
        self._credentials: dict[str, Any] = {}
        self._clients: dict[tuple[str, str, str], AccountClient] = {}
        self._hub_clients: dict[tuple[str, str], Any] = {}
        self._key_locks: dict[tuple[str, ...], threading.Lock] = {}
        self._hub_account: str | None = None
        self._botocore_config = aws.botocore_config(
            config.aws.max_attempts, max_pool_connections=max(10, config.aws.max_workers * 2)
        )
        self._retries = clients.retry_settings(self._botocore_config)
        self._shared = clients.SharedClients(self._shared_client)

    @classmethod
    def from_config(cls, config: Config, *, hub_session: boto3.Session | None = None) -> Fleet:
        """Resolve the sending accounts (list or Organizations) and build the fleet."""
        fleet = cls(config, (), hub_session=hub_session)
        senders = config.senders
        if senders.organization:
            names = fleet.organization_accounts()
            fleet.account_names = names
            accounts = [a for a in names if a not in senders.exclude]
        else:
            accounts = [a for a in senders.accounts if a not in senders.exclude]
        fleet.accounts = tuple(accounts)
        return fleet

    @staticmethod
    def _hub_session(config: Config) -> boto3.Session:
        if config.aws.profile:
            return aws.session(profile_name=config.aws.profile)
        if config.is_local:
            return aws.session(**LOCAL_CREDENTIALS)
        return aws.session()

    # -- targets -----------------------------------------------------------------------------

    @property
    def regions(self) -> tuple[str, ...]:
        return self.config.senders.regions

    @property
    def targets(self) -> list[Target]:
        """Every (sending account, region) pair, sorted."""
        return [
            Target(account, region, self.account_names.get(account))
            for account in sorted(self.accounts)
            for region in self.regions
        ]

    @property
    def landing_account(self) -> str:
        return self.config.landing.account_id

    @property
    def landing_region(self) -> str:
        return self.config.landing.region

    def organization_accounts(self) -> dict[str, str]:
        """ACTIVE accounts of the hub's organization: ``{account_id: name}``."""
        client = self._hub_client("organizations", self.landing_region)
        names: dict[str, str] = {}
        for page in client.get_paginator("list_accounts").paginate():
            for account in page["Accounts"]:
                if account.get("Status", "ACTIVE") == "ACTIVE":
                    names[account["Id"]] = account.get("Name", "")
        return dict(sorted(names.items()))

    # -- sessions and clients ------------------------------------------------------------------

    @property
    def hub_session(self) -> boto3.Session:
        return self._hub

    def hub_account(self) -> str:
        """The account the hub credentials belong to (one STS call, cached)."""
        if self._hub_account is None:
            sts = self._hub_client("sts", self.landing_region)
            self._hub_account = sts.get_caller_identity()["Account"]
        return self._hub_account

    def session(self, account_id: str) -> boto3.Session:
        """A boto3 session for ``account_id`` (cached): its profile's, the hub's, or one over the
        assumed role's credentials (they refresh themselves). :meth:`client` needs none."""
        with self._key_lock(("session", account_id)):
            if account_id not in self._sessions:
                profile = self._profile(account_id)
                if profile:
                    self._sessions[account_id] = aws.session(profile_name=profile)
                elif self._is_hub(account_id):
                    self._sessions[account_id] = self._hub
                else:
                    core = aws.botocore_session()
                    core._credentials = self.credentials(account_id)
                    self._sessions[account_id] = aws.session(core)
            return self._sessions[account_id]

    def credentials(self, account_id: str) -> Any:
        """The botocore credentials the fleet signs ``account_id``'s calls with (cached)."""
        found = self._credentials.get(account_id)
        if found is not None:
            return found
        with self._key_lock(("credentials", account_id)):
            if account_id not in self._credentials:
                if self._profile(account_id):
                    made = self.session(account_id).get_credentials()
                elif self._is_hub(account_id):
                    made = self._hub.get_credentials()
                else:
                    made = self._assumed_credentials(account_id, self.role_arn(account_id))
                self._credentials[account_id] = made
            return self._credentials[account_id]

    def _key_lock(self, key: tuple[str, ...]) -> threading.Lock:
        """One lock per credentials or session: making one never waits for the making of
        another (thousands of accounts would otherwise assume their roles one at a time)."""
        with self._lock:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = self._key_locks[key] = threading.Lock()
            return lock

    def client(self, service: str, account_id: str, region: str) -> AccountClient:
        """``account_id``'s client for ``service`` in ``region`` (cached, thread-safe): a view of
        the fleet's one client per (service, region), signing with the account's credentials and
        retrying on its own (see :mod:`xaccount_ops.fleet.clients`)."""
        key = (service, account_id, region)
        found = self._clients.get(key)
        if found is not None:
            return found
        shared = self._shared.get(service, region)
        credentials = self.credentials(account_id)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = AccountClient(shared, credentials, self._retries)
            return self._clients[key]

    def _shared_client(self, service: str, region: str) -> Any:
        """A client for every account's calls to ``service`` in ``region`` (see ``clients``)."""
        core = aws.botocore_session()
        core._credentials = clients.unbound_credentials()
        return aws.client(
            aws.session(core),
            service,
            region,
            endpoint_url=self.config.aws.endpoint_url,
            config=self._botocore_config.merge(BotocoreConfig(retries=clients.SHARED_RETRIES)),
        )

    def landing_client(self, service: str, region: str | None = None) -> Any:
        """A client in the landing account (default: the landing region)."""
        return self.client(service, self.landing_account, region or self.landing_region)

    def _hub_client(self, service: str, region: str) -> Any:
        """A client of the hub credentials, made once per (service, region): every assumed
        role's session refreshes through the one STS client (a client per account cost ~2 ms
        of CPU each, and 1,000 accounts are 1,000 of them)."""
        key = (service, region)
        with self._lock:
            client = self._hub_clients.get(key)
            if client is None:
                client = self._hub_clients[key] = aws.client(
                    self._hub,
                    service,
                    region,
                    endpoint_url=self.config.aws.endpoint_url,
                    config=self._botocore_config,
                )
            return client

    def role_arn(self, account_id: str) -> str:
        landing = self.config.landing
        if account_id == landing.account_id and landing.role_arn:
            return landing.role_arn
        return partitions.role_arn(self.config.partition, account_id, self.config.senders.role_name)

    def _profile(self, account_id: str) -> str | None:
        landing = self.config.landing
        if account_id == landing.account_id and landing.profile:
            return landing.profile
        return self.config.senders.profiles.get(account_id)

    def _is_hub(self, account_id: str) -> bool:
        """The hub's own credentials serve ``account_id`` (no role to assume)."""
        landing = self.config.landing
        explicit_role = account_id == landing.account_id and landing.role_arn
        return not explicit_role and account_id == self.hub_account()

    def _assumed_credentials(self, account_id: str, role_arn: str) -> Any:
        sts = self._hub_client("sts", self.landing_region)

        def refresh() -> dict[str, str]:
            try:
                response = sts.assume_role(
                    RoleArn=role_arn,
                    RoleSessionName=ROLE_SESSION_NAME,
                    DurationSeconds=ROLE_DURATION_S,
                )
            except Exception as err:
                aws.raise_if_unreachable(err)
                raise TargetError(
                    f"cannot assume {role_arn}: {aws.error_code(err)}; check the role exists in "
                    f"account {account_id} and trusts the hub account",
                    account_id=account_id,
                    resource=role_arn,
                ) from err
            creds = response["Credentials"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": creds["Expiration"].isoformat(),
            }

        # Deferred: the first call signed with them assumes the role, so a target that cannot
        # be reached fails inside fan_out and is reported per target.
        return DeferredRefreshableCredentials(refresh_using=refresh, method="sts-assume-role")

    def targets_frame(self) -> pd.DataFrame:
        """The targets as a DataFrame (account_id, account_name, region)."""
        rows = [
            {"account_id": t.account_id, "account_name": t.account_name or "", "region": t.region}
            for t in self.targets
        ]
        return frame_with(dict.fromkeys(("account_id", "account_name", "region"), "string"), rows)


def who_am_i(fleet: Fleet, *, progress: bool | None = None) -> pd.DataFrame:
    """The identity each target's credentials resolve to: a credentials check for every account."""

    def identity(target: Target) -> str:
        return fleet.client("sts", target.account_id, target.region).get_caller_identity()["Arn"]

    result = fan_out(
        identity,
        fleet.targets,
        max_workers=fleet.config.aws.max_workers,
        desc="who am I",
        progress=progress,
    )
    rows = [
        {"account_id": t.account_id, "region": t.region, "status": "ok", "identity": arn}
        for t, arn in result.values.items()
    ] + [
        {
            "account_id": e.account_id,
            "region": e.region,
            "status": "error",
            "identity": f"{e.error_code}: {e.hint or e.message}",
        }
        for e in result.errors.itertuples()
    ]
    frame = frame_with(
        dict.fromkeys(("account_id", "region", "status", "identity"), "string"), rows
    )
    return frame.sort_values(["account_id", "region"], ignore_index=True)


def organization_id(fleet: Fleet) -> str | None:
    """The hub's organization id, or None outside an organization / without permission."""
    try:
        client = fleet._hub_client("organizations", fleet.landing_region)
        return client.describe_organization()["Organization"]["Id"]
    except Exception as err:
        log.info("organization id unavailable: %s", aws.error_code(err))
        return None
