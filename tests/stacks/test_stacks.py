"""Deploying the stacks against moto over HTTP, and (with botocore's Stubber) the AWS
behaviours moto cannot produce: rollbacks, missing capabilities, AWS's own no-op answers."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import boto3
import pytest
from botocore.stub import Stubber

from xaccount_ops import landing
from xaccount_ops.fleet.accounts import Fleet
from xaccount_ops.landing import changesets
from xaccount_ops.landing.changesets import StackError, apply_stack

from .conftest import LANDING, SENDERS, make_config


def test_dry_run_changes_nothing(fleet: Fleet, artifact) -> None:
    plan = landing.plan_deploy(artifact=artifact, fleet=fleet)
    main_rows = plan[plan["stack"] == fleet.config.landing.stack_name]
    assert {"KinesisStream", "LogsDestination", "ShipperFunction", "ShipperEventSourceMapping"} <= (
        set(main_rows.logical_id)
    )
    assert set(plan.action) == {"Add"}
    destination = plan[(plan.region == "eu-west-1") & (plan.resource_type != "Parameter")]
    assert list(destination.logical_id) == ["LogsDestination"]
    assert list(plan.columns) == [
        "stack",
        "region",
        "action",
        "logical_id",
        "resource_type",
        "replacement",
        "detail",
    ]
    # A new stack lists every parameter it gets; the NoEcho token only as ****.
    detail = dict(zip(plan["stack"] + "." + plan.logical_id, plan.detail, strict=True))
    name = fleet.config.landing.stack_name
    assert detail[f"{name}-destination-eu-west-1.SendingAccounts"] == (
        "(none) → 111111111111,222222222222"
    )
    assert detail[f"{name}.LogzioTOKEN"] == "(none) → ****"
    assert "local-ship-token-for-tests" not in plan.to_csv()
    # Nothing was created, no stack is left behind in REVIEW_IN_PROGRESS, nothing uploaded.
    for region, name in landing.stack_names(fleet).items():
        assert landing.describe_stack(fleet.landing_client("cloudformation", region), name) is None
    lambdas = fleet.landing_client("lambda").list_functions()["Functions"]
    assert not [f for f in lambdas if f["FunctionName"].startswith(fleet.config.landing.stack_name)]


def test_deploy_then_second_deploy_changes_nothing(fleet: Fleet, artifact) -> None:
    events: list[dict] = []
    result = landing.deploy(artifact=artifact, on_event=events.append, fleet=fleet)
    assert result.ok, result.frame().to_string()
    assert [s.status for s in result.stacks] == ["created", "created"]
    assert result.artifact is not None and artifact.sha256 in result.artifact.key
    assert {e["status"] for e in events} >= {"CREATE_IN_PROGRESS", "CREATE_COMPLETE"}
    assert {e["region"] for e in events} == {"us-east-1", "eu-west-1"}

    prefix = fleet.config.landing.stack_name
    fn = fleet.landing_client("lambda").get_function_configuration(FunctionName=f"{prefix}-shipper")
    assert fn["Handler"] == "shipper_lambda.handler.lambda_handler"
    env = fn["Environment"]["Variables"]
    assert env["LOGZIO_LISTENER_URL"] == "http://127.0.0.1:9/listener"
    assert env["LOGZIO_REGION"] == "eu"
    assert env["LOGZIO_TOKEN"] == "local-ship-token-for-tests"
    assert env["LOGZIO_TIMEOUT_SECONDS"] == "15"  # logzio.request_timeout_s's default
    (mapping,) = fleet.landing_client("lambda").list_event_source_mappings(
        FunctionName=f"{prefix}-shipper"
    )["EventSourceMappings"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    outputs = landing.stack_outputs(fleet)
    assert set(outputs) == {"us-east-1", "eu-west-1"}
    for region, out in outputs.items():
        assert out.destination_arn == (
            f"arn:aws:logs:{region}:{LANDING}:destination:{prefix}-destination"
        )
        assert out.stream_arn.endswith(f":stream/{prefix}-stream")
        assert out.function_name == f"{prefix}-shipper"
        assert out.failure_queue_url.endswith(f"{prefix}-shipper-failures")
    (destination,) = fleet.landing_client("logs", "eu-west-1").describe_destinations(
        DestinationNamePrefix=f"{prefix}-destination"
    )["destinations"]
    assert destination["targetArn"] == outputs["us-east-1"].stream_arn
    assert destination["roleArn"] == outputs["us-east-1"].role_arn
    policy = json.loads(destination["accessPolicy"])
    assert policy["Statement"][0]["Principal"]["AWS"] == list(SENDERS)

    again = landing.deploy(artifact=result.artifact, fleet=fleet)
    assert [s.status for s in again.stacks] == ["unchanged", "unchanged"]
    assert not again.changed
    plan = landing.plan_deploy(artifact=result.artifact, fleet=fleet)
    assert set(plan.action) == {"Unchanged"}


def test_accounts_add_merges_and_remove_takes_out(fleet: Fleet, artifact) -> None:
    assert landing.deploy(artifact=artifact, fleet=fleet).ok
    # The seed's quoted format, with one id already present: merged, not duplicated.
    updates = landing.add_accounts(['"333333333333","111111111111"'], fleet=fleet)
    assert [u.status for u in updates] == ["updated", "updated"]
    for update in updates:
        assert update.before == SENDERS
        assert update.after == (*SENDERS, "333333333333")
        assert update.added == ("333333333333",)
    cfn = fleet.landing_client("cloudformation", "eu-west-1")
    name = landing.stack_names(fleet)["eu-west-1"]
    params = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in cfn.describe_stacks(StackName=name)["Stacks"][0]["Parameters"]
    }
    assert params["SendingAccounts"] == "111111111111,222222222222,333333333333"
    assert params["RoleArn"].startswith("arn:aws:iam::")  # kept (UsePreviousValue)
    prefix = fleet.config.landing.stack_name
    (destination,) = fleet.landing_client("logs", "eu-west-1").describe_destinations(
        DestinationNamePrefix=f"{prefix}-destination"
    )["destinations"]
    assert (
        "333333333333"
        in json.loads(destination["accessPolicy"])["Statement"][0]["Principal"]["AWS"]
    )
    # A deploy from a config without the added account keeps it: only remove removes.
    assert set(landing.plan_deploy(artifact=artifact, fleet=fleet).action) == {"Unchanged"}
    assert [u.status for u in landing.add_accounts(["333333333333"], fleet=fleet)] == [
        "unchanged",
        "unchanged",
    ]
    removed = landing.remove_accounts(["222222222222"], fleet=fleet)
    assert [u.after for u in removed] == [("111111111111", "333333333333")] * 2
    frame = landing.accounts_frame(removed)
    assert list(frame.removed) == ["222222222222"] * 2
    # Added back after the others: the list is written sorted, so no later dry run shows the
    # order as a change (issue 16).
    again = landing.add_accounts(["222222222222"], fleet=fleet)
    assert [u.after for u in again] == [(*SENDERS, "333333333333")] * 2
    assert set(landing.plan_deploy(artifact=artifact, fleet=fleet).action) == {"Unchanged"}


def test_dry_run_names_each_changed_parameter(fleet: Fleet, artifact, tmp_path) -> None:
    assert landing.deploy(artifact=artifact, fleet=fleet).ok
    cfg = fleet.config
    changed = Fleet.from_config(
        replace(cfg, logzio=replace(cfg.logzio, type="my-type")), hub_session=fleet.hub_session
    )
    plan = landing.plan_deploy(artifact=artifact, fleet=changed)
    params = plan[plan.resource_type == "Parameter"]
    main = cfg.landing.stack_name
    # The NoEcho parameters (token, route tokens) are **** in DescribeStacks, the defaulted one
    # too, as on AWS; the change set names only LogzioTYPE as a cause: no secret is listed.
    assert list(zip(params["stack"], params.logical_id, params.detail, strict=True)) == [
        (main, "LogzioTYPE", "aws-cross-account → my-type"),
    ]
    assert set(params.action) == {"Modify"}
    described = fleet.landing_client("cloudformation").describe_stacks(StackName=main)["Stacks"][0]
    deployed = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
    assert deployed["LogzioTOKEN"] == deployed["LogzioRouteTokens"] == "****"
    assert set(plan[plan.region == "eu-west-1"].action) == {"Unchanged"}

    # logzio.request_timeout_s reaches the change set as LogzioRequestTimeoutSeconds.
    slower = Fleet.from_config(
        replace(cfg, logzio=replace(cfg.logzio, request_timeout_s=40)),
        hub_session=fleet.hub_session,
    )
    params = landing.plan_deploy(artifact=artifact, fleet=slower)
    params = params[params.resource_type == "Parameter"]
    assert list(zip(params.logical_id, params.detail, strict=True)) == [
        ("LogzioRequestTimeoutSeconds", "15 → 40")
    ]

    # Only the NoEcho token changed: the change set names it as the cause, so it is listed, masked.
    token = tmp_path / "token"
    token.write_text("a-new-token-for-tests\n")
    plan = landing.plan_deploy(artifact=artifact, fleet=fleet)
    params = plan[plan.resource_type == "Parameter"]
    assert list(zip(params.logical_id, params.detail, strict=True)) == [
        ("LogzioTOKEN", "**** → ****")
    ]
    assert "a-new-token-for-tests" not in plan.to_csv()


def test_accounts_add_needs_a_deployed_stack(fleet: Fleet) -> None:
    with pytest.raises(StackError, match="run `xaccount-ops deploy`"):
        landing.add_accounts(["333333333333"], fleet=fleet)


def test_outputs_need_a_deployed_stack(fleet: Fleet) -> None:
    with pytest.raises(StackError, match="does not exist"):
        landing.stack_outputs(fleet)


def test_unknown_parameter_override_is_rejected(stacks_endpoint, tmp_path, artifact) -> None:
    from xaccount_ops.errors import ConfigError

    cfg = make_config(stacks_endpoint, tmp_path)
    cfg = type(cfg)(**{**cfg.__dict__, "stack": type(cfg.stack)(parameters={"BatchSise": "5"})})
    with pytest.raises(ConfigError, match="BatchSise"):
        landing.plan_deploy(artifact=artifact, fleet=Fleet.from_config(cfg))


# -- Stubber: AWS behaviour moto does not produce ---------------------------------------------

NOW = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1"
CS_ID = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/c/1"


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(changesets, "POLL_S", 0)
    client = boto3.client(
        "cloudformation",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def _stack(status: str) -> dict:
    return {
        "Stacks": [
            {"StackName": "s", "StackId": STACK_ID, "CreationTime": NOW, "StackStatus": status}
        ]
    }


def _event(event_id: str, logical: str, kind: str, status: str, reason: str = "") -> dict:
    event = {
        "StackId": STACK_ID,
        "EventId": event_id,
        "StackName": "s",
        "Timestamp": NOW,
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "ResourceStatus": status,
    }
    if reason:
        event["ResourceStatusReason"] = reason
    return event


def _missing(stub: Stubber) -> None:
    stub.add_client_error("describe_stacks", "ValidationError", "Stack with id s does not exist")


def _apply(client) -> landing.StackResult:
    return apply_stack(
        client, name="s", region="us-east-1", kind="main", parameters=[], template="Resources: {}"
    )


def test_missing_capability_is_explained(stubbed) -> None:
    """InsufficientCapabilitiesException: moto does not check capabilities."""
    client, stub = stubbed
    _missing(stub)
    stub.add_client_error(
        "create_change_set",
        "InsufficientCapabilitiesException",
        "Requires capabilities : [CAPABILITY_NAMED_IAM]",
    )
    with pytest.raises(StackError) as caught:
        _apply(client)
    assert "CAPABILITY_NAMED_IAM" in str(caught.value)
    assert "needs more than CAPABILITY_IAM" in str(caught.value)


def test_aws_no_op_answers_mean_unchanged(stubbed) -> None:
    """AWS answers a no-op as a FAILED change set, or (update_stack style) a ValidationError."""
    client, stub = stubbed
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"))
    stub.add_response("create_change_set", {"Id": CS_ID, "StackId": STACK_ID})
    stub.add_response(
        "describe_change_set",
        {
            "ChangeSetId": CS_ID,
            "StackId": STACK_ID,
            "Status": "FAILED",
            "StatusReason": "The submitted information didn't contain changes. Submit different "
            "information to create a change set.",
        },
    )
    stub.add_response("delete_change_set", {}, {"ChangeSetName": CS_ID})
    assert _apply(client).status == "unchanged"
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"))
    stub.add_client_error("create_change_set", "ValidationError", "No updates are to be performed.")
    assert _apply(client).status == "unchanged"


def test_rollback_names_the_failing_resource_and_next_run_recreates(stubbed) -> None:
    """A first create that rolls back (moto never rolls back) leaves ROLLBACK_COMPLETE."""
    client, stub = stubbed
    _missing(stub)
    stub.add_response("create_change_set", {"Id": CS_ID, "StackId": STACK_ID})
    stub.add_response(
        "describe_change_set",
        {
            "ChangeSetId": CS_ID,
            "StackId": STACK_ID,
            "Status": "CREATE_COMPLETE",
            "Changes": [
                {
                    "Type": "Resource",
                    "ResourceChange": {
                        "Action": "Add",
                        "LogicalResourceId": "ShipperFunction",
                        "ResourceType": "AWS::Lambda::Function",
                    },
                }
            ],
        },
    )
    stub.add_response(
        "describe_stack_events",
        {"StackEvents": [_event("e0", "s", "AWS::CloudFormation::Stack", "REVIEW_IN_PROGRESS")]},
    )
    stub.add_response("execute_change_set", {})
    stub.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                _event("e4", "s", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE"),
                _event(
                    "e3",
                    "KinesisStream",
                    "AWS::Kinesis::Stream",
                    "CREATE_FAILED",
                    "Resource creation cancelled",
                ),
                _event(
                    "e2",
                    "ShipperFunction",
                    "AWS::Lambda::Function",
                    "CREATE_FAILED",
                    "Error occurred while GetObject. S3 Error Code: NoSuchKey",
                ),
                _event("e1", "s", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS"),
                _event("e0", "s", "AWS::CloudFormation::Stack", "REVIEW_IN_PROGRESS"),
            ]
        },
    )
    stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"))
    stub.add_response(
        "describe_stack_events",
        {"StackEvents": [_event("e4", "s", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE")]},
    )
    result = _apply(client)
    assert result.status == "failed"
    assert result.failed_resource == "ShipperFunction"
    assert "NoSuchKey" in result.message and "deletes the rolled-back stack" in result.message

    # Next run: the dead stack is deleted (and it says so), then created again.
    stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"))
    stub.add_response("delete_stack", {}, {"StackName": STACK_ID})
    stub.add_response("describe_stacks", _stack("DELETE_COMPLETE"))
    stub.add_response("create_change_set", {"Id": CS_ID, "StackId": STACK_ID})
    stub.add_response(
        "describe_change_set",
        {"ChangeSetId": CS_ID, "StackId": STACK_ID, "Status": "CREATE_COMPLETE", "Changes": []},
    )
    stub.add_response("describe_stack_events", {"StackEvents": []})
    stub.add_response("execute_change_set", {})
    stub.add_response(
        "describe_stack_events",
        {"StackEvents": [_event("f2", "s", "AWS::CloudFormation::Stack", "CREATE_COMPLETE")]},
    )
    stub.add_response("describe_stacks", _stack("CREATE_COMPLETE"))
    stub.add_response(
        "describe_stack_events",
        {"StackEvents": [_event("f2", "s", "AWS::CloudFormation::Stack", "CREATE_COMPLETE")]},
    )
    result = _apply(client)
    assert result.status == "created"
    assert any("ROLLBACK_COMPLETE" in note and "deleting" in note for note in result.notes)


def test_busy_stack_is_not_touched(stubbed) -> None:
    client, stub = stubbed
    stub.add_response("describe_stacks", _stack("UPDATE_IN_PROGRESS"))
    with pytest.raises(StackError, match="another operation is running"):
        _apply(client)
