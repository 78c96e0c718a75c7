"""What shipping will cost before it is switched on: volume to Logz.io and the AWS bill per month.

From the inventory and each group's last 24 h of ``AWS/Logs`` ``IncomingBytes`` and
``IncomingLogEvents`` (:func:`xaccount_ops.fleet.inventory.daily_volume`), for the groups that ship or
that ``subscribe`` would subscribe (the same selection), per (account, region) and in total:

- ``gb_per_day``: what reaches Logz.io, the events plus the fields the shipper adds to each line
  (also as ``mb_per_day``: a small fleet's day is well under 0.001 GB);
- Kinesis: one stream in the landing account, priced in the capacity mode the stack will be
  deployed with (``stack.parameters`` ``KinesisStreamMode``, else the template's ``ON_DEMAND``);
  the other mode is priced beside it, with the shard count provisioned mode needs at the peak, and
  the recommendation says which is cheaper;
- Lambda: invocations and GB-seconds for the stack's memory size and architecture;
- CloudWatch Logs: delivery, and the inter-region transfer from regions other than the landing one.

Prices and the assumptions about payload shape live in a dated TOML table shipped with the package
(``xaccount_ops/data/prices.toml``); ``prices=`` takes a copy with other numbers. Nothing here reads
the network beyond the CloudWatch metrics the caller fetched. The shared stream and function are
split over the (account, region) rows in proportion to their bytes, so the rows add up to the total.

>>> result = estimate(config, inv.frame, inventory.daily_volume(fleet, inv.frame))  # doctest: +SKIP
>>> result.total["monthly_usd"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xaccount_ops.config import FILTER_NAME_PREFIX, Config
from xaccount_ops.errors import ConfigError
from xaccount_ops.fleet.selection import never_subscribed, selection

if TYPE_CHECKING:
    import pandas as pd

GB = 1024**3
DAYS_PER_MONTH = 730 / 24
CLOUDWATCH_EVENT_OVERHEAD = 26  # bytes CloudWatch meters per event on top of its message
SECONDS_PER_DAY = 86_400
# Template defaults (cfn/main.yaml) used when stack.parameters does not set them.
DEFAULT_MEMORY_MB = 512
DEFAULT_ARCHITECTURE = "x86_64"
DEFAULT_BATCH_SIZE = 100
DEFAULT_STREAM_MODE = "ON_DEMAND"  # cfn/main.yaml's KinesisStreamMode default
MB = 1024**2

COLUMNS: dict[str, str] = {
    "account_id": "string",
    "region": "string",
    "log_groups": "Int64",
    "events_per_day": "Int64",
    "incoming_gb_per_day": "Float64",
    "gb_per_day": "Float64",
    "incoming_mb_per_day": "Float64",
    "mb_per_day": "Float64",
    "kinesis_usd": "Float64",
    "lambda_usd": "Float64",
    "cloudwatch_usd": "Float64",
    "monthly_usd": "Float64",
}


@dataclass(frozen=True)
class Prices:
    """The price table: ``as_of`` plus its sections as read from TOML."""

    as_of: str
    hours_per_month: float
    kinesis: dict[str, float]
    lambda_: dict[str, float]
    cloudwatch_logs: dict[str, float]
    assumptions: dict[str, float]

    @classmethod
    def load(cls, path: str | Path | None = None) -> Prices:
        """The packaged table, or ``path`` (same keys; a missing key is an error naming it)."""
        if path is None:
            text = resources.files("xaccount_ops").joinpath("data/prices.toml").read_text()
            where = "the packaged price table"
        else:
            try:
                text = Path(path).read_text()
            except OSError as err:
                raise ConfigError("--prices", f"cannot read {path}: {err.strerror}") from None
            where = str(path)
        try:
            raw = tomllib.loads(text)
            return cls(
                as_of=str(raw["as_of"]),
                hours_per_month=float(raw["hours_per_month"]),
                kinesis=_numbers(raw["kinesis"]),
                lambda_=_numbers(raw["lambda"]),
                cloudwatch_logs=_numbers(raw["cloudwatch_logs"]),
                assumptions=_numbers(raw["assumptions"]),
            )
        except tomllib.TOMLDecodeError as err:
            raise ConfigError("--prices", f"{where} is not valid TOML: {err}") from None
        except KeyError as err:
            raise ConfigError(
                "--prices", f"{where} has no {err.args[0]!r}: copy the packaged table and edit it"
            ) from None


def _numbers(table: dict[str, Any]) -> dict[str, float]:
    return {key: float(value) for key, value in table.items()}


@dataclass(frozen=True)
class Recommendation:
    """Stack parameters that fit the volume."""

    stream_mode: str  # KinesisStreamMode: the cheaper mode
    shards: int  # KinesisShardCount for PROVISIONED (and what the peak needs)
    batch_size: int  # KinesisStreamBatchSize
    on_demand_usd: float  # Kinesis per month in each mode, for the comparison
    provisioned_usd: float
    priced_mode: str = DEFAULT_STREAM_MODE  # the mode the rows are priced in (the deploy's)

    def summary(self) -> str:
        text = (
            f"KinesisStreamMode={self.stream_mode}"
            + (f" KinesisShardCount={self.shards}" if self.stream_mode == "PROVISIONED" else "")
            + f" KinesisStreamBatchSize={self.batch_size}"
            f" (Kinesis per month: on-demand ${self.on_demand_usd:,.2f},"
            f" provisioned with {self.shards} shard(s) ${self.provisioned_usd:,.2f})"
        )
        if self.stream_mode != self.priced_mode:
            priced = self.on_demand_usd if self.priced_mode == "ON_DEMAND" else self.provisioned_usd
            cheaper = (
                self.on_demand_usd if self.stream_mode == "ON_DEMAND" else self.provisioned_usd
            )
            text += (
                f"; the estimate prices {self.priced_mode}, what deploy uses now: set "
                f'stack.parameters KinesisStreamMode = "{self.stream_mode}" to save '
                f"${priced - cheaper:,.2f} a month"
            )
        return text


@dataclass
class Estimate:
    """Per (account, region) rows (``COLUMNS``), their total, and the recommended parameters."""

    frame: pd.DataFrame
    total: dict[str, Any]
    recommendation: Recommendation
    prices_as_of: str
    lambda_invocations_per_month: float
    lambda_gb_seconds_per_month: float

    def with_total(self) -> pd.DataFrame:
        """The rows plus a last row ``account_id = "total"`` (for printing)."""
        import pandas as pd

        total = pd.DataFrame([self.total], columns=list(COLUMNS)).astype(COLUMNS)
        return pd.concat([self.frame, total], ignore_index=True)


def selected(config: Config, inventory: pd.DataFrame) -> pd.Series:
    """Groups that ship already or that ``subscribe`` would subscribe (its own selection)."""
    import pandas as pd

    if inventory.empty:
        return pd.Series([], dtype=bool)

    def wanted(row: Any) -> bool:
        if row.ships:
            return True
        if never_subscribed(config, row.log_group):
            return False
        return selection(config, row)[0]

    return pd.Series(
        [wanted(row) for row in inventory.itertuples(index=False)], index=inventory.index
    )


def line_overhead(config: Config, account_id: str, region: str, log_group: str) -> int:
    """Bytes the shipper adds to an event's message on its line (the metadata fields, as JSON).

    Built from the fields every line carries (README, line schema) with a typical log stream name
    and CloudWatch's 56-digit id; close enough for planning, and it tracks long group names.
    """
    fields: dict[str, Any] = {
        "message": "",
        "@timestamp": "2026-01-01T00:00:00.000Z",
        "id": "0" * 56,
        "owner": account_id,
        "region": region,
        "logGroup": log_group,
        "logStream": "2026/01/01/[$LATEST]" + "0" * 32,
        "type": config.logzio.type,
        "messageType": "DATA_MESSAGE",
        "subscriptionFilters": [f"{FILTER_NAME_PREFIX}{region}"],
        **config.logzio.additional_fields,
    }
    return len(json.dumps(fields, separators=(",", ":"))) + 1  # the newline


def estimate(
    config: Config,
    inventory: pd.DataFrame,
    volume: pd.DataFrame,
    *,
    prices: Prices | None = None,
) -> Estimate:
    """Price the selected groups' last 24 h as a steady month (see the module docstring)."""
    import pandas as pd

    prices = prices or Prices.load()
    a = prices.assumptions
    groups = _selected_volume(config, inventory, volume, a)
    params = config.stack.parameters
    memory_gb = float(params.get("FunctionMemorySize", DEFAULT_MEMORY_MB)) / 1024
    arch = str(params.get("FunctionArchitecture", DEFAULT_ARCHITECTURE))
    current_batch = int(params.get("KinesisStreamBatchSize", DEFAULT_BATCH_SIZE))

    per_target = (
        groups.groupby(["account_id", "region"], sort=True)
        .agg(
            log_groups=("log_group", "size"),
            events_per_day=("events", "sum"),
            incoming_bytes=("bytes", "sum"),
            logzio_bytes=("logzio_bytes", "sum"),
            kinesis_bytes=("kinesis_bytes", "sum"),
        )
        .reset_index()
    )
    events = float(per_target["events_per_day"].sum())
    kinesis_bytes = float(per_target["kinesis_bytes"].sum())
    records = events / a["events_per_record"]
    kinesis = _kinesis(prices, kinesis_bytes, records)
    batch = _batch_size(a, groups, records)
    # Priced as deployed: the configured capacity mode, not the recommended one.
    priced_mode = str(params.get("KinesisStreamMode", DEFAULT_STREAM_MODE)).upper()
    if priced_mode not in ("ON_DEMAND", "PROVISIONED"):
        raise ConfigError(
            "stack.parameters.KinesisStreamMode",
            f"{priced_mode!r} is not a Kinesis capacity mode; use ON_DEMAND or PROVISIONED",
        )
    configured_shards = int(params.get("KinesisShardCount", 1))
    if priced_mode == "PROVISIONED":
        kinesis_month = _provisioned_usd(prices, kinesis, max(configured_shards, 1))
        shards = max(configured_shards, 1)
    else:
        kinesis_month = kinesis["on_demand_usd"]
        shards = kinesis["on_demand_shards"]
    invocations, gb_seconds = _lambda_usage(a, events, records, shards, current_batch, memory_gb)
    lambda_month = (
        invocations / 1e6 * prices.lambda_["per_million_requests"]
        + gb_seconds * prices.lambda_[f"per_gb_second_{arch}"]
    )

    share = (
        per_target["kinesis_bytes"] / kinesis_bytes
        if kinesis_bytes
        else 1 / max(len(per_target), 1)
    )
    cw = prices.cloudwatch_logs
    inter_region = per_target["region"] != config.landing.region
    transfer_gb = per_target["kinesis_bytes"] * DAYS_PER_MONTH / GB
    frame = pd.DataFrame(
        {
            "account_id": per_target["account_id"],
            "region": per_target["region"],
            "log_groups": per_target["log_groups"],
            "events_per_day": per_target["events_per_day"].round(),
            "incoming_gb_per_day": per_target["incoming_bytes"] / GB,
            "gb_per_day": per_target["logzio_bytes"] / GB,
            "incoming_mb_per_day": per_target["incoming_bytes"] / MB,
            "mb_per_day": per_target["logzio_bytes"] / MB,
            "kinesis_usd": share * kinesis_month,
            "lambda_usd": share * lambda_month,
            "cloudwatch_usd": transfer_gb * cw["delivery_per_gb"]
            + transfer_gb.where(inter_region, 0.0) * cw["inter_region_per_gb"],
        }
    )
    frame["monthly_usd"] = frame["kinesis_usd"] + frame["lambda_usd"] + frame["cloudwatch_usd"]
    frame = frame.astype(COLUMNS)
    rounding = {
        "incoming_gb_per_day": 6,
        "gb_per_day": 6,
        "incoming_mb_per_day": 3,
        "mb_per_day": 3,
    }
    frame = frame.round({c: rounding.get(c, 2) for c in COLUMNS if COLUMNS[c] == "Float64"})
    total = {column: frame[column].sum() for column in COLUMNS if column not in ("region",)}
    total.update(account_id="total", region="")
    if frame.empty:  # a stream and a function cost something even with nothing selected
        total.update(kinesis_usd=round(kinesis_month, 2), lambda_usd=0.0)
        total["monthly_usd"] = total["kinesis_usd"]
    recommendation = Recommendation(
        stream_mode=kinesis["mode"],
        shards=kinesis["shards"],
        batch_size=batch,
        on_demand_usd=round(kinesis["on_demand_usd"], 2),
        provisioned_usd=round(kinesis["provisioned_usd"], 2),
        priced_mode=priced_mode,
    )
    return Estimate(
        frame=frame,
        total=total,
        recommendation=recommendation,
        prices_as_of=prices.as_of,
        lambda_invocations_per_month=invocations,
        lambda_gb_seconds_per_month=gb_seconds,
    )


