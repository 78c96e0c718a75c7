# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Audit the log groups
#
# Every log group in every sending account and region, with its subscription filters (ours and
# other teams'), and the findings: what is lost or will be, what is not shipped that should be,
# what is worth knowing, each with the fix. The inventory is cached beside the config, so the
# filters and plots below can be redone without calling AWS again (`use_cache = True`).

# %% tags=["parameters"]
config = ""  # blank: $XACCOUNT_OPS_CONFIG, else ./xaccount-ops.toml, else start the local cloud
stack_name = ""  # blank: landing.stack_name from the config
use_cache = False  # read the last saved inventory instead of calling AWS
tags = False  # also read each log group's tags (one more call per group)
export_dir = ""  # write the CSV files here when the notebook runs; blank: only with the button

# %%
from xaccount_ops.fleet import audit, inventory
from xaccount_ops.fleet.accounts import errors_frame
from xaccount_ops.fleet.inventory import InventoryResult
from xaccount_ops.lab import plots, views, widgets
from xaccount_ops.lab.context import open_fleet

fleet = open_fleet(config, stack_name=stack_name)
if use_cache:
    frame, taken_at = inventory.load_cache(fleet.config)
    result = InventoryResult(frame=frame, errors=errors_frame())
    print(f"cached inventory taken at {taken_at:%Y-%m-%d %H:%M} UTC")
else:
    result = inventory.log_groups(fleet, tags=tags)
    print(f"inventory saved to {inventory.save_cache(result.frame, fleet.config)}")
print(f"{len(result.frame)} log groups in {len(fleet.targets)} (account, region) pairs")

# %% [markdown]
# Targets that could not be read (no access, region not enabled) are listed here; the rest of
# the inventory is complete.

# %%
views.shown(views.table_html(result.errors)) if len(result.errors) else print(
    "every target was read"
)

# %% [markdown]
# ## Per account and region

# %%
summary = inventory.summary(result.frame)
views.shown(views.inventory_html(result.frame))

# %%
plots.stored_bytes(summary)

# %%
plots.coverage(summary)

# %% [markdown]
# ## Findings
#
# Counted by check and severity, then the exceptions folded (identical findings are one line
# with how many and where), then every finding (collapsed). `check` names are stable (`xaccount-ops audit --fail-on warning` counts them
# in scheduled runs).

# %%
findings = audit.audit(fleet, result)
views.shown(views.findings_html(findings))

# %% [markdown]
# ## What shipping will cost
#
# From each group's last 24 h of CloudWatch `IncomingBytes`/`IncomingLogEvents`, for the groups
# that ship or that `subscribe` would subscribe: GB/day to Logz.io and the AWS cost per month
# (Kinesis, Lambda, CloudWatch Logs), from the dated price table in the package
# (`xaccount-ops estimate --prices FILE` takes another). The last line is the stack parameters that
# fit this volume.

# %%
from xaccount_ops.fleet import estimate

cost = estimate.estimate(fleet.config, result.frame, inventory.daily_volume(fleet, result.frame))
print(f"prices as of {cost.prices_as_of}; recommended {cost.recommendation.summary()}")
views.shown(views.cost_html(cost.with_total()))

# %% [markdown]
# ## Filter and export
#
# Narrow both tables to an account, region, severity or name; **Export CSV** writes what is shown
# (`log-groups.csv`, `findings.csv`, `log-groups-summary.csv`).

# %%
form = widgets.audit_form(result.frame, findings, export_dir=export_dir or "audit-export")
form

# %%
exported = form.submit("Export CSV") if export_dir else None
views.shown(views.table_html(exported)) if exported is not None else None
