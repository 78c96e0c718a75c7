"""Plots for the notebooks and reports (matplotlib, no pyplot state).

Each function takes a frame the library returns and gives a :class:`Plot`: it displays as a PNG
in a notebook (also when run headless, so HTML reports carry it) and keeps the matplotlib
``figure`` for anyone who wants to save or restyle it.

>>> plots.stored_bytes(inventory.summary(result.frame))  # doctest: +SKIP
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

UNITS = ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"), (1, "bytes"))


@dataclass
class Plot:
    """A figure that shows itself as a PNG in a notebook."""

    figure: Figure

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()


def _unit(values: pd.Series) -> tuple[int, str]:
    peak = float(values.max()) if len(values) else 0.0
    return next(((size, name) for size, name in UNITS if peak >= size), (1, "bytes"))


def _empty(title: str, text: str) -> Plot:
    fig = Figure(figsize=(6, 1.5))
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.4, text, ha="center", va="center")
    return Plot(fig)


STORED_ACCOUNTS = 20  # bars beyond this many accounts are unreadable: the largest are shown


def stored_bytes(summary: pd.DataFrame) -> Plot:
    """Stored bytes per account, one bar per region: the whole bar (light) is what is stored,
    the solid part of it what ships, in the region's colour (no hatching to tell apart)."""
    title = "Stored bytes by account and region"
    if summary.empty:
        return _empty(title, "no log groups")
    size, unit = _unit(summary["stored_bytes"].astype("float"))
    table = summary.pivot_table(
        index="account_id", columns="region", values="stored_bytes", aggfunc="sum"
    ).astype("float")
    shipping = summary.pivot_table(
        index="account_id", columns="region", values="shipping_bytes", aggfunc="sum"
    ).astype("float")
    if len(table) > STORED_ACCOUNTS:
        top = table.sum(axis=1).sort_values(ascending=False).index[:STORED_ACCOUNTS]
        title += f" (the {STORED_ACCOUNTS} largest of {len(table)} accounts)"
        table, shipping = table.loc[top], shipping.reindex(top)
    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    width = 0.8 / max(1, len(table.columns))
    positions = range(len(table.index))
    import matplotlib

    palette = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, region in enumerate(table.columns):
        colour = palette[i % len(palette)]
        xs = [p + i * width for p in positions]
        ax.bar(xs, table[region] / size, width, color=colour, alpha=0.3, label=f"{region} stored")
        ax.bar(
            xs, shipping[region].fillna(0) / size, width, color=colour, label=f"{region} shipping"
        )
    ax.set_xticks([p + width * (len(table.columns) - 1) / 2 for p in positions])
    ax.set_xticklabels(table.index, rotation=45 if len(table) > 6 else 0, ha="right")
    ax.set_ylabel(unit)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return Plot(fig)


def coverage(summary: pd.DataFrame) -> Plot:
    """Share of log groups that ship (%), account x region."""
    title = "Coverage: log groups shipping (%)"
    if summary.empty:
        return _empty(title, "no log groups")
    table = summary.pivot_table(
        index="account_id", columns="region", values="coverage_pct", aggfunc="mean"
    ).astype("float")
    return _heatmap(table, title, "%", vmin=0, vmax=100, fmt="{:.0f}%", cmap="RdYlGn")


def latency(frame: pd.DataFrame) -> Plot:
    """Canary latency (s), account x region; a missing path shows as a red ``miss`` cell."""
    title = "Canary latency (s)"
    if frame.empty:
        return _empty(title, "no canaries")
    data = frame.assign(latency=frame["latency_s"].astype("float"))
    table = data.pivot_table(
        index="account_id", columns="region", values="latency", aggfunc="max", dropna=False
    )
    return _heatmap(table.astype("float"), title, "seconds", fmt="{:.1f}", cmap="viridis_r")


def reconcile_ratio(frame: pd.DataFrame, threshold: float = 0.999) -> Plot:
    """Logz.io/CloudWatch event ratio per account x region, summed over log groups: pass a
    reconcile result's ``judged`` frame (the counts each group was judged on) or its ``frame``.
    A grey ``no data`` cell had no events in CloudWatch."""
    title = f"Delivered / received events (short below {threshold:g})"
    if frame.empty:
        return _empty(title, "no shipping log groups")
    totals = frame.groupby(["account_id", "region"], observed=True)[
        ["cloudwatch_events", "logzio_events"]
    ].sum()
    received = totals["cloudwatch_events"].astype("float")
    totals["ratio"] = totals["logzio_events"].astype("float") / received.where(received > 0)
    table = totals["ratio"].unstack("region").astype("float")
    # Red below the threshold, green at 1: the colour scale starts well under the threshold.
    low = min(0.9, float(table.min().min()) if table.notna().any().any() else 0.9)
    return _heatmap(
        table, title, "ratio", fmt="{:.3f}", cmap="RdYlGn", vmin=low, vmax=1.0, missing="no data"
    )


