"""Choose what the notebooks work on: a config file for real AWS, or the embedded local cloud.

``open_fleet("")`` looks for a config the usual way ($XACCOUNT_OPS_CONFIG, ./xaccount-ops.toml)
and, when there is none, uses the local cloud running in ``./.local-cloud/``, starting it there if
none runs. Every kernel in that directory then shares one cloud (one SQLite file, one config),
and the cloud outlives the kernel that started it, with its state, until
``xaccount-ops local down`` stops it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from xaccount_ops import validate
from xaccount_ops.config import CONFIG_ENV, DEFAULT_CONFIG_NAME, TokenRef, load_config
from xaccount_ops.errors import ConfigError, XaccountOpsError
from xaccount_ops.fleet.accounts import Fleet

log = logging.getLogger(__name__)


def config_path(
    path: str | os.PathLike[str] | None = None, *, local_dir: str = ".local-cloud"
) -> Path:
    """The config to use: ``path``, else the usual lookup, else the local cloud's in ``local_dir``
    (the one running there, or one started there now and left running)."""
    if path:
        return Path(path)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    if Path(DEFAULT_CONFIG_NAME).is_file():
        return Path(DEFAULT_CONFIG_NAME)
    from xaccount_ops.local.process import LocalCloudProcess

    data = Path(local_dir).resolve()
    # Not stopped at exit: the next kernel (the next notebook) uses the same cloud and its state.
    cloud = LocalCloudProcess(data).start()
    log.warning(
        "no config given or found: using the local cloud %s in %s (pid %s); "
        "`xaccount-ops local down --data %s` stops it",
        "already running" if cloud.reused else "started now",
        data,
        cloud.info.get("pid"),
        data,
    )
    return cloud.config_path


def open_fleet(path: str | os.PathLike[str] | None = None, *, stack_name: str = "") -> Fleet:
    """Load the config (see :func:`config_path`) and resolve the fleet.

    ``stack_name`` replaces ``landing.stack_name`` (blank keeps it): several pipelines can then
    share one landing account, e.g. tests on one local cloud.
    """
    fleet = Fleet.from_config(load_config(config_path(path)))
    return with_overrides(fleet, stack_name=stack_name) if stack_name else fleet


class NotDeployedYet(XaccountOpsError):
    """A notebook that needs the landing stack ran before ``01-deploy-landing``."""


def require_stack(fleet: Fleet, notebook: str, *, first: str = "01-deploy-landing") -> str:
    """The landing stack's status, checked in one DescribeStacks call; raises
    :class:`NotDeployedYet` naming the notebook to run first when it is not there.

    Notebooks that work on the pipeline call it in their first cell, so a run before the
    deploy stops in a second with what to do, instead of waiting out canaries or reporting
    every target as "no destination".
    """
    from botocore.exceptions import ClientError

    from xaccount_ops import aws

    name = fleet.config.landing.stack_name
    cfn = fleet.landing_client("cloudformation")
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as err:
        if "does not exist" not in str(err):
            raise
        stacks = []
    except Exception as err:
        aws.raise_if_unreachable(err)
        raise
    status = str(stacks[0].get("StackStatus", "")) if stacks else ""
    if not stacks or status in ("REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE", "DELETE_COMPLETE"):
        where = f"{fleet.landing_account} {fleet.landing_region}"
        state = f"is {status}" if status else "does not exist"
        raise NotDeployedYet(
            f"{notebook} needs the landing stack {name!r}, which {state} in {where}: run "
            f"`{first}` first (or `xaccount-ops deploy`), then this notebook"
        )
    return status


def with_overrides(
    fleet: Fleet,
    *,
    stack_name: str = "",
    accounts: str | Sequence[str] = "",
    regions: str | Sequence[str] = "",
    logzio_region: str = "",
    token_env: str = "",
    stack_parameters: Mapping[str, object] | None = None,
    include: str | Sequence[str] = "",
    exclude: str | Sequence[str] = "",
) -> Fleet:
    """The same target with what a notebook form changed; blank values keep the config's.

    Values are validated as the config loader validates them, so a typo in a form gives the
    config's message (e.g. ``accounts[1]: '1234' is not a 12-digit AWS account id``). The token
    is only ever referenced by name (``token_env``), never passed as a value.
    """
    cfg = fleet.config
    landing, senders, logzio, stack, subs = (
        cfg.landing,
        cfg.senders,
        cfg.logzio,
        cfg.stack,
        cfg.subscriptions,
    )
    if stack_name:
        landing = replace(landing, stack_name=stack_name.strip())
    if accounts:
        ids = validate.account_list(_items(accounts), "accounts")
        if not ids:
            raise ConfigError("accounts", "no sending account given")
        senders = replace(senders, accounts=ids, organization=False)
    if regions:
        senders = replace(senders, regions=validate.region_list(_items(regions), "regions"))
    if logzio_region:
        logzio = replace(logzio, region=validate.logzio_region(logzio_region, "logzio_region"))
    if token_env:
        name = token_env.strip()
        if not name.isidentifier():
            raise ConfigError(
                "token_env", f"{name!r} is not an environment variable name (e.g. LOGZIO_TOKEN)"
            )
        logzio = replace(logzio, shipping_token=TokenRef("env", name), token_secret_arn=None)
    if stack_parameters:
        merged = {**stack.parameters, **{k: str(v) for k, v in stack_parameters.items()}}
        stack = replace(stack, parameters=merged)
    if include:
        subs = replace(subs, include=validate.pattern_list(_items(include), "include"))
    if exclude:
        subs = replace(subs, exclude=validate.pattern_list(_items(exclude), "exclude"))
    config = replace(
        cfg, landing=landing, senders=senders, logzio=logzio, stack=stack, subscriptions=subs
    )
    if config == cfg:
        return fleet
    return Fleet.from_config(config, hub_session=fleet.hub_session)


def _items(value: str | Sequence[str]) -> list[str]:
    """A list from a comma/space/newline separated text, or the list itself."""
    if isinstance(value, str):
        return [item for item in value.replace("\n", ",").replace(" ", ",").split(",") if item]
    return [str(item) for item in value if str(item).strip()]
