"""CloudFormation support moto 5.2.5 lacks for this project's templates.

- ``AWS::Logs::Destination`` and ``AWS::Logs::SubscriptionFilter``: moto logs "No Moto
  CloudFormation support" and skips them, so a stack "succeeds" without its destination and any
  ``!GetAtt LogsDestination.Arn`` output breaks. Both are created, updated and deleted here
  through moto's logs backend (the subscription filter through ``put_subscription_filter``, so
  the policy checks ``moto_ext.logs`` adds there apply to stacks too).
- Change sets: moto executes one without refreshing the stack's parameters, parsed template and
  outputs (a stack created by a change set has no outputs; an update keeps the old ones), and
  decides "no changes" by comparing raw parameter dicts (a default left out or a number given
  as an int reads as a change). Both fixed.
- ``AWS::CloudWatch::Alarm`` (skipped by moto) through moto's CloudWatch backend;
  ``AWS::Kinesis::Stream`` keeps StreamModeDetails and StreamEncryption (moto drops both);
  stack resource listings leave out resources whose Condition is false (moto lists them empty);
  ``!Condition Other`` inside ``!And``/``!Or``/``!Not`` is evaluated (moto read it as false).
- ``AWS::S3::Bucket`` applies PublicAccessBlockConfiguration, OwnershipControls,
  LifecycleConfiguration and NotificationConfiguration (moto keeps only encryption and tags);
  ``AWS::S3::BucketPolicy`` and ``AWS::SQS::QueuePolicy`` (skipped by moto) are put through
  moto's S3 and SQS backends, so the failure store and its notification queue deploy as in AWS.
  moto evaluates a bucket policy statement whose Condition does not hold as a denial (AWS: the
  statement does not apply), so the template's TLS-only Deny would refuse every request; here a
  statement applies only when its conditions hold, with ``aws:SecureTransport`` true (the local
  cloud is loopback-only and stands in for AWS's TLS endpoints).
- Checked and left alone: moto 5.2.5 keeps every ``AWS::Lambda::EventSourceMapping`` property
  the templates set (FunctionResponseTypes, BisectBatchOnFunctionError, DestinationConfig,
  retries, record age; numbers as numbers), the SQS queue's retention/SSE, the log group's
  retention and the function's configuration.

``install()`` is idempotent; it must run before the first stack is parsed.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
from typing import Any

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.core.common_models import CloudFormationModel
from moto.logs.exceptions import ResourceNotFoundException

log = logging.getLogger(__name__)

_MARK = "_moto_ext_cfn"


def _logs(account_id: str, region_name: str) -> Any:
    from moto.logs.models import logs_backends

    return logs_backends[account_id][region_name]


def _policy_text(policy: Any) -> str | None:
    """DestinationPolicy is a JSON string in CloudFormation; accept an object too."""
    if policy is None or policy == "":
        return None
    return policy if isinstance(policy, str) else json.dumps(policy)


class _ArnAttribute:
    """``GetAtt Arn``, the one attribute these types expose (``arn`` is the model's ARN).

    A mixin, not a CloudFormationModel subclass: moto finds types among that class's direct
    subclasses only.
    """

    arn: str

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.arn
        raise UnformattedGetAttTemplateException()


class LogsDestination(_ArnAttribute, CloudFormationModel):
    """``AWS::Logs::Destination``: Ref is the name, ``GetAtt Arn`` the destination ARN."""

    # moto's model registry files classes under the second part of the module path.
    __module__ = "moto.logs.moto_ext_cfn"

    def __init__(self, account_id: str, region_name: str, destination: Any) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.destination = destination

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Logs::Destination"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DestinationName"

    @property
    def arn(self) -> str:  # type: ignore[override]
        return self.destination.arn

    @property
    def physical_resource_id(self) -> str:
        return self.destination.destination_name

    @classmethod
    def _put(
        cls, props: dict[str, Any], name: str, account_id: str, region_name: str
    ) -> LogsDestination:
        """Create or update the destination and its policy (none when the template has none)."""
        backend = _logs(account_id, region_name)
        destination = backend.put_destination(name, props["RoleArn"], props["TargetArn"], {})
        policy = _policy_text(props.get("DestinationPolicy"))
        if policy is None:
            destination.access_policy = None  # also when the property was removed on update
        else:
            backend.put_destination_policy(name, policy)
        return cls(account_id, region_name, destination)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LogsDestination:
        props = cloudformation_json["Properties"]
        return cls._put(
            props, props.get("DestinationName") or resource_name, account_id, region_name
        )

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> LogsDestination:
        props = cloudformation_json["Properties"]
        new_name = props.get("DestinationName") or new_resource_name
        if (
            isinstance(original_resource, cls)
            and original_resource.physical_resource_id != new_name
        ):
            # A new name means replacement: create the new one, then delete the old one.
            replacement = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            original_resource.delete(account_id, region_name)
            return replacement
        return cls._put(props, new_name, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        _delete_destination(self.physical_resource_id, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        name = cloudformation_json.get("Properties", {}).get("DestinationName") or resource_name
        _delete_destination(name, account_id, region_name)


def _delete_destination(name: str, account_id: str, region_name: str) -> None:
    with contextlib.suppress(ResourceNotFoundException):
        _logs(account_id, region_name).delete_destination(name)


class LogsSubscriptionFilter(CloudFormationModel):
    """``AWS::Logs::SubscriptionFilter``: Ref is the filter name.

    Without ``FilterName`` the name is generated the way CloudFormation does
    (``<stack>-<LogicalId>-<random>``, moto's generator for named resources).
    """

    __module__ = "moto.logs.moto_ext_cfn"

    def __init__(
        self, account_id: str, region_name: str, log_group_name: str, filter_name: str
    ) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.log_group_name = log_group_name
        self.filter_name = filter_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Logs::SubscriptionFilter"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "FilterName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    def get_cfn_attribute(self, attribute_name: str) -> str:
        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return self.filter_name

    @classmethod
    def _put(
        cls, props: dict[str, Any], filter_name: str, account_id: str, region_name: str
    ) -> LogsSubscriptionFilter:
        backend = _logs(account_id, region_name)
        group = props["LogGroupName"]
        args: dict[str, Any] = {
            "log_group_name": group,
            "filter_name": filter_name,
            "filter_pattern": props.get("FilterPattern", ""),
            "destination_arn": props["DestinationArn"],
            "role_arn": props.get("RoleArn") or "",
        }
        distribution = props.get("Distribution")
        accepts = inspect.signature(backend.put_subscription_filter).parameters
        if distribution and "distribution" in accepts:
            args["distribution"] = distribution
        backend.put_subscription_filter(**args)
        if distribution and "distribution" not in accepts:
            # Kept on the model for readers; plain moto always reports ByLogStream.
            log_group = backend.groups[group]
            log_group.subscription_filters[filter_name].distribution = distribution
        return cls(account_id, region_name, group, filter_name)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LogsSubscriptionFilter:
        props = cloudformation_json["Properties"]
        return cls._put(props, props.get("FilterName") or resource_name, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> LogsSubscriptionFilter:
        props = cloudformation_json["Properties"]
        if isinstance(original_resource, cls):
            name = props.get("FilterName") or original_resource.filter_name
            if (original_resource.log_group_name, original_resource.filter_name) != (
                props["LogGroupName"],
                name,
            ):
                # Replacement (new group or name). Delete first: a log group holds at most two
                # filters, and the old one must not count against the new one.
                original_resource.delete(account_id, region_name)
            return cls._put(props, name, account_id, region_name)
        return cls._put(
            props, props.get("FilterName") or new_resource_name, account_id, region_name
        )

    def delete(self, account_id: str, region_name: str) -> None:
        _delete_filter(self.log_group_name, self.filter_name, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        props = cloudformation_json.get("Properties", {})
        name = props.get("FilterName") or resource_name
        _delete_filter(props["LogGroupName"], name, account_id, region_name)


def _delete_filter(group: str, name: str, account_id: str, region_name: str) -> None:
    # Not found: the group (and with it the filter) went first.
    with contextlib.suppress(ResourceNotFoundException):
        _logs(account_id, region_name).delete_subscription_filter(group, name)


# -- CloudWatch alarms ----------------------------------------------------------------------


class CloudWatchAlarm(_ArnAttribute, CloudFormationModel):
    """``AWS::CloudWatch::Alarm`` (metric alarms): Ref is the alarm name, ``GetAtt Arn`` its ARN.

    moto skips the type, so the alarms are missing and the stack's resource list holds entries
    without a logical id.
    """

    __module__ = "moto.cloudwatch.moto_ext_cfn"

    def __init__(self, account_id: str, region_name: str, alarm: Any) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.alarm = alarm

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @property
    def arn(self) -> str:  # type: ignore[override]
        return self.alarm.alarm_arn

    @property
    def physical_resource_id(self) -> str:
        return self.alarm.name

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CloudWatchAlarm:
        from moto.cloudwatch.models import cloudwatch_backends

        props = cloudformation_json["Properties"]

        def number(key: str) -> float | None:
            return None if props.get(key) in (None, "") else float(props[key])

        def integer(key: str) -> int | None:
            value = number(key)
            return None if value is None else int(value)

        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=props.get("AlarmName") or resource_name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=integer("EvaluationPeriods"),
            period=integer("Period"),
            threshold=number("Threshold"),
            statistic=props.get("Statistic"),
            description=props.get("AlarmDescription", ""),
            dimensions=props.get("Dimensions") or [],
            alarm_actions=props.get("AlarmActions") or [],
            datapoints_to_alarm=integer("DatapointsToAlarm"),
            extended_statistic=props.get("ExtendedStatistic"),
            ok_actions=props.get("OKActions"),
            insufficient_data_actions=props.get("InsufficientDataActions"),
            unit=props.get("Unit"),
            actions_enabled=str(props.get("ActionsEnabled", True)).lower() != "false",
            treat_missing_data=props.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=props.get("ThresholdMetricId"),
        )
        return cls(account_id, region_name, alarm)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CloudWatchAlarm:
        props = cloudformation_json["Properties"]
        name = props.get("AlarmName") or (
            original_resource.physical_resource_id
            if isinstance(original_resource, cls)
            else new_resource_name
        )
        updated = cls.create_from_cloudformation_json(
            name, cloudformation_json, account_id, region_name
        )
        if isinstance(original_resource, cls) and original_resource.physical_resource_id != name:
            original_resource.delete(account_id, region_name)
        return updated

    def delete(self, account_id: str, region_name: str) -> None:
        _delete_alarm(self.physical_resource_id, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        name = cloudformation_json.get("Properties", {}).get("AlarmName") or resource_name
        _delete_alarm(name, account_id, region_name)


def _delete_alarm(name: str, account_id: str, region_name: str) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch_backends[account_id][region_name].delete_alarms([name])


# -- Kinesis stream mode and encryption -------------------------------------------------------


def _apply_stream_settings(stream: Any, props: dict[str, Any], *, created: bool) -> None:
    """What moto's ``AWS::Kinesis::Stream`` drops: StreamModeDetails and StreamEncryption."""
    mode = (props.get("StreamModeDetails") or {}).get("StreamMode")
    if mode and mode != stream.stream_mode.get("StreamMode"):
        stream.stream_mode = {"StreamMode": mode}
        if created and mode == "ON_DEMAND" and "ShardCount" not in props:
            stream.init_shards(4)  # an on-demand stream starts with 4 shards, as moto's API does
    encryption = props.get("StreamEncryption") or {}
    if encryption.get("EncryptionType", "NONE") != "NONE":
        stream.encryption_type = encryption["EncryptionType"]
        stream.key_id = encryption.get("KeyId")
    elif not created:
        stream.encryption_type, stream.key_id = "NONE", None


def _patch_kinesis_stream() -> None:
    from moto.kinesis.models import Stream

    if getattr(Stream.create_from_cloudformation_json, _MARK, False):
        return
    create = Stream.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    update = Stream.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_stream(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        stream = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        _apply_stream_settings(stream, cloudformation_json.get("Properties", {}), created=True)
        return stream

    def update_stream(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        stream = update(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
        created = stream is not original_resource
        _apply_stream_settings(stream, cloudformation_json.get("Properties", {}), created=created)
        return stream

    setattr(create_stream, _MARK, True)
    Stream.create_from_cloudformation_json = classmethod(create_stream)  # type: ignore[assignment]
    Stream.update_from_cloudformation_json = classmethod(update_stream)  # type: ignore[assignment]


# -- S3 bucket settings, bucket and queue policies ---------------------------------------------


def _lifecycle_rules(config: dict[str, Any]) -> list[dict[str, Any]]:
    """CloudFormation's LifecycleConfiguration as the S3 API (moto's parser) writes it."""
    rules = []
    for rule in config.get("Rules") or []:
        api: dict[str, Any] = {"ID": rule.get("Id", ""), "Status": rule.get("Status", "Enabled")}
        if "Prefix" in rule:
            api["Prefix"] = rule["Prefix"]
        else:
            api["Filter"] = {"Prefix": rule.get("Prefix", "")}
        if rule.get("ExpirationInDays") is not None:
            api["Expiration"] = {"Days": str(rule["ExpirationInDays"])}
        abort = rule.get("AbortIncompleteMultipartUpload")
        if abort:
            api["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": str(abort.get("DaysAfterInitiation"))
            }
        rules.append(api)
    return rules


def _notification_config(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration (queues) as the S3 API writes it."""
    queues = []
    for item in config.get("QueueConfigurations") or []:
        api: dict[str, Any] = {"Queue": item["Queue"], "Event": [item["Event"]]}
        rules = ((item.get("Filter") or {}).get("S3Key") or {}).get("Rules")
        if rules:
            api["Filter"] = {"S3Key": {"FilterRule": list(rules)}}
        queues.append(api)
    return {"QueueConfiguration": queues} if queues else {}


def _apply_bucket_settings(bucket: Any, props: dict[str, Any]) -> None:
    from moto.s3.models import PublicAccessBlock

    block = props.get("PublicAccessBlockConfiguration")
    if block:
        flag = {k: str(v).lower() == "true" for k, v in block.items()}
        bucket.public_access_block = PublicAccessBlock(
            flag.get("BlockPublicAcls"),
            flag.get("IgnorePublicAcls"),
            flag.get("BlockPublicPolicy"),
            flag.get("RestrictPublicBuckets"),
        )
    ownership = (props.get("OwnershipControls") or {}).get("Rules")
    if ownership:
        bucket.ownership_rule = {"Rule": ownership[0]}
    if "LifecycleConfiguration" in props:
        bucket.set_lifecycle(_lifecycle_rules(props["LifecycleConfiguration"] or {}))
    if "NotificationConfiguration" in props:
        bucket.set_notification_configuration(
            _notification_config(props["NotificationConfiguration"] or {})
        )


# Request context the local cloud's S3 requests carry for bucket policy conditions.
LOCAL_REQUEST_CONTEXT = {"aws:SecureTransport": "true"}


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    """AWS's rule for a statement's Condition, for the operators the templates use (Bool,
    String*/Arn* equality and wildcards): every operator and key must hold; a key the request
    does not carry makes it false. moto's own evaluation accepts any Bool condition."""
    import fnmatch

    for operator, tests in condition.items():
        for key, expected in (tests or {}).items():
            wanted = [str(v) for v in (expected if isinstance(expected, list) else [expected])]
            actual = context.get(key)
            if actual is None:
                return False
            op = operator.removesuffix("IfExists")
            if op == "Bool":
                ok = actual.lower() in (w.lower() for w in wanted)
            elif op in ("StringEquals", "ArnEquals"):
                ok = actual in wanted
            elif op in ("StringLike", "ArnLike"):
                ok = any(fnmatch.fnmatchcase(actual, w) for w in wanted)
            elif op == "StringNotEquals":
                ok = actual not in wanted
            else:
                return False  # an operator not emulated: the statement is not applied
            if not ok:
                return False
    return True


def _bucket_permission(self: Any, action: str, resource: str) -> Any:
    """moto's ``FakeBucket.get_permission``, with statements whose conditions do not hold left
    out (AWS's evaluation) instead of read as denials."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy)
    statements = document.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    kept = []
    for statement in statements:
        if statement.get("Condition"):
            if not _condition_holds(statement["Condition"], LOCAL_REQUEST_CONTEXT):
                continue
            statement = {k: v for k, v in statement.items() if k != "Condition"}
        kept.append(statement)
    if not kept:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps({**document, "Statement": kept})).is_action_permitted(
        action, resource
    )


def _patch_s3_bucket() -> None:
    from moto.s3.models import FakeBucket

    if getattr(FakeBucket.create_from_cloudformation_json, _MARK, False):
        return
    FakeBucket.get_permission = _bucket_permission  # type: ignore[method-assign]
    create = FakeBucket.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    update = FakeBucket.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_bucket(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        bucket = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        _apply_bucket_settings(bucket, cloudformation_json.get("Properties", {}))
        return bucket

    def update_bucket(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        bucket = update(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
        _apply_bucket_settings(bucket, cloudformation_json.get("Properties", {}))
        return bucket

    setattr(create_bucket, _MARK, True)
    FakeBucket.create_from_cloudformation_json = classmethod(create_bucket)  # type: ignore[assignment]
    FakeBucket.update_from_cloudformation_json = classmethod(update_bucket)  # type: ignore[assignment]


def _policy_bytes(document: Any) -> bytes:
    return (document if isinstance(document, str) else json.dumps(document)).encode()


class BucketPolicy(CloudFormationModel):
    """``AWS::S3::BucketPolicy`` through moto's S3 backend (physical id: the bucket name)."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.bucket

    @staticmethod
    def _put(props: dict[str, Any], account_id: str, region_name: str) -> BucketPolicy:
        from moto.s3.models import s3_backends

        backend = s3_backends[account_id]["aws"]
        backend.put_bucket_policy(props["Bucket"], _policy_bytes(props["PolicyDocument"]))
        return BucketPolicy(props["Bucket"])

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> BucketPolicy:
        return cls._put(cloudformation_json["Properties"], account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> BucketPolicy:
        return cls._put(cloudformation_json["Properties"], account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.s3.models import s3_backends

        bucket = (cloudformation_json.get("Properties") or {}).get("Bucket", resource_name)
        with contextlib.suppress(Exception):  # the bucket may be gone first
            s3_backends[account_id]["aws"].delete_bucket_policy(bucket)


class QueuePolicy(CloudFormationModel):
    """``AWS::SQS::QueuePolicy`` through moto's SQS backend (sets each queue's Policy)."""

    def __init__(self, queues: list[str]) -> None:
        self.queues = queues

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return ",".join(self.queues)

    @staticmethod
    def _set(queues: list[str], policy: str, account_id: str, region_name: str) -> None:
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[account_id][region_name]
        for url in queues:
            name = url.rstrip("/").rsplit("/", 1)[-1]
            backend.set_queue_attributes(name, {"Policy": policy})

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> QueuePolicy:
        props = cloudformation_json["Properties"]
        queues = list(props["Queues"])
        cls._set(queues, _policy_bytes(props["PolicyDocument"]).decode(), account_id, region_name)
        return QueuePolicy(queues)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> QueuePolicy:
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        queues = list((cloudformation_json.get("Properties") or {}).get("Queues") or [])
        with contextlib.suppress(Exception):  # the queue may be gone first
            cls._set(queues, "", account_id, region_name)


# -- change sets ------------------------------------------------------------------------------


def _patch_change_sets() -> None:
    from moto.cloudformation.models import CloudFormationBackend, Stack

    original = CloudFormationBackend.execute_change_set
    if getattr(original, _MARK, False):
        return

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None
        )
        original(self, change_set_name, stack_name)
        if change_set is None:
            return
        stack = self.stacks[change_set.stack_id]
        # What the change set carried becomes the stack's: parameters, template, outputs.
        stack.parameters = dict(change_set.parameters)
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()

    original_create = CloudFormationBackend.create_change_set

    def create_change_set(self: Any, *args: Any, **kwargs: Any) -> Any:
        # UsePreviousValue hands moto the stack's *resolved* value, a list for a
        # CommaDelimitedList, which moto then splits again (AttributeError, HTTP 500). AWS keeps
        # the value as the comma text it was given: pass that.
        parameters = kwargs.get("parameters")
        if isinstance(parameters, dict):
            kwargs["parameters"] = {
                k: ",".join(map(str, v)) if isinstance(v, list) else v
                for k, v in parameters.items()
            }
        return original_create(self, *args, **kwargs)

    CloudFormationBackend.create_change_set = create_change_set  # type: ignore[method-assign]

    from moto.cloudformation import parsing

    original_update = parsing.parse_and_update_resource
    if not getattr(original_update, _MARK, False):

        def parse_and_update_resource(
            logical_id: str, resource_json: dict[str, Any], resources_map: Any, **kwargs: Any
        ) -> Any:
            # moto "modifies" a resource whose Condition is false (it was never created): its
            # update handler then fails on the missing original. AWS leaves such a resource alone.
            condition = resource_json.get("Condition")
            never_created = resources_map._parsed_resources.get(logical_id) is None
            if condition and never_created and not resources_map.lazy_condition_map[condition]:
                return None
            return original_update(logical_id, resource_json, resources_map, **kwargs)

        setattr(parse_and_update_resource, _MARK, True)
        parsing.parse_and_update_resource = parse_and_update_resource

    setattr(execute_change_set, _MARK, True)
    execute_change_set._xacct_refresh = True  # type: ignore[attr-defined]  # tests/stacks' guard
    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]

    def has_parameters(self: Any, other: dict[str, Any]) -> bool:
        # AWS compares effective values: defaults filled in, numbers as text.
        slots = (self.template_dict or {}).get("Parameters", {}) or {}
        defaults = {k: str(v["Default"]) for k, v in slots.items() if "Default" in v}
        mine = {**defaults, **{k: str(v) for k, v in self.parameters.items()}}
        theirs = {**defaults, **{k: str(v) for k, v in other.items()}}
        return mine == theirs

    setattr(has_parameters, _MARK, True)
    Stack.has_parameters = has_parameters  # type: ignore[method-assign]

    def stack_resources(self: Any) -> list[Any]:
        # A resource whose Condition is false (or of a type moto skips) sits in the map as
        # None; AWS does not list it, moto lists it as an entry without a logical id.
        return [r for r in self.resource_map.values() if r is not None]

    Stack.stack_resources = property(stack_resources)  # type: ignore[assignment,method-assign]

    def parameter_list(self: Any) -> list[dict[str, Any]]:
        # AWS masks a NoEcho parameter's value with asterisks in every call that describes the
        # stack; moto 5.2.5 compares the value (not the key) with the NoEcho keys, so it never does.
        # A CommaDelimitedList is described as the comma text it was given (moto: its Python list).
        # moto lists only the NoEcho parameters that were given; AWS masks one left at its
        # Default too (tests/fidelity fixture cloudformation/no_echo).
        slots = (self.template_dict or {}).get("Parameters", {}) or {}
        no_echo = set(self.resource_map.no_echo_parameter_keys) | {
            k for k, v in slots.items() if str(v.get("NoEcho", "")).lower() == "true"
        }
        return [
            {
                "ParameterKey": k,
                "ParameterValue": "****"
                if k in no_echo
                else ",".join(map(str, v))
                if isinstance(v, list)
                else v,
            }
            for k, v in self.resource_map.resolved_parameters.items()
        ]

    Stack.parameter_list = property(parameter_list)  # type: ignore[assignment,method-assign]


def _condition_references(node: Any) -> Any:
    """``{"Fn::Condition": name}`` (moto's reading of YAML's ``!Condition name``) as the
    ``{"Condition": name}`` its condition parser knows."""
    if isinstance(node, dict):
        if set(node) == {"Fn::Condition"}:
            return {"Condition": node["Fn::Condition"]}
        return {k: _condition_references(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_condition_references(v) for v in node]
    return node


def _patch_conditions() -> None:
    """AWS accepts ``!Condition Other`` inside ``!And``/``!Or``/``!Not`` (cfn/sender.yaml uses
    it); moto's YAML loader turns it into ``Fn::Condition``, which its parser evaluates as false,
    so every resource behind such a condition was silently left out."""
    from moto.cloudformation import parsing

    original = parsing.parse_condition
    if getattr(original, _MARK, False):
        return

    def parse_condition(condition: Any, resources_map: Any, condition_map: Any) -> Any:
        return original(_condition_references(condition), resources_map, condition_map)

    setattr(parse_condition, _MARK, True)
    parsing.parse_condition = parse_condition


def install() -> None:
    """Register the Logs resource types with moto's CloudFormation and apply the fixes."""
    from moto.cloudformation import parsing

    _patch_conditions()
    _patch_change_sets()
    _patch_kinesis_stream()
    _patch_s3_bucket()
    # moto caches its type registry on first use: make it see the classes above.
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