def _selected_volume(
    config: Config, inventory: pd.DataFrame, volume: pd.DataFrame, a: dict[str, float]
) -> pd.DataFrame:
    """One row per selected group: bytes and events per day, and the bytes each hop carries."""
    import pandas as pd

    columns = ["account_id", "region", "log_group", "bytes", "events"]
    if inventory.empty:
        return pd.DataFrame(columns=[*columns, "logzio_bytes", "kinesis_bytes"])
    chosen = inventory[selected(config, inventory)]
    keys = ["account_id", "region", "log_group"]
    merged = (
        chosen[keys]
        .astype("string")
        .merge(volume.astype({k: "string" for k in keys}), on=keys, how="left")
    )
    raw_bytes = merged["incoming_bytes_24h"].astype("Float64").fillna(0.0)
    events = merged["incoming_events_24h"].astype("Float64")
    # No event count: infer one from the bytes at a typical event size.
    events = events.fillna(raw_bytes / a["event_bytes_if_unknown"]).round()
    out = pd.DataFrame(
        {
            "account_id": merged["account_id"],
            "region": merged["region"],
            "log_group": merged["log_group"],
            "bytes": raw_bytes,
            "events": events,
        }
    )
    overhead = [
        line_overhead(config, r.account_id, r.region, r.log_group)
        for r in out.itertuples(index=False)
    ]
    message_bytes = (out["bytes"] - out["events"] * CLOUDWATCH_EVENT_OVERHEAD).clip(lower=0)
    out["logzio_bytes"] = message_bytes + out["events"] * pd.Series(overhead, dtype="Float64")
    out["kinesis_bytes"] = (out["bytes"] + out["events"] * a["payload_bytes_per_event"]) * a[
        "payload_compression"
    ]
    return out


