"""Lambda event source mapping API as AWS answers it (moto 5.2.5 answers otherwise).

Recorded on AWS (fixtures under ``tests/fidelity/fixtures/lambda/``):

- ``CreateEventSourceMapping`` answers **202** with ``State: Creating`` (moto: 201 ``Enabled``);
  the mapping becomes ``Enabled`` (or ``Disabled``) a moment later. A stream mapping lists AWS's
  defaults: ``MaximumRetryAttempts``/``MaximumRecordAgeInSeconds`` -1,
  ``BisectBatchOnFunctionError`` false, ``FunctionResponseTypes`` [], ``DestinationConfig``
  ``{"OnFailure": {}}``, ``ParallelizationFactor`` 1, ``TumblingWindowInSeconds`` 0,
  ``MaximumBatchingWindowInSeconds`` 0, ``LastProcessingResult`` "No records processed",
  ``StateTransitionReason`` "User action" (moto leaves them out, so a reader sees no retry
  policy at all).
- A second mapping for the same stream and function is refused: 409
  ``ResourceConflictException`` naming the existing UUID (moto accepts it, and the emulator then
  delivers every record twice).
- ``MaximumRecordAgeInSeconds`` other than -1 or 60..604800 is refused with
  ``InvalidParameterValueException`` (moto accepts 1 s).
- A Kinesis mapping needs ``StartingPosition`` (moto defaults to TRIM_HORIZON), one of LATEST,
  AT_TIMESTAMP, TRIM_HORIZON; a stream that does not exist is "Stream not found: <arn>".
- ``UpdateEventSourceMapping`` answers 202 with ``Disabling``/``Enabling``/``Updating``; Get,
  Update and Delete of an unknown UUID answer 404 ``ResourceNotFoundException`` (moto: an empty
  404 body, which boto3 reads as an unnamed error).

- ``UpdateFunctionConfiguration`` sets a new ``LastModified`` (AWS: every update does; moto kept
  the creation time, so the mapping emulator, which starts a fresh environment when it changes,
  ran a function with its old environment after an update).

How long a mapping stays in a transitional state is :data:`TRANSITION_S` (AWS: seconds; not
recorded, see ``xaccount_ops/local/README.md``), set from ``XACCOUNT_OPS_LOCAL_ESM_TRANSITION_S``.

``install()`` patches moto's classes in place, once per process.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from moto.core.exceptions import JsonRESTError

_MARK = "_moto_ext_lambda"
TRANSITION_S = float(os.environ.get("XACCOUNT_OPS_LOCAL_ESM_TRANSITION_S", "0.5"))
RECORD_AGE_MIN_S = 60
RECORD_AGE_MAX_S = 604_800
STARTING_POSITIONS = ("LATEST", "AT_TIMESTAMP", "TRIM_HORIZON")
STREAM_SOURCES = ("kinesis", "dynamodb")
STREAM_DEFAULTS: dict[str, Any] = {
    "max_record_age": -1,
    "max_retry_attempts": -1,
    "bisect_on_error": False,
    "function_response_types": [],
    "destination_config": {"OnFailure": {}},
    "parallelization_factor": 1,
    "tumbling_window": 0,
    "max_batch_window": 0,
}
# Transitional state -> where it settles.
_SETTLES = {"Creating": None, "Enabling": "Enabled", "Disabling": "Disabled", "Updating": None}
_LOCK = threading.Lock()


class LambdaUserError(JsonRESTError):
    """A Lambda client error in AWS's shape: ``{"Type": "User", "message": ...}``."""

    def __init__(self, code: str, message: str, status: int = 400, key: str = "message") -> None:
        super().__init__(code, message)
        self.code = status
        self.description = json.dumps({"Type": "User", key: message})


def not_found() -> LambdaUserError:
    return LambdaUserError(
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        status=404,
        key="Message",
    )


def check_record_age(value: Any) -> None:
    """-1 (forever) or 60..604800, AWS's rule (its text: fixture maximum_record_age_validation)."""
    if value is None:
        return
    age = int(value)
    if age != -1 and not RECORD_AGE_MIN_S <= age <= RECORD_AGE_MAX_S:
        raise LambdaUserError(
            "InvalidParameterValueException",
            "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 "
            "(inclusive)",
        )


def _service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2].lower() if len(parts) > 2 else ""


def _check_create(backend: Any, spec: dict[str, Any]) -> None:
    """AWS's refusals, in AWS's order: starting position, record age, stream, duplicate."""
    from moto.kinesis.models import kinesis_backends

    source = spec.get("EventSourceArn") or ""
    if _service(source) == "kinesis":
        position = spec.get("StartingPosition")
        if not position:
            raise LambdaUserError(
                "InvalidParameterValueException",
                "1 validation error detected: Value null at 'startingPosition' failed to satisfy "
                "constraint: Member must not be null.",
            )
        if position not in STARTING_POSITIONS:
            raise LambdaUserError(
                "ValidationException",
                f"1 validation error detected: Value '{position}' at 'startingPosition' failed "
                "to satisfy constraint: Member must satisfy enum value set: "
                "[LATEST, AT_TIMESTAMP, TRIM_HORIZON]",
            )
    check_record_age(spec.get("MaximumRecordAgeInSeconds"))
    if _service(source) == "kinesis":
        streams = kinesis_backends[backend.account_id][backend.region_name].streams.values()
        if not any(s.arn == source for s in streams):
            raise LambdaUserError("InvalidParameterValueException", f"Stream not found: {source}")
    name = spec.get("FunctionName") or ""
    try:
        function_arn = backend.get_function(name).function_arn
    except Exception:
        return  # moto's own "function not found" answers
    for existing in backend._event_source_mappings.values():
        if existing.event_source_arn == source and existing.function_arn == function_arn:
            raise LambdaUserError(
                "ResourceConflictException",
                f'The event source arn (" {source} ") and function (" {name} ") provided '
                "mapping already exists. Please update or delete the existing mapping with "
                f"UUID {existing.uuid}",
                status=409,
            )


