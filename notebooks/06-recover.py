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
# # Recover: replay the failure store
#
# When the listener rejects the token or is down for longer than the event source mapping's
# retries, Lambda gives up on the batch and writes it, with its records, into the stack's S3
# failure store (`aws/lambda/<mapping>/<shard>/YYYY/MM/DD/...`). This notebook shows what is
# there and ships it through the shipper's own code, exactly once: every event id is looked up in
# Logz.io first and what is already there is skipped. Replayed objects are tagged
# `xaccount-ops-replayed`; nothing is deleted unless `delete` is set. Fix the cause first (token,
# listener), or the replay fails the same way. Needs the Logz.io API token (`logzio.api_token`).

# %% tags=["parameters"]
config = ""  # blank: $XACCOUNT_OPS_CONFIG, else ./xaccount-ops.toml, else start the local cloud
stack_name = ""  # blank: landing.stack_name from the config
since = ""  # only batches stored within this window (30m, 6h, 2d); blank: all
replay = False  # ship what is missing when the notebook runs
dry_run = True  # look up and report only (set False to send)
delete = False  # delete each object once all its events are in Logz.io

# %%
from xaccount_ops.delivery import replay as recovery
from xaccount_ops.lab import plots
from xaccount_ops.lab.context import open_fleet, require_stack
from xaccount_ops.validate import duration

fleet = open_fleet(config, stack_name=stack_name)
require_stack(fleet, "06-recover")  # a second: says which notebook to run first
window = duration(since, "since", allow_zero=False) if since else None
batches = recovery.load_store(fleet, since=window)
print(
    f"{len(batches)} batches in the failure store, "
    f"{sum(len(b.records) for b in batches)} records, {sum(b.events for b in batches)} events"
)
recovery.summary(batches)

# %% [markdown]
# ## Events in the store, per hour of their timestamp

# %%
plots.store_per_hour(recovery.per_hour(batches))

# %% [markdown]
# ## Replay
#
# One row per stored batch: events already in Logz.io (`skipped_present`), events sent, and the
# status. The store is delivered when every status is `replayed`, `already present`,
# `already replayed` or `nothing to ship`.

# %%
result = (
    recovery.replay(fleet, dry_run=dry_run, delete=delete, batches=batches, progress=True)
    if replay
    else None
)
if result is not None:
    totals = result.totals()
    print(
        f"{totals['batches']} batches: {totals['sent']} events sent, "
        f"{totals['skipped_present']} skipped as already in Logz.io, {totals['failed']} failed"
    )
    print("the store is delivered" if result.ok else "the store is NOT fully delivered yet")
result.frame if result is not None else None