def _kinesis(prices: Prices, bytes_per_day: float, records_per_day: float) -> dict[str, Any]:
    """Both capacity modes priced for a month, the shards the peak needs, and the cheaper mode."""
    k, a, hours = prices.kinesis, prices.assumptions, prices.hours_per_month
    record_bytes = bytes_per_day / records_per_day if records_per_day else 0.0
    peak_bytes_s = bytes_per_day / SECONDS_PER_DAY * a["peak_to_average"]
    peak_records_s = records_per_day / SECONDS_PER_DAY * a["peak_to_average"]
    shards = max(
        1,
        math.ceil(peak_bytes_s / k["shard_bytes_per_s"]),
        math.ceil(peak_records_s / k["shard_records_per_s"]),
    )
    records_month = records_per_day * DAYS_PER_MONTH
    billed_in_gb = records_month * math.ceil(record_bytes / 1024) * 1024 / GB
    read_gb = bytes_per_day * DAYS_PER_MONTH / GB
    on_demand = (
        hours * k["on_demand_stream_hour"]
        + billed_in_gb * k["on_demand_per_gb_in"]
        + read_gb * k["on_demand_per_gb_out"]
    )
    put_units = records_month * max(1, math.ceil(record_bytes / (25 * 1024)))
    provisioned = (
        shards * hours * k["shard_hour"] + put_units / 1e6 * k["put_payload_units_per_million"]
    )
    mode = "PROVISIONED" if provisioned < on_demand else "ON_DEMAND"
    return {
        "mode": mode,
        "shards": shards,
        "on_demand_shards": max(shards, int(k["on_demand_min_shards"])),
        "on_demand_usd": on_demand,
        "provisioned_usd": provisioned,
        "chosen_usd": min(on_demand, provisioned),
    }