def _set_state(esm: Any, state: str) -> None:
    esm._xacct_state = state
    esm._xacct_since = time.monotonic()


def state_of(esm: Any) -> str:
    """The mapping's state now: a transitional one settles after :data:`TRANSITION_S`."""
    state = getattr(esm, "_xacct_state", None)
    if state is None:
        return "Enabled" if esm.enabled else "Disabled"
    if state in _SETTLES and time.monotonic() - esm._xacct_since >= TRANSITION_S:
        settled = _SETTLES[state] or ("Enabled" if esm.enabled else "Disabled")
        _set_state(esm, settled)
        return settled
    return str(state)


def install() -> None:
    """Patch moto's Lambda backend, mapping model and responses (idempotent)."""
    from moto.awslambda import models, responses

    if getattr(models.LambdaBackend, _MARK, False):
        return

    plain_init = models.EventSourceMapping.__init__
    plain_config = models.EventSourceMapping.get_configuration
    plain_create = models.LambdaBackend.create_event_source_mapping
    plain_update = models.LambdaBackend.update_event_source_mapping
    plain_function_config = models.LambdaFunction.get_configuration

    def function_config(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Environment values as strings: the API's ``Map<String, String>`` (moto keeps a
        template's Number parameter, e.g. ``LogzioRequestTimeoutSeconds``, as an int)."""
        config: dict[str, Any] = plain_function_config(self, *args, **kwargs)
        variables = (config.get("Environment") or {}).get("Variables")
        if variables:
            config["Environment"] = {"Variables": {k: str(v) for k, v in variables.items()}}
        return config

    def esm_init(self: Any, spec: dict[str, Any]) -> None:
        plain_init(self, spec)
        if self._get_service_source_from_arn() in STREAM_SOURCES:
            for attr, default in STREAM_DEFAULTS.items():
                if getattr(self, attr, None) is None:
                    setattr(self, attr, json.loads(json.dumps(default)))
            if spec.get("StartingPosition") is None:
                self.starting_position = None  # AWS keeps what was given (it is required)
        _set_state(self, "Creating")

    def esm_config(self: Any) -> dict[str, Any]:
        config: dict[str, Any] = plain_config(self)
        config["State"] = state_of(self)
        config["StateTransitionReason"] = "User action"
        config["LastProcessingResult"] = getattr(
            self, "last_processing_result", "No records processed"
        )
        if not config.get("Tags"):
            config.pop("Tags", None)  # AWS lists tags through ListTags, not here
        return config

    def create(self: Any, spec: dict[str, Any]) -> Any:
        with _LOCK:  # the duplicate check and the insert are one step
            _check_create(self, spec)
            return plain_create(self, spec)

    def update(self: Any, uuid: str, spec: dict[str, Any]) -> Any:
        esm = self.get_event_source_mapping(uuid)
        if esm is None:
            raise not_found()
        check_record_age(spec.get("MaximumRecordAgeInSeconds"))
        was_enabled = bool(esm.enabled)
        result = plain_update(self, uuid, spec)
        if "Enabled" in spec and bool(spec["Enabled"]) != was_enabled:
            _set_state(esm, "Enabling" if spec["Enabled"] else "Disabling")
        elif was_enabled:
            _set_state(esm, "Updating")
        # A disabled mapping's other settings change while it stays Disabled (an assumption).
        return result

    def create_response(self: Any) -> Any:
        mapping = self.backend.create_event_source_mapping(self.json_body)
        return 202, {"status": 202}, json.dumps(mapping.get_configuration())

    plain_get = responses.LambdaResponse.get_event_source_mapping
    plain_delete = responses.LambdaResponse.delete_event_source_mapping

    def get_response(self: Any) -> Any:
        if self.backend.get_event_source_mapping(self.path.rstrip("/").split("/")[-1]) is None:
            raise not_found()
        return plain_get(self)

    def delete_response(self: Any) -> Any:
        if self.backend.get_event_source_mapping(self.path.rstrip("/").split("/")[-1]) is None:
            raise not_found()
        return plain_delete(self)

    plain_update_configuration = models.LambdaFunction.update_configuration

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        from moto.core.utils import iso_8601_datetime_with_nanoseconds

        self.last_modified = iso_8601_datetime_with_nanoseconds()
        result: dict[str, Any] = plain_update_configuration(self, config_updates)
        return result

    models.LambdaFunction.update_configuration = update_configuration  # type: ignore[method-assign]
    models.EventSourceMapping.__init__ = esm_init  # type: ignore[method-assign]
    models.EventSourceMapping.get_configuration = esm_config  # type: ignore[method-assign]
    models.LambdaFunction.get_configuration = function_config  # type: ignore[method-assign]
    models.LambdaBackend.create_event_source_mapping = create  # type: ignore[method-assign]
    models.LambdaBackend.update_event_source_mapping = update  # type: ignore[method-assign]
    responses.LambdaResponse.create_event_source_mapping = create_response  # type: ignore[method-assign]
    responses.LambdaResponse.get_event_source_mapping = get_response  # type: ignore[method-assign]
    responses.LambdaResponse.delete_event_source_mapping = delete_response  # type: ignore[method-assign]
    setattr(models.LambdaBackend, _MARK, True)
