"""Launch and update the landing account's stacks: the main stack and one destination per region.

Every change goes through a CloudFormation change set, so a dry run (:func:`plan_deploy`) shows
exactly what :func:`deploy` would do, and a second deploy with nothing new changes nothing and
says so. :func:`add_accounts` / :func:`remove_accounts` are the seed's whole "Update" tab as one
call: they merge account ids into the deployed ``SendingAccounts`` of every stack and keep every
other parameter as it is (``UsePreviousValue``).

Stack names: ``<stack_name>`` (main, landing region) and ``<stack_name>-destination-<region>``
(every other configured region), ``stack_name`` from ``[landing]`` in the config.

>>> plan = plan_deploy(fleet=fleet)                      # doctest: +SKIP
>>> result = deploy(fleet=fleet, on_event=print)         # doctest: +SKIP
>>> add_accounts(["111111111111"], fleet=fleet)          # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from xaccount_ops.frames import frame_with
from xaccount_ops.landing.changesets import (
    SUCCESS,
    EventCallback,
    StackError,
    StackResult,
    apply_stack,
    describe_stack,
    outputs_map,
)
from xaccount_ops.landing.package import (
    Artifact,
    UploadedArtifact,
    build_artifact,
    check_matches,
    default_bucket,
    default_cache_dir,
    stack_target,
    upload_artifact,
)
from xaccount_ops.landing.templates import (
    DESTINATION,
    MAIN,
    accounts_parameters,
    cfn_parameters,
    destination_parameters,
    keep_deployed_order,
    main_parameters,
    stack_names,
    template_body,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


RESULT_COLUMNS = {
    "stack": "string",
    "region": "string",
    "kind": "string",
    "status": "string",
    "changes": "Int64",
    "failed_resource": "string",
    "message": "string",
}


# -- records ----------------------------------------------------------------------------------


@dataclass
class DeployResult:
    """The result of :func:`deploy`: one :class:`StackResult` per stack, and the artifact used."""

    stacks: list[StackResult]
    artifact: UploadedArtifact | None = None

    @property
    def ok(self) -> bool:
        return all(s.status in ("created", "updated", "unchanged") for s in self.stacks)

    @property
    def changed(self) -> bool:
        return any(s.status in ("created", "updated") for s in self.stacks)

    def frame(self) -> pd.DataFrame:
        return frame_with(RESULT_COLUMNS, [s.row() for s in self.stacks])


@dataclass(frozen=True)
class Outputs:
    """A region's pipeline endpoints, read back from the stacks."""

    region: str
    destination_arn: str
    destination_name: str
    stream_arn: str
    role_arn: str
    function_name: str
    failure_queue_url: str
    failure_queue_arn: str = ""
    stack: str = ""


# -- templates and parameters ---------------------------------------------------------------


# -- reading stacks ---------------------------------------------------------------------------


def stack_outputs(fleet: Any) -> dict[str, Outputs]:
    """``{region: Outputs}`` for every region with a deployed destination (main stack first).

    Raises :class:`StackError` if the main stack does not exist (deploy first).
    """
    names = stack_names(fleet)
    landing = fleet.landing_region
    main = describe_stack(fleet.landing_client("cloudformation"), names[landing])
    if main is None:
        raise StackError(
            f"main stack {names[landing]} does not exist in {landing}; run `xaccount-ops deploy`",
            account_id=fleet.landing_account,
            region=landing,
            resource=names[landing],
        )
    out = outputs_map(main)
    result = {landing: _outputs(landing, names[landing], out, out)}
    for region, name in names.items():
        if region == landing:
            continue
        stack = describe_stack(fleet.landing_client("cloudformation", region), name)
        if stack is not None and stack["StackStatus"] in (*SUCCESS, "UPDATE_ROLLBACK_COMPLETE"):
            result[region] = _outputs(region, name, outputs_map(stack), out)
    return result


def _outputs(region: str, name: str, own: dict[str, str], main: dict[str, str]) -> Outputs:
    return Outputs(
        region=region,
        destination_arn=own.get("LogzioCrossAccountDestinationARN", ""),
        destination_name=own.get("LogzioCrossAccountDestinationName", ""),
        stream_arn=main.get("LogzioCrossAccountKinesisStreamArn", ""),
        role_arn=main.get("LogzioCrossAccountRole", ""),
        function_name=main.get("ShipperFunctionName", ""),
        failure_queue_url=main.get("FailureQueueUrl", ""),
        failure_queue_arn=main.get("FailureQueueArn", ""),
        stack=name,
    )


def outputs_frame(outputs: dict[str, Outputs]) -> pd.DataFrame:
    from dataclasses import asdict

    import pandas as pd

    rows = [asdict(o) for o in outputs.values()]
    columns = list(Outputs.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns).astype("string")


# -- change sets ------------------------------------------------------------------------------


# -- deploy -----------------------------------------------------------------------------------


