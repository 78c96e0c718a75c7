"""Inventory: every log group in every sending (account, region), with its subscription filters.

One row per log group: where it is, how big, how long it is kept, which filters it has (ours or
another team's), whether it ships to our destination for its region (through a filter of ours or
one made by hand: ``shipping_filter``, ``note``), how many filters it may hold (``filter_slots``,
from Service Quotas) and its log class (Infrequent Access and Delivery cannot be subscribed). Per-target rows come from
a generator (:func:`iter_log_groups`); :func:`inventory_frame` builds the typed DataFrame, so the
same schema applies to live results, empty results and the on-disk cache.

>>> result = log_groups(Fleet.from_config(load_config()))  # doctest: +SKIP
>>> result.frame.groupby("account_id").ships.mean()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xaccount_ops import aws
from xaccount_ops.config import FILTER_NAME_PREFIX, Config
from xaccount_ops.fleet.accounts import Fleet, Target, all_errors, error_row, errors_frame, fan_out
from xaccount_ops.fleet.pipeline import landing_destinations
from xaccount_ops.frames import frame_with

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# Subscription filters per log group when neither Service Quotas nor the config say: AWS's
# quotas page lists 2 (its newer PutAccountPolicy reference says 5, so it is read, never assumed).
FILTER_SLOTS = 2
QUOTA_SERVICE_CODE = "logs"
# AWS publishes no quota code for this (non-adjustable) quota: it is found by name.
FILTER_SLOTS_QUOTA_NAME = "subscription filters per log group"
# Log classes that cannot have subscription filters, and why (AWS CreateLogGroup logGroupClass:
# Infrequent Access supports a subset of features, without subscriptions; Delivery is only for
# delivering Lambda logs to S3 or Firehose).
UNSUBSCRIBABLE_CLASSES: dict[str, str] = {
    "INFREQUENT_ACCESS": "log class INFREQUENT_ACCESS does not support subscription filters "
    "(the class cannot be changed: recreate the group as STANDARD to ship it)",
    "DELIVERY": "log class DELIVERY does not support subscription filters (it only delivers "
    "Lambda logs to S3 or Firehose)",
}
SYSTEM_FIELDS = ("@aws.account", "@aws.region")
# describe_subscription_filters is one call per group: overlap a few per target so a target is
# bound by its API quota rather than by round-trip latency.
FILTER_WORKERS_PER_TARGET = 4
CACHE_DIR_NAME = ".xaccount-ops-cache"
CACHE_FRAME = "inventory.parquet"
CACHE_META = "inventory.json"

# The one schema of the inventory frame, applied to live, empty and cached results alike.
INVENTORY_SCHEMA: dict[str, str] = {
    "account_id": "string",
    "account_name": "string",
    "region": "category",
    "log_group": "string",
    "arn": "string",
    "created": "datetime64[ns, UTC]",
    "retention_days": "Int64",
    "stored_bytes": "Int64",
    "log_class": "category",
    "kms_key_id": "string",
    "data_protection": "bool",
    "filter_count": "Int8",
    "filter_slots": "Int8",  # subscription filters this group may hold (Service Quotas/config)
    "our_filter": "string",
    "foreign_filters": "string",
    "ships": "bool",  # a filter (ours, or one we did not create) points at our destination
    "shipping_filter": "string",  # that filter's name
    "note": "string",  # why a group ships the way it does, or why it cannot be subscribed
    # list of {name, destination_arn, filter_pattern, owned, emit_system_fields, created_ms}
    "filters": "object",
    "tags": "object",  # dict, or None when tags were not asked for
}
# Columns holding Python objects: JSON-encoded in the parquet cache.
OBJECT_COLUMNS = ("filters", "tags")


@dataclass
class InventoryResult:
    """What :func:`log_groups` returns: one row per log group, and one row per target that failed."""

    frame: pd.DataFrame
    errors: pd.DataFrame

    @property
    def ok(self) -> bool:
        return self.errors.empty


def is_ours(filter_name: str) -> bool:
    """A subscription filter is ours iff its name carries the toolkit's prefix (design contract)."""
    return filter_name.startswith(FILTER_NAME_PREFIX)


def is_adopted(flt: Mapping[str, Any], destination_arn: str | None) -> bool:
    """A filter we did not create that ``subscribe apply --adopt`` took over: it points at our
    destination and emits ``@aws.account``/``@aws.region``. Adoption keeps the filter's name
    (a rename would be delete + create: a gap or a double), so this is how it is recognised."""
    return (
        not flt.get("owned")
        and bool(destination_arn)
        and flt.get("destination_arn") == destination_arn
        and set(SYSTEM_FIELDS) <= set(flt.get("emit_system_fields") or ())
    )


