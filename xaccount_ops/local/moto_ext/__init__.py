"""What moto 5.2.5 lacks for this pipeline, patched into its in-process backends.

Each submodule patches one area and exposes an idempotent ``install()``:

- ``logs``: cross-account Logs destinations (policy checks, delivery into the target Kinesis
  stream in the AWS payload shape), filter patterns, account-level subscription filter policies.
- ``cfn``: CloudFormation ``AWS::Logs::Destination`` / ``AWS::Logs::SubscriptionFilter`` and
  change-set fixes.
- ``metrics``: ``AWS/Logs`` ``IncomingLogEvents``/``IncomingBytes`` per log group, per minute.
- ``servicequotas``: the CloudWatch Logs "Subscription filters per log group" quota (served, and
  enforced by ``logs``).
- ``kinesis``: CreateStream without a shard count makes an on-demand stream.
- ``cfn_changesets``: change set rows with Replacement and Details, NoEcho parameters masked.
- ``awslambda``: the event source mapping API as AWS answers it (202 ``Creating``, defaults,
  duplicates and record ages refused).

Every behaviour changed here is grounded in a recorded AWS answer kept as a fixture under
``tests/fidelity/fixtures/`` (``tests/fidelity/`` compares them key by key); what AWS does not
record is listed as an assumption in ``xaccount_ops/local/README.md``.

Call ``install()`` before the moto server handles its first request.
"""

from __future__ import annotations

import importlib

_AREAS = ("servicequotas", "logs", "kinesis", "awslambda", "cfn", "cfn_changesets", "metrics")


def install() -> None:
    """Install every area's patches (safe to call more than once)."""
    for area in _AREAS:
        importlib.import_module(f"{__name__}.{area}").install()
