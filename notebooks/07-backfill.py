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
# # Backfill history
#
# A subscription filter only delivers events CloudWatch ingests *after* it was created: when an
# account is onboarded, the history already in its log groups never reaches Logz.io. This
# notebook ships that history for every group `subscribe` selects and our filter
# (`logzio-xacct-<region>`) subscribes: the events ingested before the filter's creation, from
# `since` on, through the shipper's own code (same line schema as live lines).
#
# The boundary is ingestion time, exactly where the filter starts: late events (stamped before
# the filter, ingested after it) are the pipeline's and are not shipped again. A checkpoint per
# group (beside the inventory cache) makes a second run ship nothing. The first run below is a
# dry run: it reads and counts, and says how long reading takes at the FilterLogEvents quota.

# %% tags=["parameters"]
config = ""  # blank: $XACCOUNT_OPS_CONFIG, else ./xaccount-ops.toml, else start the local cloud
stack_name = ""  # blank: landing.stack_name from the config
since = "7d"  # how far back: 6h, 7d, or an ISO time (2026-01-31T00:00:00Z)
until = ""  # blank: up to where the filter took over; or a duration ago / ISO time
ship = False  # False: dry run only; True: ship the backlog after the dry run

# %%
from xaccount_ops import validate
from xaccount_ops.delivery import backfill
from xaccount_ops.lab.context import open_fleet, require_stack

fleet = open_fleet(config, stack_name=stack_name)
require_stack(fleet, "07-backfill")  # a second: says which notebook to run first
window = {
    "since": validate.when(since),
    "until": validate.when(until) if until else None,
}
dry = backfill.backfill(fleet, dry_run=True, **window)
print(dry.summary())

# %% [markdown]
# ## What would ship, per account and region
#
# `est_seconds` is the FilterLogEvents reading time at the quota (accounts and regions read in
# parallel); shipping adds little to it.

# %%
backfill.per_target(dry.frame)

# %%
dry.frame.drop(columns=["filter_name"])

# %% [markdown]
# Targets that could not be read (no access, region not enabled) are listed here.

# %%
dry.errors

# %% [markdown]
# ## Ship
#
# Set `ship = True` (or change it here) to ship what the dry run found. Run it again: it ships
# nothing, because the checkpoint covers the range and the pipeline owns the rest.

# %%
result = backfill.backfill(fleet, **window) if ship else None
print(result.summary() if result is not None else "dry run only: set ship = True to ship")

# %%
backfill.per_target(result.frame) if result is not None else None

# %%
result.frame[result.frame["status"] == "failed"] if result is not None else None