def class_problem(log_class: Any) -> str:
    """Why a log group of this class cannot be subscribed ("" if it can)."""
    return UNSUBSCRIBABLE_CLASSES.get(str(log_class or "").upper(), "") if log_class else ""


def filter_slots(fleet: Fleet, target: Target) -> tuple[int, str]:
    """Subscription filters per log group in ``target``, and where the number came from.

    Service Quotas (service code ``logs``; the applied value, else AWS's default) where the
    role may read it, else ``subscriptions.filter_slots``, else ``FILTER_SLOTS``.
    """
    quotas = fleet.client("service-quotas", target.account_id, target.region)
    # The applied value first; a quota nobody changed may only be listed with AWS's default.
    for operation in ("list_service_quotas", "list_aws_default_service_quotas"):
        try:
            for page in quotas.get_paginator(operation).paginate(ServiceCode=QUOTA_SERVICE_CODE):
                for quota in page.get("Quotas", []):
                    if str(quota.get("QuotaName", "")).lower() == FILTER_SLOTS_QUOTA_NAME:
                        return int(quota["Value"]), f"Service Quotas ({operation})"
        except Exception as err:  # no permission, or no Service Quotas: the fallbacks decide
            log.info(
                "%s/%s: %s unreadable: %s",
                target.account_id,
                target.region,
                operation,
                aws.error_code(err),
            )
    configured = fleet.config.subscriptions.filter_slots
    if configured is not None:
        return configured, "subscriptions.filter_slots"
    return FILTER_SLOTS, "default"


# -- fetching ----------------------------------------------------------------------------------


def group_slots(row: Any) -> int:
    """An inventory row's filters-per-group quota: its ``filter_slots`` (an inventory cached
    before the column existed: :data:`FILTER_SLOTS`).

    The one lookup audit and subscriptions both read.
    """
    import pandas as pd

    value = getattr(row, "filter_slots", None)
    return FILTER_SLOTS if value is None or pd.isna(value) else int(value)


def log_groups(
    fleet: Fleet,
    *,
    tags: bool = False,
    progress: bool | None = None,
    destinations: Mapping[str, str] | None = None,
) -> InventoryResult:
    """Inventory every log group in every sending (account, region) of ``fleet``.

    ``tags=True`` adds a ``list_tags_for_resource`` call per group. ``destinations`` maps region
    to our destination ARN; by default it is looked up in the landing account. A target that
    fails (no access, region not enabled, throttled past the retry budget) is a row in
    ``errors``, never an exception.
    """
    errors: list[pd.DataFrame] = []
    if destinations is None:
        destinations, lookup_errors = destination_arns(fleet)
        errors.append(lookup_errors)
    names = account_names(fleet)
    targets = [
        Target(t.account_id, t.region, t.account_name or names.get(t.account_id))
        for t in fleet.targets
    ]

    def collect(target: Target) -> list[dict[str, Any]]:
        slots, source = filter_slots(fleet, target)
        log.debug("%s/%s: %d filter slots (%s)", target.account_id, target.region, slots, source)
        return list(
            iter_log_groups(
                fleet,
                target,
                tags=tags,
                destination_arn=destinations.get(target.region),
                slots=slots,
            )
        )

    result = fan_out(
        collect,
        targets,
        max_workers=fleet.config.aws.max_workers,
        desc="log groups",
        progress=progress,
    )
    rows = (row for target_rows in result.values.values() for row in target_rows)
    errors.append(result.errors)
    frame = inventory_frame(rows)
    return InventoryResult(frame=frame, errors=all_errors(errors))


def iter_log_groups(
    fleet: Fleet,
    target: Target,
    *,
    tags: bool = False,
    destination_arn: str | None = None,
    slots: int = FILTER_SLOTS,
) -> Iterator[dict[str, Any]]:
    """Yield one row per log group in ``target``, with its subscription filters (and tags).

    ``destination_arn`` is our destination for the target's region: a group ships when any
    filter points at it (ours, or one made by hand). ``slots`` is the target's filters-per-group
    quota. Filters are read a page of groups at a time, a few at once.
    """
    logs = fleet.client("logs", target.account_id, target.region)
    with ThreadPoolExecutor(FILTER_WORKERS_PER_TARGET, thread_name_prefix="xacct-filters") as pool:
        for page in logs.get_paginator("describe_log_groups").paginate():
            groups = page.get("logGroups", [])
            details = pool.map(lambda g: _group_details(logs, g, tags), groups)
            for group, (filters, group_tags) in zip(groups, details, strict=True):
                if filters is None:  # deleted while we listed it
                    continue
                yield group_row(target, group, filters, group_tags, destination_arn, slots)


