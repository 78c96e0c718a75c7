"""What moto 5.2.5 lacks for this pipeline, patched into its in-process backends.

Each submodule patches one area and exposes an idempotent ``install()``:

- ``logs``: cross-account Logs destinations (policy checks, delivery into the target Kinesis
  stream in the AWS payload shape), filter patterns, account-level subscription filter policies.
- ``cfn``: CloudFormation ``AWS::Logs::Destination`` / ``AWS::Logs::SubscriptionFilter`` and
  change-set fixes.
- ``metrics``: ``AWS/Logs`` ``IncomingLogEvents``/``IncomingBytes`` per log group, per minute.
- ``servicequotas``: the CloudWatch Logs "Subscription filters per log group" quota (served, and
  enforced by ``logs``).

Call ``install()`` before the moto server handles its first request.
"""

from __future__ import annotations

import importlib

_AREAS = ("servicequotas", "logs", "cfn", "metrics")


def install() -> None:
    """Install every area's patches (safe to call more than once)."""
    for area in _AREAS:
        importlib.import_module(f"{__name__}.{area}").install()
