"""Tables that stay readable for a fleet: a rollup first, then the exceptions, then the details.

A result over 200 (account, region) targets is thousands of rows; printed whole, the one thing
that matters (47 groups skipped for the same reason, one region without a destination) is lost
in it. Every report and CLI table here is laid out the same way:

1. **rollup**: rows counted by status (and by check, when the frame has one), then by region,
   then the accounts with exceptions (at most :data:`TARGET_ROWS`, or one line when every
   account has the same ones);
2. **exceptions**: the rows that are not ok, identical ones (same status, check and reason)
   folded into one line with how many and where (at most :data:`EXCEPTION_ROWS`);
3. **details**: every row, collapsed (``<details>`` in HTML, ``--all`` on the CLI).

HTML cells are left-aligned, a missing value is ``-`` (never ``<NA>``), an ARN shows its name
with the whole ARN on hover (``title``), and long values wrap only at separators (``/ : , _ .
-``), never inside a word.

>>> view = View(status="severity", ok=("info",), check="check", why=("finding",))
>>> html = fleet_html(findings, view, title="Audit findings")  # doctest: +SKIP
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


MISSING = "-"
TARGET_ROWS = 10  # accounts x regions listed in the rollup; the rest are counted
EXCEPTION_ROWS = 15  # folded exception lines shown before "and N more in the details"
_ARN = re.compile(r"^arn:aws[\w-]*:[\w-]+:[\w-]*:\d*:(.+)$")
_SEPARATOR = re.compile(r"([/:,_.=|\-]+)")
_LONG = re.compile(r"[^\s]{13,}")
_ANY = re.compile(r"[^\s]+")
_RUN = re.compile(r"[A-Za-z0-9]{24}(?=[A-Za-z0-9])")

# Scoped to these tables: left-aligned, no break inside a word (only at the <wbr> we insert).
TABLE_CSS = """<style>
table.xacct-table { border-collapse: collapse; margin: 0.3em 0 0.8em; font-size: 12px; }
table.xacct-table th, table.xacct-table td {
  text-align: left !important; vertical-align: top; padding: 0.15em 0.6em 0.15em 0;
  white-space: normal !important; overflow-wrap: normal !important; word-break: normal !important;
  hyphens: none; border-bottom: 1px solid #eee;
}
table.xacct-table th { font-weight: 600; border-bottom: 1px solid #ccc; }
/* Wide tables (an inventory has 20 columns): smaller type rather than a page wider than the window. */
table.xacct-table:has(tr > :nth-child(12)) { font-size: 10px; }
table.xacct-table:has(tr > :nth-child(12)) th, table.xacct-table:has(tr > :nth-child(12)) td {
  padding-right: 0.4em;
}
table.xacct-table td.num { text-align: right !important; font-variant-numeric: tabular-nums; }
.xacct-view h4 { margin: 0.6em 0 0.2em; }
.xacct-view p.xacct-note { margin: 0.2em 0; color: #555; }
.xacct-view details summary { cursor: pointer; margin: 0.4em 0; }
</style>"""


@dataclass(frozen=True)
class View:
    """How to read a result frame: which column is its status, which values are fine, and
    which columns say why a row is an exception."""

    status: str
    ok: tuple[str, ...] = ()
    check: str | None = None
    why: tuple[str, ...] = ()
    account: str = "account_id"
    region: str = "region"
    # Columns shown with each folded exception, from its first row (e.g. a fix that names the
    # region, which would otherwise split one kind of exception into one line per region).
    example: tuple[str, ...] = field(default_factory=tuple)

    def columns(self, frame: pd.DataFrame) -> tuple[str | None, str | None]:
        """The frame's account and region columns (``account`` is accepted for the former)."""
        account = next((c for c in (self.account, "account_id", "account") if c in frame), None)
        region = self.region if self.region in frame else None
        return account, region


def exceptions_mask(frame: pd.DataFrame, view: View) -> pd.Series:
    status = frame[view.status].astype("string").fillna(MISSING)
    return ~status.isin(view.ok)


def rollup(frame: pd.DataFrame, view: View) -> pd.DataFrame:
    """Rows counted by status (by check, then status, when the view has a check column)."""
    keys = [c for c in (view.check, view.status) if c and c in frame]
    counted = frame[keys].astype("string").fillna(MISSING).value_counts(sort=False).rename("rows")
    out = counted.reset_index().sort_values(
        ["rows", *keys], ascending=[False, *[True] * len(keys)], ignore_index=True
    )
    return out


def by_region(frame: pd.DataFrame, view: View) -> pd.DataFrame:
    """Rows per region and status (one row per region: a fleet has few regions)."""
    import pandas as pd

    _, region = view.columns(frame)
    if not region:
        return pd.DataFrame()
    status = frame[view.status].astype("string").fillna(MISSING)
    table = pd.crosstab(frame[region].astype("string").fillna(MISSING), status)
    table.columns.name = None
    return table.reset_index()


def by_account(frame: pd.DataFrame, view: View) -> tuple[pd.DataFrame, int, str]:
    """Exceptions per account: the accounts that differ from the usual account (the most
    common breakdown, said in the returned note), the most exceptions first, at most
    :data:`TARGET_ROWS`; and how many more differ."""
    import pandas as pd

    account, _ = view.columns(frame)
    if not account:
        return pd.DataFrame(), 0, ""
    mask = exceptions_mask(frame, view)
    if not mask.any():
        return pd.DataFrame(), 0, ""
    status = frame[view.status].astype("string").fillna(MISSING).where(mask)
    breakdown = status.groupby(frame[account]).agg(
        lambda s: (
            ", ".join(f"{n} {k}" for k, n in s.dropna().value_counts().sort_index().items())
            or "none"
        )
    )
    sizes = mask.groupby(frame[account]).sum()
    usual = breakdown.mode().iloc[0]
    alike = int((breakdown == usual).sum())
    note = f"{alike} of {len(breakdown)} account(s): {usual}" if alike > 1 else ""
    differ = breakdown[breakdown != usual] if alike > 1 else breakdown
    out = pd.DataFrame({"rows": sizes[differ.index], "exceptions": differ}).rename_axis(account)
    out = out.reset_index().sort_values(["rows", account], ascending=[False, True])
    return out.head(TARGET_ROWS).reset_index(drop=True), max(0, len(out) - TARGET_ROWS), note


def folded_exceptions(frame: pd.DataFrame, view: View) -> tuple[pd.DataFrame, int]:
    """The exception rows with identical status, check and reason folded into one line (how many
    rows, over how many accounts and regions, one example); the most frequent first."""
    import pandas as pd

    bad = frame[exceptions_mask(frame, view)]
    keys = [c for c in (view.status, view.check, *view.why) if c and c in frame]
    if bad.empty or not keys:
        return pd.DataFrame(columns=[*keys, "rows"]), 0
    account, region = view.columns(frame)
    shown = bad[keys].astype("string").fillna(MISSING)
    rows = []
    for values, group in bad.groupby([shown[k] for k in keys], sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        row: dict[str, Any] = dict(zip(keys, values, strict=True))
        row["rows"] = len(group)
        if account:
            row["accounts"] = group[account].nunique()
        if region:
            row["regions"] = ", ".join(sorted(map(str, group[region].dropna().unique())))
        first = group.iloc[0]
        example = [str(first[c]) for c in (account, region) if c]
        for column in ("log_group", "resource", "stack", "metric"):
            if column in group and column not in keys and pd.notna(first[column]):
                example.append(str(first[column]))
                break
        row["example"] = " ".join(example)
        for column in view.example:
            if column in group and column not in keys:
                row[column] = first[column]
        rows.append(row)
    out = pd.DataFrame(rows).sort_values("rows", ascending=False, kind="stable")
    return out.head(EXCEPTION_ROWS).reset_index(drop=True), max(0, len(out) - EXCEPTION_ROWS)


# -- HTML ---------------------------------------------------------------------------------------


def short_arn(value: str) -> str:
    """An ARN's resource name (``arn:aws:logs:us-east-1:1111:destination:x`` -> ``x``);
    anything else unchanged."""
    match = _ARN.match(value)
    if not match:
        return value
    return re.split(r"[:/]", match.group(1))[-1] or value


def cell_html(value: Any) -> str:
    """One cell: ``-`` for missing, an ARN as its name with the ARN as the title, break points
    only at separators of long values."""
    import pandas as pd

    if value is None or (not isinstance(value, list | tuple | dict) and pd.isna(value)):
        return MISSING
    text = str(value)
    if isinstance(value, float):
        text = f"{value:,.3f}".rstrip("0").rstrip(".")
    short = short_arn(text)
    shown = _breakable(short)
    if short != text:
        return f'<span title="{html_lib.escape(text)}">{shown}</span>'
    return shown


def _breakable(text: str, *, short: bool = False) -> str:
    """Escaped, with ``<wbr>`` after separators in tokens of 13+ characters (any length with
    ``short``), and inside very long runs of letters and digits, which have no separator."""

    def token(match: re.Match[str]) -> str:
        parts = _SEPARATOR.split(match.group(0))
        out = []
        for part in parts:
            escaped = html_lib.escape(part)
            if _SEPARATOR.fullmatch(part):
                out.append(escaped + "<wbr>")
            else:
                out.append(_RUN.sub(lambda run: run.group(0) + "<wbr>", escaped))
        return "".join(out)

    pieces = []
    last = 0
    for match in (_ANY if short else _LONG).finditer(text):
        pieces.append(html_lib.escape(text[last : match.start()]))
        pieces.append(token(match))
        last = match.end()
    pieces.append(html_lib.escape(text[last:]))
    return "".join(pieces)


def table_html(frame: pd.DataFrame, *, numeric: Sequence[str] = ()) -> str:
    """``frame`` as a plain HTML table (no index), cells as :func:`cell_html`."""
    import pandas as pd

    if frame.empty:
        return '<p class="xacct-note">(no rows)</p>'
    numbers = set(numeric) | {
        c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and c not in numeric
    }
    # Headers break at their underscores too (incoming_mb_per_day): a wide table fits the page.
    head = "".join(f"<th>{_breakable(str(c), short=True)}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = "".join(
            f'<td class="num">{cell_html(v)}</td>' if c in numbers else f"<td>{cell_html(v)}</td>"
            for c, v in zip(frame.columns, row, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<table class="xacct-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def fleet_html(
    frame: pd.DataFrame, view: View, *, title: str = "", details: pd.DataFrame | None = None
) -> str:
    """The rollup, the exceptions and the collapsed details of ``frame`` as one HTML block.

    ``details`` replaces the frame in the collapsed part (e.g. with wide columns dropped).
    """
    account, region = view.columns(frame)
    parts = [TABLE_CSS, '<div class="xacct-view">']
    if title:
        parts.append(f"<h4>{html_lib.escape(title)}</h4>")
    where = []
    if account:
        where.append(f"{frame[account].nunique()} account(s)")
    if region:
        where.append(f"{frame[region].nunique()} region(s)")
    parts.append(
        f'<p class="xacct-note">{len(frame)} row(s)'
        + (f" over {' x '.join(where)}" if where else "")
        + "</p>"
    )
    if frame.empty:
        parts.append("</div>")
        return "".join(parts)
    parts.append(table_html(rollup(frame, view)))
    bad = int(exceptions_mask(frame, view).sum())
    regions = by_region(frame, view)
    if len(regions) > 1:
        parts.append("<h4>By region</h4>" + table_html(regions))
    if bad == 0:
        parts.append('<p class="xacct-note">No exceptions: every row is ok.</p>')
    else:
        accounts, more_accounts, same = by_account(frame, view)
        if same:
            parts.append(
                f'<p class="xacct-note">Exceptions by account: {html_lib.escape(same)}</p>'
            )
        elif not accounts.empty:
            parts.append("<h4>Exceptions by account</h4>" + table_html(accounts))
            if more_accounts:
                parts.append(
                    f'<p class="xacct-note">... and {more_accounts} more account(s) with '
                    "exceptions, in the details below</p>"
                )
        folded, more = folded_exceptions(frame, view)
        parts.append(f"<h4>Exceptions ({bad} row(s), identical ones folded)</h4>")
        parts.append(table_html(folded))
        if more:
            parts.append(
                f'<p class="xacct-note">... and {more} more kind(s), in the details below</p>'
            )
    shown = frame if details is None else details
    parts.append(
        f"<details><summary>All {len(shown)} row(s)</summary>{table_html(shown)}</details>"
    )
    parts.append("</div>")
    return "".join(parts)


# -- text (the CLI) -----------------------------------------------------------------------------


def fleet_text(frame: pd.DataFrame, view: View, render: Any) -> str:
    """The rollup and the folded exceptions as text tables (``render(frame)`` formats one), for a
    terminal; the CLI prints every row with ``--all``."""
    lines = []
    lines.append(render(rollup(frame, view)))
    regions = by_region(frame, view)
    if len(regions) > 1:
        lines.append("By region:\n" + render(regions))
    accounts, more_accounts, usual = by_account(frame, view)
    if usual:
        lines.append(f"Exceptions by account: {usual}" + (", except:" if len(accounts) else ""))
    if not accounts.empty:
        lines.append(("" if usual else "Exceptions by account:\n") + render(accounts))
        if more_accounts:
            lines.append(f"... and {more_accounts} more account(s) with exceptions\n")
    folded, more = folded_exceptions(frame, view)
    if not folded.empty:
        lines.append("Exceptions (identical ones folded):\n" + render(folded))
        if more:
            lines.append(f"... and {more} more kind(s)\n")
    lines.append(f"({len(frame)} row(s); --all prints every one)\n")
    return "\n".join(lines)
