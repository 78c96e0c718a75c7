"""Choose what the notebooks work on: a config file for real AWS, or the embedded local cloud.

``open_fleet("")`` looks for a config the usual way ($XACCOUNT_OPS_CONFIG, ./xaccount-ops.toml)
and, when there is none, starts the local cloud in ``.local-cloud/`` for the rest of the session.
"""

from __future__ import annotations

import atexit
import logging
import os
from pathlib import Path

from xaccount_ops.accounts import Fleet
from xaccount_ops.config import CONFIG_ENV, DEFAULT_CONFIG_NAME, load_config

log = logging.getLogger(__name__)

_local_cloud = None


def config_path(
    path: str | os.PathLike[str] | None = None, *, local_dir: str = ".local-cloud"
) -> Path:
    """The config to use: ``path``, else the usual lookup, else a freshly started local cloud's."""
    global _local_cloud
    if path:
        return Path(path)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    if Path(DEFAULT_CONFIG_NAME).is_file():
        return Path(DEFAULT_CONFIG_NAME)
    if _local_cloud is None:
        from xaccount_ops.local.process import LocalCloudProcess

        log.info("no config found: starting the local cloud in %s", local_dir)
        _local_cloud = LocalCloudProcess(local_dir).start()
        atexit.register(_local_cloud.stop)
    return _local_cloud.config_path


def open_fleet(path: str | os.PathLike[str] | None = None) -> Fleet:
    """Load the config (see :func:`config_path`) and resolve the fleet."""
    return Fleet.from_config(load_config(config_path(path)))