def _group_details(
    logs: Any, group: Mapping[str, Any], tags: bool
) -> tuple[list[dict[str, Any]] | None, dict[str, str] | None]:
    name = group["logGroupName"]
    try:
        filters = [
            {
                "name": f["filterName"],
                "destination_arn": f.get("destinationArn", ""),
                "filter_pattern": f.get("filterPattern", ""),
                "owned": is_ours(f["filterName"]),
                "created_ms": f.get("creationTime"),  # where backfill starts
                "emit_system_fields": list(f.get("emitSystemFields") or []),
                "role_arn": f.get("roleArn") or "",  # the sender role (organization trust)
            }
            for page in logs.get_paginator("describe_subscription_filters").paginate(
                logGroupName=name
            )
            for f in page.get("subscriptionFilters", [])
        ]
        group_tags = (
            logs.list_tags_for_resource(resourceArn=group_arn(group)).get("tags", {})
            if tags
            else None
        )
    except Exception as err:
        if aws.error_code(err) == "ResourceNotFoundException":
            log.debug("log group %s disappeared while listing it", name)
            return None, None
        raise
    return filters, group_tags


def group_arn(group: Mapping[str, Any]) -> str:
    """The log group's ARN without the ``:*`` suffix describe_log_groups' ``arn`` carries."""
    arn = group.get("logGroupArn") or group.get("arn", "")
    return arn[:-2] if arn.endswith(":*") else arn


def group_row(
    target: Target,
    group: Mapping[str, Any],
    filters: list[dict[str, Any]],
    tags: dict[str, str] | None,
    destination_arn: str | None,
    slots: int = FILTER_SLOTS,
) -> dict[str, Any]:
    """One inventory row from a describe_log_groups entry and the group's filters."""
    import pandas as pd

    ours = [f for f in filters if f["owned"]]
    foreign = [f["name"] for f in filters if not f["owned"]]
    created = group.get("creationTime")
    to_us = [f for f in filters if destination_arn and f.get("destination_arn") == destination_arn]
    to_us.sort(key=lambda f: not f["owned"])  # ours first
    shipping = to_us[0] if to_us else None
    note = class_problem(group.get("logGroupClass"))
    if shipping is not None and not shipping["owned"]:
        note = shipping_note(shipping, destination_arn)
    if len(to_us) > 1:
        names = ", ".join(f["name"] for f in to_us)
        note = f"{len(to_us)} filters point at our destination ({names}): every event ships twice"
    return {
        "account_id": target.account_id,
        "account_name": target.account_name,
        "region": target.region,
        "log_group": group["logGroupName"],
        "arn": group_arn(group),
        "created": pd.Timestamp(created, unit="ms", tz="UTC") if created is not None else pd.NaT,
        "retention_days": group.get("retentionInDays"),
        "stored_bytes": group.get("storedBytes"),
        "log_class": group.get("logGroupClass"),
        "kms_key_id": group.get("kmsKeyId"),
        "data_protection": group.get("dataProtectionStatus") in ("ACTIVATED", "ACTIVE"),
        "filter_count": len(filters),
        "filter_slots": slots,
        "our_filter": ours[0]["name"] if ours else None,
        "foreign_filters": ",".join(foreign),
        "ships": shipping is not None,
        "shipping_filter": shipping["name"] if shipping is not None else None,
        "note": note or None,
        "filters": filters,
        "tags": tags,
    }


def shipping_note(flt: Mapping[str, Any], destination_arn: str | None) -> str:
    """What to say about a filter we did not create that ships to our destination."""
    if is_adopted(flt, destination_arn):
        return f"shipping through {flt['name']} (adopted: its events carry @aws.region)"
    return f"shipping through {flt['name']}; its events carry no region"


