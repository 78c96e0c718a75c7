"""Lambda event source mapping emulator: Kinesis shards → the *deployed* function, AWS's semantics.

moto stores event source mappings but never delivers (without Docker it only writes "error running
docker" into the function's log group on every put). :class:`EsmEmulator` does what Lambda's
pollers do, over HTTP against the moto server:

- every :data:`DISCOVERY_INTERVAL_S` it lists the mappings of every (account, region) whose moto
  Lambda backend holds any (found in-process: ``lambda_backends``; listing accounts through
  Organizations would spend that API's 1 TPS quota under the pace middleware), and runs one
  poller thread per shard of each Enabled Kinesis mapping; disabled or deleted mappings stop,
  and a re-enabled one resumes after its last checkpoint;
- a poller reads from ``StartingPosition`` (TRIM_HORIZON / LATEST / AT_TIMESTAMP) and forms
  batches of at most ``BatchSize`` records (6 MB payload cap), waiting up to
  ``MaximumBatchingWindowInSeconds`` to fill one;
- it invokes the deployed code: ``get_function`` for the configuration; the zip itself from the
  in-process backend (moto's ``Code.Location`` names a bucket that does not exist), extracted
  into ``work_dir/<function>/<sha256>/`` and run by :mod:`lambda_runner` in one long-lived child
  process per function version, with the function's environment, its role's credentials and
  ``AWS_ENDPOINT_URL``;
- results follow Lambda: ``ReportBatchItemFailures`` checkpoints before the lowest reported
  sequence number and retries from there; a function error (exception, timeout, crash) fails the
  whole batch, bisected when ``BisectBatchOnFunctionError``; after ``MaximumRetryAttempts``
  (-1 is capped at :data:`INFINITE_RETRY_CAP`) or ``MaximumRecordAgeInSeconds`` the AWS
  on-failure record goes to ``DestinationConfig.OnFailure`` and the batch is skipped: to an SQS
  queue the metadata only, to an S3 bucket (``arn:aws:s3:::name``) the metadata plus the whole
  invocation event as ``payload``, at AWS's key layout (see :func:`failure_object_key`);
- the child's output goes to ``/aws/lambda/<function>`` (stream ``YYYY/MM/DD/[$LATEST]<hex>``,
  with START/END/REPORT lines), and Invocations/Errors/Duration/IteratorAge to ``AWS/Lambda``.

Not emulated: ParallelizationFactor > 1 (one batch per shard at a time), FilterCriteria,
tumbling windows, SNS on-failure destinations, enhanced fan-out consumers, reserved concurrency.

moto 5.2.5 keeps every mapping property (FunctionResponseTypes, BisectBatchOnFunctionError,
DestinationConfig, MaximumRetryAttempts...) through the API, so mappings are read over HTTP.

Modules: :mod:`.model` (records and timings), :mod:`.aws` (clients, logs and metrics, moto
hooks), :mod:`.runtime` (function runtimes, the child processes), :mod:`.poller` (one thread per
shard, retries and on-failure records), :mod:`.emulator` (mapping discovery, :class:`EsmEmulator`).

>>> esm = EsmEmulator(aws_endpoint="http://127.0.0.1:5000", work_dir="/tmp/lambda").start()  # doctest: +SKIP
>>> esm.wait_idle(10)  # doctest: +SKIP
True
"""

from xaccount_ops.local.esm.aws import disable_moto_kinesis_delivery
from xaccount_ops.local.esm.emulator import EsmEmulator
from xaccount_ops.local.esm.model import (
    DISCOVERY_INTERVAL_S,
    INFINITE_RETRY_CAP,
    POLL_INTERVAL_S,
    FunctionSpec,
    InvokeError,
    InvokeResult,
    MappingConfig,
    Record,
)
from xaccount_ops.local.esm.poller import (
    ShardPoller,
    failure_object_key,
    failure_record,
    is_s3_destination,
)
from xaccount_ops.local.esm.runtime import FunctionRuntime

__all__ = [
    "DISCOVERY_INTERVAL_S",
    "INFINITE_RETRY_CAP",
    "POLL_INTERVAL_S",
    "EsmEmulator",
    "FunctionRuntime",
    "FunctionSpec",
    "InvokeError",
    "InvokeResult",
    "MappingConfig",
    "Record",
    "ShardPoller",
    "disable_moto_kinesis_delivery",
    "failure_object_key",
    "failure_record",
    "is_s3_destination",
]