def artifact_location(
    fleet: Any,
    artifact: Artifact | UploadedArtifact | None,
    *,
    include_speedups: bool,
    upload: bool,
) -> tuple[str, str, UploadedArtifact | None]:
    """(bucket, key, uploaded) for the shipper zip: upload it, or (dry run) only name it.

    The zip is built for the stack's runtime and architecture (``package.stack_target``); a
    given artifact built for others is refused (its speed-ups would not import).
    """
    runtime, arch = stack_target(fleet.config.stack.parameters)
    if isinstance(artifact, UploadedArtifact):
        return artifact.bucket, artifact.key, artifact
    if artifact is None:
        artifact = build_artifact(
            default_cache_dir().parent / "build",
            runtime=runtime,
            arch=arch,
            include_speedups=include_speedups,
        )
    check_matches(artifact, runtime, arch)
    if upload:
        uploaded = upload_artifact(artifact, fleet=fleet)
        return uploaded.bucket, uploaded.key, uploaded
    bucket = fleet.config.stack.artifact_bucket or default_bucket(
        fleet.landing_account, fleet.landing_region
    )
    return bucket, f"xaccount-ops/shipper/{artifact.sha256}/{artifact.path.name}", None


def deploy(
    *,
    artifact: Artifact | UploadedArtifact | None = None,
    include_speedups: bool = True,
    on_event: EventCallback | None = None,
    destinations: bool = True,
    fleet: Any,
) -> DeployResult:
    """Create or update the main stack, then a destination stack in every other region.

    ``destinations=False`` deploys the main stack only (the StackSets rollout,
    :mod:`xaccount_ops.landing.stacksets`, owns the other regions' destinations then).

    ``artifact``: an uploaded artifact, a built one (uploaded here), or None (built and uploaded
    here). ``on_event(row)`` receives each new stack event (stack, region, timestamp, logical_id,
    resource_type, status, reason) while CloudFormation works. Destinations are skipped when
    the main stack fails.
    """
    bucket, key, uploaded = artifact_location(
        fleet, artifact, include_speedups=include_speedups, upload=True
    )
    names = stack_names(fleet)
    landing = fleet.landing_region
    cfn = fleet.landing_client("cloudformation", landing)
    accounts = accounts_parameters(fleet, describe_stack(cfn, names[landing]))
    main_values = main_parameters(fleet, bucket=bucket, key=key, accounts=accounts)
    results = [_safe_apply(cfn, names[landing], landing, MAIN, main_values, on_event)]
    if results[0].status != "failed":
        discard_s3_test_events(fleet)
    if not destinations:
        return DeployResult(results, uploaded)
    if results[0].status == "failed":
        for region, name in names.items():
            if region != landing:
                results.append(
                    StackResult(name, region, DESTINATION, "skipped", message="main stack failed")
                )
        return DeployResult(results, uploaded)
    outputs = outputs_map(describe_stack(cfn, names[landing]))
    for region, name in names.items():
        if region == landing:
            continue
        values = destination_parameters(
            fleet,
            role_arn=outputs.get("LogzioCrossAccountRole", ""),
            stream_arn=outputs.get("LogzioCrossAccountKinesisStreamArn", ""),
            accounts=accounts,
        )
        regional = fleet.landing_client("cloudformation", region)
        results.append(_safe_apply(regional, name, region, DESTINATION, values, on_event))
    return DeployResult(results, uploaded)


def discard_s3_test_events(fleet: Any) -> int:
    """Delete S3's ``s3:TestEvent`` messages from the stack's failure queue; how many.

    S3 sends one when the failure bucket's notification is set up (every new stack). It names
    no stored batch, yet it is a visible message: the ``*-shipper-failures`` alarm would page
    after every deploy and ``health`` would fail until a replay. The queue is the stack's own;
    any other message is left visible at once.
    """
    import json

    from xaccount_ops.fleet.pipeline import failure_queue

    try:
        url = failure_queue(fleet, None)
        if url is None:
            return 0
        sqs = fleet.landing_client("sqs")
        removed = 0
        for _ in range(3):  # short polling samples: a few looks find a lone message
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30
            ).get("Messages", [])
            for message in messages:
                try:
                    event = json.loads(message.get("Body", "")).get("Event")
                except (ValueError, AttributeError):
                    event = None
                if event == "s3:TestEvent":
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    removed += 1
                else:  # a real failure: visible again at once, for replay
                    sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
            if not messages:
                break
    except Exception as err:  # the deploy is done; this is housekeeping, said in the log
        log.warning("could not clear S3's test event from the failure queue: %s", err)
        return 0
    if removed:
        log.info("deleted %d s3:TestEvent message(s) from the failure queue", removed)
    return removed


def _safe_apply(
    cfn: Any,
    name: str,
    region: str,
    kind: str,
    values: dict[str, str],
    on_event: EventCallback | None,
) -> StackResult:
    try:
        values = keep_deployed_order(values, describe_stack(cfn, name))
        return apply_stack(
            cfn,
            name=name,
            region=region,
            kind=kind,
            parameters=cfn_parameters(values),
            template=template_body(kind),
            on_event=on_event,
        )
    except (StackError, ClientError) as err:
        log.warning("stack %s in %s: %s", name, region, err)
        return StackResult(name, region, kind, "failed", message=str(err))


# -- accounts ---------------------------------------------------------------------------------