def inventory_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Build the typed inventory DataFrame (``INVENTORY_SCHEMA``), sorted, also when empty."""
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=list(INVENTORY_SCHEMA))
    return apply_schema(frame).sort_values(["account_id", "region", "log_group"], ignore_index=True)


def apply_schema(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast ``frame``'s columns to ``INVENTORY_SCHEMA`` (missing columns are added empty)."""
    import pandas as pd

    frame = frame.copy()
    for column, dtype in INVENTORY_SCHEMA.items():
        if column not in frame:
            frame[column] = None
        if dtype.startswith("datetime64"):
            frame[column] = pd.to_datetime(frame[column], utc=True).astype(dtype)
        elif dtype == "bool":
            frame[column] = frame[column].astype("boolean").fillna(False).astype(bool)
        elif dtype == "object":
            frame[column] = frame[column].astype(object)
        else:
            frame[column] = frame[column].astype(dtype)
    return frame[list(INVENTORY_SCHEMA)]


# -- lookups in the landing account / organization ----------------------------------------------


def destination_arns(fleet: Fleet) -> tuple[dict[str, str], pd.DataFrame]:
    """Our destination ARN per region (landing account), and an errors frame if the lookup failed."""
    try:
        destinations = landing_destinations(fleet)
    except Exception as err:  # reported, so the inventory still lists the groups
        aws.raise_if_unreachable(err)
        log.warning("cannot look up the destinations in the landing account: %s", err)
        target = Target(fleet.landing_account, fleet.landing_region)
        return {}, errors_frame([error_row(target, err)])
    return {region: d.arn for region, d in destinations.items()}, errors_frame()


def account_names(fleet: Fleet) -> dict[str, str]:
    """Account names from Organizations when the hub may list them; ``{}`` when it may not."""
    if fleet.account_names:
        return dict(fleet.account_names)
    try:
        return fleet.organization_accounts()
    except Exception as err:  # not in an org, or no permission: names are optional
        log.info("account names unavailable from Organizations: %s", aws.error_code(err))
        return {}


# -- cache ---------------------------------------------------------------------------------------


def cache_dir(config: Config | str | Path | None = None) -> Path:
    """``.xaccount-ops-cache/`` beside the config file (or in the working directory)."""
    if isinstance(config, Config):
        base = config.path.parent if config.path else Path.cwd()
    elif config is not None:
        path = Path(config)
        base = path.parent if path.suffix == ".toml" else path
    else:
        base = Path.cwd()
    return base / CACHE_DIR_NAME


def save_cache(
    frame: pd.DataFrame,
    config: Config | str | Path | None = None,
    *,
    taken_at: datetime | None = None,
) -> Path:
    """Write the inventory (parquet) and when it was taken (JSON) to :func:`cache_dir`."""
    directory = cache_dir(config)
    directory.mkdir(parents=True, exist_ok=True)
    taken_at = (taken_at or datetime.now(UTC)).astimezone(UTC)
    stored = frame.copy()
    for column in OBJECT_COLUMNS:
        # Filters and tags vary in shape from row to row; JSON keeps them exact in parquet.
        stored[column] = stored[column].map(lambda v: None if v is None else json.dumps(v))
    path = directory / CACHE_FRAME
    stored.to_parquet(path, index=False)
    meta = {"taken_at": taken_at.isoformat(), "rows": len(frame)}
    (directory / CACHE_META).write_text(json.dumps(meta, indent=2) + "\n")
    return path


def load_cache(config: Config | str | Path | None = None) -> tuple[pd.DataFrame, datetime]:
    """The last saved inventory and when it was taken. Raises FileNotFoundError naming the place."""
    import pandas as pd

    directory = cache_dir(config)
    path, meta_path = directory / CACHE_FRAME, directory / CACHE_META
    if not path.is_file() or not meta_path.is_file():
        raise FileNotFoundError(
            f"no cached inventory in {directory}; run `xaccount-ops inventory` (without --cached) "
            "or inventory.save_cache(frame) first"
        )
    stored = pd.read_parquet(path)
    for column in OBJECT_COLUMNS:
        if column in stored:
            stored[column] = stored[column].map(lambda v: None if v is None else json.loads(v))
    meta = json.loads(meta_path.read_text())
    return apply_schema(stored), datetime.fromisoformat(meta["taken_at"])


# -- summaries ---------------------------------------------------------------------------------

SUMMARY_SCHEMA: dict[str, str] = {
    "account_id": "string",
    "account_name": "string",
    "region": "string",
    "log_groups": "Int64",
    "shipping": "Int64",
    "coverage_pct": "Float64",
    "stored_bytes": "Int64",
    "shipping_bytes": "Int64",
}


