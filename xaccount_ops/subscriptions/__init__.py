"""Subscriptions: attach the toolkit's subscription filter (or account policy) to the selected log
groups of every sending (account, region), and take it off again. Always plan, then apply.

- :mod:`model`: actions, row schemas, :class:`Plan`, :class:`ApplyResult`.
- :mod:`planning`: :func:`plan` / :func:`remove_plan` (filters mode), :func:`active_filters`.
- :mod:`policy`: account-policy mode (one ``SUBSCRIPTION_FILTER_POLICY`` per account/region).
- :mod:`execute`: :func:`apply`, exactly the plan's change rows.

>>> p = plan(fleet); print(p.summary())  # doctest: +SKIP
>>> result = apply(fleet, p); print(result.summary())  # doctest: +SKIP
"""

from xaccount_ops.subscriptions.execute import apply
from xaccount_ops.subscriptions.model import (
    ALL_GROUPS,
    APPLY_SCHEMA,
    ERROR_SCHEMA,
    PLAN_SCHEMA,
    ApplyResult,
    Plan,
    emit_system_fields_supported,
)
from xaccount_ops.subscriptions.planning import active_filters, plan, remove_plan
from xaccount_ops.subscriptions.policy import policy_document, selection_criteria

__all__ = [
    "ALL_GROUPS",
    "APPLY_SCHEMA",
    "ERROR_SCHEMA",
    "PLAN_SCHEMA",
    "ApplyResult",
    "Plan",
    "active_filters",
    "apply",
    "emit_system_fields_supported",
    "plan",
    "policy_document",
    "remove_plan",
    "selection_criteria",
]