def _heatmap(
    table: pd.DataFrame,
    title: str,
    label: str,
    *,
    fmt: str,
    cmap: str,
    vmin: float | None = None,
    vmax: float | None = None,
    missing: str = "miss",
) -> Plot:
    fig = Figure(figsize=(1.8 + 1.6 * len(table.columns), 1.2 + 0.5 * len(table.index)))
    ax = fig.subplots()
    image = ax.imshow(table.to_numpy(), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(table.columns)), labels=list(table.columns))
    ax.set_yticks(range(len(table.index)), labels=list(table.index))
    for row, account in enumerate(table.index):
        for col, region in enumerate(table.columns):
            value = table.loc[account, region]
            if pd.isna(value):
                ax.add_patch(_miss_patch(col, row, "#c0392b" if missing == "miss" else "#7f8c8d"))
                ax.text(col, row, missing, ha="center", va="center", color="white", weight="bold")
            else:
                r, g, b, _ = image.cmap(image.norm(value))
                ink = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"
                ax.text(col, row, fmt.format(value), ha="center", va="center", color=ink)
    fig.colorbar(image, ax=ax, label=label)
    ax.set_title(title)
    return Plot(fig)


def _miss_patch(col: int, row: int, color: str = "#c0392b"):
    from matplotlib.patches import Rectangle

    return Rectangle((col - 0.5, row - 0.5), 1, 1, color=color)


def store_per_hour(frame: pd.DataFrame) -> Plot:
    """Events in the failure store per hour of their timestamp (``replay.per_hour``)."""
    title = "Failure store: events per hour"
    if frame.empty:
        return _empty(title, "the failure store is empty")
    fig = Figure(figsize=(7, 3))
    ax = fig.subplots()
    hours = pd.to_datetime(frame["hour"], utc=True)
    ax.bar(hours, frame["events"].astype("float"), width=1 / 24 * 0.9, align="edge")
    ax.set_ylabel("events")
    ax.set_xlabel("hour (UTC)")
    ax.set_title(title)
    fig.autofmt_xdate()
    return Plot(fig)


def heartbeat_ages(frame: pd.DataFrame, max_age_s: float = 900.0) -> Plot:
    """Age of each pair's newest heartbeat in Logz.io (``verify.heartbeats.check(...).frame``),
    account x region: green is fresh, red is at twice ``max_age_s``; ``never`` is a red cell."""
    title = f"Heartbeat age (stale beyond {max_age_s / 60:g} min)"
    if frame.empty:
        return _empty(title, "no account/region pairs")
    minutes = frame.assign(age_min=frame["age_s"].astype("float") / 60)
    table = minutes.pivot_table(
        index="account_id", columns="region", values="age_min", aggfunc="max", dropna=False
    ).astype("float")
    return _heatmap(
        table,
        title,
        "minutes",
        fmt="{:.1f}",
        cmap="RdYlGn_r",
        vmin=0,
        vmax=2 * max_age_s / 60,
        missing="never",
    )


def dashboard(data: object) -> Plot:
    """The pipeline dashboard's widgets (``verify.dashboard.dashboard_data``) laid out as the
    CloudWatch console lays them out (24 columns, rows of 6 units), each with its metrics."""
    from matplotlib.dates import DateFormatter

    widgets = getattr(data, "widgets", [])
    frame: pd.DataFrame = getattr(data, "frame", pd.DataFrame())
    title = f"Dashboard {getattr(data, 'name', '')}"
    if not widgets:
        return _empty(title, "no metric widgets")
    unit = 6  # the console's widget height unit in these templates
    rows = max((w.get("y", 0) + w.get("height", unit)) // unit for w in widgets)
    fig = Figure(figsize=(14, 2.8 * rows), layout="constrained")
    grid = fig.add_gridspec(rows, 24)
    for index, widget in enumerate(widgets):
        top, left = widget.get("y", 0) // unit, widget.get("x", 0)
        bottom = top + max(1, widget.get("height", unit) // unit)
        ax = fig.add_subplot(grid[top:bottom, left : left + widget.get("width", 12)])
        ax.set_title(widget.get("properties", {}).get("title", ""), fontsize="small", loc="left")
        mine = frame[frame["widget"] == index] if not frame.empty else frame
        if mine.empty:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        for label, series in mine.groupby("label", sort=False):
            ax.plot(series["timestamp"], series["value"].astype("float"), marker="o", label=label)
        ax.legend(fontsize="x-small", loc="upper left")
        ax.tick_params(labelsize="x-small")
        ax.xaxis.set_major_formatter(DateFormatter("%H:%M"))
    fig.suptitle(title, x=0.01, ha="left")
    return Plot(fig)