def summary(inventory: pd.DataFrame) -> pd.DataFrame:
    """Groups and stored bytes per account/region, and the share of groups that ship (%)."""
    if inventory.empty:
        return frame_with(SUMMARY_SCHEMA)
    frame = inventory.assign(
        region=inventory["region"].astype("string"),
        account_name=inventory["account_name"].fillna(""),
        shipping_bytes=inventory["stored_bytes"].where(inventory["ships"], 0),
    )
    grouped = frame.groupby(["account_id", "account_name", "region"], observed=True, sort=True)
    out = grouped.agg(
        log_groups=("log_group", "size"),
        shipping=("ships", "sum"),
        stored_bytes=("stored_bytes", "sum"),
        shipping_bytes=("shipping_bytes", "sum"),
    ).reset_index()
    out["coverage_pct"] = (100.0 * out["shipping"] / out["log_groups"]).round(1)
    return out[list(SUMMARY_SCHEMA)].astype(SUMMARY_SCHEMA)


# get_metric_data takes up to 500 queries per call.
METRIC_QUERIES_PER_CALL = 500
VOLUME_WINDOW = timedelta(hours=24)


def daily_volume(
    fleet: Fleet,
    inventory: pd.DataFrame,
    *,
    progress: bool | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> pd.DataFrame:
    """Bytes and events per day per log group: ``AWS/Logs`` ``IncomingBytes`` and
    ``IncomingLogEvents`` summed over the last 24 h.

    A column is <NA> where CloudWatch has no datapoints for the group. Targets that fail are
    logged and their groups left <NA> (the inventory's errors frame is the place for per-target
    failures).
    """
    import pandas as pd

    columns = {
        "account_id": "string",
        "region": "string",
        "log_group": "string",
        "incoming_bytes_24h": "Int64",
        "incoming_events_24h": "Int64",
    }
    if inventory.empty:
        return pd.DataFrame(columns=list(columns)).astype(columns)
    end = now()
    start = end - VOLUME_WINDOW
    by_target = {
        (str(a), str(r)): list(g["log_group"])
        for (a, r), g in inventory.groupby(["account_id", "region"], observed=True)
    }
    targets = [Target(a, r) for a, r in sorted(by_target)]

    def fetch(target: Target) -> dict[tuple[str, str], int | None]:
        names = by_target[(target.account_id, target.region)]
        client = fleet.client("cloudwatch", target.account_id, target.region)
        return metric_sums(client, names, VOLUME_METRICS, start, end)

    result = fan_out(
        fetch,
        targets,
        max_workers=fleet.config.aws.max_workers,
        desc="daily volume",
        progress=progress,
    )
    rows = []
    for (account, region), names in sorted(by_target.items()):
        values = result.values.get(Target(account, region), {})
        for name in names:
            rows.append(
                {
                    "account_id": account,
                    "region": region,
                    "log_group": name,
                    "incoming_bytes_24h": values.get((name, "IncomingBytes")),
                    "incoming_events_24h": values.get((name, "IncomingLogEvents")),
                }
            )
    return pd.DataFrame(rows, columns=list(columns)).astype(columns)


VOLUME_METRICS = ("IncomingBytes", "IncomingLogEvents")


def metric_sums(
    client: Any, names: list[str], metrics: Iterable[str], start: datetime, end: datetime
) -> dict[tuple[str, str], int | None]:
    """Sum of each ``AWS/Logs`` metric over [start, end) per group, keyed ``(group, metric)``;
    None where there are no datapoints. One query per group and metric, 500 to a call."""
    wanted = [(name, metric) for name in names for metric in metrics]
    totals: dict[tuple[str, str], int | None] = {}
    period = int((end - start).total_seconds())
    for offset in range(0, len(wanted), METRIC_QUERIES_PER_CALL):
        chunk = wanted[offset : offset + METRIC_QUERIES_PER_CALL]
        queries = [
            {
                "Id": f"q{index}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Logs",
                        "MetricName": metric,
                        "Dimensions": [{"Name": "LogGroupName", "Value": name}],
                    },
                    "Period": period,
                    "Stat": "Sum",
                },
                "ReturnData": True,
            }
            for index, (name, metric) in enumerate(chunk)
        ]
        for page in client.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=end
        ):
            for item in page.get("MetricDataResults", []):
                key = chunk[int(item["Id"][1:])]
                values = item.get("Values", [])
                if values:
                    totals[key] = (totals.get(key) or 0) + int(sum(values))
                else:
                    totals.setdefault(key, None)
    return totals
