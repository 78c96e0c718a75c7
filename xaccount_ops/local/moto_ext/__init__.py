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
import sys

_AREAS = ("servicequotas", "logs", "cfn", "metrics")


def install() -> None:
    """Install every area's patches (safe to call more than once)."""
    _skip_iri_grammars()
    for area in _AREAS:
        importlib.import_module(f"{__name__}.{area}").install()


def _skip_iri_grammars() -> None:
    """Keep ``rfc3987_syntax`` from loading in this process.

    moto's CloudFormation imports every backend, API Gateway's imports openapi-spec-validator,
    which imports jsonschema; when ``rfc3987_syntax`` is installed (jupyter pulls it in through
    ``jsonschema[format-nongpl]``) jsonschema imports it for its ``iri`` format check, and it
    compiles 38 lark grammars at import: several seconds of every ``local up``. Nothing here
    validates IRIs; jsonschema treats the module as absent (``ImportError``) and skips that one
    format check.
    """
    if "rfc3987_syntax" not in sys.modules and "jsonschema" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import -> ImportError
