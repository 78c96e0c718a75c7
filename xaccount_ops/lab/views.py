"""What the notebooks show for each result: :mod:`xaccount_ops.lab.tables` views, one per kind.

Each function takes the result's frame (as the job returns it) and returns one HTML block: the
rollup, the exceptions, then every row collapsed. Which values count as fine is said here, once:

- subscription plan: ``create``/``update``/``adopt``/``delete``/``unchanged`` (``skip`` is the
  exception, with its reason); apply: ``created``/``updated``/... (not ``failed``/``skipped``);
- audit findings: ``info`` is fine, ``warning``/``error`` are exceptions, folded by check and fix;
- inventory: a group that ships is fine; canaries: ``delivered``; health: ``ok``;
- reconcile: ``agree`` and ``no events``; ``short``, ``over`` and ``noted`` are exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xaccount_ops.lab.tables import View, fleet_html, table_html

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "apply_html",
    "canary_html",
    "cost_html",
    "findings_html",
    "health_html",
    "inventory_html",
    "plan_html",
    "reconcile_findings_html",
    "reconcile_html",
    "shown",
    "table_html",
]

PLAN_OK = ("create", "update", "adopt", "delete", "unchanged")
APPLY_OK = ("created", "updated", "adopted", "deleted", "unchanged")
# Wide columns kept for the details only.
PLAN_WIDE = ("destination_arn", "selection_criteria", "current_filters", "mode")

PLAN_VIEW = View(status="action", ok=PLAN_OK, why=("reason",), account="account")
APPLY_VIEW = View(status="status", ok=APPLY_OK, why=("reason", "error"), account="account")
FINDINGS_VIEW = View(
    status="severity", ok=("info",), check="check", why=("finding",), example=("fix",)
)
INVENTORY_VIEW = View(status="shipping", ok=("ships",), why=("note",))
CANARY_VIEW = View(status="status", ok=("delivered",), why=("hop",))
# A group without events in the window says nothing about loss: counted, not an exception.
RECONCILE_VIEW = View(status="verdict", ok=("agree", "no events"))
HEALTH_VIEW = View(status="status", ok=("ok",), check="metric", why=("detail",))


def _narrow(frame: pd.DataFrame, wide: Sequence[str]) -> pd.DataFrame:
    return frame.drop(columns=[c for c in wide if c in frame])


def plan_html(frame: pd.DataFrame, title: str = "Plan") -> str:
    """A subscription plan (``subscriptions.plan(...).frame``)."""
    return fleet_html(frame, PLAN_VIEW, title=title, details=_narrow(frame, PLAN_WIDE))


def apply_html(frame: pd.DataFrame, title: str = "Applied") -> str:
    """What ``subscriptions.apply`` did, per row (``ApplyResult.frame``)."""
    view = APPLY_VIEW if "status" in frame else PLAN_VIEW
    return fleet_html(frame, view, title=title, details=_narrow(frame, PLAN_WIDE))


def findings_html(frame: pd.DataFrame, title: str = "Findings") -> str:
    """Audit findings (``audit.audit(...)``)."""
    return fleet_html(frame, FINDINGS_VIEW, title=title)


def inventory_html(frame: pd.DataFrame, title: str = "Log groups") -> str:
    """An inventory frame (``inventory.log_groups(...).frame``): shipping or not, per group."""
    shown = frame.assign(
        shipping=frame["ships"].map({True: "ships", False: "not shipping"}).astype("string")
    )
    wide = ("filters", "tags", "arn", "kms_key_id", "ships")
    return fleet_html(shown, INVENTORY_VIEW, title=title, details=_narrow(shown, wide))


def canary_html(frame: pd.DataFrame, title: str = "Canaries") -> str:
    """A canary run (``verify(...).frame``)."""
    return fleet_html(frame.astype({"status": "string"}), CANARY_VIEW, title=title)


def verdicts(frame: pd.DataFrame, threshold: float, noted: Sequence[tuple] = ()) -> pd.Series:
    """Per reconcile row: ``agree``, ``short``, ``over`` (duplicates), ``no events``, or
    ``noted`` (judged since subscribing, or bounded by a filter pattern: see the findings)."""
    import pandas as pd

    ratio = frame["ratio"].astype("Float64")
    over = 1 + (1 - threshold)
    verdict = pd.Series("agree", index=frame.index, dtype="string")
    verdict = verdict.mask(ratio.isna(), "no events")
    verdict = verdict.mask(ratio.fillna(1) < threshold, "short")
    verdict = verdict.mask(ratio.fillna(1) > over, "over")
    if noted:
        keys = list(zip(frame["account_id"], frame["region"], frame["log_group"], strict=True))
        verdict = verdict.mask(
            pd.Series([k in set(noted) for k in keys], index=frame.index), "noted"
        )
    return verdict


def reconcile_html(
    frame: pd.DataFrame,
    *,
    threshold: float,
    findings: pd.DataFrame | None = None,
    title: str = "Reconcile",
) -> str:
    """Reconcile counts (``reconcile(...).frame``), with each group's verdict; the findings'
    noted groups (pattern-bounded, subscribed inside the window) are ``noted``, not short."""
    noted: list[tuple] = []
    if findings is not None and not findings.empty:
        quiet = findings[~findings["short"].fillna(False).astype(bool)]
        if "over" in quiet:
            quiet = quiet[~quiet["over"].fillna(False).astype(bool)]
        noted = list(zip(quiet["account_id"], quiet["region"], quiet["log_group"], strict=True))
    shown = frame.assign(verdict=verdicts(frame, threshold, noted))
    return fleet_html(shown, RECONCILE_VIEW, title=title)


def health_html(frame: pd.DataFrame, title: str = "Health") -> str:
    """A health snapshot (``health(...)``)."""
    return fleet_html(frame.astype({"status": "string"}), HEALTH_VIEW, title=title)


COST_ROWS = 10  # the most expensive targets listed above the collapsed details


def cost_html(frame: pd.DataFrame, title: str = "Cost per month") -> str:
    """An estimate with its total row (``Estimate.with_total()``): the total first, then the
    most expensive targets, then every row collapsed."""
    import html as html_lib

    from xaccount_ops.lab.tables import TABLE_CSS

    total = frame[frame["account_id"] == "total"]
    rows = frame[frame["account_id"] != "total"]
    top = rows.sort_values("monthly_usd", ascending=False).head(COST_ROWS)
    return (
        f'{TABLE_CSS}<div class="xacct-view"><h4>{html_lib.escape(title)}</h4>'
        f"{table_html(total)}<h4>The {len(top)} most expensive of {len(rows)} target(s)</h4>"
        f"{table_html(top)}<details><summary>All {len(rows)} row(s)</summary>"
        f"{table_html(rows)}</details></div>"
    )


def shown(block: str) -> Any:
    """An HTML block as a notebook displays it."""
    from IPython.display import HTML

    return HTML(block)


FINDINGS_KIND_VIEW = View(status="kind", ok=("noted",), check="hop", why=("fix",))


def reconcile_findings_html(findings: pd.DataFrame, title: str = "Findings") -> str:
    """Reconcile findings: short and over groups are the exceptions; noted ones (a filter
    pattern bounds the count, or subscribed inside the window) are counted, then collapsed."""
    import pandas as pd

    short = findings["short"].fillna(False).astype(bool)
    over = findings["over"].fillna(False).astype(bool) if "over" in findings else short & False
    kind = pd.Series("noted", index=findings.index, dtype="string")
    kind = kind.mask(short, "short").mask(over, "over")
    shown = findings.assign(kind=kind, hop=findings["hop"].astype("string"))
    return fleet_html(shown, FINDINGS_KIND_VIEW, title=title)
