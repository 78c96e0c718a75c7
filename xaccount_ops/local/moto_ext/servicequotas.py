"""Service Quotas for CloudWatch Logs, which moto 5.2.5 lacks (it serves ``vpc`` only).

The one quota the pipeline reads is "Subscription filters per log group" (service code
``logs``): ``ListAWSDefaultServiceQuotas``/``ListServiceQuotas``/``GetServiceQuota`` serve it, and
the logs extension enforces the applied value per account and region when a filter is put.

AWS's CloudWatch Logs quotas page lists it as "Subscription filters per log group: 2, not
adjustable" and publishes no quota code for it, so the toolkit finds it by name; the code here
is the emulator's own. One difference from AWS, on purpose: ``RequestServiceQuotaIncrease``
is applied at once (AWS reviews the request, and refuses it for a quota it marks not
adjustable), so tests can raise the limit over HTTP the way a user would ask for it.

``install()`` patches moto's classes in place, once per process.
"""

from __future__ import annotations

import json
import threading
from typing import Any

_MARK = "_moto_ext_servicequotas"
SERVICE_CODE = "logs"
FILTER_SLOTS_NAME = "Subscription filters per log group"
FILTER_SLOTS_CODE = "L-LOCALSUBF"  # the emulator's own code (AWS publishes none: see module doc)
DEFAULT_FILTER_SLOTS = 2
_LOCK = threading.Lock()
# (account, region) -> applied value of the filter-slots quota, once an increase was requested.
_APPLIED: dict[tuple[str, str], float] = {}


def filter_slots(account_id: str, region: str) -> int:
    """The applied "subscription filters per log group" quota for an account and region."""
    with _LOCK:
        return int(_APPLIED.get((account_id, region), DEFAULT_FILTER_SLOTS))


def _quota(account_id: str, region: str, applied: bool) -> dict[str, Any]:
    value = float(filter_slots(account_id, region)) if applied else float(DEFAULT_FILTER_SLOTS)
    return {
        "ServiceCode": SERVICE_CODE,
        "ServiceName": "Amazon CloudWatch Logs",
        "QuotaArn": f"arn:aws:servicequotas:{region}:{account_id}:{SERVICE_CODE}/"
        f"{FILTER_SLOTS_CODE}",
        "QuotaCode": FILTER_SLOTS_CODE,
        "QuotaName": FILTER_SLOTS_NAME,
        "Value": value,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }


def install() -> None:
    """Serve the logs quota from moto's Service Quotas backend and responses (idempotent)."""
    from moto.servicequotas import models, responses
    from moto.servicequotas.exceptions import NoSuchResource

    if getattr(models.ServiceQuotasBackend, _MARK, False):
        return
    plain_list_default = models.ServiceQuotasBackend.list_aws_default_service_quotas
    plain_get = models.ServiceQuotasBackend.get_service_quota

    def list_default(self: Any, service_code: str) -> list[dict[str, Any]]:
        if service_code == SERVICE_CODE:
            return [_quota(self.account_id, self.region_name, applied=False)]
        return plain_list_default(self, service_code)  # type: ignore[no-any-return]

    def get_quota(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        if service_code == SERVICE_CODE:
            if quota_code != FILTER_SLOTS_CODE:
                raise NoSuchResource
            return _quota(self.account_id, self.region_name, applied=True)
        return plain_get(self, service_code, quota_code)  # type: ignore[no-any-return]

    def list_service_quotas(self: Any) -> str:
        params = json.loads(self.body or "{}")
        if params.get("ServiceCode") != SERVICE_CODE:
            raise NoSuchResource
        backend = self.backend
        return json.dumps({"Quotas": [_quota(backend.account_id, backend.region_name, True)]})

    def request_increase(self: Any) -> str:
        params = json.loads(self.body or "{}")
        if (params.get("ServiceCode"), params.get("QuotaCode")) != (
            SERVICE_CODE,
            FILTER_SLOTS_CODE,
        ):
            raise NoSuchResource
        backend = self.backend
        desired = float(params["DesiredValue"])
        with _LOCK:
            _APPLIED[(backend.account_id, backend.region_name)] = desired
        quota = _quota(backend.account_id, backend.region_name, True)
        return json.dumps(
            {
                "RequestedQuota": {
                    "Id": f"local-{backend.account_id}-{backend.region_name}",
                    "ServiceCode": SERVICE_CODE,
                    "QuotaCode": FILTER_SLOTS_CODE,
                    "QuotaName": FILTER_SLOTS_NAME,
                    "DesiredValue": desired,
                    "Status": "APPROVED",  # AWS: PENDING, then reviewed (module doc)
                    "QuotaArn": quota["QuotaArn"],
                }
            }
        )

    models.ServiceQuotasBackend.list_aws_default_service_quotas = list_default
    models.ServiceQuotasBackend.get_service_quota = get_quota
    responses.ServiceQuotasResponse.list_service_quotas = list_service_quotas
    responses.ServiceQuotasResponse.request_service_quota_increase = request_increase
    setattr(models.ServiceQuotasBackend, _MARK, True)
