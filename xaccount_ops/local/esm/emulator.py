"""The emulator: discovers the enabled Kinesis mappings of every (account, region) and runs a
poller per shard; sends on-failure records to their destinations."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xaccount_ops.local.esm.aws import (
    Aws,
    Telemetry,
    disable_moto_kinesis_delivery,
    mapping_locations,
)
from xaccount_ops.local.esm.model import DISCOVERY_INTERVAL_S, InvokeError, MappingConfig, arn_parts
from xaccount_ops.local.esm.poller import ShardPoller, failure_object_key, is_s3_destination
from xaccount_ops.local.esm.runtime import Functions

log = logging.getLogger(__name__)

# A mapping is polled once Enabled (AWS: not while Creating or Enabling), and keeps being polled
# while an update of an enabled mapping is applied. moto_ext.awslambda settles the states.
_ENABLED_STATES = frozenset({"Enabled", "Updating"})


@dataclass
class _MappingState:
    config: MappingConfig
    pollers: dict[str, ShardPoller] = field(default_factory=dict)
    shards_checked: float = 0.0


class EsmEmulator:
    """Runs every enabled Kinesis event source mapping of the moto server at ``aws_endpoint``."""

    def __init__(
        self,
        *,
        aws_endpoint: str,
        work_dir: str | os.PathLike[str],
        locations: Callable[[], set[tuple[str, str]]] | None = None,
    ) -> None:
        self.aws_endpoint = aws_endpoint
        self.work_dir = Path(work_dir)
        self._locations = locations or mapping_locations
        self._aws = Aws(aws_endpoint)
        self._telemetry = Telemetry(self._aws)
        self._functions = Functions(self._aws, self._telemetry, self.work_dir)
        self._configs: dict[str, MappingConfig] = {}
        self._mappings: dict[str, _MappingState] = {}
        self._checkpoints: dict[tuple[str, str], str] = {}
        self._stop = threading.Event()
        # Record ages pass this many times faster than real time: 1.0 as in AWS; a test sets
        # e.g. 60.0 so that AWS's minimum MaximumRecordAgeInSeconds (60) passes in a second.
        self.record_age_speedup = 1.0
        self._cycle_started = 0.0
        self._cycle_done = 0.0  # start time of the latest completed discovery cycle
        self._thread = threading.Thread(target=self._run, name="esm-discovery", daemon=True)

    # lifecycle

    def start(self) -> EsmEmulator:
        disable_moto_kinesis_delivery()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._telemetry.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        """End pollers, child processes and threads (well under 2 s)."""
        self._stop.set()
        pollers = [p for m in list(self._mappings.values()) for p in m.pollers.values()]
        for poller in pollers:
            poller.stop()
        self._functions.close()  # unblocks pollers waiting on a child
        deadline = time.monotonic() + 1.0
        self._thread.join(max(0.0, deadline - time.monotonic()))
        for poller in pollers:
            poller.join(max(0.0, deadline - time.monotonic()))
        self._telemetry.stop()

    def __enter__(self) -> EsmEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what callers see

    def wait_idle(self, timeout: float) -> bool:
        """True once every enabled mapping's shards are caught up, nothing is in flight and the
        function logs are written; False if that does not happen within ``timeout`` seconds."""
        asked = time.monotonic()
        deadline = asked + timeout
        while time.monotonic() < deadline:
            if (
                self._cycle_done > asked
                and self._idle_since(asked)
                and not self._telemetry.pending()
            ):
                return True
            time.sleep(0.05)
        return False

    def _idle_since(self, moment: float) -> bool:
        for state in list(self._mappings.values()):
            if not state.pollers:
                return False
            if not all(p.idle_since(moment) for p in list(state.pollers.values())):
                return False
        return True

    def mappings(self) -> dict[str, dict[str, Any]]:
        """Active mappings: uuid → shards, checkpoints and invocation counts (for tests, demos)."""
        return {
            uuid_: {
                "function_arn": state.config.function_arn,
                "stream_arn": state.config.stream_arn,
                "shards": {
                    sid: {"checkpoint": p.checkpoint, "invocations": p.invocations}
                    for sid, p in list(state.pollers.items())
                },
            }
            for uuid_, state in list(self._mappings.items())
        }

    # discovery

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._discover()
                self._cycle_done = started
            except Exception as err:
                log.warning("event source mapping discovery failed: %s", err)
            self._stop.wait(DISCOVERY_INTERVAL_S)

    def _discover(self) -> None:
        seen: dict[str, MappingConfig] = {}
        listed: set[str] = set()
        for account, region in sorted(self._locations()):
            pages = self._aws.client(account, "lambda", region).get_paginator(
                "list_event_source_mappings"
            )
            for page in pages.paginate():
                for raw in page.get("EventSourceMappings", []):
                    if ":kinesis:" not in raw.get("EventSourceArn", ""):
                        continue
                    listed.add(raw["UUID"])
                    if raw.get("State") in _ENABLED_STATES:
                        cfg = MappingConfig.from_api(account, region, raw)
                        seen[cfg.uuid] = cfg
        for gone in set(self._mappings) - set(seen):
            self._retire(gone)
        for uuid_, cfg in seen.items():
            self._configs[uuid_] = cfg
            state = self._mappings.get(uuid_)
            if state is None or state.config.stream_arn != cfg.stream_arn:
                if state is not None:
                    self._retire(uuid_, keep_config=True)
                state = self._mappings[uuid_] = _MappingState(cfg)
            state.config = cfg
            if time.monotonic() - state.shards_checked > 5 or not state.pollers:
                self._sync_shards(state)
        # Forget the checkpoints of deleted mappings; a disabled one resumes from its own.
        for key in [k for k in self._checkpoints if k[0] not in listed]:
            self._checkpoints.pop(key, None)

    def _sync_shards(self, state: _MappingState) -> None:
        cfg = state.config
        region, account, _ = arn_parts(cfg.stream_arn)
        kinesis = self._aws.client(account, "kinesis", region)
        try:
            shards = kinesis.list_shards(StreamARN=cfg.stream_arn)["Shards"]
        except Exception as err:
            log.warning("mapping %s: cannot list shards of %s: %s", cfg.uuid, cfg.stream_arn, err)
            return
        state.shards_checked = time.monotonic()
        for shard in shards:
            sid = shard["ShardId"]
            if sid not in state.pollers:
                after = self._checkpoints.get((cfg.uuid, sid))
                state.pollers[sid] = ShardPoller(self, cfg.uuid, sid, after).start()

    def _retire(self, mapping_uuid: str, keep_config: bool = False) -> None:
        state = self._mappings.pop(mapping_uuid, None)
        if not keep_config:
            self._configs.pop(mapping_uuid, None)
        if state is not None:
            for poller in state.pollers.values():
                poller.stop()
            self._functions.close_lanes(f"{mapping_uuid}/")

    def _send_failure(self, cfg: MappingConfig, shard_id: str, message: dict[str, Any]) -> None:
        destination = cfg.on_failure
        if is_s3_destination(destination):
            # Lambda writes with the function's execution role: the mapping's own account.
            bucket = destination.split(":", 5)[5].split("/", 1)[0]
            s3 = self._aws.client(cfg.account, "s3", cfg.region)
            s3.put_object(
                Bucket=bucket,
                Key=failure_object_key(cfg.uuid, shard_id),
                Body=json.dumps(message).encode(),
                ContentType="application/json",
            )
            return
        region, account, resource = arn_parts(destination)
        if ":sqs:" not in destination:
            raise InvokeError(
                f"only SQS and S3 on-failure destinations are emulated, not {destination}"
            )
        sqs = self._aws.client(account, "sqs", region)
        url = sqs.get_queue_url(QueueName=resource, QueueOwnerAWSAccountId=account)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))
