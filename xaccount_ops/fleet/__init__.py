"""The fleet: which accounts and regions send, what their log groups hold, and what shipping them
would cost. Reads only; the jobs that change things live in ``landing``, ``subscriptions`` and
``delivery``.

- :mod:`accounts`: :class:`Fleet` (config + sessions), :class:`Target`, :func:`fan_out`.
- :mod:`inventory`: every sending log group, its filters and volume.
- :mod:`audit`: findings on the inventory (never expires, unshipped, slots full, ...).
- :mod:`selection`: which groups the config selects, and which are never subscribed.
- :mod:`estimate`: the Logz.io volume and plan a selection implies.
- :mod:`pipeline`: finding the deployed pipeline (destinations, stream, shipper, queue).
"""

from xaccount_ops.fleet.accounts import Fleet, Target, errors_frame, fan_out
from xaccount_ops.fleet.inventory import InventoryResult
from xaccount_ops.fleet.pipeline import Pipeline, discover
from xaccount_ops.fleet.selection import is_pipeline_group, never_subscribed, selection

__all__ = [
    "Fleet",
    "InventoryResult",
    "Pipeline",
    "Target",
    "discover",
    "errors_frame",
    "fan_out",
    "is_pipeline_group",
    "never_subscribed",
    "selection",
]
