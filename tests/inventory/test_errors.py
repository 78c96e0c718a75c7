"""Per-target failures land in the errors frame, never as exceptions.

botocore's Stubber is used here ONLY for what moto cannot produce: AccessDenied, a region not
enabled in the account (UnrecognizedClientException) and throttling past the retry budget. The
other targets run against a real moto server over HTTP in the same call.
"""

from __future__ import annotations

from botocore.stub import Stubber

from xaccount_ops.fleet import audit, inventory


def _stub_error(fleet, service: str, account: str, region: str, method: str, code: str) -> Stubber:
    stubber = Stubber(fleet.client(service, account, region))  # the fleet's cached client
    stubber.add_client_error(method, service_error_code=code, service_message=f"stubbed {code}")
    stubber.activate()
    return stubber


def _groups(fleet, account: str, region: str, names: list[str]) -> None:
    logs = fleet.client("logs", account, region)
    for name in names:
        logs.create_log_group(logGroupName=name)


def test_access_denied_and_opt_in_region_are_error_rows(
    make_fleet, new_account, moto_endpoint: str
) -> None:
    denied, optin, fine = new_account(), new_account(), new_account()
    fleet = make_fleet(moto_endpoint, accounts=[denied, optin, fine])
    for account in (denied, optin, fine):
        _groups(fleet, account, "us-east-1", ["/a", "/b"])
    _stub_error(fleet, "logs", denied, "us-east-1", "describe_log_groups", "AccessDeniedException")
    _stub_error(
        fleet, "logs", optin, "eu-west-1", "describe_log_groups", "UnrecognizedClientException"
    )

    result = inventory.log_groups(fleet, progress=False, destinations={})

    errors = result.errors.set_index(["account_id", "region"])
    assert set(errors.index) == {(denied, "us-east-1"), (optin, "eu-west-1")}
    assert errors.loc[(denied, "us-east-1"), "error_code"] == "AccessDeniedException"
    assert "lacks permission" in errors.loc[(denied, "us-east-1"), "hint"]
    assert errors.loc[(optin, "eu-west-1"), "error_code"] == "UnrecognizedClientException"
    assert "opt-in region" in errors.loc[(optin, "eu-west-1"), "hint"]
    listed = result.frame.groupby(["account_id", "region"], observed=True).size().to_dict()
    assert listed == {(optin, "us-east-1"): 2, (fine, "us-east-1"): 2}


def test_throttled_past_the_budget_loses_the_target_not_the_run(
    make_fleet, new_account, moto_endpoint: str
) -> None:
    throttled, fine = new_account(), new_account()
    fleet = make_fleet(moto_endpoint, accounts=[throttled, fine], regions=("us-east-1",))
    for account in (throttled, fine):
        _groups(fleet, account, "us-east-1", ["/only"])
    logs = fleet.client("logs", throttled, "us-east-1")
    stubber = Stubber(logs)
    stubber.add_response(
        "describe_log_groups",
        {"logGroups": [{"logGroupName": "/only", "creationTime": 0, "storedBytes": 0}]},
    )
    stubber.add_client_error(
        "describe_subscription_filters",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        http_status_code=400,
    )
    stubber.activate()

    result = inventory.log_groups(fleet, progress=False, destinations={})

    assert result.errors.account_id.tolist() == [throttled]
    assert result.errors.error_code.tolist() == ["ThrottlingException"]
    assert "max_workers" in result.errors.hint.iloc[0]
    # No half-listed target: a failed target contributes no rows at all.
    assert result.frame.account_id.tolist() == [fine]


def test_audit_reports_a_landing_lookup_it_may_not_make(
    make_fleet, new_account, moto_endpoint: str
) -> None:
    account = new_account()
    fleet = make_fleet(moto_endpoint, accounts=[account], regions=("us-east-1",))
    _groups(fleet, account, "us-east-1", ["/x"])
    result = inventory.log_groups(fleet, progress=False, destinations={})
    _stub_error(
        fleet,
        "lambda",
        fleet.landing_account,
        "us-east-1",
        "list_functions",
        "AccessDeniedException",
    )

    findings = audit.audit(fleet, result)

    failed = findings[findings.check == "lookup-failed"]
    assert failed.resource.tolist() == ["shipper function and queue"]
    assert failed.severity.tolist() == ["error"]
    assert "AccessDeniedException" in failed.finding.iloc[0]
