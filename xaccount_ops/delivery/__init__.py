"""Delivery after the fact: lines that did not reach Logz.io on the first pass.

- :mod:`replay`: send again what the shipper parked in its failure store.
- :mod:`backfill`: read past events of selected log groups and ship them (checkpointed).
- :mod:`reship`: the shipper's own code and settings, run in-process, used by both.
"""

from xaccount_ops.delivery.backfill import BackfillResult
from xaccount_ops.delivery.replay import ReplayResult
from xaccount_ops.delivery.reship import Reshipper

__all__ = ["BackfillResult", "ReplayResult", "Reshipper"]