def _provisioned_usd(prices: Prices, kinesis: dict[str, Any], shards: int) -> float:
    """Provisioned mode's month with ``shards`` shards (the configured count, not the peak's)."""
    k, hours = prices.kinesis, prices.hours_per_month
    return kinesis["provisioned_usd"] + (shards - kinesis["shards"]) * hours * k["shard_hour"]


def _batch_size(a: dict[str, float], groups: pd.DataFrame, records_per_day: float) -> int:
    """Records per invocation so that a batch fills about ``target_invocation_bytes`` of lines."""
    if not records_per_day:
        return DEFAULT_BATCH_SIZE
    line_bytes_per_record = float(groups["logzio_bytes"].sum()) / records_per_day
    size = a["target_invocation_bytes"] / max(line_bytes_per_record, 1.0)
    return int(min(10_000, max(100, round(size, -2))))


def _lambda_usage(
    a: dict[str, float],
    events_per_day: float,
    records_per_day: float,
    shards: int,
    batch_size: int,
    memory_gb: float,
) -> tuple[float, float]:
    """(invocations, GB-seconds) per month. The mapping polls each shard about once a second, so
    a quiet stream invokes per record while a busy one fills batches."""
    if not records_per_day:
        return 0.0, 0.0
    per_day = max(records_per_day / batch_size, min(records_per_day, SECONDS_PER_DAY * shards))
    events_per_invocation = events_per_day / per_day
    seconds = a["invocation_overhead_s"] + events_per_invocation * a["seconds_per_event"]
    invocations = per_day * DAYS_PER_MONTH
    return invocations, invocations * seconds * memory_gb
