"""What moto 5.2.5 lacks for this pipeline, patched into its in-process backends.

Each submodule patches one area and exposes an idempotent ``install()``:

- ``logs``: cross-account Logs destinations (policy checks, delivery into the target Kinesis
  stream in the AWS payload shape), filter patterns, account-level subscription filter policies.
- ``data_protection``: CloudWatch Logs data protection policies (log group and account level)
  and the masking of events they cause at every egress (subscriptions, Get/FilterLogEvents).
- ``cfn``: CloudFormation ``AWS::Logs::Destination`` / ``AWS::Logs::SubscriptionFilter`` and
  change-set fixes.
- ``metrics``: ``AWS/Logs`` ``IncomingLogEvents``/``IncomingBytes`` per log group, per minute.
- ``servicequotas``: the CloudWatch Logs "Subscription filters per log group" quota (served, and
  enforced by ``logs``).
- ``kinesis``: CreateStream without a shard count makes an on-demand stream.
- ``cfn_changesets``: change set rows with Replacement and Details, NoEcho parameters masked.
- ``iam``: the account of a request's access key found in constant time (moto walks every
  account's backend per request).
- ``awslambda``: the event source mapping API as AWS answers it (202 ``Creating``, defaults,
  duplicates and record ages refused).

Every behaviour changed here is grounded in a recorded AWS answer kept as a fixture under
``tests/fidelity/fixtures/`` (``tests/fidelity/`` compares them key by key); what AWS does not
record is listed as an assumption in ``xaccount_ops/local/README.md``.

Call ``install()`` before the moto server handles its first request.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Collection
from typing import Any

_AREAS = (
    "iam",
    "servicequotas",
    "logs",
    "data_protection",
    "kinesis",
    "awslambda",
    "cfn",
    "cfn_changesets",
    "metrics",
)
# The moto service whose first request needs each area that can wait for it.
AREA_SERVICES = {"cfn": "cloudformation", "cfn_changesets": "cloudformation"}
_install_lock = threading.Lock()


def install(defer: Collection[str] = ()) -> None:
    """Install every area's patches (safe to call more than once), except the ``defer``red ones,
    which :func:`backend_app_factory` installs before the first request to their service."""
    _skip_iri_grammars()
    for area in _AREAS:
        if area not in defer:
            install_area(area)


def install_area(area: str) -> None:
    """One area's patches (idempotent, thread-safe)."""
    with _install_lock:
        importlib.import_module(f"{__name__}.{area}").install()


def backend_app_factory(
    create: Callable[[Any], Any], deferred: Collection[str]
) -> Callable[[Any], Any]:
    """moto's ``create_backend_app``, installing a deferred area before its service's first app.

    ``moto.cloudformation`` imports every other moto backend (seconds of ``local up``); nothing
    but a CloudFormation request needs it, so the local cloud is ready before it is loaded.
    """
    waiting: dict[str, list[str]] = {}
    for area in _AREAS:  # in install order: cfn before cfn_changesets
        if area in deferred and area in AREA_SERVICES:
            waiting.setdefault(AREA_SERVICES[area], []).append(area)

    def create_app(service: Any) -> Any:
        for area in waiting.get(str(service), ()):
            install_area(area)
        return create(service)

    return create_app


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
