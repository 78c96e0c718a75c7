"""Kinesis behaviour moto 5.2.5 gets wrong for this pipeline.

- ``CreateStream`` with neither ``ShardCount`` nor ``StreamModeDetails`` makes an on-demand
  stream (4 shards), as AWS does; moto divides by the missing shard count (HTTP 500). Recorded
  on AWS: fixture ``tests/fidelity/fixtures/kinesis/create_stream_without_shard_count.json``.

``install()`` patches moto's backend in place, once per process.
"""

from __future__ import annotations

from typing import Any

_MARK = "_moto_ext_kinesis"
ON_DEMAND = {"StreamMode": "ON_DEMAND"}


def install() -> None:
    """Patch moto's Kinesis backend (idempotent)."""
    from moto.kinesis.models import KinesisBackend

    if getattr(KinesisBackend, _MARK, False):
        return
    plain_create = KinesisBackend.create_stream

    def create_stream(
        self: Any,
        stream_name: str,
        shard_count: int | None,
        stream_mode: dict[str, str] | None = None,
        retention_period_hours: int | None = None,
    ) -> Any:
        if shard_count is None and not stream_mode:
            stream_mode = dict(ON_DEMAND)
        return plain_create(
            self,
            stream_name,
            shard_count,  # type: ignore[arg-type]
            stream_mode=stream_mode,
            retention_period_hours=retention_period_hours,
        )

    KinesisBackend.create_stream = create_stream  # type: ignore[method-assign]
    setattr(KinesisBackend, _MARK, True)
